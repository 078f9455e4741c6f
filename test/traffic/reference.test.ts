import { App, Testing } from 'cdk8s';
import { requestBodyCeilingBytes } from '../../constructs';
import { ReferenceWorkloads } from '../../lib/reference-workloads';
import { TRAFFIC_PLATFORM } from '../../lib/traffic-platform';
import { expectValidManifests } from '../support/manifests';
import { CLOCK, K8sObject } from './fixture';

/** The reference deployment, which carries the traffic of both services. */
function referenceTraffic(): { chart: ReferenceWorkloads; objects: K8sObject[] } {
  const chart = new ReferenceWorkloads(new App(), 'inference-workloads', { clock: CLOCK });
  return { chart, objects: Testing.synth(chart) as K8sObject[] };
}

describe('the reference deployment with its traffic', () => {
  test('every object of the chart validates, workloads and traffic together', () => {
    expectValidManifests(referenceTraffic().objects);
  });

  test('two routes and two policies, each named like its Service and attached to the platform Gateway', () => {
    const { chart, objects } = referenceTraffic();
    const routes = objects.filter((o) => o.kind === 'HTTPRoute');
    const policies = objects.filter((o) => o.kind === 'BackendTrafficPolicy');
    expect(routes.map((r) => r.metadata.name).sort()).toEqual(
      [chart.embedding.name, chart.generation.name].sort(),
    );
    expect(policies.map((p) => p.spec.targetRefs[0].name).sort()).toEqual(
      routes.map((r) => r.metadata.name).sort(),
    );
    for (const r of routes) {
      expect(r.spec.parentRefs).toEqual([
        {
          group: 'gateway.networking.k8s.io',
          kind: 'Gateway',
          name: TRAFFIC_PLATFORM.gatewayName,
          namespace: TRAFFIC_PLATFORM.namespace,
        },
      ]);
    }
  });

  test('the numbers of the reference deployment', () => {
    const { chart, objects } = referenceTraffic();
    const policy = (name: string) =>
      objects.find((o) => o.kind === 'BackendTrafficPolicy' && o.metadata.name === name)!.spec;
    const gen = policy(chart.generation.name);
    const emb = policy(chart.embedding.name);
    // NET-3: 2 replicas x 8 sequences (70B) and 2 x 32 (embedding), one proxy.
    expect(gen.circuitBreaker.maxParallelRequests).toBe(2 * chart.generation.plan.concurrency);
    expect(emb.circuitBreaker.maxParallelRequests).toBe(2 * 32);
    // NET-5: the embedding route alone carries the per-key limit.
    expect(gen.rateLimit).toBeUndefined();
    expect(emb.rateLimit.global.rules[0].limit).toEqual({ requests: 200, unit: 'Second' });
    // NET-6: both at the 4096-token budget.
    expect(gen.requestBuffer.limit).toBe(String(requestBodyCeilingBytes(4096)));
    expect(emb.requestBuffer.limit).toBe(String(requestBodyCeilingBytes(4096)));
  });
});
