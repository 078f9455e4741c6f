import {
  AuditReport,
  WaiverSet,
  auditExitCode,
  checkTemplate,
  renderTable,
} from '../../constructs';
import { CUSTOM_IMAGE, synthGroup } from '../aws/gpu-node-fixture';
import {
  CLOCK,
  Obj,
  audit,
  brokenRules,
  clone,
  engineOf,
  generationDeployment,
  referenceObjects,
  serviceObjects,
} from './fixture';
import { EXPIRED_Q1_WAIVER, Q1_WAIVER } from './waiver-fixture';

const reference = referenceObjects();

/** The reference with an unquantized engine (a Q-1 finding) and, optionally, a waiver annotation. */
function unquantized(waiver?: unknown): Obj[] {
  const objects = clone(reference);
  const d = generationDeployment(objects);
  const args: string[] = engineOf(d).args;
  args.splice(args.indexOf('--quantization'), 2);
  if (waiver !== undefined) {
    d.spec.template.metadata.annotations['compliance.inference/waiver.Q-1'] =
      typeof waiver === 'string' ? waiver : JSON.stringify(waiver);
  }
  return objects;
}

const errors = (r: AuditReport) => r.findings.filter((f) => f.severity === 'error');

describe('waivers', () => {
  test('a waiver in force turns the finding into a waived note, listed with its expiry; exit 0', () => {
    const report = audit(unquantized(Q1_WAIVER));
    expect(errors(report)).toEqual([]);
    expect(report.findings).toEqual([
      expect.objectContaining({
        rule: 'Q-1',
        severity: 'note',
        waiver: expect.objectContaining({ expires: '2027-01-31', status: 'in-force' }),
      }),
    ]);
    expect(report.waivers).toEqual([
      expect.objectContaining({
        rule: 'Q-1',
        approvedBy: 'model-risk-board',
        expires: '2027-01-31',
        status: 'in-force',
        kind: 'Deployment',
        name: 'inference/llama-2-70b-gen',
      }),
    ]);
    expect(auditExitCode(report)).toBe(0);
    const table = renderTable(report).join('\n');
    expect(table).toMatch(/^Waivers:$/m);
    expect(table).toMatch(/^Q-1\s+2027-01-31\s+in force\s+model-risk-board/m);
    expect(table).toMatch(/1 waived \(Q-1\)/);
  });

  test('an expired waiver is an error of its rule, and covers nothing', () => {
    const report = audit(unquantized(EXPIRED_Q1_WAIVER));
    expect(brokenRules(report)).toEqual(['Q-1']);
    expect(errors(report).map((f) => f.message)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^Q-1: the waiver is not valid \(.*expired on 2026-11-30\)/),
        expect.stringMatching(/^Q-1: serve INT8 or 4-bit/),
      ]),
    );
    expect(report.waivers[0]).toMatchObject({ status: 'invalid', expires: '2026-11-30' });
    expect(auditExitCode(report)).toBe(1);
  });

  test('a waiver without a reason is invalid', () => {
    const report = audit(unquantized({ ...Q1_WAIVER, reason: ' ' }));
    expect(report.waivers[0]).toMatchObject({
      status: 'invalid',
      problem: 'the waiver of Q-1 has no reason',
    });
    expect(auditExitCode(report)).toBe(1);
  });

  test('the short form "expires; approvedBy; reason" is read too', () => {
    const report = audit(unquantized('2027-01-31; model-risk-board; evaluation build'));
    expect(errors(report)).toEqual([]);
    expect(report.waivers[0]).toMatchObject({ reason: 'evaluation build', status: 'in-force' });
  });

  test('a waiver of an unknown rule is unusable input', () => {
    const objects = clone(reference);
    generationDeployment(objects).metadata.annotations['compliance.inference/waiver.XYZ-9'] =
      JSON.stringify(Q1_WAIVER);
    const report = audit(objects);
    expect(report.problems).toEqual([
      expect.objectContaining({ message: "waiver of unknown rule 'XYZ-9'" }),
    ]);
    expect(auditExitCode(report)).toBe(2);
  });

  test('an InferenceService with a Q-1 waiver synthesizes output whose Q-1 finding is waived', () => {
    const objects = serviceObjects({
      model: 'mistral-7b',
      weights: 'fp16',
      weightsRevision: 'abc123',
      role: 'generation',
      image: `registry.example.com/serving/vllm@sha256:${'ab'.repeat(32)}`,
      gpuLossPlan: { kind: 'fail-fast', retryAfterSeconds: 30 },
      clock: CLOCK,
      review: { reviewer: 'sre-oncall-lead', date: '2026-11-20' },
      waivers: [{ rule: 'Q-1', ...Q1_WAIVER }],
    });
    const report = audit(objects);
    expect(errors(report)).toEqual([]);
    expect(report.findings.map((f) => [f.rule, f.severity])).toEqual([['Q-1', 'note']]);
  });

  test('waivers in template metadata (as GpuNodeGroup writes them) cover that resource', () => {
    const waivers = WaiverSet.of(
      [
        {
          rule: 'HW-1',
          reason: 'p5 capacity trial',
          approvedBy: 'platform-review-board',
          expires: '2027-02-28',
        },
      ],
      CLOCK,
    );
    const { template } = synthGroup({ instanceType: 'p5.48xlarge', waivers, image: CUSTOM_IMAGE });
    const json = template.toJSON();
    expect(checkTemplate(json).map((f) => f.rule)).toContain('HW-1');
    const report = audit([json], 'platform.template.json');
    const hw1 = report.findings.filter((f) => f.rule === 'HW-1');
    expect(hw1.length).toBeGreaterThan(0);
    for (const f of hw1) expect(f.severity).toBe('note');
    expect(report.waivers.filter((w) => w.rule === 'HW-1')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ expires: '2027-02-28', status: 'in-force' }),
      ]),
    );
  });
});
