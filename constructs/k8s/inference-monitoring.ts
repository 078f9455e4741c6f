import { ApiObject, Chart, Duration, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { MemoryPlan } from '../planner';
import { RuleId, Standard, refuse } from '../standard';
import { InferenceService } from './inference-service';

/** Bytes in one MiB: DCGM reports framebuffer memory in MiB. */
const MIB_BYTES = 1024 * 1024;

/** Milliseconds in one second: vLLM's latency histograms are in seconds. */
const MS_PER_SECOND = 1000;

/** A Prometheus label name: no dots, no slashes, not starting with a digit. */
export const PROMETHEUS_LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A Kubernetes label key (optional DNS prefix, then a name of at most 63 characters). */
const K8S_LABEL_KEY =
  /^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** A Kubernetes label value (empty, or at most 63 characters). */
const K8S_LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/**
 * The source metrics the rules read, as their exporters name them. Two vLLM names exist for
 * the KV-cache gauge and the inter-token histogram: vLLM renamed them in its V1 engine, and
 * the rules accept either so that an engine upgrade does not silently blank a metric.
 *
 * @see https://docs.vllm.ai/en/stable/usage/metrics/
 * @see https://docs.nvidia.com/datacenter/dcgm/latest/dcgm-api/dcgm-api-field-ids.html
 */
export const SOURCE_METRICS = Object.freeze({
  /** DCGM: GPU utilization, percent (0..100). */
  gpuUtil: 'DCGM_FI_DEV_GPU_UTIL',
  /** DCGM: framebuffer memory used, MiB. */
  fbUsed: 'DCGM_FI_DEV_FB_USED',
  /** DCGM: GPU temperature, degrees Celsius. */
  gpuTemp: 'DCGM_FI_DEV_GPU_TEMP',
  /** vLLM: KV-cache usage, a ratio 0..1 (up to the V0 engine). */
  kvCacheV0: 'vllm:gpu_cache_usage_perc',
  /** vLLM: KV-cache usage, a ratio 0..1 (V1 engine). */
  kvCacheV1: 'vllm:kv_cache_usage_perc',
  /** vLLM: time per output token (inter-token latency) histogram, seconds (up to V0). */
  interTokenV0: 'vllm:time_per_output_token_seconds',
  /** vLLM: inter-token latency histogram, seconds (V1 engine). */
  interTokenV1: 'vllm:inter_token_latency_seconds',
  /** vLLM: end-to-end request latency histogram, seconds. */
  e2eLatency: 'vllm:e2e_request_latency_seconds',
  /** Envoy: upstream requests per response code, by Envoy cluster (one cluster per route rule). */
  envoyRequests: 'envoy_cluster_upstream_rq',
});

/** The recorded series beside the five OBS-1 metrics, that the alerts read. */
export const DERIVED_METRICS = Object.freeze({
  /** ALM-1: effective GPU memory use, percent of one GPU's memory. */
  effectiveMemoryPercent: 'inference:gpu_memory_effective:percent',
  /** ALM-2: raw framebuffer use, percent of one GPU's memory. */
  rawMemoryPercent: 'inference:gpu_memory_raw:percent',
  /** ALM-3: P99 end-to-end request latency, milliseconds. */
  e2eLatencyP99Ms: 'inference:e2e_request_latency_p99:ms',
  /** ALM-4: 5xx share of the responses of the service's route, percent. */
  serverErrorPercent: 'inference:server_errors:percent',
});

/** The alert names, one per rule of the standard. */
export const ALERT_NAMES = Object.freeze({
  'ALM-1': 'InferenceGpuMemoryEffectiveHigh',
  'ALM-2': 'InferenceGpuMemoryRawCritical',
  'ALM-3': 'InferenceLatencyP99High',
  'ALM-4': 'InferenceServerErrorsHigh',
  'OBS-2': 'InferenceMetricsAbsent',
} as const);

/** The HTTPRoute that carries a service's traffic through the gateway (ALM-4's source). */
export interface GatewayRouteRef {
  /** Namespace of the HTTPRoute. @default the service's namespace */
  readonly namespace?: string;
  /** Name of the HTTPRoute. @default the service's name */
  readonly name?: string;
}

/** Properties of an {@link InferenceMonitoring}. */
export interface InferenceMonitoringProps {
  /** The inference service to scrape, record and alert on. */
  readonly service: InferenceService;
  /**
   * Labels the cluster's Prometheus selects PrometheusRules and ServiceMonitors by
   * (`ruleSelector` / `serviceMonitorSelector`); both objects carry them.
   * @default { release: 'kube-prometheus-stack' } (the kube-prometheus-stack chart's default selector)
   * @see https://prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.PrometheusSpec
   */
  readonly ruleSelectorLabels?: Record<string, string>;
  /**
   * Base URL of the runbooks; each alert's `runbook_url` is this URL, `#`, and the alert's
   * name in lower case.
   * @default 'docs/telemetry.md' (the runbook section of this repository's telemetry page)
   */
  readonly runbookBaseUrl?: string;
  /**
   * The gateway route whose Envoy cluster statistics give the 5xx share (ALM-4).
   * @default - an HTTPRoute named like the service, in the service's namespace
   */
  readonly gatewayRoute?: GatewayRouteRef;
  /**
   * Window of the rates behind the latency quantiles and the 5xx share.
   * @default Duration.minutes(5)
   */
  readonly rateWindow?: Duration;
  /**
   * Whether the service gets a row on the namespace's Grafana dashboard (ALM-5).
   * @default true
   */
  readonly dashboard?: boolean;
}

/** One rule of a PrometheusRule group, as the CRD spells it. */
export interface PrometheusRuleEntry {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

/** One group of a PrometheusRule. */
export interface PrometheusRuleGroup {
  readonly name: string;
  readonly interval: string;
  readonly rules: readonly PrometheusRuleEntry[];
}

/** A duration as Prometheus writes it (`30s`, `3m`, `10m`). */
export function promDuration(seconds: number): string {
  if (seconds % 3600 === 0 && seconds > 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0 && seconds > 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** A PromQL string literal's content: backslashes and double quotes escaped. */
function promString(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/** A regular expression matching `value` literally, as RE2 reads it. */
function regexLiteral(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The scrape configuration, recording rules, alerts and dashboard row of one inference
 * service (OBS-1, OBS-2, ALM-1 to ALM-5):
 *
 * - a ServiceMonitor scraping the engine's metrics endpoint every
 *   `observability.scrapeIntervalSeconds` (10 s);
 * - a PrometheusRule recording the five OBS-1 metrics for the service, the effective GPU
 *   memory use of the ALM decision (the planner's static numbers baked in), and the alerts;
 * - a row on the namespace's Grafana dashboard (a ConfigMap the Grafana sidecar loads).
 *
 * Every threshold and duration comes from the service's standard.
 */
export class InferenceMonitoring extends Construct {
  /** The service monitored. */
  public readonly service: InferenceService;
  /** The rule groups of the PrometheusRule, as synthesized. */
  public readonly groups: readonly PrometheusRuleGroup[];
  /** The labels every recorded series of this service carries. */
  public readonly seriesLabels: Readonly<Record<string, string>>;
  /** The labels the cluster's Prometheus selects the rule and the monitor by. */
  public readonly ruleSelectorLabels: Readonly<Record<string, string>>;
  /** The Prometheus job of the engine's scrape target (the Service's name). */
  public readonly job: string;
  /** The ServiceMonitor. */
  public readonly serviceMonitor: ApiObject;
  /** The PrometheusRule. */
  public readonly prometheusRule: ApiObject;

  constructor(scope: Construct, id: string, props: InferenceMonitoringProps) {
    super(scope, id);

    // Defaults.
    const svc = props.service;
    const standard = svc.standard;
    const ruleSelectorLabels = props.ruleSelectorLabels ?? { release: 'kube-prometheus-stack' };
    const runbookBaseUrl = props.runbookBaseUrl ?? 'docs/telemetry.md';
    const rateWindow = props.rateWindow ?? Duration.minutes(5);
    const route = {
      namespace: props.gatewayRoute?.namespace ?? svc.namespace,
      name: props.gatewayRoute?.name ?? svc.name,
    };

    // Checks.
    checkSelectorLabels(ruleSelectorLabels);
    checkIntervals(standard);
    const rateWindowSeconds = rateWindow.toSeconds();
    if (
      !Number.isInteger(rateWindowSeconds) ||
      rateWindowSeconds < 2 * standard.observability.scrapeIntervalSeconds
    ) {
      refuse(
        'OBS-1',
        'props.rateWindow',
        `whole seconds, at least two scrapes (>= ${2 * standard.observability.scrapeIntervalSeconds} s)`,
        `${rateWindowSeconds} s`,
        'a rate needs at least two samples in its window',
      );
    }
    if (/\s/.test(runbookBaseUrl) || runbookBaseUrl.length === 0) {
      refuse(
        'OBS-2',
        'props.runbookBaseUrl',
        'a URL without spaces',
        runbookBaseUrl,
        'every alert links a runbook',
      );
    }

    // Derived values.
    this.service = svc;
    this.job = svc.name;
    this.ruleSelectorLabels = Object.freeze({ ...ruleSelectorLabels });
    this.seriesLabels = Object.freeze({ namespace: svc.namespace, service: svc.name });
    const portName = svc.service.ports.find((p) => p.port === svc.servicePort)?.name ?? 'http';
    this.groups = buildRuleGroups({
      name: svc.name,
      namespace: svc.namespace,
      job: this.job,
      plan: svc.plan,
      standard,
      rateWindowSeconds,
      routeClusterRegex: `httproute/${regexLiteral(route.namespace)}/${regexLiteral(route.name)}/rule/[0-9]+`,
      runbookBaseUrl,
    });
    const metadataLabels = { ...svc.labels.common, ...ruleSelectorLabels };

    // Resources.
    this.serviceMonitor = new ApiObject(this, 'ServiceMonitor', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: svc.name, labels: metadataLabels },
      spec: {
        selector: { matchLabels: { ...svc.labels.selector } },
        namespaceSelector: { matchNames: [svc.namespace] },
        endpoints: [
          {
            port: portName,
            path: svc.engine.metricsPath,
            scheme: 'http',
            interval: promDuration(standard.observability.scrapeIntervalSeconds),
            scrapeTimeout: promDuration(standard.observability.scrapeIntervalSeconds),
            // The engine's own labels never override the target's namespace, pod and service.
            honorLabels: false,
          },
        ],
      },
    });

    this.prometheusRule = new ApiObject(this, 'PrometheusRule', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: `${svc.name}-telemetry`, labels: metadataLabels },
      spec: { groups: this.groups },
    });

    if (props.dashboard ?? true) InferenceDashboard.of(Chart.of(this)).addService(this);
  }
}

/** What {@link buildRuleGroups} needs. */
export interface RuleGroupInputs {
  /** The service's name (the `service` label of its series). */
  readonly name: string;
  /** The service's namespace. */
  readonly namespace: string;
  /** The Prometheus job of the engine's scrape target. */
  readonly job: string;
  /** The memory plan: the static numbers of effective memory (ALM-1) and the GPU size (ALM-2). */
  readonly plan: MemoryPlan;
  /** The standard whose numbers are the thresholds. */
  readonly standard: Standard;
  /** The rate window, in seconds. */
  readonly rateWindowSeconds: number;
  /** RE2 regular expression of the Envoy cluster names of the service's route. */
  readonly routeClusterRegex: string;
  /** Base URL of the runbooks. */
  readonly runbookBaseUrl: string;
}

/**
 * The rule groups of one service: the OBS-1 recording rules, the derived series the alerts
 * read, the ALM-1 to ALM-4 alerts and the OBS-2 absence alerts. Pure: tests call it directly.
 */
export function buildRuleGroups(i: RuleGroupInputs): PrometheusRuleGroup[] {
  const { standard, plan } = i;
  const a = standard.alarms;
  const ns = promString(i.namespace);
  const engineSel = `job="${promString(i.job)}",namespace="${ns}"`;
  const svcSel = `namespace="${ns}",service="${promString(i.name)}"`;
  const window = promDuration(i.rateWindowSeconds);
  const labels = { service: i.name };
  const runbook = (alert: string) => `${i.runbookBaseUrl}#${alert.toLowerCase()}`;

  // DCGM attributes a GPU to the pod holding it with `pod`/`namespace` labels. A scraper that
  // does not honour the exporter's labels renames them `exported_pod`/`exported_namespace`
  // (its own target labels win); the first branch takes those, the second the honoured ones.
  // The join on the engine's scrape target keeps only this service's pods: `up` exists for
  // each of them whether or not the engine answers.
  const gpu = (metric: string) =>
    `max by (namespace, pod, gpu, UUID) (` +
    `(label_replace(label_replace(${metric}{exported_pod!=""}, "pod", "$1", "exported_pod", "(.+)"), ` +
    `"namespace", "$1", "exported_namespace", "(.+)") or ${metric}{exported_pod=""}) ` +
    `and on (namespace, pod) up{${engineSel}})`;
  const histogram = (names: readonly string[]) =>
    `sum by (namespace, le) (${names
      .map((n) => `rate(${n}_bucket{${engineSel}}[${window}])`)
      .join(' or ')})`;
  const interToken = histogram([SOURCE_METRICS.interTokenV0, SOURCE_METRICS.interTokenV1]);
  const route = `envoy_cluster_name=~"${promString(i.routeClusterRegex)}"`;

  const recordings: Record<string, PrometheusRuleEntry[]> = {
    gpu_utilization_percentage: [
      { record: 'gpu_utilization_percentage', expr: gpu(SOURCE_METRICS.gpuUtil), labels },
    ],
    gpu_memory_used_bytes: [
      {
        record: 'gpu_memory_used_bytes',
        expr: `${MIB_BYTES} * ${gpu(SOURCE_METRICS.fbUsed)}`,
        labels,
      },
    ],
    gpu_temperature_celsius: [
      { record: 'gpu_temperature_celsius', expr: gpu(SOURCE_METRICS.gpuTemp), labels },
    ],
    token_generation_latency_ms: ['0.5', '0.99'].map((q) => ({
      record: 'token_generation_latency_ms',
      expr: `${MS_PER_SECOND} * histogram_quantile(${q}, ${interToken})`,
      labels: { ...labels, quantile: q },
    })),
    kv_cache_utilization_ratio: [
      {
        record: 'kv_cache_utilization_ratio',
        expr: `max by (namespace, pod) (${SOURCE_METRICS.kvCacheV0}{${engineSel}} or ${SOURCE_METRICS.kvCacheV1}{${engineSel}})`,
        labels,
      },
    ],
  };
  for (const m of standard.observability.requiredMetrics) {
    if (!recordings[m]) {
      refuse(
        'OBS-1',
        'standard.observability.requiredMetrics',
        Object.keys(recordings).join(', '),
        m,
        `no recording rule produces ${m}`,
      );
    }
  }

  const derived: PrometheusRuleEntry[] = [
    {
      // The ALM decision: (memory outside the KV pool + KV usage x KV pool) / GPU memory.
      record: DERIVED_METRICS.effectiveMemoryPercent,
      expr: `100 * (${plan.nonKvBytes} + ${plan.kvPoolBytes} * kv_cache_utilization_ratio{${svcSel}}) / ${plan.gpuMemoryBytes}`,
    },
    {
      record: DERIVED_METRICS.rawMemoryPercent,
      expr: `100 * gpu_memory_used_bytes{${svcSel}} / ${plan.gpuMemoryBytes}`,
    },
    {
      record: DERIVED_METRICS.e2eLatencyP99Ms,
      expr: `${MS_PER_SECOND} * histogram_quantile(0.99, ${histogram([SOURCE_METRICS.e2eLatency])})`,
      labels,
    },
    {
      // 5xx responses over all responses of the route's Envoy clusters. A 429 (NET-5) is a 4xx:
      // it is never in the numerator.
      record: DERIVED_METRICS.serverErrorPercent,
      expr:
        `100 * sum(rate(${SOURCE_METRICS.envoyRequests}{${route},envoy_response_code=~"5[0-9][0-9]"}[${window}])) ` +
        `/ sum(rate(${SOURCE_METRICS.envoyRequests}{${route}}[${window}]))`,
      labels: { namespace: i.namespace, service: i.name },
    },
  ];

  const alert = (
    rule: RuleId,
    severity: 'warning' | 'critical',
    expr: string,
    forSeconds: number,
    summary: string,
    description: string,
    extra: Record<string, string> = {},
  ): PrometheusRuleEntry => {
    const name = ALERT_NAMES[rule as keyof typeof ALERT_NAMES];
    return {
      alert: name,
      expr,
      ...(forSeconds > 0 ? { for: promDuration(forSeconds) } : {}),
      labels: { severity, rule, ...extra },
      annotations: { summary, description, runbook_url: runbook(name) },
    };
  };

  const alerts: PrometheusRuleEntry[] = [
    alert(
      'ALM-1',
      'warning',
      `${DERIVED_METRICS.effectiveMemoryPercent}{${svcSel}} > ${a.memoryWarningPercent}`,
      a.memoryWarningForMinutes * 60,
      `ALM-1: {{ $labels.service }} effective GPU memory above ${a.memoryWarningPercent}% for ${a.memoryWarningForMinutes} minutes`,
      `Pod {{ $labels.pod }} uses {{ $value | printf "%.1f" }}% of its GPU memory counting only the KV cache in use ` +
        `(raw framebuffer use sits at the engine's reserved fraction and is not this signal).`,
    ),
    alert(
      'ALM-2',
      'critical',
      `${DERIVED_METRICS.rawMemoryPercent}{${svcSel}} > ${a.memoryCriticalPercent}`,
      a.memoryCriticalForSeconds,
      `ALM-2: {{ $labels.service }} raw GPU memory above ${a.memoryCriticalPercent}% for ${a.memoryCriticalForSeconds} s`,
      `GPU {{ $labels.gpu }} of pod {{ $labels.pod }} holds {{ $value | printf "%.1f" }}% of its memory, beyond ` +
        `the engine's budget (a leak, fragmentation or a second process). The container's liveness probe ` +
        `restarts the pod after about ${a.memoryCriticalForSeconds} s above the limit; this alert reports it.`,
    ),
    alert(
      'ALM-3',
      'critical',
      `${DERIVED_METRICS.e2eLatencyP99Ms}{${svcSel}} > ${a.latencyP99Ms}`,
      0,
      `ALM-3: {{ $labels.service }} P99 end-to-end latency above ${a.latencyP99Ms} ms`,
      `P99 of vLLM's end-to-end request latency over ${window} is {{ $value | printf "%.0f" }} ms.`,
    ),
    alert(
      'ALM-4',
      'critical',
      `${DERIVED_METRICS.serverErrorPercent}{${svcSel}} > ${a.serverErrorPercent}`,
      0,
      `ALM-4: {{ $labels.service }} 5xx responses above ${a.serverErrorPercent}% of requests`,
      `{{ $value | printf "%.2f" }}% of the route's responses over ${window} were 5xx (429 is not counted).`,
    ),
    ...standard.observability.requiredMetrics.map((m) =>
      alert(
        'OBS-2',
        'critical',
        `absent(${m}{${svcSel}})`,
        standard.observability.absentForMinutes * 60,
        `OBS-2: ${m} of {{ $labels.service }} absent for ${standard.observability.absentForMinutes} minutes`,
        `No ${m} series for the service: its scrape target, the DCGM exporter or the recording rule is missing.`,
        { metric: m },
      ),
    ),
  ];

  return [
    {
      name: `${i.namespace}.${i.name}.telemetry`,
      interval: promDuration(standard.observability.scrapeIntervalSeconds),
      rules: [...Object.values(recordings).flat(), ...derived, ...alerts],
    },
  ];
}

function checkSelectorLabels(labels: Record<string, string>): void {
  if (Object.keys(labels).length === 0) {
    refuse(
      'OBS-1',
      'props.ruleSelectorLabels',
      'at least one label',
      labels,
      "the cluster's Prometheus loads rules by label; an empty set is never selected",
    );
  }
  for (const [k, v] of Object.entries(labels)) {
    if (!K8S_LABEL_KEY.test(k) || typeof v !== 'string' || !K8S_LABEL_VALUE.test(v)) {
      refuse(
        'OBS-1',
        `props.ruleSelectorLabels.${k}`,
        'a Kubernetes label key and value',
        `${k}=${String(v)}`,
        'the rule selector labels must be valid Kubernetes labels',
      );
    }
  }
}

function checkIntervals(standard: Standard): void {
  const o = standard.observability;
  const forSeconds = standard.alarms.memoryCriticalForSeconds;
  if (!(o.scrapeIntervalSeconds > 0) || o.scrapeIntervalSeconds * 3 > forSeconds) {
    refuse(
      'ALM-2',
      'standard.observability.scrapeIntervalSeconds',
      `> 0 and at most a third of ALM-2's ${forSeconds} s`,
      `${o.scrapeIntervalSeconds} s`,
      `a ${forSeconds} s rule needs at least three scrapes in its window`,
    );
  }
  if (!(o.dcgmCollectIntervalMs > 0) || o.dcgmCollectIntervalMs > o.scrapeIntervalSeconds * 1000) {
    refuse(
      'ALM-2',
      'standard.observability.dcgmCollectIntervalMs',
      `> 0 and at most the scrape interval (${o.scrapeIntervalSeconds * 1000} ms)`,
      `${o.dcgmCollectIntervalMs} ms`,
      'each scrape must see a fresh DCGM sample',
    );
  }
}

/** A Grafana panel (the fields this project sets). */
type Panel = Record<string, unknown>;

/**
 * The Grafana dashboard of one namespace's inference services (ALM-5): a row per service with
 * the five OBS-1 metrics and its alerts, in a ConfigMap that the Grafana sidecar of
 * kube-prometheus-stack loads (label `grafana_dashboard: "1"`). One per chart; each
 * {@link InferenceMonitoring} adds its row.
 */
export class InferenceDashboard extends Construct {
  /** The dashboard of a chart, created on first use. */
  public static of(chart: Chart): InferenceDashboard {
    const existing = chart.node.tryFindChild(DASHBOARD_ID);
    return existing instanceof InferenceDashboard
      ? existing
      : new InferenceDashboard(chart, DASHBOARD_ID);
  }

  /** The ConfigMap. */
  public readonly configMap: ApiObject;
  private readonly services: InferenceMonitoring[] = [];

  private constructor(scope: Chart, id: string) {
    super(scope, id);
    const namespace = scope.namespace ?? 'default';
    this.configMap = new ApiObject(this, 'ConfigMap', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'inference-dashboard',
        labels: {
          grafana_dashboard: '1',
          'app.kubernetes.io/part-of': 'compliant-inference',
          'app.kubernetes.io/managed-by': 'cdk8s',
        },
      },
      data: {
        [`inference-${namespace}.json`]: Lazy.any({
          produce: () => JSON.stringify(this.render(namespace), null, 2),
        }),
      },
    });
  }

  /** Adds a service's row. */
  public addService(monitoring: InferenceMonitoring): void {
    this.services.push(monitoring);
  }

  /** The dashboard model. */
  public render(namespace: string): Record<string, unknown> {
    const panels: Panel[] = [];
    let id = 1;
    let y = 0;
    for (const m of this.services) {
      const s = m.service;
      const a = s.standard.alarms;
      const sel = `namespace="${promString(s.namespace)}",service="${promString(s.name)}"`;
      panels.push({
        id: id++,
        type: 'row',
        title: s.name,
        collapsed: false,
        gridPos: { h: 1, w: 24, x: 0, y },
        panels: [],
      });
      y += 1;
      const ts = (
        title: string,
        expr: string,
        legend: string,
        unit: string,
        threshold?: number,
      ): Panel => ({
        id: id++,
        type: 'timeseries',
        title,
        datasource: { type: 'prometheus', uid: '${datasource}' },
        targets: [{ refId: 'A', expr, legendFormat: legend }],
        fieldConfig: {
          defaults: {
            unit,
            ...(threshold === undefined
              ? {}
              : {
                  thresholds: {
                    mode: 'absolute',
                    steps: [
                      { color: 'green', value: null },
                      { color: 'red', value: threshold },
                    ],
                  },
                  custom: { thresholdsStyle: { mode: 'line' } },
                }),
          },
          overrides: [],
        },
      });
      const row: Panel[] = [
        ts(
          'GPU utilization',
          `gpu_utilization_percentage{${sel}}`,
          '{{pod}} gpu {{gpu}}',
          'percent',
        ),
        ts('GPU memory used', `gpu_memory_used_bytes{${sel}}`, '{{pod}} gpu {{gpu}}', 'bytes'),
        ts('GPU temperature', `gpu_temperature_celsius{${sel}}`, '{{pod}} gpu {{gpu}}', 'celsius'),
        ts(
          'Token generation latency',
          `token_generation_latency_ms{${sel}}`,
          'p{{quantile}}',
          'ms',
        ),
        ts('KV-cache utilization', `kv_cache_utilization_ratio{${sel}}`, '{{pod}}', 'percentunit'),
        ts(
          'GPU memory: effective (ALM-1) and raw (ALM-2)',
          `${DERIVED_METRICS.effectiveMemoryPercent}{${sel}}`,
          'effective {{pod}}',
          'percent',
          a.memoryWarningPercent,
        ),
        ts(
          'P99 end-to-end latency (ALM-3)',
          `${DERIVED_METRICS.e2eLatencyP99Ms}{${sel}}`,
          'p99',
          'ms',
          a.latencyP99Ms,
        ),
        ts(
          '5xx share (ALM-4)',
          `${DERIVED_METRICS.serverErrorPercent}{${sel}}`,
          '5xx',
          'percent',
          a.serverErrorPercent,
        ),
      ];
      // The raw series sits on the memory panel beside the effective one.
      (row[5].targets as unknown[]).push({
        refId: 'B',
        expr: `${DERIVED_METRICS.rawMemoryPercent}{${sel}}`,
        legendFormat: 'raw {{pod}} gpu {{gpu}}',
      });
      row.push({
        id: id++,
        type: 'table',
        title: 'Alerts (ALM-1 to ALM-4, OBS-2)',
        datasource: { type: 'prometheus', uid: '${datasource}' },
        targets: [
          {
            refId: 'A',
            expr: `ALERTS{${sel}}`,
            format: 'table',
            instant: true,
          },
        ],
      });
      row.forEach((p, k) => {
        p.gridPos = { h: 8, w: 8, x: (k % 3) * 8, y: y + Math.floor(k / 3) * 8 };
        panels.push(p);
      });
      y += Math.ceil(row.length / 3) * 8;
    }
    return {
      uid: `inference-${namespace}`.slice(0, 40),
      title: `Inference services (${namespace})`,
      tags: ['compliant-inference', 'inference'],
      timezone: 'utc',
      schemaVersion: 39,
      version: 1,
      editable: false,
      refresh: '30s',
      time: { from: 'now-6h', to: 'now' },
      templating: {
        list: [
          {
            name: 'datasource',
            type: 'datasource',
            query: 'prometheus',
            label: 'Prometheus',
            current: {},
            hide: 0,
          },
        ],
      },
      panels,
    };
  }
}

const DASHBOARD_ID = 'InferenceDashboard';
