import { mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { stringify } from 'yaml';
import { runCli } from '../../bin/cli';
import { runAudit } from '../../bin/commands/audit';
import { BufferedOutput } from '../../bin/private/output';
import { Q1_WAIVER } from './waiver-fixture';
import { synthReferenceWorkloads } from '../../lib/reference-workloads';
import { CLOCK, Obj, clone, engineOf, generationDeployment, referenceObjects } from './fixture';

const reference = referenceObjects();
const HANDWRITTEN = join(__dirname, '..', 'fixtures', 'handwritten');

function writeYaml(objects: Obj[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'audit-cli-'));
  const file = join(dir, 'manifests.yaml');
  writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
  return file;
}

async function cli(...args: string[]): Promise<{ code: number; out: BufferedOutput }> {
  const out = new BufferedOutput();
  const code = await runCli(['audit', ...args], out);
  return { code, out };
}

/**
 * The parts of the SARIF 2.1.0 schema (OASIS) that this output uses, with the same
 * required properties, enums and types; unknown properties are refused where the
 * standard defines the object's properties.
 */
const SARIF_SHAPE = {
  type: 'object',
  required: ['version', 'runs'],
  properties: {
    $schema: { type: 'string', format: 'uri' },
    version: { const: '2.1.0' },
    runs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['tool'],
        additionalProperties: false,
        properties: {
          tool: {
            type: 'object',
            required: ['driver'],
            properties: {
              driver: {
                type: 'object',
                required: ['name'],
                properties: {
                  name: { type: 'string' },
                  version: { type: 'string' },
                  rules: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['id'],
                      additionalProperties: false,
                      properties: {
                        id: { type: 'string' },
                        name: { type: 'string' },
                        shortDescription: { $ref: '#/$defs/message' },
                        defaultConfiguration: {
                          type: 'object',
                          properties: { level: { enum: ['none', 'note', 'warning', 'error'] } },
                        },
                        properties: { type: 'object' },
                      },
                    },
                  },
                },
              },
            },
          },
          invocations: {
            type: 'array',
            items: {
              type: 'object',
              required: ['executionSuccessful'],
              properties: {
                executionSuccessful: { type: 'boolean' },
                toolExecutionNotifications: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['message'],
                    properties: {
                      message: { $ref: '#/$defs/message' },
                      level: { enum: ['none', 'note', 'warning', 'error'] },
                      locations: { type: 'array', items: { $ref: '#/$defs/location' } },
                    },
                  },
                },
              },
            },
          },
          results: {
            type: 'array',
            items: {
              type: 'object',
              required: ['message', 'ruleId', 'level', 'locations'],
              additionalProperties: false,
              properties: {
                ruleId: { type: 'string' },
                ruleIndex: { type: 'integer', minimum: -1 },
                level: { enum: ['none', 'note', 'warning', 'error'] },
                message: { $ref: '#/$defs/message' },
                locations: { type: 'array', minItems: 1, items: { $ref: '#/$defs/location' } },
                properties: { type: 'object' },
                suppressions: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['kind'],
                    additionalProperties: false,
                    properties: {
                      kind: { enum: ['inSource', 'external'] },
                      status: { enum: ['accepted', 'underReview', 'rejected'] },
                      justification: { type: 'string' },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
  $defs: {
    message: {
      type: 'object',
      required: ['text'],
      properties: { text: { type: 'string', minLength: 1 } },
    },
    location: {
      type: 'object',
      additionalProperties: false,
      properties: {
        physicalLocation: {
          type: 'object',
          required: ['artifactLocation'],
          additionalProperties: false,
          properties: {
            artifactLocation: {
              type: 'object',
              required: ['uri'],
              properties: { uri: { type: 'string', format: 'uri-reference' } },
            },
            region: {
              type: 'object',
              required: ['startLine'],
              properties: { startLine: { type: 'integer', minimum: 1 } },
            },
          },
        },
        logicalLocations: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            properties: {
              name: { type: 'string' },
              fullyQualifiedName: { type: 'string' },
              kind: { type: 'string' },
            },
          },
        },
      },
    },
  },
};

describe('compliant-inference audit', () => {
  test('exits 0 on the reference manifests and prints the summary', async () => {
    const { code, out } = await cli(writeYaml(reference));
    expect(code).toBe(0);
    expect(out.stdout.at(-1)).toMatch(
      /^\d+ object\(s\) and template\(s\) in 1 file\(s\): 20 rules checked, 20 passed, 0 broken, 0 waived; 0 finding\(s\), 0 unusable input\(s\)$/,
    );
  });

  test('exits 0 on the reference workloads as cdk8s writes them to disk (the synth output folder)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-dist-'));
    synthReferenceWorkloads(dir, CLOCK);
    const { code, out } = await cli(dir);
    expect(out.text).not.toMatch(/Unusable input/);
    expect(code).toBe(0);
  });

  test('exits 1 with a table row per finding: rule, severity, file#document, object, field, message', async () => {
    const mutant = clone(reference);
    engineOf(generationDeployment(mutant)).image = 'vllm/vllm-openai:v0.6.3';
    const file = writeYaml(mutant);
    const { code, out } = await cli(file);
    expect(code).toBe(1);
    expect(out.stdout[0]).toMatch(/^RULE\s+SEVERITY\s+LOCATION\s+OBJECT\s+FIELD\s+MESSAGE$/);
    const index = mutant.indexOf(generationDeployment(mutant));
    expect(out.stdout[1]).toMatch(
      new RegExp(
        `^SW-2\\s+error\\s+${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}#${index}\\s+Deployment/inference/llama-2-70b-gen\\s+spec\\.template\\.spec\\.containers\\[\\*\\]\\.image\\s+SW-2: pin every image by digest`,
      ),
    );
    expect(out.text).toMatch(/1 broken \(SW-2\)/);
  });

  test('exits 2 on unusable input, and still audits the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-cli-'));
    writeFileSync(join(dir, 'broken.yaml'), 'kind: [oops');
    writeFileSync(join(dir, 'ok.yaml'), stringify(generationDeployment(reference)));
    const { code, out } = await cli(dir);
    expect(code).toBe(2);
    expect(out.text).toMatch(/Unusable input:\n {2}.*broken\.yaml#0: not YAML/);
    expect(out.text).toMatch(/^1 object\(s\)/m);
  });

  test('--format json is the report as JSON, with the exit code and the summary', async () => {
    const { code, out } = await cli(join(HANDWRITTEN, 'vllm-hub-model.yaml'), '--format', 'json');
    expect(code).toBe(1);
    const report = JSON.parse(out.text);
    expect(report.exitCode).toBe(1);
    expect(report.findings[0]).toEqual(
      expect.objectContaining({
        rule: expect.any(String),
        severity: 'error',
        file: expect.stringMatching(/vllm-hub-model\.yaml$/),
        document: 0,
        kind: 'Deployment',
        name: 'inference/chat-model',
        field: expect.any(String),
        message: expect.any(String),
      }),
    );
    expect(report.summary.broken).toContain('SW-2');
  });

  test('--format sarif is a SARIF 2.1.0 log with rule ids, levels and locations', async () => {
    const { code, out } = await cli(HANDWRITTEN, '--format', 'sarif');
    expect(code).toBe(1);
    const log = JSON.parse(out.text);
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(SARIF_SHAPE);
    expect(validate(log) ? [] : validate.errors).toEqual([]);
    const results = log.runs[0].results as Obj[];
    expect(results.length).toBeGreaterThan(20);
    const rules = log.runs[0].tool.driver.rules as Obj[];
    for (const r of results) {
      expect(rules[r.ruleIndex].id).toBe(r.ruleId);
      expect(r.locations[0].physicalLocation.artifactLocation.uri).toMatch(
        /handwritten\/.+\.ya?ml$/,
      );
      expect(r.locations[0].physicalLocation.region.startLine).toBeGreaterThanOrEqual(1);
    }
    // The second document of vllm-hub-model.yaml (the Service) starts after the first.
    const lines = results.map((r) => r.locations[0].physicalLocation.region.startLine);
    expect(Math.max(...lines)).toBeGreaterThan(1);
  });

  test('a waived finding is a SARIF note with an accepted external suppression', async () => {
    const mutant = clone(reference);
    const d = generationDeployment(mutant);
    const args: string[] = engineOf(d).args;
    args.splice(args.indexOf('--quantization'), 2);
    d.metadata.annotations['compliance.inference/waiver.Q-1'] = JSON.stringify(Q1_WAIVER);
    const { code, out } = await cli(writeYaml(mutant), '--format', 'sarif');
    expect(code).toBe(0);
    const [result] = JSON.parse(out.text).runs[0].results;
    expect(result).toMatchObject({
      ruleId: 'Q-1',
      level: 'note',
      suppressions: [{ kind: 'external', status: 'accepted' }],
    });
  });

  test('- reads standard input', () => {
    const out = new BufferedOutput();
    const code = runAudit(['-'], { format: 'table', maxFileMib: '16' }, out, () =>
      Buffer.from(stringify(generationDeployment(reference))),
    );
    // One Deployment alone: no PodDisruptionBudget and no ServiceMonitor beside it.
    expect(code).toBe(1);
    expect(out.text).toMatch(/^OPS-3\s+error\s+-#0\s+Deployment/m);
    expect(out.text).toMatch(/^OBS-1\s+error\s+-#0\s+Deployment/m);
  });

  test('an empty folder or an empty pipe is unusable input (exit 2), so a broken pipeline cannot pass', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'audit-empty-'));
    expect((await cli(empty)).code).toBe(2);
    const out = new BufferedOutput();
    const code = runAudit(['-'], { format: 'table', maxFileMib: '16' }, out, () => Buffer.from(''));
    expect(code).toBe(2);
  });

  test('--approvers makes a waiver by anyone else invalid, and its rule broken; without it a waiver warns', async () => {
    const mutant = clone(reference);
    const d = generationDeployment(mutant);
    const args: string[] = engineOf(d).args;
    args.splice(args.indexOf('--quantization'), 2);
    d.metadata.annotations['compliance.inference/waiver.Q-1'] = JSON.stringify(Q1_WAIVER);
    const file = writeYaml(mutant);
    // Without an approver list the waiver counts, with a warning that it was never checked.
    const unchecked = await cli(file);
    expect(unchecked.code).toBe(0);
    expect(unchecked.out.stderr).toEqual([
      expect.stringMatching(
        /^audit: warning: 1 finding\(s\) waived by annotations no approver list checked; pass --approvers in CI/,
      ),
    ]);
    const approved = await cli(file, '--approvers', Q1_WAIVER.approvedBy);
    expect(approved.code).toBe(0);
    expect(approved.out.stderr).toEqual([]);
    const refused = await cli(file, '--approvers', 'sre-review-board-only');
    expect(refused.code).toBe(1);
    expect(refused.out.text).toMatch(
      /Q-1: the waiver is not valid \(approved by '.*', who is not among the approvers/,
    );
  });

  test('an unknown format is a usage error (exit 2)', async () => {
    const { code } = await cli('x.yaml', '--format', 'xml');
    expect(code).toBe(2);
  });
});
