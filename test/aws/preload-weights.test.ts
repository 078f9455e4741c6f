import { ChildProcess, spawn, spawnSync } from 'child_process';
import { createHash, randomBytes } from 'crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'fs';
import { createServer } from 'net';
import { tmpdir } from 'os';
import * as path from 'path';
import { shippedBootScript } from '../../constructs/aws/private/boot-scripts';
import { CHECKSUM_MANIFEST, READY_MARKER, weightsStorageClass } from '../../constructs/conventions';

/** Debian's AWS CLI v2; the `aws` on PATH may be v1. */
const AWS_CLI = '/usr/bin/aws';
const BUCKET = 'weights-preload-test';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`moto_server did not answer on ${url} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** The objects of one model prefix, and the manifest that lists them. */
interface Fixture {
  readonly prefix: string;
  readonly files: Record<string, Buffer>;
  /** Lines of SHA256SUMS; by default the right sums of every file. */
  readonly manifest?: string;
  /** Files listed in the manifest but not uploaded. */
  readonly notUploaded?: readonly string[];
}

const GOOD: Fixture = {
  prefix: 'llama-2-70b-awq/3f1c2b0',
  files: {
    'model-00001-of-00001.safetensors': randomBytes(4 * 1024 * 1024 - 57),
    'config.json': Buffer.from('{"architectures":["LlamaForCausalLM"]}\n'),
    'tokenizer/tokenizer.json': Buffer.from('{"version":"1.0"}\n'),
  },
};
const SMALL: Fixture = {
  prefix: 'embeddings/embed-1536/v1',
  files: { 'model.safetensors': randomBytes(4096) },
};
const MISSING: Fixture = {
  prefix: 'missing/r1',
  files: { 'config.json': Buffer.from('{}\n'), 'model.safetensors': Buffer.from('weights') },
  notUploaded: ['model.safetensors'],
};
const CORRUPT: Fixture = {
  prefix: 'corrupt/r1',
  files: {
    'config.json': Buffer.from('{}\n'),
    'model.safetensors': Buffer.from('these are not the weights'),
  },
  manifest: `${sha256('the weights the manifest was made from')}  model.safetensors\n${sha256('{}\n')}  config.json\n`,
};
const BIG: Fixture = {
  prefix: 'big/r1',
  files: { 'model.safetensors': randomBytes(32 * 1024 * 1024) },
};

/** Where one run writes. */
interface Target {
  readonly weights: string;
  readonly console: string;
}

/** How one run ended: exit status, console lines, and the lines that start with a rule id. */
interface Run {
  /** null when the shell was killed by a signal instead of exiting. */
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly lines: string[];
  readonly verdicts: string[];
  /** The script's stderr: the verdict again, and whatever bash or a tool complained about. */
  readonly stderr: string;
}

/**
 * Runs a test's assertions on one run; when one fails, its message also tells how the run ended,
 * so a failure seen once in CI can be diagnosed from the log alone.
 */
function explained(r: Run, assertions: () => void): void {
  try {
    assertions();
  } catch (e) {
    if (e instanceof Error) {
      e.message += `\n\nThe run: status ${r.status}, signal ${r.signal}\nconsole (last 10 lines):\n${r.lines
        .slice(-10)
        .join('\n')}\nstderr (last 2000 characters):\n${r.stderr.slice(-2000)}`;
    }
    throw e;
  }
}

function manifestOf(f: Fixture): string {
  return (
    f.manifest ??
    Object.entries(f.files)
      .map(([name, data]) => `${sha256(data)}  ${name}\n`)
      .join('')
  );
}

// Real downloads through moto on a loaded 2-core machine: allow minutes, not the default minute.
jest.setTimeout(180_000);

describe('30-preload-weights.sh against moto_server (W-1, W-2)', () => {
  let moto: ChildProcess | undefined;
  let endpoint = '';
  let root = '';
  let script = '';
  let baseEnv: Record<string, string> = {};
  const mounted: string[] = [];
  let runs: Record<'missing' | 'corrupt' | 'down' | 'noRaid', Promise<Run>>;

  beforeAll(async () => {
    for (const tool of [AWS_CLI]) {
      if (!existsSync(tool))
        throw new Error(`${tool} (Debian's AWS CLI v2) is required for this test and is missing`);
    }
    if (spawnSync('moto_server', ['--help'], { encoding: 'utf8' }).status !== 0) {
      throw new Error('moto_server is required on PATH for this test (pip install "moto[server]")');
    }
    root = mkdtempSync(path.join(tmpdir(), 'preload-'));
    // The script as it ships in the user data (comment lines stripped), not the source file.
    script = path.join(root, '30-preload-weights.sh');
    writeFileSync(script, shippedBootScript('30-preload-weights.sh'));
    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    await waitForHttp(`${endpoint}/moto-api/`, 15000);

    baseEnv = {
      PATH: '/usr/bin:/bin',
      HOME: root,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_MAX_ATTEMPTS: '1',
      COMPLIANT_INFERENCE_GATE: '1',
      CI_AWS_CLI: AWS_CLI,
      CI_S3_ENDPOINT: endpoint,
      CI_WEIGHTS_BUCKET: BUCKET,
      CI_REQUIRE_RAID: '0',
      CI_WEIGHTS_PV_ROOT: '',
      CI_MAX_ATTEMPTS: '2',
      CI_BACKOFF_BASE_MS: '100',
      CI_BACKOFF_MAX_MS: '400',
      CI_PROGRESS_INTERVAL_SECONDS: '0',
      CI_S3_MULTIPART_CHUNKSIZE: '8MB',
    };

    // One local tree, one upload.
    const upload = path.join(root, 'upload');
    for (const f of [GOOD, SMALL, MISSING, CORRUPT, BIG]) {
      for (const [name, data] of Object.entries(f.files)) {
        if (f.notUploaded?.includes(name)) continue;
        mkdirSync(path.dirname(path.join(upload, f.prefix, name)), { recursive: true });
        writeFileSync(path.join(upload, f.prefix, name), data);
      }
      writeFileSync(path.join(upload, f.prefix, CHECKSUM_MANIFEST), manifestOf(f));
    }
    const aws = (...args: string[]) => {
      const r = spawnSync(AWS_CLI, ['--endpoint-url', endpoint, ...args], {
        env: baseEnv,
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`aws ${args.join(' ')} failed: ${r.stderr}`);
    };
    aws('s3', 'mb', `s3://${BUCKET}`);
    aws('s3', 'sync', '--only-show-errors', upload, `s3://${BUCKET}/`);

    // The fault runs are independent: start them together, each test awaits its own.
    const closed = `http://127.0.0.1:${await freePort()}`;
    runs = {
      missing: preload(target('missing'), `broken:r1:${MISSING.prefix}`),
      corrupt: preload(target('corrupt'), `corrupt:r1:${CORRUPT.prefix}`),
      down: preload(target('down'), GOOD_MODEL, { CI_S3_ENDPOINT: closed }),
      noRaid: preload(target('no-raid'), GOOD_MODEL, {
        CI_REQUIRE_RAID: '1',
        CI_RAID_MOUNT: path.join(root, 'no-raid', 'nvme'),
      }),
    };
  }, 40000);

  afterAll(() => {
    moto?.kill('SIGKILL');
    for (const m of mounted) spawnSync('umount', [m]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** A fresh NVMe mount and console for one run. */
  function target(name: string): Target {
    const dir = path.join(root, name);
    mkdirSync(path.join(dir, 'nvme'), { recursive: true });
    return { weights: path.join(dir, 'nvme', 'models'), console: path.join(dir, 'console') };
  }

  /** Starts the preload step as the gate unit would; resolves when it exits. */
  function start(
    t: Target,
    models: string,
    env: Record<string, string> = {},
  ): { child: ChildProcess; done: Promise<Run> } {
    // Its own process group, so a test can stop the step as systemd does: every process of it.
    const child = spawn('bash', [script], {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...baseEnv,
        CI_WEIGHTS_DIR: t.weights,
        CI_CONSOLE: t.console,
        CI_MODELS: models,
        ...env,
      },
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 90000);
    const done = new Promise<Run>((resolve) =>
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        // The rest of stderr: until the pipe closes, or a second if some process keeps it open.
        const end = () => resolve(result(code, signal, t.console, stderr));
        const grace = setTimeout(end, 1000);
        child.stderr?.on('close', () => {
          clearTimeout(grace);
          end();
        });
        if (child.stderr?.closed) {
          clearTimeout(grace);
          end();
        }
      }),
    );
    return { child, done };
  }

  /** Signals the whole process group of a step (systemd's KillMode=control-group). */
  function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }

  const preload = (t: Target, models: string, env: Record<string, string> = {}) =>
    start(t, models, env).done;

  function result(
    status: number | null,
    signal: NodeJS.Signals | null,
    consoleFile: string,
    stderr: string,
  ): Run {
    const lines = existsSync(consoleFile)
      ? readFileSync(consoleFile, 'utf8').split('\n').filter(Boolean)
      : [];
    return {
      status,
      signal,
      lines,
      verdicts: lines.filter((l) => /^[A-Z]+-\d+: /.test(l)),
      stderr,
    };
  }

  /** Every file under a directory, relative, hidden ones included. */
  function tree(dir: string): string[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
      .sort();
  }

  const GOOD_MODEL = `llama-2-70b-awq:3f1c2b0:${GOOD.prefix}`;

  test('copies every file of every model, verifies it against SHA256SUMS, writes the ready markers, and a second boot fetches nothing', async () => {
    const t = target('success');
    const r = await preload(t, `${GOOD_MODEL} embed-1536:v1:${SMALL.prefix}`);
    expect(r.status).toBe(0);
    expect(r.verdicts).toEqual([]);
    const dir = path.join(t.weights, 'llama-2-70b-awq', '3f1c2b0');
    expect(tree(dir)).toEqual([CHECKSUM_MANIFEST, READY_MARKER, ...Object.keys(GOOD.files)].sort());
    for (const [name, data] of Object.entries(GOOD.files)) {
      expect(sha256(readFileSync(path.join(dir, name)))).toBe(sha256(data));
    }
    const marker = readFileSync(path.join(dir, READY_MARKER), 'utf8');
    expect(marker).toContain(`manifest_sha256=${sha256(manifestOf(GOOD))}`);
    expect(marker).toContain('files=3');
    // Progress: bytes, rate and time left, then the W-2 line of success.
    const progress =
      /^compliant-inference: W-1 llama-2-70b-awq@3f1c2b0: [\d.]+ \w+ of 4\.0 MiB, [\d.]+ \w+\/s, (\d+ s|unknown) left$/;
    expect(r.lines.some((l) => progress.test(l))).toBe(true);
    expect(r.lines).toContain(
      'compliant-inference: W-2 llama-2-70b-awq@3f1c2b0: 3 files, 4.0 MiB verified against SHA256SUMS; ready',
    );
    expect(r.lines).toContain(
      'compliant-inference: W-2 embed-1536@v1: 1 files, 4.0 KiB verified against SHA256SUMS; ready',
    );
    const small = path.join(t.weights, 'embed-1536', 'v1');
    expect(tree(small)).toEqual([READY_MARKER, CHECKSUM_MANIFEST, 'model.safetensors'].sort());
    expect(sha256(readFileSync(path.join(small, 'model.safetensors')))).toBe(
      sha256(SMALL.files['model.safetensors']),
    );

    // A second boot fetches nothing, and offers the verified revision to pods (W-3) as
    // read-only bind mounts, one per GPU.
    const pvRoot = path.join(root, 'pv');
    const mounts = [0, 1].map((i) =>
      path.join(pvRoot, weightsStorageClass('llama-2-70b-awq', '3f1c2b0'), `gpu${i}`),
    );
    mounted.push(...mounts);
    const exposed = await preload(t, GOOD_MODEL, {
      CI_WEIGHTS_PV_ROOT: pvRoot,
      CI_WEIGHTS_PV_COUNT: '2',
    });
    expect(exposed.lines).toContain(
      'compliant-inference: W-1 llama-2-70b-awq@3f1c2b0: 0 of 3 files to fetch, 0 B of 4.0 MiB',
    );
    expect(existsSync(path.join(dir, READY_MARKER))).toBe(true);
    const writable = (dir: string) => {
      try {
        writeFileSync(path.join(dir, 'injected'), 'x');
        return true;
      } catch {
        return false;
      }
    };
    const outcome =
      exposed.status === 0
        ? mounts.map((m) => ({
            mountpoint: spawnSync('mountpoint', ['-q', m]).status === 0,
            config: readFileSync(path.join(m, 'config.json'), 'utf8'),
            writable: writable(m),
          }))
        : exposed.verdicts.map((v) => /^W-3: could not bind .* read-only at .*gpu0/.test(v));
    // As root the mounts are made; without the right to mount the step fails closed, naming W-3.
    expect(outcome).toEqual(
      process.getuid?.() === 0
        ? mounts.map(() => ({
            mountpoint: true,
            config: GOOD.files['config.json'].toString(),
            writable: false,
          }))
        : [true],
    );
  });

  test('a missing object fails with one W-1 line naming it, and no ready marker', async () => {
    const t = target('missing');
    const r = await runs.missing;
    expect(r.status).not.toBe(0);
    expect(r.verdicts).toEqual([
      `W-1: s3://${BUCKET}/missing/r1/model.safetensors is listed in SHA256SUMS but missing from the bucket`,
    ]);
    expect(existsSync(path.join(t.weights, 'broken', 'r1', READY_MARKER))).toBe(false);
  });

  test('a checksum mismatch fails with one W-2 line naming the object, removes the bad copy, and writes no marker', async () => {
    const t = target('corrupt');
    const r = await runs.corrupt;
    expect(r.status).not.toBe(0);
    expect(r.verdicts).toHaveLength(1);
    expect(r.verdicts[0]).toMatch(
      new RegExp(
        `^W-2: checksum mismatch for s3://${BUCKET}/corrupt/r1/model\\.safetensors: SHA256SUMS says [0-9a-f]{64}, the copy has [0-9a-f]{64}; no ready marker written$`,
      ),
    );
    expect(tree(path.join(t.weights, 'corrupt', 'r1'))).toEqual([]);
  });

  test('an endpoint that is down fails after the bounded retries with one W-1 line naming the object', async () => {
    const t = target('down');
    const r = await runs.down;
    expect(r.status).not.toBe(0);
    expect(r.verdicts).toHaveLength(1);
    expect(r.verdicts[0]).toMatch(
      new RegExp(
        `^W-1: could not fetch s3://${BUCKET}/llama-2-70b-awq/3f1c2b0/SHA256SUMS after 2 attempts: .*Could not connect to the endpoint URL`,
      ),
    );
    expect(r.lines.filter((l) => / attempt 1 of 2 .* retrying in \d+ ms$/.test(l))).toHaveLength(1);
    expect(existsSync(path.join(t.weights, 'llama-2-70b-awq', '3f1c2b0', READY_MARKER))).toBe(
      false,
    );
  });

  test('a download killed half-way fails with one W-1 line naming the object, leaves no marker, and a rerun completes', async () => {
    const t = target('killed');
    const models = `big:r1:${BIG.prefix}`;
    // A capped rate (32 MiB at 4 MB/s takes 8 s) makes "half-way" a window, not a race.
    const { child, done } = start(t, models, { CI_S3_MAX_BANDWIDTH: '4MB/s' });
    // Wait until the big object is being written, then stop the step as systemd does on timeout.
    const dir = path.join(t.weights, 'big', 'r1');
    const deadline = Date.now() + 25000;
    while (!(existsSync(dir) && readdirSync(dir).some((n) => n.startsWith('model.safetensors')))) {
      if (Date.now() > deadline) throw new Error('the download never started');
      await new Promise((r) => setTimeout(r, 50));
    }
    killGroup(child, 'SIGTERM');
    const r = await done;
    explained(r, () => {
      // The script handles the signal and exits by itself: not killed, and not 0.
      expect(r.signal).toBeNull();
      expect(r.status).not.toBe(0);
      expect(r.verdicts).toEqual([
        `W-1: preload of big@r1 interrupted by SIGTERM while downloading s3://${BUCKET}/big/r1/model.safetensors; no ready marker written`,
      ]);
      expect(existsSync(path.join(dir, READY_MARKER))).toBe(false);
    });

    const rerun = await preload(t, models);
    explained(rerun, () => expect(rerun.status).toBe(0));
    expect(sha256(readFileSync(path.join(dir, 'model.safetensors')))).toBe(
      sha256(BIG.files['model.safetensors']),
    );
    expect(existsSync(path.join(dir, READY_MARKER))).toBe(true);
  }, 180_000);

  test('W-1: weights are refused when the NVMe RAID0 is not mounted', async () => {
    const t = target('no-raid');
    const r = await runs.noRaid;
    expect(r.status).not.toBe(0);
    expect(r.verdicts).toEqual([
      `W-1: ${path.dirname(t.weights)} is not mounted: the NVMe RAID0 that nodeadm builds is missing, and weights must not land on the root volume`,
    ]);
  });
});
