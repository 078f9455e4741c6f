import { EnforcementPoint, auditedRules, rulesEnforcedAt } from '../../constructs';
import {
  Obj,
  admit,
  audit,
  brokenRules,
  clone,
  generationDeployment,
  referenceObjects,
} from './fixture';
import { RULE_PROOFS, compliantTemplate } from './rule-proofs';

const reference = referenceObjects();

function base(kind: 'manifests' | 'template'): Obj[] {
  return kind === 'manifests' ? clone(reference) : [compliantTemplate()];
}

describe('the compliant inputs', () => {
  test('the reference workloads, with their monitors and traffic policies, audit clean', () => {
    const report = audit(reference);
    expect(report.findings).toEqual([]);
    expect(report.problems).toEqual([]);
    expect(report.audited).toBe(reference.length);
  });

  test('the compliant template audits clean', () => {
    const report = audit([compliantTemplate()], 'template.json');
    expect(report.findings).toEqual([]);
    expect(report.problems).toEqual([]);
  });

  test('the admission policy admits every reference workload', () => {
    const workloads = reference.filter((o) => o.kind === 'Deployment');
    expect(workloads).toHaveLength(2);
    for (const w of workloads) expect(admit(w)).toEqual({ admitted: true, messages: [] });
  });
});

describe('every rule with an audit or admission point has a mutant', () => {
  test('each such rule has at least one proof, and each admission rule an admission proof', () => {
    const proved = new Set(RULE_PROOFS.map((p) => p.rule));
    expect(auditedRules().filter((r) => !proved.has(r))).toEqual([]);
    const admitted = new Set(RULE_PROOFS.filter((p) => p.admission).map((p) => p.rule));
    const admissionRules = rulesEnforcedAt(EnforcementPoint.ADMISSION)
      .map((r) => r.id)
      .filter((r) => r !== 'OPS-4');
    expect(admissionRules.filter((r) => !admitted.has(r))).toEqual([]);
  });
});

describe.each(RULE_PROOFS.map((p) => [`${p.rule}: ${p.change}`, p] as const))('%s', (_, proof) => {
  const mutant = base(proof.base);
  proof.mutate(mutant);

  test(`audit reports exactly ${proof.rule}`, () => {
    const report = audit(mutant);
    expect(report.problems).toEqual([]);
    expect(brokenRules(report)).toEqual([proof.rule]);
    for (const f of report.findings) expect(f.message.startsWith(`${proof.rule}: `)).toBe(true);
  });

  if (proof.admission) {
    test(`the admission policy refuses it with a ${proof.rule} message, and admits the original`, () => {
      const answer = admit(generationDeployment(mutant));
      expect(answer.admitted).toBe(false);
      expect(answer.messages.length).toBeGreaterThan(0);
      for (const m of answer.messages) expect(m.startsWith(`${proof.rule}: `)).toBe(true);
      expect(admit(generationDeployment(reference)).admitted).toBe(true);
    });
  }
});
