import { ChildProcess, spawn } from 'child_process';
import { rmSync, writeFileSync } from 'fs';
import { AddressInfo } from 'net';
import { Server, createServer } from 'http';
import { join } from 'path';
import { Testing } from 'cdk8s';
import * as YAML from 'yaml';
import { DEFAULT_STANDARD, INFERENCE_WORKLOAD_LABEL, SOURCE_METRICS } from '../../constructs';
import {
  CLOUDWATCH_PROMETHEUS,
  CloudWatchPrometheusChart,
  CloudWatchPrometheusChartProps,
  scrapeConfig,
} from '../../lib/cloudwatch-prometheus';
import { TRAFFIC_PLATFORM } from '../../lib/traffic-platform';
import { complianceErrorOf } from '../support/compliance';
import { expectValidManifests } from '../support/manifests';
import { K8sObject } from '../k8s/fixture';
import { promtool, workDir } from './fixture';

const IMAGE = `registry.example.com/mirror/cloudwatch-agent:${CLOUDWATCH_PROMETHEUS.agentVersion}@sha256:${'ab'.repeat(32)}`;
const PROPS: CloudWatchPrometheusChartProps = {
  image: IMAGE,
  clusterName: 'inference',
  region: 'us-east-1',
  logGroupName: '/aws/containerinsights/inference/prometheus',
};

function synth(props: Partial<CloudWatchPrometheusChartProps> = {}) {
  const chart = new CloudWatchPrometheusChart(Testing.app(), 'cw', { ...PROPS, ...props });
  return { chart, objects: Testing.synth(chart) as K8sObject[] };
}

const { chart, objects } = synth();
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
const configMap = (key: string) => byKind('ConfigMap').find((c) => key in (c.data ?? {}))!;

