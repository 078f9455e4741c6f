import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { admissionManifests } from '../../constructs/audit';
import { RegisterCommand } from '.';

/** `admission-policy`: prints the ValidatingAdmissionPolicy and its binding, for kubectl apply. */
export const registerAdmissionPolicy: RegisterCommand = (program: Command, output, setExitCode) => {
  program
    .command('admission-policy')
    .description(
      'Print the ValidatingAdmissionPolicy of inference workloads and its binding (OPS-4), for kubectl apply -f -.',
    )
    .addOption(
      new Option('--format <format>', 'output format').choices(['yaml', 'json']).default('yaml'),
    )
    .action((flags: { format: 'yaml' | 'json' }) => {
      const manifests = admissionManifests();
      if (flags.format === 'json') {
        output.out(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }, null, 2));
      } else {
        output.out(manifests.map((m) => stringify(m, { lineWidth: 0 }).trimEnd()).join('\n---\n'));
      }
      setExitCode(0);
    });
};
