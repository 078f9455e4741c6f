/**
 * The bridge from the cluster's Prometheus metrics to CloudWatch, for the alarms Container
 * Insights cannot carry: a CloudWatch agent in Prometheus mode scrapes the engines' KV-cache
 * gauge (ALM-1) and the gateway proxies' per-route request and 5xx counters (ALM-4), and
 * publishes them as embedded metric format logs, which CloudWatch turns into metrics of
 * {@link CLOUDWATCH_PROMETHEUS}`.namespace` with the dimensions `ClusterName`, `Namespace` and
 * `Service`.
 *
 * Metric names are published as the exporters spell them: the agent looks a sample's type up
 * by its scraped name, so renaming `__name__` (or relabelling `job`) would make it drop the
 * sample. The per-route dimensions come from relabelling ordinary labels only.
 *
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/ContainerInsights-Prometheus-Setup-configure.html
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/ContainerInsights-Prometheus-metrics-conversion.html
 */
import { ApiObject, Chart, ChartProps } from 'cdk8s';
import {
  KubeClusterRole,
  KubeClusterRoleBinding,
  KubeConfigMap,
  KubeDeployment,
  KubeServiceAccount,
  Quantity,
} from 'cdk8s-plus-27/lib/imports/k8s';
import { Construct } from 'constructs';
import { fixedResources } from '../constructs/k8s/private/resources';
import { Token } from 'aws-cdk-lib';
import { stringify } from 'yaml';
import { INFERENCE_WORKLOAD_LABEL, isDigestPinned } from '../constructs/conventions';
import { SOURCE_METRICS } from '../constructs/k8s';
import { DEFAULT_STANDARD, Standard, refuse } from '../constructs/standard';
import { TRAFFIC_PLATFORM } from './traffic-platform';

/**
 * What the agent publishes, and where.
 *
 * @see https://gallery.ecr.aws/cloudwatch-agent/cloudwatch-agent
 */
export const CLOUDWATCH_PROMETHEUS = Object.freeze({
  /** CloudWatch namespace of the exported metrics (the agent's default for Prometheus). */
  namespace: 'ContainerInsights/Prometheus',
  /**
   * The agent version the configuration was written against; the image itself is an input,
   * pinned by digest (SW-2), from a mirror of `public.ecr.aws/cloudwatch-agent/cloudwatch-agent`.
   */
  agentVersion: '1.300062.0b1304',
  /** Namespace of the agent: the one every inference NetworkPolicy admits scrapers from. */
  agentNamespace: 'monitoring',
  /** The agent's numeric user (SEC-1: non-root; the image names no user of its own). */
  agentUid: 10001,
  /** Where the agent writes at run time: its translated configuration, logs, state, temp. */
  agentWritablePaths: [
    '/opt/aws/amazon-cloudwatch-agent/etc',
    '/opt/aws/amazon-cloudwatch-agent/logs',
    '/opt/aws/amazon-cloudwatch-agent/var',
    '/tmp',
  ] as readonly string[],
  /** Name of the agent's Deployment and ServiceAccount. */
  agentName: 'cwagent-prometheus',
  /** Scrape job of the inference engines. */
  engineJob: 'inference-engines',
  /** Scrape job of the gateway's Envoy proxies. */
  gatewayJob: 'inference-gateway',
  /** vLLM's KV-cache usage ratio (0..1), under both names vLLM has used. */
  kvCacheMetrics: [SOURCE_METRICS.kvCacheV1, SOURCE_METRICS.kvCacheV0] as readonly string[],
  /** Envoy: upstream responses by class (`envoy_response_code_class`), counter. */
  routeResponsesByClass: 'envoy_cluster_upstream_rq_xx',
  /** Envoy: upstream requests, counter. */
  routeRequests: 'envoy_cluster_upstream_rq_total',
  /** Envoy Gateway's cluster name of a route rule: `httproute/<namespace>/<name>/rule/<n>`. */
  routeClusterPattern: 'httproute/([^/]+)/([^/]+)/rule/[0-9]+',
  /** The dimensions of every exported metric. */
  dimensions: ['ClusterName', 'Namespace', 'Service'] as readonly string[],
});

