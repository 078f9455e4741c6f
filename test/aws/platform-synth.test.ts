import { execFileSync, spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');

/** cfn-lint warnings left in the synthesized templates, each explained in docs/platform-cluster.md. */
const DOCUMENTED_WARNINGS = new Set([
  // Explicit availability zones: synthesis must not look them up, and preflight checks them.
  'W3010',
  // Redundant DependsOn that aws-cdk-lib writes next to a Ref or GetAtt.
  'W3005',
]);

interface LintFinding {
  readonly Rule: { readonly Id: string };
  readonly Level: string;
  readonly Message: string;
  readonly Filename: string;
}

/** The environment of a machine with no AWS credentials and no instance metadata. */
function offlineEnv(outdir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('AWS_') && !k.startsWith('CDK_')) env[k] = v;
  }
  return {
    ...env,
    CDK_OUTDIR: outdir,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
  };
}

describe('the CDK app (bin/app.ts)', () => {
  let outdir: string;
  let templates: string[];
  beforeAll(() => {
    outdir = mkdtempSync(path.join(tmpdir(), 'platform-synth-'));
    execFileSync(process.execPath, [require.resolve('tsx/cli'), 'bin/app.ts'], {
      cwd: ROOT,
      env: offlineEnv(outdir),
      stdio: 'pipe',
      timeout: 60_000,
    });
    templates = readdirSync(outdir)
      .filter((f) => f.endsWith('.template.json'))
      .map((f) => path.join(outdir, f));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  test('synthesizes offline, without credentials, into the given output directory', () => {
    expect(templates.map((t) => path.basename(t))).toEqual([
      'CompliantInferencePlatform.template.json',
    ]);
  });

  test('needs no context lookup: the cloud assembly records no missing context', () => {
    const manifest = JSON.parse(readFileSync(path.join(outdir, 'manifest.json'), 'utf8'));
    expect(manifest.missing ?? []).toEqual([]);
  });

  test('places subnets in exactly the zones of cdk.json', () => {
    const context = JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')).context;
    const template = JSON.parse(readFileSync(templates[0], 'utf8'));
    const zones = new Set(
      Object.values(
        template.Resources as Record<
          string,
          { Type: string; Properties: { AvailabilityZone?: string } }
        >,
      )
        .filter((r) => r.Type === 'AWS::EC2::Subnet')
        .map((r) => r.Properties.AvailabilityZone),
    );
    expect([...zones].sort()).toEqual([...context['compliant-inference:availabilityZones']].sort());
  });

  test('cfn-lint finds no error in any template, and only the documented warnings', () => {
    const run = spawnSync('cfn-lint', ['--format', 'json', ...templates], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(run.error).toBeUndefined();
    const findings = JSON.parse(run.stdout || '[]') as LintFinding[];
    const errors = findings.filter((f) => f.Level === 'Error');
    expect(errors.map((f) => `${f.Rule.Id}: ${f.Message}`)).toEqual([]);
    const unexplained = findings.filter(
      (f) => f.Level !== 'Error' && !DOCUMENTED_WARNINGS.has(f.Rule.Id),
    );
    expect(unexplained.map((f) => `${f.Rule.Id}: ${f.Message}`)).toEqual([]);
    // cfn-lint exits 0 when clean, 4 with warnings only, 2 or more with errors.
    expect([0, 4]).toContain(run.status);
  });
});
