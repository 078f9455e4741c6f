#!/usr/bin/env node
/**
 * The compliant-inference command line: `plan`, `preflight` and `audit`. Each command lives
 * in bin/commands/ and returns its exit code; this file only wires them to commander.
 */
import { Command, CommanderError } from 'commander';
import { CONSOLE_OUTPUT, Output } from './private/output';
import { COMMANDS } from './commands';

/** The package's version, from its package.json (two folders up from bin/ and dist-lib/bin/). */
const PACKAGE_VERSION = packageVersion();

function packageVersion(): string {
  for (const up of ['..', '../..']) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const pkg = require(`${up}/package.json`) as { name?: string; version?: string };
      if (pkg.name === 'compliant-inference' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

/**
 * Runs the CLI with the given arguments (without `node` and the script path) and returns
 * the exit code: 0 success, 1 a rule broken or a model that does not fit, 2 unusable input.
 */
export async function runCli(
  argv: readonly string[],
  output: Output = CONSOLE_OUTPUT,
): Promise<number> {
  const program = new Command('compliant-inference')
    .description('Plan, check and audit LLM inference deployments against the inference standard.')
    .version(PACKAGE_VERSION, '--version', 'print the version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => output.out(s.replace(/\n$/, '')),
      writeErr: (s) => output.err(s.replace(/\n$/, '')),
    });
  let code = 0;
  for (const register of COMMANDS) {
    register(program, output, (c) => {
      code = c;
    });
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? 0 : 2;
    }
    throw e;
  }
  return code;
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      CONSOLE_OUTPUT.err(`compliant-inference: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 2;
    },
  );
}
