/**
 * Enforcement on any input: the `audit` checks, the admission policy generated from the same
 * CEL rule list, the CloudFormation checks and the CDK validation plugin.
 */
export * from './workload-rules';
export * from './admission-policy';
export * from './cfn-rules';
export * from './manifest-rules';
export * from './loader';
export * from './audit';
export * from './report';
export * from './cdk-policy-plugin';
