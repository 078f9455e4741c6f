#!/usr/bin/env node
/**
 * The main job (`npm run synth`): synthesizes everything offline, with no credentials.
 *  - cdk.out/: the platform stack's CloudFormation (the same app `cdk deploy` runs);
 *  - dist/: the Kubernetes manifests: cluster services, the traffic platform and the
 *    reference workloads with their routes, policies and monitoring;
 * then audits both outputs and prints a one-screen compliance summary.
 * Exit 0 compliant, 1 a rule broken in the output, 2 the job could not run (bad input,
 * such as a floating image in cdk.json), with one sentence and no stack trace.
 */
import { rmSync } from 'fs';
import * as path from 'path';
import { App as Cdk8sApp } from 'cdk8s';
import { auditExitCode, auditPaths, auditSummary, renderTable } from '../constructs/audit';
import { buildPlatformApp } from '../lib/platform-app';
import { cdkJsonContext } from '../lib/platform-config';
import { ClusterServices } from '../lib/cluster-services';
import { ReferenceWorkloads } from '../lib/reference-workloads';
import { TrafficPlatformChart } from '../lib/traffic-platform';
import { CONSOLE_OUTPUT } from './private/output';

const root = path.join(__dirname, '..');
const cdkOut = process.env.CDK_OUTDIR ?? path.join(root, 'cdk.out');
const distOut = process.env.DIST_OUTDIR ?? path.join(root, 'dist');

/** Writes cdk.out/ and dist/ afresh: a stale file from an earlier run is never audited or shipped. */
function synthesize(): void {
  rmSync(cdkOut, { recursive: true, force: true });
  rmSync(distOut, { recursive: true, force: true });
  const { app, config } = buildPlatformApp({
    outdir: cdkOut,
    context: cdkJsonContext(path.join(root, 'cdk.json')),
    // See bin/app.ts: the tests run CloudFormation validation; CDK_SYNTH_VALIDATE=1 runs it here.
    builtinCloudFormationValidation: process.env.CDK_SYNTH_VALIDATE === '1',
  });
  app.synth();
  const manifests = new Cdk8sApp({ outdir: distOut, outputFileExtension: '.yaml' });
  new ClusterServices(manifests, 'cluster-services');
  new TrafficPlatformChart(manifests, 'traffic-platform', { redisImage: config.redisImage });
  new ReferenceWorkloads(manifests, 'inference-workloads', { image: config.servingImage });
  manifests.synth();
}

/** Audits what was just written, as CI audits whatever is about to be deployed. */
function auditOutput(): number {
  const report = auditPaths([cdkOut, distOut]);
  const summary = auditSummary(report);
  const code = auditExitCode(report);
  if (code !== 0) for (const line of renderTable(report)) CONSOLE_OUTPUT.err(line);
  const list = (rules: readonly string[]) => (rules.length ? ` (${rules.join(', ')})` : '');
  CONSOLE_OUTPUT.out(
    [
      `synthesized: ${path.relative(root, cdkOut) || cdkOut}/ (CloudFormation), ${path.relative(root, distOut) || distOut}/ (Kubernetes)`,
      `audited: ${report.files.length} files, ${report.audited} objects and templates`,
      `rules checked: ${summary.checked}, passed: ${summary.passed}, broken: ${summary.broken.length}${list(summary.broken)}, waived: ${summary.waived.length}${list(summary.waived)}`,
      `waivers in force: ${report.waivers.length}`,
      code === 0 ? 'compliant' : 'NOT COMPLIANT: see the findings above',
    ].join('\n'),
  );
  return code;
}

try {
  synthesize();
  process.exitCode = auditOutput();
} catch (e) {
  CONSOLE_OUTPUT.err(`synth: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 2;
}
