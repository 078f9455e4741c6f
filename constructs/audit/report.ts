/**
 * Renderings of an {@link AuditReport}: a table for people, JSON for scripts and SARIF 2.1.0
 * for CI systems that annotate diffs. They build text only; the CLI prints it.
 */
import { RULES, RuleId, ruleById } from '../standard';
import { AuditReport, AuditFinding, auditExitCode } from './audit';

/** The output formats of `audit`. */
export type AuditFormat = 'table' | 'json' | 'sarif';

function where(f: { file: string; document: number }): string {
  return `${f.file}#${f.document}`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) =>
    Math.min(60, Math.max(...rows.map((r) => (i === r.length - 1 ? 0 : r[i].length)))),
  );
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}

/** One-screen counts: rules checked, passed, broken and waived. */
export function auditSummary(report: AuditReport): {
  checked: number;
  passed: number;
  broken: RuleId[];
  waived: RuleId[];
} {
  const broken = [
    ...new Set(report.findings.filter((f) => f.severity === 'error').map((f) => f.rule)),
  ];
  const waived = [
    ...new Set(report.findings.filter((f) => f.severity === 'note').map((f) => f.rule)),
  ].filter((r) => !broken.includes(r));
  const checked = report.rulesChecked.length;
  return { checked, passed: checked - broken.length - waived.length, broken, waived };
}

/** The report as lines of a table: findings, waivers, unusable inputs, summary. */
export function renderTable(report: AuditReport): string[] {
  const lines: string[] = [];
  const errors = report.findings.filter((f) => f.severity === 'error');
  const notes = report.findings.filter((f) => f.severity === 'note');
  const rows = (list: AuditFinding[]) => [
    ['RULE', 'SEVERITY', 'LOCATION', 'OBJECT', 'FIELD', 'MESSAGE'],
    ...list.map((f) => [f.rule, f.severity, where(f), `${f.kind}/${f.name}`, f.field, f.message]),
  ];
  if (errors.length > 0) lines.push(...table(rows(errors)), '');
  if (notes.length > 0) lines.push('Waived findings:', ...table(rows(notes)), '');
  if (report.waivers.length > 0) {
    lines.push('Waivers:');
    lines.push(
      ...table([
        ['RULE', 'EXPIRES', 'STATUS', 'APPROVED BY', 'LOCATION', 'OBJECT', 'REASON'],
        ...report.waivers.map((w) => [
          w.rule,
          w.expires,
          w.status === 'in-force' ? 'in force' : `invalid: ${w.problem ?? ''}`,
          w.approvedBy,
          where(w),
          `${w.kind}/${w.name}`,
          w.reason,
        ]),
      ]),
      '',
    );
  }
  if (report.problems.length > 0) {
    lines.push('Unusable input:');
    for (const p of report.problems) {
      lines.push(`  ${p.file}${p.document === undefined ? '' : `#${p.document}`}: ${p.message}`);
    }
    lines.push('');
  }
  const s = auditSummary(report);
  if (report.audited === 0) {
    lines.push(
      `nothing audited in ${report.files.length} file(s); ${report.problems.length} unusable input(s)`,
    );
    return lines;
  }
  lines.push(
    `${report.audited} object(s) and template(s) in ${report.files.length} file(s): ` +
      `${s.checked} rules checked, ${s.passed} passed, ${s.broken.length} broken` +
      `${s.broken.length ? ` (${s.broken.join(', ')})` : ''}, ${s.waived.length} waived` +
      `${s.waived.length ? ` (${s.waived.join(', ')})` : ''}; ` +
      `${errors.length} finding(s), ${report.problems.length} unusable input(s)`,
  );
  return lines;
}

/** The report as JSON text. */
export function renderJson(report: AuditReport): string {
  return JSON.stringify(
    { exitCode: auditExitCode(report), summary: auditSummary(report), ...report },
    null,
    2,
  );
}

/** The SARIF 2.1.0 schema this output follows. */
export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';

function uri(file: string): string {
  if (file === '-') return 'stdin';
  return encodeURI(file.replace(/\\/g, '/'));
}

/**
 * The report as a SARIF 2.1.0 log: one run, a reporting descriptor per rule of the
 * standard, a result per finding (waived findings as `note` with an accepted suppression),
 * and unusable inputs as tool execution notifications.
 * @see https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
 */
export function renderSarif(report: AuditReport, toolVersion = '0.1.0'): string {
  const rules = RULES.map((r) => ({
    id: r.id,
    name: r.id.replace('-', ''),
    shortDescription: { text: r.statement },
    defaultConfiguration: { level: 'error' },
    properties: { area: r.area, enforcedAt: [...r.enforcedAt] },
  }));
  const index = new Map(RULES.map((r, i) => [r.id, i]));
  const results = report.findings.map((f) => ({
    ruleId: f.rule,
    ruleIndex: index.get(f.rule),
    level: f.severity === 'error' ? 'error' : 'note',
    message: { text: f.message },
    locations: [
      {
        physicalLocation: {
          artifactLocation: { uri: uri(f.file) },
          region: { startLine: f.line ?? 1 },
        },
        logicalLocations: [
          {
            fullyQualifiedName: `${f.kind}/${f.name}/${f.field}`,
            name: f.field,
            kind: 'member',
          },
        ],
      },
    ],
    properties: { document: f.document, kind: f.kind, object: f.name, field: f.field },
    ...(f.waiver
      ? {
          suppressions: [
            {
              kind: 'external',
              status: 'accepted',
              justification: `${f.waiver.reason} (approved by ${f.waiver.approvedBy}, expires ${f.waiver.expires})`,
            },
          ],
        }
      : {}),
  }));
  const log = {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'compliant-inference',
            version: toolVersion,
            rules,
          },
        },
        invocations: [
          {
            executionSuccessful: report.problems.length === 0,
            toolExecutionNotifications: report.problems.map((p) => ({
              level: 'error',
              message: {
                text: `${p.file}${p.document === undefined ? '' : `#${p.document}`}: ${p.message}`,
              },
              locations: [{ physicalLocation: { artifactLocation: { uri: uri(p.file) } } }],
            })),
          },
        ],
        results,
      },
    ],
  };
  return JSON.stringify(log, null, 2);
}

/** The report in one of the formats, as lines to print. */
export function renderReport(report: AuditReport, format: AuditFormat): string[] {
  if (format === 'json') return [renderJson(report)];
  if (format === 'sarif') return [renderSarif(report)];
  return renderTable(report);
}

/** The statement of a rule, for messages that need it. */
export function ruleStatement(rule: RuleId): string {
  return ruleById(rule).statement;
}
