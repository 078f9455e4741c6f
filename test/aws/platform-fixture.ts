import { App, AppProps } from 'aws-cdk-lib';
import { PlatformStack, PlatformStackProps } from '../../lib/platform-stack';

/** The configuration every platform test uses: the account, region and zones of cdk.json. */
export const TEST_ENV = Object.freeze({ account: '123456789012', region: 'us-east-1' });
export const TEST_AZS = Object.freeze(['us-east-1a', 'us-east-1b']);

/** A platform stack in its own app, as bin/app.ts builds it, with optional overrides. */
export function platformStack(
  props: Partial<PlatformStackProps> = {},
  appProps: AppProps = {},
): { app: App; stack: PlatformStack } {
  const app = new App({ builtinCloudFormationValidation: false, ...appProps });
  const stack = new PlatformStack(app, 'Platform', {
    env: TEST_ENV,
    availabilityZones: TEST_AZS,
    ...props,
  });
  return { app, stack };
}
