#!/usr/bin/env node
/**
 * The main job (`npm run synth`): synthesizes everything offline, with no credentials.
 *  - cdk.out/: the platform stack's CloudFormation (the same app `cdk deploy` runs);
 *  - dist/: the Kubernetes manifests: cluster services, the traffic platform and the
 *    reference workloads with their routes, policies and monitoring;
 * then audits both outputs and prints a one-screen compliance summary. Exit 1 when the
 * audit finds a broken rule, 2 when it cannot read the output.
 */
import * as path from 'path';
import { App as Cdk8sApp } from 'cdk8s';
import { auditExitCode, auditPaths, auditSummary, renderTable } from '../constructs/audit';
import { CONSOLE_OUTPUT } from './private/output';
import { buildPlatformApp } from '../lib/platform-app';
import { cdkJsonContext } from '../lib/platform-config';
import { ClusterServices } from '../lib/cluster-services';
import { ReferenceWorkloads } from '../lib/reference-workloads';
import { TrafficPlatformChart } from '../lib/traffic-platform';

const root = path.join(__dirname, '..');

const { app, config } = buildPlatformApp({
  outdir: process.env.CDK_OUTDIR ?? path.join(root, 'cdk.out'),
  context: cdkJsonContext(path.join(root, 'cdk.json')),
  // See bin/app.ts: the tests run CloudFormation validation; CDK_SYNTH_VALIDATE=1 runs it here.
  builtinCloudFormationValidation: process.env.CDK_SYNTH_VALIDATE === '1',
});
app.synth();

const cdkOut = process.env.CDK_OUTDIR ?? path.join(root, 'cdk.out');
const distOut = process.env.DIST_OUTDIR ?? path.join(root, 'dist');
const manifests = new Cdk8sApp({
  outdir: distOut,
  outputFileExtension: '.yaml',
});
new ClusterServices(manifests, 'cluster-services');
new TrafficPlatformChart(manifests, 'traffic-platform', { redisImage: config.redisImage });
new ReferenceWorkloads(manifests, 'inference-workloads', { image: config.servingImage });
manifests.synth();

// Audit what was just written, as CI audits whatever is about to be deployed.
const report = auditPaths([cdkOut, distOut]);
const summary = auditSummary(report);
const code = auditExitCode(report);
if (code !== 0) for (const line of renderTable(report)) CONSOLE_OUTPUT.err(line);
CONSOLE_OUTPUT.out(
  [
    `synthesized: ${path.relative(root, cdkOut) || cdkOut}/ (CloudFormation), ${path.relative(root, distOut) || distOut}/ (Kubernetes)`,
    `audited: ${report.files.length} files, ${report.audited} objects and templates`,
    `rules checked: ${summary.checked}, passed: ${summary.passed}, broken: ${summary.broken.length}${summary.broken.length ? ` (${summary.broken.join(', ')})` : ''}, waived: ${summary.waived.length}${summary.waived.length ? ` (${summary.waived.join(', ')})` : ''}`,
    `waivers in force: ${report.waivers.length}`,
    code === 0 ? 'compliant' : 'NOT COMPLIANT: see the findings above',
  ].join('\n'),
);
process.exitCode = code;
