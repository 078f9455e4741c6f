#!/usr/bin/env node
/**
 * The CDK app: synthesizes the platform stack offline, with no credentials and no lookups.
 * Account, region, availability zones and the GPU AMI come from cdk.json context
 * (`compliant-inference:*`). Run directly (`npm run synth`) it writes to cdk.out/; under the
 * cdk CLI, to CDK_OUTDIR.
 */
import * as path from 'path';
import { cdkJsonContext } from '../lib/platform-config';
import { buildPlatformApp } from '../lib/platform-app';
import { CONSOLE_OUTPUT } from './private/output';

try {
  const { app } = buildPlatformApp({
    outdir: process.env.CDK_OUTDIR ?? path.join(__dirname, '..', 'cdk.out'),
    context: cdkJsonContext(path.join(__dirname, '..', 'cdk.json')),
    // CDK's built-in CloudFormation validation compiles a WebAssembly rule engine on every run
    // (about 2.5 s of a 4.5 s synth on 2 cores). The tests run it, with cfn-lint, cdk-nag and the
    // Control Tower guard rules, on the same stack; set CDK_SYNTH_VALIDATE=1 to run it here too.
    builtinCloudFormationValidation: process.env.CDK_SYNTH_VALIDATE === '1',
  });
  app.synth();
} catch (e) {
  // A bad cdk.json value or a refused prop: one sentence, no stack trace.
  CONSOLE_OUTPUT.err(`app: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 2;
}
