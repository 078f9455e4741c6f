import { spawnSync } from 'child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { BootScriptName, shippedBootScript } from '../../constructs/aws/private/boot-scripts';
import {
  CLOUD_INIT_SCRIPTS_DIR,
  buildGateUnit,
  buildKubeletGateDropin,
} from '../../constructs/aws/private/node-user-data';

const PIN = '535.104.05';

/** A temp dir with fake nvidia-smi, systemctl and nv-fabricmanager on its PATH, driven by FAKE_* variables. */
function fakeNode(): { dir: string; bin: string; console: string; calls: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'boot-checks-'));
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const fake = (name: string, body: string) => {
    writeFileSync(path.join(bin, name), `#!/usr/bin/env bash\n${body}\n`);
    chmodSync(path.join(bin, name), 0o755);
  };
  fake(
    'nvidia-smi',
    `echo "nvidia-smi $*" >>"$FAKE_CALLS"
[[ -n "\${FAKE_SMI_FAIL:-}" ]] && { echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2; exit 9; }
for ((i = 0; i < \${FAKE_GPUS:-8}; i++)); do
  if [[ "$i" == "\${FAKE_ODD_GPU:-none}" ]]; then echo "\${FAKE_ODD_DRIVER}"; else echo "\${FAKE_DRIVER}"; fi
done`,
  );
  fake(
    'systemctl',
    `echo "systemctl $*" >>"$FAKE_CALLS"
case "$1" in
  is-active)
    if [[ "$2" == "--quiet" ]]; then [[ "\${FAKE_FM_STATE:-active}" == "active" ]]; exit; fi
    echo "\${FAKE_FM_STATE:-active}"; [[ "\${FAKE_FM_STATE:-active}" == "active" ]] ;;
  daemon-reload) exit 0 ;;
  show) echo "\${FAKE_KUBELET_REQUIRES:-}" ;;
  mask) exit 0 ;;
  *) exit 1 ;;
esac`,
  );
  fake(
    'nv-fabricmanager',
    `[[ -n "\${FAKE_FM_FAIL:-}" ]] && exit 3
echo "Fabric Manager version is : \${FAKE_FM_VERSION}"`,
  );
  return { dir, bin, console: path.join(dir, 'console'), calls: path.join(dir, 'calls') };
}

/** Runs one boot script as the gate unit would, and returns its exit status and console lines. */
function run(
  script: BootScriptName,
  node: ReturnType<typeof fakeNode>,
  env: Record<string, string>,
): { status: number | null; console: string[]; stderr: string } {
  // The script as it ships in the user data (comment lines stripped), not the source file.
  const file = path.join(node.dir, script);
  writeFileSync(file, shippedBootScript(script));
  const result = spawnSync('bash', [file], {
    encoding: 'utf8',
    timeout: 20000,
    env: {
      PATH: `${node.bin}:/usr/bin:/bin`,
      COMPLIANT_INFERENCE_GATE: '1',
      CI_CONSOLE: node.console,
      FAKE_CALLS: node.calls,
      ...env,
    },
  });
  const consoleText = existsSync(node.console) ? readFileSync(node.console, 'utf8') : '';
  return {
    status: result.status,
    console: consoleText.split('\n').filter(Boolean),
    stderr: result.stderr,
  };
}

/** The lines that state a verdict: those starting with a rule id. */
const verdicts = (lines: string[]) => lines.filter((l) => /^[A-Z]+-\d+: /.test(l));

