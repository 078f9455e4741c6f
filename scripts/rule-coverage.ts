/**
 * The rule coverage table (rule id, audit test, admission test), built from the same list of
 * mutants that test/audit/rules.test.ts runs. README.md shows it (scripts/readme-blocks.ts).
 */
import { EnforcementPoint, RULES } from '../constructs/standard';
import { RULE_PROOFS } from '../test/audit/rule-proofs';

const SUITE = 'test/audit/rules.test.ts';

function cell(items: string[]): string {
  return items.length === 0 ? '' : items.map((i) => i.replace(/\|/g, '\\|')).join('<br>');
}

/** The table as markdown lines, with its totals. */
export function coverageTable(): string[] {
  const rows: string[] = [
    '| Rule | Enforced at | Audit test (`' +
      SUITE +
      '`: audit reports exactly this rule) | Admission test (the generated policy refuses the mutant, admits the original) |',
    '|---|---|---|---|',
  ];
  let auditRules = 0;
  let auditProved = 0;
  let admissionRules = 0;
  let admissionProved = 0;
  for (const rule of RULES) {
    const audit = rule.enforcedAt.includes(EnforcementPoint.AUDIT);
    const admission = rule.enforcedAt.includes(EnforcementPoint.ADMISSION);
    if (!audit && !admission) continue;
    const proofs = RULE_PROOFS.filter((p) => p.rule === rule.id);
    const auditCell = proofs.map((p) => `${p.rule}: ${p.change}`);
    let admissionCell: string[];
    if (rule.id === 'OPS-4') {
      admissionCell = [
        'test/audit/admission-policy.test.ts: the policy validates against the 1.33 schema, its validations are the rule list word for word, and it refuses every admission mutant of this table',
      ];
    } else if (admission) {
      admissionCell = proofs.filter((p) => p.admission).map((p) => `${p.rule}: ${p.change}`);
    } else {
      admissionCell = ['(no admission point)'];
    }
    if (audit) {
      auditRules++;
      if (auditCell.length > 0) auditProved++;
    }
    if (admission) {
      admissionRules++;
      if (admissionCell.length > 0) admissionProved++;
    }
    rows.push(
      `| ${rule.id} | ${rule.enforcedAt.join(', ')} | ${cell(auditCell) || (audit ? '**missing**' : '(no audit point; audited through its checks)')} | ${cell(admissionCell) || '**missing**'} |`,
    );
  }
  rows.push(
    '',
    `Totals: ${auditProved} of ${auditRules} rules with an audit point have an audit test; ` +
      `${admissionProved} of ${admissionRules} rules with an admission point have an admission test; ` +
      `${RULE_PROOFS.length} mutants in all (${RULE_PROOFS.filter((p) => p.admission).length} also through admission).`,
  );
  return rows;
}
