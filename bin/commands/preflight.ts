import { existsSync, readFileSync } from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import {
  PreflightError,
  PreflightFlags,
  preflightClient,
  renderPreflight,
  resolvePreflight,
  runPreflight,
} from '../../lib/preflight';
import { Output } from '../private/output';
import { RegisterCommand } from '.';

/** The `context` of ./cdk.json, when there is one. */
function cdkJsonContext(): Record<string, unknown> {
  const file = path.resolve('cdk.json');
  if (!existsSync(file)) return {};
  try {
    return (
      (JSON.parse(readFileSync(file, 'utf8')) as { context?: Record<string, unknown> }).context ??
      {}
    );
  } catch {
    return {};
  }
}

/** `preflight`: checks the account and region against what the GPU node group relies on. */
export const registerPreflight: RegisterCommand = (
  program: Command,
  output: Output,
  setExitCode: (code: number) => void,
) => {
  program
    .command('preflight')
    .description(
      'Check the AWS account and region before deploying: the pinned GPU AMI (exists, x86_64, ' +
        'driver tag), p4d.24xlarge GPUs and NVMe disks, and its offering in each zone.',
    )
    .option(
      '--ami <id>',
      'the pinned GPU AMI id (default: compliant-inference:gpuAmiId in cdk.json)',
    )
    .option(
      '--release <version>',
      'instead of --ami: an EKS-optimized AL2023 NVIDIA release such as 1.33.5-20251120',
    )
    .option('--region <region>', 'AWS region (default: AWS_REGION, then cdk.json)')
    .option('--availability-zones <zones>', 'comma-separated zones (default: cdk.json)')
    .option('--driver <version>', "NVIDIA driver the AMI must carry (default: the standard's pin)")
    .option('--endpoint <url>', 'EC2 endpoint override (default: AWS_ENDPOINT_URL_EC2)')
    .action(async (flags: PreflightFlags) => {
      setExitCode(await preflight(flags, output));
    });
};

/** Runs preflight and prints its report; returns 0 when every check passes, 1 on a failed check, 2 when it cannot check. */
export async function preflight(
  flags: PreflightFlags,
  output: Output,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  try {
    const resolved = resolvePreflight(flags, env, cdkJsonContext());
    const report = await runPreflight(preflightClient(resolved), resolved.config);
    for (const line of renderPreflight(report, resolved.config)) output.out(line);
    return report.ok ? 0 : 1;
  } catch (e) {
    if (e instanceof PreflightError) {
      output.err(`preflight: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