/** Properties of a {@link CloudWatchPrometheusChart}. */
export interface CloudWatchPrometheusChartProps extends ChartProps {
  /** The EKS cluster's name (the `ClusterName` dimension); a CDK token is fine. */
  readonly clusterName: string;
  /** The region the agent publishes to; a CDK token is fine. */
  readonly region: string;
  /** The log group of the embedded-metric-format events. */
  readonly logGroupName: string;
  /**
   * The CloudWatch agent image, pinned by digest (SW-2), for example a mirror of
   * `public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300062.0b1304@sha256:<digest>`.
   * A CDK token is checked where it resolves.
   */
  readonly image: string;
  /** The standard whose scrape interval the agent uses. @default DEFAULT_STANDARD */
  readonly standard?: Standard;
}

/**
 * The CloudWatch agent that exports the ALM-1 and ALM-4 sources to CloudWatch: its identity
 * (RBAC to discover targets; AWS access comes from EKS Pod Identity), the scrape
 * configuration, the agent configuration and one Deployment, in the `monitoring` namespace.
 * The namespace itself is {@link namespaceObject}, outside the chart: other tools (the
 * Prometheus stack) live there too, and removing the agent must not remove it.
 */
export class CloudWatchPrometheusChart extends Chart {
  /** The Prometheus scrape configuration, as the agent reads it. */
  public readonly scrapeConfig: Record<string, unknown>;
  /** The agent configuration (`cwagentconfig.json`), as the agent reads it. */
  public readonly agentConfig: Record<string, unknown>;
  /** The agent's ServiceAccount, which the Pod Identity association names. */
  public readonly serviceAccountName: string;
  /** The agent's namespace as a Kubernetes object, for whoever owns it. */
  public readonly namespaceObject: Record<string, unknown>;

