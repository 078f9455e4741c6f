export * from './validate-embedding';
