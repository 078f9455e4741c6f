export * from './types';
export * from './catalogue';
export * from './weight-formats';
export * from './weights';
export * from './validate';
export * from './planner';
