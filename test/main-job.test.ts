import { spawnSync } from 'child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { auditExitCode, auditPaths } from '../constructs/audit';

const ROOT = join(__dirname, '..');

describe('the main job (npm run synth)', () => {
  const out = mkdtempSync(join(tmpdir(), 'main-job-'));
  const cdkOut = join(out, 'cdk.out');
  const dist = join(out, 'dist');
  let run: ReturnType<typeof spawnSync>;

  beforeAll(() => {
    // A leftover of an earlier run, broken on purpose: the job must not audit or keep it.
    mkdirSync(dist, { recursive: true });
    writeFileSync(join(dist, 'stale.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: stale}\n');
    // No credentials, no region, no instance metadata: synthesis must not need any.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: out,
      CDK_OUTDIR: cdkOut,
      DIST_OUTDIR: dist,
    };
    env.AWS_EC2_METADATA_DISABLED = 'true';
    run = spawnSync(process.execPath, [require.resolve('tsx/cli'), 'bin/synth.ts'], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  test('exits 0 and writes the CloudFormation and the manifests', () => {
    expect(run.status).toBe(0);
    expect(readdirSync(cdkOut)).toContain('CompliantInferencePlatform.template.json');
    expect(readdirSync(dist).sort()).toEqual([
      'cluster-services.yaml',
      'inference-workloads.yaml',
      'traffic-platform.yaml',
    ]);
  });

  test('ends with a one-screen compliance summary', () => {
    const lines = String(run.stdout).trim().split('\n');
    expect(lines.length).toBeLessThanOrEqual(24);
    expect(lines).toContain('compliant');
    expect(String(run.stdout)).toMatch(/^rules checked: 20, passed: 20, broken: 0, waived: 0$/m);
  });

  test('its whole output audits clean', () => {
    expect(existsSync(cdkOut) && existsSync(dist)).toBe(true);
    const report = auditPaths([cdkOut, dist]);
    expect(report.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(report.problems).toEqual([]);
    expect(report.audited).toBeGreaterThan(30);
    expect(auditExitCode(report)).toBe(0);
  });

  test('a floating image in cdk.json stops it with one sentence and exit 2, never a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'main-job-bad-'));
    const bad = spawnSync(process.execPath, [require.resolve('tsx/cli'), 'bin/synth.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        CDK_OUTDIR: join(dir, 'cdk.out'),
        DIST_OUTDIR: join(dir, 'dist'),
        CDK_CONTEXT_JSON: JSON.stringify({
          ...JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')).context,
          'compliant-inference:servingImage': 'vllm/vllm-openai:latest',
        }),
      },
      encoding: 'utf8',
      timeout: 120_000,
    });
    rmSync(dir, { recursive: true, force: true });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toMatch(
      /^synth: SW-2: context 'compliant-inference:servingImage' must be an image pinned by digest/,
    );
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });

  test('starts from empty output folders, so a stale file is never audited or shipped', () => {
    expect(readdirSync(dist)).not.toContain('stale.yaml');
  });
});
