import { Command, Option } from 'commander';
import { AuditFormat, auditExitCode, auditPaths, renderReport } from '../../constructs/audit';
import { Output } from '../private/output';
import { RegisterCommand } from '.';

interface AuditFlags {
  readonly format: AuditFormat;
  readonly maxFileMib: string;
  /** Comma-separated approvers whose waivers count; others' waivers are invalid. */
  readonly approvers?: string;
}

/** Runs an audit and prints it; returns the exit code (0 clean, 1 broken, 2 unusable input). */
export function runAudit(
  paths: readonly string[],
  flags: AuditFlags,
  output: Output,
  readStdin?: () => Buffer,
): number {
  const maxMib = Number(flags.maxFileMib);
  if (!Number.isFinite(maxMib) || maxMib <= 0) {
    output.err(`audit: --max-file-mib must be a positive number; received '${flags.maxFileMib}'`);
    return 2;
  }
  const approvers = flags.approvers
    ?.split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  const report = auditPaths(
    paths,
    { maxFileBytes: Math.floor(maxMib * 1024 * 1024), approvers },
    readStdin,
  );
  for (const line of renderReport(report, flags.format)) output.out(line);
  const honoured = report.findings.filter((f) => f.severity === 'note').length;
  if (honoured > 0 && approvers === undefined) {
    // Self-declared: anyone who can edit a manifest can write a waiver annotation.
    output.err(
      `audit: warning: ${honoured} finding(s) waived by annotations no approver list checked; pass --approvers in CI (the admission policy honours no waiver)`,
    );
  }
  if (flags.format !== 'table') {
    for (const p of report.problems) {
      output.err(
        `audit: ${p.file}${p.document === undefined ? '' : `#${p.document}`}: ${p.message}`,
      );
    }
  }
  return auditExitCode(report);
}

/** `audit`: every rule of the standard with an audit point, on any manifest or template. */
export const registerAudit: RegisterCommand = (program: Command, output, setExitCode) => {
  program
    .command('audit')
    .description(
      'Audit Kubernetes manifests and CloudFormation templates against the standard; exit 0 when clean, 1 when a rule is broken, 2 on unusable input.',
    )
    .argument(
      '<paths...>',
      'files, folders (searched for .yaml, .yml, .json) or - for standard input',
    )
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['table', 'json', 'sarif'])
        .default('table'),
    )
    .option('--max-file-mib <n>', 'largest file read, in MiB', '16')
    .option(
      '--approvers <names>',
      'comma-separated approvers whose waivers count (default: any approver)',
    )
    .action((paths: string[], flags: AuditFlags) => setExitCode(runAudit(paths, flags, output)));
};