describe('10-check-driver.sh (NODE-2)', () => {
  let node: ReturnType<typeof fakeNode>;
  beforeEach(() => {
    node = fakeNode();
  });
  afterEach(() => rmSync(node.dir, { recursive: true, force: true }));

  test('passes when all 8 GPUs report the pinned driver, and writes no verdict line', () => {
    const r = run('10-check-driver.sh', node, {
      CI_DRIVER_PIN: PIN,
      CI_EXPECTED_GPUS: '8',
      FAKE_DRIVER: PIN,
    });
    expect(r.status).toBe(0);
    expect(verdicts(r.console)).toEqual([]);
    expect(readFileSync(node.calls, 'utf8')).toContain(
      'nvidia-smi --query-gpu=driver_version --format=csv,noheader',
    );
  });

  test('fails with one NODE-2 line when one GPU reports another driver', () => {
    const r = run('10-check-driver.sh', node, {
      CI_DRIVER_PIN: PIN,
      CI_EXPECTED_GPUS: '8',
      FAKE_DRIVER: PIN,
      FAKE_ODD_GPU: '3',
      FAKE_ODD_DRIVER: '550.54.15',
    });
    expect(r.status).toBe(1);
    expect(r.console).toEqual([
      'NODE-2: GPU 3 runs NVIDIA driver 550.54.15, the pin is 535.104.05; node kept out of the cluster',
    ]);
  });

  test('fails with one NODE-2 line when nvidia-smi cannot reach the driver', () => {
    const r = run('10-check-driver.sh', node, { CI_DRIVER_PIN: PIN, FAKE_SMI_FAIL: '1' });
    expect(r.status).toBe(1);
    expect(r.console).toHaveLength(1);
    expect(r.console[0]).toMatch(
      /^NODE-2: nvidia-smi failed, so the driver cannot be verified \(pin 535\.104\.05\): NVIDIA-SMI has failed/,
    );
  });

  test('fails with one NODE-2 line when nvidia-smi lists no GPU', () => {
    const r = run('10-check-driver.sh', node, {
      CI_DRIVER_PIN: PIN,
      FAKE_GPUS: '0',
      FAKE_DRIVER: PIN,
    });
    expect(r.status).toBe(1);
    expect(r.console).toEqual([
      'NODE-2: nvidia-smi reported no GPU, so the driver cannot be verified (pin 535.104.05)',
    ]);
  });

  test('fails with one HW-1 line when the instance reports fewer GPUs than p4d.24xlarge has', () => {
    const r = run('10-check-driver.sh', node, {
      CI_DRIVER_PIN: PIN,
      CI_EXPECTED_GPUS: '8',
      FAKE_GPUS: '7',
      FAKE_DRIVER: PIN,
    });
    expect(r.status).toBe(1);
    expect(r.console).toEqual([
      'HW-1: nvidia-smi reports 7 GPUs, the instance type has 8; node kept out of the cluster',
    ]);
  });

  test('does nothing when cloud-init runs it as a user-data part (outside the gate unit)', () => {
    const r = run('10-check-driver.sh', node, {
      COMPLIANT_INFERENCE_GATE: '',
      CI_DRIVER_PIN: PIN,
      FAKE_SMI_FAIL: '1',
    });
    expect(r.status).toBe(0);
    expect(r.console).toEqual([]);
    expect(existsSync(node.calls)).toBe(false);
  });
});

describe('20-check-fabric-manager.sh (NODE-3)', () => {
  let node: ReturnType<typeof fakeNode>;
  beforeEach(() => {
    node = fakeNode();
  });
  afterEach(() => rmSync(node.dir, { recursive: true, force: true }));

  test('passes when the fabric manager is active at the driver version', () => {
    const r = run('20-check-fabric-manager.sh', node, { FAKE_DRIVER: PIN, FAKE_FM_VERSION: PIN });
    expect(r.status).toBe(0);
    expect(verdicts(r.console)).toEqual([]);
    expect(readFileSync(node.calls, 'utf8')).toContain(
      'systemctl is-active --quiet nvidia-fabricmanager.service',
    );
  });

  test('fails with one NODE-3 line when the fabric manager version differs from the driver', () => {
    const r = run('20-check-fabric-manager.sh', node, {
      FAKE_DRIVER: PIN,
      FAKE_FM_VERSION: '535.54.03',
    });
    expect(r.status).toBe(1);
    expect(r.console).toEqual([
      'NODE-3: fabric manager 535.54.03 does not match driver 535.104.05; node kept out of the cluster',
    ]);
  });

  test('fails with one NODE-3 line when the fabric manager stays inactive past the wait', () => {
    const r = run('20-check-fabric-manager.sh', node, {
      FAKE_DRIVER: PIN,
      FAKE_FM_VERSION: PIN,
      FAKE_FM_STATE: 'failed',
      CI_FM_WAIT_SECONDS: '1',
    });
    expect(r.status).toBe(1);
    expect(r.console).toEqual([
      'NODE-3: nvidia-fabricmanager.service is not active after 1 s (state: failed); NVSwitch GPUs unusable, node kept out of the cluster',
    ]);
  });

  test('fails with one NODE-3 line when the fabric manager binary cannot report its version', () => {
    const r = run('20-check-fabric-manager.sh', node, { FAKE_DRIVER: PIN, FAKE_FM_FAIL: '1' });
    expect(r.status).toBe(1);
    expect(r.console).toHaveLength(1);
    expect(r.console[0]).toMatch(/^NODE-3: 'nv-fabricmanager --version' failed/);
  });
});

