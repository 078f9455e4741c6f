#!/usr/bin/env node
/**
 * The main job (`npm run synth`): synthesizes everything offline, with no credentials.
 *  - cdk.out/: the platform stack's CloudFormation (the same app `cdk deploy` runs);
 *  - dist/: the Kubernetes manifests: cluster services, the traffic platform and the
 *    reference workloads with their routes, policies and monitoring.
 */
import * as path from 'path';
import { App as Cdk8sApp } from 'cdk8s';
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

const manifests = new Cdk8sApp({
  outdir: process.env.DIST_OUTDIR ?? path.join(root, 'dist'),
  outputFileExtension: '.yaml',
});
new ClusterServices(manifests, 'cluster-services');
new TrafficPlatformChart(manifests, 'traffic-platform', { redisImage: config.redisImage });
new ReferenceWorkloads(manifests, 'inference-workloads', { image: config.servingImage });
manifests.synth();
