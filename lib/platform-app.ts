import { App, AppProps } from 'aws-cdk-lib';
import { NodeImage } from '../constructs/aws';
import { DEFAULT_STANDARD } from '../constructs/standard';
import { PlatformConfig, readPlatformConfig } from './platform-config';
import { PlatformStack } from './platform-stack';

/**
 * The platform app as `bin/app.ts` runs it: the platform stack, configured from the app's
 * context, with the custom GPU AMI of `compliant-inference:gpuAmiId` carrying the standard's
 * NVIDIA driver. Shared with the benchmark, so both time the same thing.
 */
export function buildPlatformApp(appProps: AppProps): {
  app: App;
  config: PlatformConfig;
  stack: PlatformStack;
} {
  const app = new App(appProps);
  const config = readPlatformConfig(app);
  const stack = new PlatformStack(app, config.stackName, {
    env: { account: config.account, region: config.region },
    availabilityZones: config.availabilityZones,
    gpuImage: NodeImage.customAmi({
      amiId: config.gpuAmiId,
      driverVersion: DEFAULT_STANDARD.software.cudaDriver,
    }),
    servingImage: config.servingImage,
    redisImage: config.redisImage,
    cloudWatchAgentImage: config.cloudWatchAgentImage,
    alarmEmails: config.alarmEmails,
    // EKS needs room for one node even when none runs yet.
    gpuNodeGroup: {
      minSize: config.gpuNodes,
      desiredSize: config.gpuNodes,
      maxSize: Math.max(config.gpuNodes, 1),
    },
    cluster: { adminPrincipalArns: config.adminPrincipalArns },
  });
  return { app, config, stack };
}