  constructor(scope: Construct, id: string, props: CloudWatchPrometheusChartProps) {
    super(scope, id, { ...props, namespace: CLOUDWATCH_PROMETHEUS.agentNamespace });
    const standard = props.standard ?? DEFAULT_STANDARD;
    const image = props.image;
    if (typeof image !== 'string' || (!Token.isUnresolved(image) && !isDigestPinned(image))) {
      refuse(
        'SW-2',
        'props.image',
        'an image pinned by digest: registry/repository@sha256:<64 hex>',
        image,
        'the metrics exporter image must be pinned by digest, never a moving tag',
      );
    }
    const ns = CLOUDWATCH_PROMETHEUS.agentNamespace;
    const name = CLOUDWATCH_PROMETHEUS.agentName;
    this.serviceAccountName = name;
    const labels = {
      'app.kubernetes.io/name': 'cloudwatch-agent',
      'app.kubernetes.io/instance': name,
      'app.kubernetes.io/component': 'metrics-exporter',
      'app.kubernetes.io/part-of': 'compliant-inference',
      'app.kubernetes.io/managed-by': 'cdk8s',
    };
    const selector = { 'app.kubernetes.io/instance': name };
    const uid = CLOUDWATCH_PROMETHEUS.agentUid;
    const writable = CLOUDWATCH_PROMETHEUS.agentWritablePaths.map((path, i) => ({
      name: `writable-${i}`,
      path,
    }));

    this.scrapeConfig = scrapeConfig(standard.observability.scrapeIntervalSeconds);
    this.agentConfig = agentConfig(props);

    this.namespaceObject = {
      apiVersion: 'v1',
      kind: 'Namespace',
      // No labels: the namespace is shared (a Prometheus stack's node exporter, for one, could
      // not run under a restricted Pod Security label), so the agent's pod meets SEC-1 itself.
      metadata: { name: ns },
    };
    new KubeServiceAccount(this, 'ServiceAccount', { metadata: { name, labels } });
    // Target discovery only: read pods, services and endpoints; nothing else.
    const role = new KubeClusterRole(this, 'ClusterRole', {
      metadata: { name, labels },
      rules: [
        {
          apiGroups: [''],
          resources: ['pods', 'services', 'endpoints'],
          verbs: ['get', 'list', 'watch'],
        },
        {
          apiGroups: ['discovery.k8s.io'],
          resources: ['endpointslices'],
          verbs: ['get', 'list', 'watch'],
        },
      ],
    });
    new KubeClusterRoleBinding(this, 'ClusterRoleBinding', {
      metadata: { name, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
    });
    const scrape = new KubeConfigMap(this, 'ScrapeConfig', {
      metadata: { name: `${name}-scrape`, labels },
      data: { 'prometheus.yaml': stringify(this.scrapeConfig) },
    });
    const agent = new KubeConfigMap(this, 'AgentConfig', {
      metadata: { name: `${name}-agent`, labels },
      data: { 'cwagentconfig.json': JSON.stringify(this.agentConfig, undefined, 2) },
    });
    new KubeDeployment(this, 'Agent', {
      metadata: { name, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: selector },
        // One scraper at a time: two would publish every counter delta twice.
        strategy: { type: 'Recreate' },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            // SEC-1: the restricted profile, with writable emptyDirs only where the agent writes.
            securityContext: {
              runAsNonRoot: true,
              runAsUser: uid,
              runAsGroup: uid,
              fsGroup: uid,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            terminationGracePeriodSeconds: 60,
            containers: [
              {
                name: 'cloudwatch-agent',
                image,
                imagePullPolicy: 'IfNotPresent',
                env: [
                  // Credentials from the SDK's default chain (EKS Pod Identity), not from the
                  // node's instance profile, which the IMDS hop limit keeps out of reach.
                  { name: 'RUN_WITH_IRSA', value: 'True' },
                  { name: 'AWS_REGION', value: props.region },
                  { name: 'HOME', value: '/tmp' },
                ],
                resources: fixedResources('500m', '512Mi'),
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  runAsNonRoot: true,
                  capabilities: { drop: ['ALL'] },
                },
                volumeMounts: [
                  { name: 'agent-config', mountPath: '/etc/cwagentconfig', readOnly: true },
                  { name: 'scrape-config', mountPath: '/etc/prometheusconfig', readOnly: true },
                  ...writable.map((w) => ({ name: w.name, mountPath: w.path })),
                ],
              },
            ],
            volumes: [
              { name: 'agent-config', configMap: { name: agent.name } },
              ...writable.map((w) => ({
                name: w.name,
                emptyDir: { sizeLimit: Quantity.fromString('256Mi') },
              })),
              { name: 'scrape-config', configMap: { name: scrape.name } },
            ],
          },
        },
      },
    });
  }

  /** Every object of the chart, for checks that read them (tests, audits). */
  public get objects(): ApiObject[] {
    return this.node.findAll().filter((c): c is ApiObject => c instanceof ApiObject);
  }
}

/** Prometheus's label name for a Kubernetes label in service discovery meta labels. */
function metaLabel(kubernetesLabel: string): string {
  return kubernetesLabel.replace(/[^a-zA-Z0-9_]/g, '_');
}

/** A regex that matches exactly one of the given literal names. */
function oneOf(names: readonly string[]): string {
  return names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
}

/**
 * The scrape configuration: the inference engines through their Services (the Service is the
 * dimension), and the gateway's Envoy proxies, whose route cluster names give the dimensions.
 */
