import { Chart, Testing } from 'cdk8s';
import {
  InferenceService,
  InferenceServiceProps,
  InferenceTraffic,
  InferenceTrafficProps,
} from '../../constructs';
import { CLOCK, IMAGE, K8sObject, generationProps } from '../k8s/fixture';

export { CLOCK, IMAGE, generationProps };
export type { K8sObject };

/** The platform Gateway every test route attaches to. */
export const GATEWAY = Object.freeze({ name: 'inference', namespace: 'envoy-gateway-system' });

/** The review record of a reviewed service. */
export const REVIEW = Object.freeze({ reviewer: 'sre-oncall-lead', date: '2026-11-20' });

/** Props of a compliant embedding service. */
export function embeddingProps(
  overrides: Partial<InferenceServiceProps> = {},
): InferenceServiceProps {
  return generationProps({
    model: 'gte-qwen2-1.5b-instruct',
    weights: 'int8',
    weightsRevision: '5e3e4d1',
    role: 'embedding',
    concurrency: 32,
    ...overrides,
  });
}

/** What one synthesis produced. */
export interface TrafficSynth {
  readonly service: InferenceService;
  readonly traffic: InferenceTraffic;
  /** Only the traffic objects (route, policy, grants). */
  readonly objects: K8sObject[];
  readonly route: K8sObject;
  readonly policy: K8sObject;
}

/** Builds a service and its traffic in one chart and synthesizes the traffic objects. */
export function synthTraffic(
  serviceProps: InferenceServiceProps = generationProps({ review: REVIEW }),
  trafficProps: Partial<Omit<InferenceTrafficProps, 'service'>> = {},
): TrafficSynth {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'inference' });
  const service = new InferenceService(chart, 'Svc', serviceProps);
  const traffic = new InferenceTraffic(chart, 'Traffic', {
    service,
    gateway: GATEWAY,
    ...trafficProps,
  });
  const all = Testing.synth(chart) as K8sObject[];
  const objects = all.filter((o) =>
    ['HTTPRoute', 'BackendTrafficPolicy', 'ReferenceGrant'].includes(o.kind),
  );
  const one = (kind: string) => {
    const found = objects.filter((o) => o.kind === kind);
    if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
    return found[0];
  };
  return {
    service,
    traffic,
    objects,
    route: one('HTTPRoute'),
    policy: one('BackendTrafficPolicy'),
  };
}
