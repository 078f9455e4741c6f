/**
 * compliant-inference: the public API. App teams import everything from here.
 */
export * from './standard';
export * from './planner';
export * from './aws';
export * from './conventions';
export * from './embeddings';
export * from './k8s';
export * from './audit';