describe('00-install-boot-gate.sh', () => {
  let node: ReturnType<typeof fakeNode>;
  let systemd: string;
  let scripts: string;
  let envFile: string;

  beforeEach(() => {
    node = fakeNode();
    systemd = path.join(node.dir, 'systemd');
    scripts = path.join(node.dir, 'scripts');
    envFile = path.join(node.dir, 'boot-checks.env');
    mkdirSync(path.join(systemd, 'kubelet.service.d'), { recursive: true });
    mkdirSync(scripts);
    // The production unit and drop-in, with the scripts directory moved into the temp dir.
    writeFileSync(
      path.join(systemd, 'compliant-inference-boot-checks.service'),
      buildGateUnit(7200).split(CLOUD_INIT_SCRIPTS_DIR).join(scripts),
    );
    writeFileSync(
      path.join(systemd, 'kubelet.service.d', '90-compliant-inference-gate.conf'),
      buildKubeletGateDropin(),
    );
    writeFileSync(envFile, `CI_DRIVER_PIN="${PIN}"\n`);
    for (const name of [
      '10-check-driver.sh',
      '20-check-fabric-manager.sh',
      '30-preload-weights.sh',
    ]) {
      writeFileSync(path.join(scripts, name), '#!/bin/sh\n');
      chmodSync(path.join(scripts, name), 0o755);
    }
  });
  afterEach(() => rmSync(node.dir, { recursive: true, force: true }));

  const install = (env: Record<string, string> = {}) =>
    run('00-install-boot-gate.sh', node, {
      COMPLIANT_INFERENCE_GATE: '',
      CI_SYSTEMD_DIR: systemd,
      CI_GATE_ENV_FILE: envFile,
      FAKE_KUBELET_REQUIRES: 'containerd.service compliant-inference-boot-checks.service',
      ...env,
    });
  const blocker = () =>
    path.join(systemd, 'kubelet.service.d', '99-compliant-inference-blocked.conf');

  test('reloads systemd and confirms kubelet.service requires the checks unit', () => {
    const r = install();
    expect(r.status).toBe(0);
    expect(r.console).toEqual([
      'compliant-inference: boot gate installed: kubelet.service requires compliant-inference-boot-checks.service',
    ]);
    expect(readFileSync(node.calls, 'utf8').split('\n')).toEqual(
      expect.arrayContaining([
        'systemctl daemon-reload',
        'systemctl show --property=Requires --value kubelet.service',
      ]),
    );
    expect(existsSync(blocker())).toBe(false);
  });

  test('blocks the kubelet with one NODE-2 line when the kubelet drop-in is missing', () => {
    rmSync(path.join(systemd, 'kubelet.service.d', '90-compliant-inference-gate.conf'));
    const r = install();
    expect(r.status).toBe(1);
    expect(verdicts(r.console)).toHaveLength(1);
    expect(r.console[0]).toMatch(
      /^NODE-2: boot gate file .*90-compliant-inference-gate\.conf is missing; kubelet blocked/,
    );
    expect(readFileSync(node.calls, 'utf8')).toContain('systemctl mask --runtime kubelet.service');
    expect(readFileSync(blocker(), 'utf8')).toBe('[Service]\nExecStartPre=/bin/false\n');
  });

  test('blocks the kubelet with one NODE-2 line when a check script is not on disk', () => {
    rmSync(path.join(scripts, '30-preload-weights.sh'));
    const r = install();
    expect(r.status).toBe(1);
    expect(r.console).toHaveLength(1);
    expect(r.console[0]).toMatch(
      /^NODE-2: boot check .*30-preload-weights\.sh is missing or not executable/,
    );
    expect(existsSync(blocker())).toBe(true);
  });

  test('blocks the kubelet with one NODE-2 line when systemd does not see the dependency after the reload', () => {
    const r = install({ FAKE_KUBELET_REQUIRES: 'containerd.service' });
    expect(r.status).toBe(1);
    expect(r.console).toEqual([
      'NODE-2: kubelet.service does not require compliant-inference-boot-checks.service after daemon-reload; kubelet blocked so the node never joins unverified',
    ]);
    expect(existsSync(blocker())).toBe(true);
  });
});
