export * from './cluster-versions';
export * from './inference-cluster';
