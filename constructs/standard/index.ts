export * from './rules';
export * from './standard';
export * from './waivers';
export * from './clock';
export * from './compliance-error';