export function scrapeConfig(intervalSeconds: number): Record<string, unknown> {
  const interval = `${intervalSeconds}s`;
  const c = CLOUDWATCH_PROMETHEUS;
  return {
    global: { scrape_interval: interval, scrape_timeout: interval },
    scrape_configs: [
      {
        job_name: c.engineJob,
        metrics_path: '/metrics',
        kubernetes_sd_configs: [{ role: 'endpoints' }],
        relabel_configs: [
          {
            source_labels: [
              `__meta_kubernetes_service_label_${metaLabel(INFERENCE_WORKLOAD_LABEL)}`,
            ],
            regex: 'inference',
            action: 'keep',
          },
          {
            source_labels: ['__meta_kubernetes_endpoint_port_name'],
            regex: 'http',
            action: 'keep',
          },
          { source_labels: ['__meta_kubernetes_namespace'], target_label: 'Namespace' },
          { source_labels: ['__meta_kubernetes_service_name'], target_label: 'Service' },
          { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'PodName' },
        ],
        metric_relabel_configs: [
          { source_labels: ['__name__'], regex: oneOf(c.kvCacheMetrics), action: 'keep' },
        ],
      },
      {
        job_name: c.gatewayJob,
        metrics_path: '/stats/prometheus',
        kubernetes_sd_configs: [
          { role: 'pod', namespaces: { names: [TRAFFIC_PLATFORM.namespace] } },
        ],
        relabel_configs: [
          {
            source_labels: [
              `__meta_kubernetes_pod_label_${metaLabel('gateway.envoyproxy.io/owning-gateway-name')}`,
            ],
            regex: TRAFFIC_PLATFORM.gatewayName,
            action: 'keep',
          },
          {
            source_labels: ['__meta_kubernetes_pod_container_port_name'],
            regex: 'metrics',
            action: 'keep',
          },
          { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'PodName' },
        ],
        metric_relabel_configs: [
          {
            source_labels: ['__name__'],
            regex: oneOf([c.routeResponsesByClass, c.routeRequests]),
            action: 'keep',
          },
          // Routes only (not the rate-limit or xDS clusters); the route gives the dimensions.
          { source_labels: ['envoy_cluster_name'], regex: c.routeClusterPattern, action: 'keep' },
          {
            source_labels: ['envoy_cluster_name'],
            regex: c.routeClusterPattern,
            target_label: 'Namespace',
            replacement: '$1',
          },
          {
            source_labels: ['envoy_cluster_name'],
            regex: c.routeClusterPattern,
            target_label: 'Service',
            replacement: '$2',
          },
        ],
      },
    ],
  };
}

/**
 * The agent configuration: which scraped series become CloudWatch metrics, with which
 * dimensions. Counters are published as the delta since the previous scrape, so a one-minute
 * Sum is the count of that minute.
 */
export function agentConfig(
  props: Pick<CloudWatchPrometheusChartProps, 'clusterName' | 'region' | 'logGroupName'>,
): Record<string, unknown> {
  const c = CLOUDWATCH_PROMETHEUS;
  const dimensions = [[...c.dimensions]];
  const exact = (n: string) => `^${oneOf([n])}$`;
  return {
    agent: { region: props.region },
    logs: {
      metrics_collected: {
        prometheus: {
          cluster_name: props.clusterName,
          log_group_name: props.logGroupName,
          prometheus_config_path: '/etc/prometheusconfig/prometheus.yaml',
          emf_processor: {
            metric_namespace: c.namespace,
            metric_declaration_dedup: true,
            metric_declaration: [
              {
                source_labels: ['job'],
                label_matcher: `^${c.engineJob}$`,
                dimensions,
                metric_selectors: c.kvCacheMetrics.map(exact),
              },
              {
                source_labels: ['job'],
                label_matcher: `^${c.gatewayJob}$`,
                dimensions,
                metric_selectors: [exact(c.routeRequests)],
              },
              {
                // Only the 5xx class: 429 (NET-5) and every other class stay out of ALM-4.
                source_labels: ['job', 'envoy_response_code_class'],
                label_matcher: `^${c.gatewayJob};5$`,
                dimensions,
                metric_selectors: [exact(c.routeResponsesByClass)],
              },
            ],
          },
        },
      },
      force_flush_interval: 5,
    },
  };
}
