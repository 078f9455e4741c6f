import * as path from 'path';
import { App, AppProps } from 'aws-cdk-lib';
import { NodeImage } from '../../constructs/aws';
import { cdkJsonContext } from '../../lib/platform-config';
import { PlatformStack, PlatformStackProps } from '../../lib/platform-stack';
import { REFERENCE_IMAGES } from '../../lib/reference-models';
import { fixedClock } from '../../constructs/standard';

/** The configuration every platform test uses: the account, region and zones of cdk.json. */
export const TEST_ENV = Object.freeze({ account: '123456789012', region: 'us-east-1' });
export const TEST_AZS = Object.freeze(['us-east-1a', 'us-east-1b']);
/** A custom GPU AMI carrying the standard's driver. */
export const TEST_GPU_IMAGE = NodeImage.customAmi({
  amiId: 'ami-0123456789abcdef0',
  driverVersion: '535.104.05',
});

/**
 * A platform stack in its own app with the feature flags of cdk.json, as bin/app.ts builds it:
 * traffic platform, reference workloads and telemetry included.
 */
export function platformStack(
  props: Partial<PlatformStackProps> = {},
  appProps: AppProps = {},
): { app: App; stack: PlatformStack } {
  const app = new App({
    builtinCloudFormationValidation: false,
    context: cdkJsonContext(path.join(__dirname, '..', '..', 'cdk.json')),
    ...appProps,
  });
  const stack = new PlatformStack(app, 'Platform', {
    env: TEST_ENV,
    availabilityZones: TEST_AZS,
    gpuImage: TEST_GPU_IMAGE,
    servingImage: REFERENCE_IMAGES.serving,
    redisImage: REFERENCE_IMAGES.redis,
    cloudWatchAgentImage: REFERENCE_IMAGES.cloudWatchAgent,
    clock: fixedClock('2026-12-03'),
    ...props,
  });
  return { app, stack };
}
