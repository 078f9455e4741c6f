import { Command } from 'commander';
import { Output } from '../private/output';
import { registerAdmissionPolicy } from './admission-policy';
import { registerAudit } from './audit';
import { registerPlan } from './plan';
import { registerPreflight } from './preflight';

/**
 * A command registers itself on the program. Its action reports the exit code through
 * `setExitCode` instead of calling process.exit, so the CLI stays testable in-process.
 */
export type RegisterCommand = (
  program: Command,
  output: Output,
  setExitCode: (code: number) => void,
) => void;

/** Every command of the CLI, in the order `--help` lists them. */
export const COMMANDS: readonly RegisterCommand[] = [
  registerPlan,
  registerPreflight,
  registerAudit,
  registerAdmissionPolicy,
];
