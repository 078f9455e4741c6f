import { KubectlV33Layer } from '@aws-cdk/lambda-layer-kubectl-v33';
import { App as CdkApp, Stack, Token } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import { Testing } from 'cdk8s';
import {
  ComplianceError,
  DEFAULT_STANDARD,
  INFERENCE_NAMESPACE_LABEL,
  deriveStandard,
  requestBodyCeilingBytes,
} from '../../constructs';
import {
  PINNED_TRAFFIC_VERSIONS,
  TRAFFIC_PLATFORM,
  TrafficPlatform,
  TrafficPlatformChart,
} from '../../lib/traffic-platform';
import { expectValidManifests } from '../support/manifests';
import { K8sObject } from './fixture';

const REDIS = `registry.example.com/library/redis@sha256:${'ab'.repeat(32)}`;

function synthChart(props: Partial<ConstructorParameters<typeof TrafficPlatformChart>[2]> = {}) {
  const chart = new TrafficPlatformChart(Testing.app(), 'traffic-platform', {
    redisImage: REDIS,
    ...props,
  });
  const objects = Testing.synth(chart) as K8sObject[];
  const one = (kind: string) => objects.find((o) => o.kind === kind)!;
  return { chart, objects, one };
}

describe('TrafficPlatformChart', () => {
  test('every object validates: CRDs with CEL for the Gateway API and Envoy Gateway, Kubernetes 1.33 for the rest', () => {
    expectValidManifests(synthChart().objects);
    expectValidManifests(synthChart({ tls: { certificateSecretName: 'inference-tls' } }).objects);
  });

  test("ALM-4's source is scraped: a PodMonitor on this Gateway's Envoy proxies, every 10 s", () => {
    const monitor = synthChart().one('PodMonitor');
    expect(monitor.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    expect(monitor.spec.selector.matchLabels).toEqual({
      'gateway.envoyproxy.io/owning-gateway-name': TRAFFIC_PLATFORM.gatewayName,
      'gateway.envoyproxy.io/owning-gateway-namespace': TRAFFIC_PLATFORM.namespace,
    });
    expect(monitor.spec.podMetricsEndpoints).toEqual([
      { port: 'metrics', path: '/stats/prometheus', interval: '10s' },
    ]);
  });

  test('one GatewayClass, cluster-scoped, for the Envoy Gateway controller', () => {
    const gc = synthChart().one('GatewayClass');
    expect(gc.metadata.name).toBe(TRAFFIC_PLATFORM.gatewayClassName);
    expect(gc.metadata.namespace).toBeUndefined();
    expect(gc.spec.controllerName).toBe('gateway.envoyproxy.io/gatewayclass-controller');
  });

  test('the Gateway admits HTTPRoutes only from namespaces labelled as inference namespaces', () => {
    const gw = synthChart().one('Gateway');
    expect(gw.metadata).toMatchObject({
      name: TRAFFIC_PLATFORM.gatewayName,
      namespace: TRAFFIC_PLATFORM.namespace,
    });
    expect(gw.spec.listeners).toEqual([
      {
        name: 'http',
        protocol: 'HTTP',
        port: 80,
        allowedRoutes: {
          namespaces: {
            from: 'Selector',
            selector: { matchLabels: { [INFERENCE_NAMESPACE_LABEL]: 'true' } },
          },
          kinds: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }],
        },
      },
    ]);
  });

  test('NET-1: the Gateway is exposed through an internal NLB, whose 350 s TCP idle timeout exceeds the 5 s budget', () => {
    const gw = synthChart().one('Gateway');
    expect(gw.spec.infrastructure.annotations).toEqual({
      'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb',
      'service.beta.kubernetes.io/aws-load-balancer-internal': 'true',
      'service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled': 'true',
    });
  });

  test('NET-1 and NET-6: the listener bounds request reception and buffers the largest admitted body', () => {
    const ctp = synthChart().one('ClientTrafficPolicy');
    expect(ctp.spec).toEqual({
      targetRefs: [
        { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: TRAFFIC_PLATFORM.gatewayName },
      ],
      timeout: { http: { requestReceivedTimeout: '5s', streamIdleTimeout: '10s' } },
      connection: {
        bufferLimit: String(requestBodyCeilingBytes(DEFAULT_STANDARD.traffic.tokenBudget)),
      },
    });
  });

  test('the numbers follow a variant of the standard', () => {
    const standard = deriveStandard(DEFAULT_STANDARD, {
      version: 'test',
      reason: 'a tighter budget',
      traffic: { requestTimeoutMs: 3000, tokenBudget: 2048 },
    });
    const ctp = synthChart({ standard }).one('ClientTrafficPolicy');
    expect(ctp.spec.timeout.http.requestReceivedTimeout).toBe('3s');
    expect(ctp.spec.connection.bufferLimit).toBe(String(requestBodyCeilingBytes(2048)));
  });

  test('NET-5: the rate-limit store is Redis without persistence, reachable only from the rate-limit service', () => {
    const { one } = synthChart();
    const redis = one('Deployment').spec.template.spec;
    expect(redis.containers[0].image).toBe(REDIS);
    expect(redis.containers[0].args).toEqual([
      'redis-server',
      '--save',
      '',
      '--appendonly',
      'no',
      '--port',
      '6379',
    ]);
    expect(one('NetworkPolicy').spec.ingress[0].from).toEqual([
      { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'envoy-ratelimit' } } },
    ]);
  });

  test('SW-2: an unresolved token for the Redis image skips the check (it is resolved at deploy time)', () => {
    const image = Token.asString({ Ref: 'RedisImageParameter' });
    expect(synthChart({ redisImage: image }).chart.node.tryFindChild('Redis')).toBeDefined();
  });

  test('SW-2: a Redis image by tag is refused', () => {
    expect(() => synthChart({ redisImage: 'redis:7.4' })).toThrow(ComplianceError);
    expect(() => synthChart({ redisImage: 'redis:7.4' })).toThrow(/^SW-2: .*props\.redisImage/);
  });
});

