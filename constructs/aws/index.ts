export * from './cluster-versions';
export * from './inference-cluster';
export * from './capacity-reservation';
export * from './node-image';
export * from './weights-bucket';
export * from './gpu-node-group';
export * from './manifest-deployment';