describe('the CloudWatch agent chart', () => {
  it('validates against the Kubernetes schemas, its namespace object included', () => {
    expectValidManifests([...objects, chart.namespaceObject]);
  });

  it('leaves the shared monitoring namespace out of the chart, and labels it with nothing', () => {
    // Whoever applies the chart must not own (and on removal delete) a namespace the
    // Prometheus stack lives in; TelemetryPlatform applies it apart and retains it.
    expect(byKind('Namespace')).toEqual([]);
    expect(chart.namespaceObject).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'monitoring' },
    });
    for (const o of objects.filter((x) => !x.kind.startsWith('ClusterRole'))) {
      expect(o.metadata.namespace).toBe('monitoring');
    }
  });

  it('runs one pinned agent in the namespace the inference NetworkPolicies admit, with fixed resources', () => {
    const [deployment] = byKind('Deployment');
    expect(deployment.metadata.namespace).toBe('monitoring');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy.type).toBe('Recreate');
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe(chart.serviceAccountName);
    const [container] = pod.containers;
    expect(container.image).toBe(IMAGE);
    expect(container.resources.requests).toEqual(container.resources.limits);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.env).toEqual(
      expect.arrayContaining([{ name: 'RUN_WITH_IRSA', value: 'True' }]),
    );
    // The agent reads its configuration where the documented layout puts it.
    const mounts = Object.fromEntries(
      container.volumeMounts.map((m: K8sObject) => [m.name, m.mountPath]),
    );
    expect(mounts).toMatchObject({
      'agent-config': '/etc/cwagentconfig',
      'scrape-config': '/etc/prometheusconfig',
    });
    const volumes = Object.fromEntries(
      pod.volumes.map((v: K8sObject) => [v.name, v.configMap?.name]),
    );
    expect(volumes['agent-config']).toBe(configMap('cwagentconfig.json').metadata.name);
    expect(volumes['scrape-config']).toBe(configMap('prometheus.yaml').metadata.name);
  });

  it('meets the restricted Pod Security Standard (SEC-1), writable only where the agent writes', () => {
    const [deployment] = byKind('Deployment');
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: CLOUDWATCH_PROMETHEUS.agentUid,
      runAsGroup: CLOUDWATCH_PROMETHEUS.agentUid,
      fsGroup: CLOUDWATCH_PROMETHEUS.agentUid,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(Number.isInteger(CLOUDWATCH_PROMETHEUS.agentUid)).toBe(true);
    expect(CLOUDWATCH_PROMETHEUS.agentUid).toBeGreaterThan(0);
    const [container] = pod.containers;
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    const volumes = new Map<string, K8sObject>(pod.volumes.map((v: K8sObject) => [v.name, v]));
    const writable = container.volumeMounts.filter((m: K8sObject) => !m.readOnly);
    expect(writable.map((m: K8sObject) => m.mountPath).sort()).toEqual(
      [...CLOUDWATCH_PROMETHEUS.agentWritablePaths].sort(),
    );
    expect(writable.map((m: K8sObject) => volumes.get(m.name)?.emptyDir?.sizeLimit)).not.toContain(
      undefined,
    );
    // No host access of any kind.
    expect([pod.hostNetwork, pod.hostPID, pod.hostIPC]).toEqual([undefined, undefined, undefined]);
    expect(pod.volumes.filter((v: K8sObject) => v.hostPath)).toEqual([]);
  });

  it('can only discover targets: read-only access to pods, services and endpoints', () => {
    const [role] = byKind('ClusterRole');
    const verbs = new Set(role.rules.flatMap((r: K8sObject) => r.verbs));
    expect([...verbs].sort()).toEqual(['get', 'list', 'watch']);
    expect(role.rules.flatMap((r: K8sObject) => r.resources).sort()).toEqual(
      ['endpoints', 'endpointslices', 'pods', 'services'].sort(),
    );
    const [binding] = byKind('ClusterRoleBinding');
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: chart.serviceAccountName, namespace: 'monitoring' },
    ]);
  });

  it('ships the configuration the agent reads: the scrape file and the agent JSON', () => {
    const agent = JSON.parse(configMap('cwagentconfig.json').data['cwagentconfig.json']);
    expect(agent).toEqual(chart.agentConfig);
    const prom = agent.logs.metrics_collected.prometheus;
    expect(prom.prometheus_config_path).toBe('/etc/prometheusconfig/prometheus.yaml');
    expect(prom.cluster_name).toBe('inference');
    expect(prom.log_group_name).toBe(PROPS.logGroupName);
    expect(prom.emf_processor.metric_namespace).toBe('ContainerInsights/Prometheus');
    expect(agent.agent.region).toBe('us-east-1');
    expect(YAML.parse(configMap('prometheus.yaml').data['prometheus.yaml'])).toEqual(
      chart.scrapeConfig,
    );
  });

  it("publishes vLLM's KV-cache gauge under both names vLLM has used", () => {
    const prom = (chart.agentConfig as K8sObject).logs.metrics_collected.prometheus;
    const selectors: string[] = prom.emf_processor.metric_declaration.flatMap(
      (d: K8sObject) => d.metric_selectors,
    );
    for (const name of [SOURCE_METRICS.kvCacheV0, SOURCE_METRICS.kvCacheV1]) {
      expect(selectors.filter((sel) => new RegExp(sel).test(name))).toHaveLength(1);
    }
    expect(selectors.some((sel) => new RegExp(sel).test('vllm:kv_cache_usage_perc_total'))).toBe(
      false,
    );
  });

  it('scrapes at the standard interval (OBS-1: 10 s)', () => {
    const global = (chart.scrapeConfig as K8sObject).global;
    expect(global.scrape_interval).toBe(`${DEFAULT_STANDARD.observability.scrapeIntervalSeconds}s`);
  });

  it.each([
    `public.ecr.aws/cloudwatch-agent/cloudwatch-agent:${CLOUDWATCH_PROMETHEUS.agentVersion}`,
    'public.ecr.aws/cloudwatch-agent/cloudwatch-agent:latest',
    'public.ecr.aws/cloudwatch-agent/cloudwatch-agent@sha256:123',
  ])('refuses an image not pinned by digest (SW-2): %s', (image) => {
    const e = complianceErrorOf(() => synth({ image }));
    expect(e.rule).toBe('SW-2');
    expect(e.field).toBe('props.image');
    expect(e.message).toContain(image);
  });

  it('passes promtool check config (with discovery swapped for static targets)', () => {
    // Debian's Prometheus is built without Kubernetes discovery, so its promtool rejects the
    // kubernetes_sd_configs key itself; everything else (relabelling, intervals, paths) is
    // checked here, and the run below loads the same file into a real Prometheus.
    const dir = workDir();
    try {
      writeFileSync(
        join(dir, 'prometheus.yaml'),
        YAML.stringify(staticScrapeConfig('127.0.0.1:9', chart.scrapeConfig)),
      );
      const r = promtool(['check', 'config', 'prometheus.yaml'], dir);
      expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('discovers engines through Service endpoints and proxies through pods of the gateway namespace', () => {
    const jobs = (chart.scrapeConfig as K8sObject).scrape_configs as K8sObject[];
    expect(jobs.map((j) => [j.job_name, j.kubernetes_sd_configs])).toEqual([
      [CLOUDWATCH_PROMETHEUS.engineJob, [{ role: 'endpoints' }]],
      [
        CLOUDWATCH_PROMETHEUS.gatewayJob,
        [{ role: 'pod', namespaces: { names: [TRAFFIC_PLATFORM.namespace] } }],
      ],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// The scrape configuration run by a real Prometheus against loopback exporters. Kubernetes
// discovery is replaced by static targets that carry the same `__meta_kubernetes_*` labels
// discovery would give; every relabelling rule runs unchanged.

const ROUTE_NS = 'inference';
const SERVICE = 'llama-2-70b-gen';
const ROUTE_CLUSTER = `httproute/${ROUTE_NS}/${SERVICE}/rule/0`;

const VLLM_TEXT = `# HELP ${SOURCE_METRICS.kvCacheV1} KV-cache usage. 1 means 100 percent usage.
# TYPE ${SOURCE_METRICS.kvCacheV1} gauge
${SOURCE_METRICS.kvCacheV1}{engine="0",model_name="llama-2-70b"} 0.42
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="llama-2-70b"} 3
# HELP vllm:e2e_request_latency_seconds Histogram of end to end request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{le="1.0",model_name="llama-2-70b"} 1
vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="llama-2-70b"} 2
vllm:e2e_request_latency_seconds_sum{model_name="llama-2-70b"} 3.5
vllm:e2e_request_latency_seconds_count{model_name="llama-2-70b"} 2
`;

/** An engine of the V0 generation, which named the gauge differently. */
const VLLM_V0_TEXT = `# HELP ${SOURCE_METRICS.kvCacheV0} GPU KV-cache usage. 1 means 100 percent usage.
# TYPE ${SOURCE_METRICS.kvCacheV0} gauge
${SOURCE_METRICS.kvCacheV0}{model_name="gte-qwen2-1.5b-instruct"} 0.17
`;
const V0_SERVICE = 'gte-qwen2-1-5b-instruct-embed';

const ENVOY_TEXT = `# TYPE envoy_cluster_upstream_rq_xx counter
envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="${ROUTE_CLUSTER}"} 940
envoy_cluster_upstream_rq_xx{envoy_response_code_class="4",envoy_cluster_name="${ROUTE_CLUSTER}"} 30
envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",envoy_cluster_name="${ROUTE_CLUSTER}"} 30
envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="ratelimit_cluster"} 12
# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{envoy_cluster_name="${ROUTE_CLUSTER}"} 1000
envoy_cluster_upstream_rq_total{envoy_cluster_name="ratelimit_cluster"} 12
# TYPE envoy_cluster_upstream_rq counter
envoy_cluster_upstream_rq{envoy_response_code="503",envoy_cluster_name="${ROUTE_CLUSTER}"} 30
# TYPE envoy_server_uptime gauge
envoy_server_uptime{} 3600
`;

interface Series {
  readonly [label: string]: string;
}

/** The scrape configuration with discovery swapped for static targets, intervals shortened. */
function staticScrapeConfig(
  exporter: string,
  base: Record<string, unknown> = scrapeConfig(1),
  v0Exporter = exporter,
): Record<string, unknown> {
  const config = JSON.parse(JSON.stringify(base)) as {
    scrape_configs: Record<string, unknown>[];
  };
  const workloadLabel = `__meta_kubernetes_service_label_${INFERENCE_WORKLOAD_LABEL.replace(/[^a-zA-Z0-9_]/g, '_')}`;
  const targets: Record<string, Record<string, string>[]> = {
    [CLOUDWATCH_PROMETHEUS.engineJob]: [
      {
        [workloadLabel]: 'inference',
        __meta_kubernetes_endpoint_port_name: 'http',
        __meta_kubernetes_namespace: ROUTE_NS,
        __meta_kubernetes_service_name: SERVICE,
        __meta_kubernetes_pod_name: `${SERVICE}-5d8f7c9b4-abcde`,
      },
      {
        [workloadLabel]: 'inference',
        __meta_kubernetes_endpoint_port_name: 'http',
        __meta_kubernetes_namespace: ROUTE_NS,
        __meta_kubernetes_service_name: V0_SERVICE,
        __meta_kubernetes_pod_name: `${V0_SERVICE}-6b7c8d9e0-vwxyz`,
        __address__: v0Exporter,
      },
      // A Service that is not an inference server: never scraped.
      {
        __meta_kubernetes_endpoint_port_name: 'http',
        __meta_kubernetes_namespace: 'default',
        __meta_kubernetes_service_name: 'not-inference',
        __meta_kubernetes_pod_name: 'not-inference-0',
      },
    ],
    [CLOUDWATCH_PROMETHEUS.gatewayJob]: [
      {
        __meta_kubernetes_pod_label_gateway_envoyproxy_io_owning_gateway_name:
          TRAFFIC_PLATFORM.gatewayName,
        __meta_kubernetes_pod_container_port_name: 'metrics',
        __meta_kubernetes_pod_name: 'envoy-inference-7c9d-xyz',
      },
      // The proxies' admin port: never scraped.
      {
        __meta_kubernetes_pod_label_gateway_envoyproxy_io_owning_gateway_name:
          TRAFFIC_PLATFORM.gatewayName,
        __meta_kubernetes_pod_container_port_name: 'admin',
        __meta_kubernetes_pod_name: 'envoy-inference-7c9d-xyz',
      },
    ],
  };
  for (const job of config.scrape_configs) {
    delete job.kubernetes_sd_configs;
    job.static_configs = targets[job.job_name as string].map(
      ({ __address__: address, ...labels }) => ({ targets: [address ?? exporter], labels }),
    );
  }
  return config;
}

describe('the scrape configuration, run by Prometheus against loopback exporters', () => {
  let exporter: Server;
  let v0Exporter: Server;
  let prometheus: ChildProcess | undefined;
  let prometheusExited: Promise<unknown> = Promise.resolve();
  let dir = '';
  let series: Series[] = [];

  beforeAll(async () => {
    exporter = createServer((req, res) => {
      const body =
        req.url === '/metrics' ? VLLM_TEXT : req.url === '/stats/prometheus' ? ENVOY_TEXT : '';
      res.writeHead(body ? 200 : 404, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(body);
    });
    await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
    const exporterAddress = `127.0.0.1:${(exporter.address() as AddressInfo).port}`;
    v0Exporter = createServer((req, res) => {
      res.writeHead(req.url === '/metrics' ? 200 : 404, { 'content-type': 'text/plain' });
      res.end(req.url === '/metrics' ? VLLM_V0_TEXT : '');
    });
    await new Promise<void>((r) => v0Exporter.listen(0, '127.0.0.1', r));
    const v0Address = `127.0.0.1:${(v0Exporter.address() as AddressInfo).port}`;
    const webPort = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    dir = workDir();
    writeFileSync(
      join(dir, 'prometheus.yaml'),
      YAML.stringify(staticScrapeConfig(exporterAddress, scrapeConfig(1), v0Address)),
    );
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yaml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${webPort}`,
      ],
      { stdio: 'ignore' },
    );
    let failedToStart: Error | undefined;
    prometheus.on('error', (e) => (failedToStart = e));
    prometheusExited = new Promise((r) => prometheus!.once('exit', r));
    const api = `http://127.0.0.1:${webPort}/api/v1`;
    const deadline = Date.now() + 30_000;
    // Wait until every target the relabelling keeps (two engines, one proxy port) has been
    // scraped successfully at least once.
    for (;;) {
      try {
        const res = await fetch(`${api}/query?query=${encodeURIComponent('count(up == 1)')}`);
        const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
        if (body.data.result[0]?.value[1] === '3') break;
      } catch {
        // not listening yet
      }
      if (failedToStart) {
        throw new Error(
          `prometheus did not start (${failedToStart.message}): install Debian's 'prometheus' package`,
        );
      }
      if (Date.now() > deadline) throw new Error('Prometheus did not scrape both jobs in 30 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    const res = await fetch(`${api}/series?${new URLSearchParams({ 'match[]': '{job!=""}' })}`);
    series = ((await res.json()) as { data: Series[] }).data.filter(
      (s) => s.__name__ !== 'up' && !s.__name__.startsWith('scrape_'),
    );
  }, 45_000);

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
      prometheus.kill('SIGKILL');
      await prometheusExited;
    }
    await new Promise((r) => exporter?.close(r));
    await new Promise((r) => v0Exporter?.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const of = (job: string) => series.filter((s) => s.job === job);

  it('keeps only the KV-cache gauge of inference Services, under either name, labelled with their namespace and Service', () => {
    const engines = of(CLOUDWATCH_PROMETHEUS.engineJob).sort((x, y) =>
      x.Service.localeCompare(y.Service),
    );
    expect(engines).toEqual([
      expect.objectContaining({
        __name__: SOURCE_METRICS.kvCacheV0,
        Namespace: ROUTE_NS,
        Service: V0_SERVICE,
      }),
      expect.objectContaining({
        __name__: SOURCE_METRICS.kvCacheV1,
        Namespace: ROUTE_NS,
        Service: SERVICE,
        PodName: `${SERVICE}-5d8f7c9b4-abcde`,
      }),
    ]);
  });

  it("keeps only the routes' request and response-class counters, with the route as dimensions", () => {
    const kept = of(CLOUDWATCH_PROMETHEUS.gatewayJob).map((s) => [
      s.__name__,
      s.envoy_response_code_class ?? '',
      s.Namespace,
      s.Service,
    ]);
    expect(kept.sort()).toEqual(
      [
        [CLOUDWATCH_PROMETHEUS.routeRequests, '', ROUTE_NS, SERVICE],
        [CLOUDWATCH_PROMETHEUS.routeResponsesByClass, '2', ROUTE_NS, SERVICE],
        [CLOUDWATCH_PROMETHEUS.routeResponsesByClass, '4', ROUTE_NS, SERVICE],
        [CLOUDWATCH_PROMETHEUS.routeResponsesByClass, '5', ROUTE_NS, SERVICE],
      ].sort(),
    );
  });

  it("the agent's metric declarations publish the KV gauge, the requests and the 5xx class only", () => {
    // The agent's documented matching: the source labels' values joined by ';' against the
    // label matcher, and the metric name against the selectors.
    const declarations = (chart.agentConfig as K8sObject).logs.metrics_collected.prometheus
      .emf_processor.metric_declaration as {
      source_labels: string[];
      label_matcher: string;
      metric_selectors: string[];
      dimensions: string[][];
    }[];
    const published = series.filter((s) =>
      declarations.some(
        (d) =>
          new RegExp(d.label_matcher).test(d.source_labels.map((l) => s[l] ?? '').join(';')) &&
          d.metric_selectors.some((m) => new RegExp(m).test(s.__name__)),
      ),
    );
    expect(
      published.map((s) => `${s.__name__}${s.envoy_response_code_class ?? ''}`).sort(),
    ).toEqual(
      [
        SOURCE_METRICS.kvCacheV0,
        SOURCE_METRICS.kvCacheV1,
        CLOUDWATCH_PROMETHEUS.routeRequests,
        `${CLOUDWATCH_PROMETHEUS.routeResponsesByClass}5`,
      ].sort(),
    );
    // Every dimension but ClusterName (which the agent adds) is a label of what is published.
    const labelDimensions = [
      ...new Set(
        declarations.flatMap((x) => x.dimensions.flat()).filter((d) => d !== 'ClusterName'),
      ),
    ];
    expect(labelDimensions.sort()).toEqual(['Namespace', 'Service']);
    const missing = published.flatMap((s) =>
      labelDimensions.filter((d) => !s[d]).map((d) => `${s.__name__} lacks ${d}`),
    );
    expect(missing).toEqual([]);
  });
});