describe('TrafficPlatform', () => {
  function template(): Template {
    const app = new CdkApp();
    const stack = new Stack(app, 'Traffic', {
      env: { account: '111111111111', region: 'eu-west-1' },
    });
    const cluster = new eks.Cluster(stack, 'Cluster', {
      version: eks.KubernetesVersion.of('1.33'),
      defaultCapacityType: eks.DefaultCapacityType.NODEGROUP,
      defaultCapacity: 0,
      kubectlProviderOptions: { kubectlLayer: new KubectlV33Layer(stack, 'Kubectl') },
    });
    new TrafficPlatform(stack, 'TrafficPlatform', { cluster, redisImage: REDIS });
    return Template.fromStack(stack);
  }

  test('installs the pinned CRD chart (Gateway API standard channel) and Envoy Gateway with a Redis rate-limit backend', () => {
    const t = template();
    expect(Object.keys(t.findResources('Custom::AWSCDK-EKS-HelmChart'))).toHaveLength(2);
    t.hasResourceProperties('Custom::AWSCDK-EKS-HelmChart', {
      Repository: PINNED_TRAFFIC_VERSIONS.crdsChart.repository,
      Version: 'v1.9.0',
      Values: JSON.stringify({
        crds: {
          gatewayAPI: { enabled: true, channel: 'standard' },
          envoyGateway: { enabled: true },
        },
      }),
    });
    t.hasResourceProperties('Custom::AWSCDK-EKS-HelmChart', {
      Repository: PINNED_TRAFFIC_VERSIONS.gatewayChart.repository,
      Version: 'v1.9.0',
      SkipCrds: true,
      Values: JSON.stringify({
        config: {
          envoyGateway: {
            rateLimit: {
              backend: {
                type: 'Redis',
                redis: { url: 'ratelimit-redis.envoy-gateway-system.svc.cluster.local:6379' },
              },
            },
          },
        },
      }),
    });
  });

  test('applies the Gateway after Envoy Gateway, which comes after its CRDs', () => {
    const t = template();
    const charts = t.findResources('Custom::AWSCDK-EKS-HelmChart');
    const ids = Object.keys(charts);
    const eg = ids.find((id) => charts[id].Properties.Release === 'envoy-gateway')!;
    const crds = ids.find((id) => charts[id].Properties.Release === 'gateway-crds')!;
    expect(charts[eg].DependsOn).toEqual(expect.arrayContaining([crds]));
    const manifests = t.findResources('Custom::AWSCDK-EKS-KubernetesResource');
    const platform = Object.values(manifests).find((m) =>
      JSON.stringify(m.Properties.Manifest).includes('"kind\\":\\"Gateway\\"'),
    )!;
    expect(platform.DependsOn).toEqual(expect.arrayContaining([eg]));
  });
});
