export * from './workload-rules';
export * from './admission-policy';
export * from './cfn-rules';
export * from './manifest-rules';
export * from './loader';
export * from './audit';
export * from './report';
export * from './cdk-policy-plugin';
