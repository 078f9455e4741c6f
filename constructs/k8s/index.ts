export * from './engine';
export * from './service-policy';
export * from './inference-service';
export * from './inference-namespace';
export * from './weights-volumes';
export * from './inference-monitoring';
export * from './traffic-settings';
export * from './inference-traffic';
