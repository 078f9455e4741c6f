import { Chart, Testing } from 'cdk8s';
import {
  CLIENT_REJECTION_STATUSES,
  InferenceMonitoring,
  InferenceService,
  InferenceTraffic,
  TRAFFIC_STATUS,
} from '../../constructs';
import { GATEWAY, K8sObject, REVIEW, generationProps } from './fixture';

/** Synthesizes a service with its traffic and its monitoring, as the reference chart will. */
function synthBoth(): { route: K8sObject; rules: K8sObject } {
  const chart = new Chart(Testing.app(), 'both', { namespace: 'inference' });
  const service = new InferenceService(chart, 'Svc', generationProps({ review: REVIEW }));
  new InferenceTraffic(chart, 'Traffic', { service, gateway: GATEWAY });
  new InferenceMonitoring(chart, 'Monitoring', { service });
  const objects = Testing.synth(chart) as K8sObject[];
  return {
    route: objects.find((o) => o.kind === 'HTTPRoute')!,
    rules: objects.find((o) => o.kind === 'PrometheusRule')!,
  };
}

/** The `envoy_response_code=~"..."` and `envoy_cluster_name=~"..."` matchers of the ALM-4 series. */
function serverErrorMatchers(rules: K8sObject): { codes: RegExp; cluster: RegExp } {
  const exprs: string[] = rules.spec.groups.flatMap((g: K8sObject) =>
    g.rules.map((r: K8sObject) => String(r.expr)),
  );
  const expr = exprs.find((e) => e.includes('envoy_response_code=~'));
  if (!expr) throw new Error('no ALM-4 expression with a response-code matcher');
  const codes = /envoy_response_code=~"([^"]+)"/.exec(expr)![1];
  const cluster = /envoy_cluster_name=~"([^"]+)"/.exec(expr)![1].replace(/\\\\/g, '\\');
  // PromQL regex matchers are fully anchored.
  return { codes: new RegExp(`^(?:${codes})$`), cluster: new RegExp(`^(?:${cluster})$`) };
}

describe('traffic and telemetry agree', () => {
  test('ALM-4/NET-5: the 5xx alarm never counts a 429, a 413 or a 400 from the edge', () => {
    const { codes } = serverErrorMatchers(synthBoth().rules);
    for (const status of CLIENT_REJECTION_STATUSES) expect(codes.test(String(status))).toBe(false);
    expect(codes.test(String(TRAFFIC_STATUS.requestTimeout))).toBe(true);
    expect(codes.test(String(TRAFFIC_STATUS.shed))).toBe(true);
  });

  test("ALM-4: the alarm reads the Envoy cluster Envoy Gateway builds for this route's rule", () => {
    const { route, rules } = synthBoth();
    const { cluster } = serverErrorMatchers(rules);
    // Envoy Gateway names a route rule's cluster httproute/<namespace>/<name>/rule/<index>.
    const name = `httproute/${route.metadata.namespace}/${route.metadata.name}/rule/0`;
    expect(cluster.test(name)).toBe(true);
  });
});
