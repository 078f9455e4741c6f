import { Annotations, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { App } from 'cdk8s';
import { Construct } from 'constructs';
import { denyGrantsOutsideAwsServices, newLogsKey } from '../constructs/aws/private/kms-policy';
import { INSTANCE_TYPE_LABEL } from '../constructs/conventions';
import { InferenceService } from '../constructs/k8s';
import { MemoryPlan } from '../constructs/planner';
import { DEFAULT_STANDARD, Standard, refuse } from '../constructs/standard';
import { CLOUDWATCH_PROMETHEUS, CloudWatchPrometheusChart } from './cloudwatch-prometheus';

/**
 * The NVIDIA DCGM exporter the platform installs: Helm chart coordinates and the image the
 * chart version ships (`<DCGM version>-<exporter version>-<base>`). It moves only by a
 * reviewed change here.
 *
 * @see https://github.com/NVIDIA/dcgm-exporter/releases
 */
export const PINNED_DCGM_EXPORTER = Object.freeze({
  repository: 'https://nvidia.github.io/dcgm-exporter/helm-charts',
  chart: 'dcgm-exporter',
  chartVersion: '4.1.3',
  image: 'nvcr.io/nvidia/k8s/dcgm-exporter',
  imageTag: '4.2.3-4.1.3-ubuntu22.04',
});

/**
 * Container Insights names, exactly as the CloudWatch agent of the
 * `amazon-cloudwatch-observability` add-on publishes them with enhanced observability and
 * accelerated-compute metrics on. Pod GPU metrics exist for the dimension sets
 * `[ClusterName]`, `[ClusterName, Namespace]`, `[ClusterName, Namespace, Service]`,
 * `[ClusterName, Namespace, PodName]`, `[ClusterName, Namespace, PodName, FullPodName]` and
 * the same with `GpuDevice`; the alarms use `[ClusterName, Namespace, PodName]`, where
 * `PodName` is the workload's name (the Deployment) and `FullPodName` the pod's.
 *
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-enhanced-EKS.html
 */
export const CONTAINER_INSIGHTS = Object.freeze({
  namespace: 'ContainerInsights',
  podGpuUtilization: 'pod_gpu_utilization',
  podGpuMemoryUtilization: 'pod_gpu_memory_utilization',
  podGpuMemoryUsed: 'pod_gpu_memory_used',
  podGpuTemperature: 'pod_gpu_temperature',
  /** Container Insights metrics are standard resolution: one datapoint per minute at most. */
  periodSeconds: 60,
});

/** Application Load Balancer metrics (ALM-3, ALM-4 at the edge). */
export const ALB_METRICS = Object.freeze({
  namespace: 'AWS/ApplicationELB',
  requests: 'RequestCount',
  target5xx: 'HTTPCode_Target_5XX_Count',
  targetResponseTime: 'TargetResponseTime',
});

/** The window of the load balancer's ALM-4 share: the rate window of the PrometheusRules. */
const SERVER_ERROR_WINDOW = Duration.minutes(5);

/** The exported ALM-4: minutes above the share, of the last minutes (see addRouteErrorAlarm). */
const ROUTE_ERROR_MINUTES = Object.freeze({ above: 2, of: 5 });

/** One inference service as the platform's alarms see it. */
export interface MonitoredService {
  /** The Kubernetes namespace (the `Namespace` dimension). */
  readonly namespace: string;
  /** The Deployment's name (the `PodName` dimension of its pods). */
  readonly name: string;
  /** The memory plan: the static numbers of effective GPU memory (ALM-1). */
  readonly plan: MemoryPlan;
  /**
   * The service's KV-cache usage in CloudWatch, a ratio 0..1. ALM-1 needs it: raw framebuffer
   * use sits at the engine's reserved fraction and cannot tell effective use (the ALM decision).
   * @default - vLLM's gauge as the platform's Prometheus export publishes it; without the
   * export, no CloudWatch ALM-1 for this service (the PrometheusRule carries it), with a warning
   */
  readonly kvCacheUsage?: cloudwatch.IMetric;
  /**
   * The HTTPRoute of the service at the gateway, whose 5xx share is ALM-4.
   * @default - an HTTPRoute named like the service, in its namespace
   */
  readonly route?: { readonly namespace: string; readonly name: string };
}

/** The platform's export of Prometheus metrics to CloudWatch (ALM-1 and ALM-4 sources). */
export interface PrometheusExportOptions {
  /**
   * The CloudWatch agent image, pinned by digest (SW-2): a mirror of
   * `public.ecr.aws/cloudwatch-agent/cloudwatch-agent` at CLOUDWATCH_PROMETHEUS.agentVersion.
   */
  readonly image: string;
  /**
   * Retention of the embedded-metric-format log events (the metrics themselves follow
   * CloudWatch's own retention).
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
}

/** The load balancer in front of the gateway (ALM-3 and ALM-4 at the edge). */
export interface GatewayLoadBalancer {
  /**
   * The Application Load Balancer's full name, as its `LoadBalancer` dimension spells it:
   * `app/<name>/<id>`.
   */
  readonly loadBalancerFullName: string;
  /**
   * The target group of the gateway's proxies, `targetgroup/<name>/<id>`.
   * @default - the whole load balancer
   */
  readonly targetGroupFullName?: string;
}

/** The DCGM exporter install. */
export interface DcgmExporterOptions {
  /**
   * Exact Helm chart version.
   * @default PINNED_DCGM_EXPORTER.chartVersion
   */
  readonly chartVersion?: string;
  /**
   * Exact image tag.
   * @default PINNED_DCGM_EXPORTER.imageTag
   */
  readonly imageTag?: string;
  /**
   * Namespace of the exporter.
   * @default 'gpu-monitoring'
   */
  readonly namespace?: string;
  /**
   * Whether the chart creates a ServiceMonitor (needs the prometheus-operator CRDs).
   * @default true
   */
  readonly serviceMonitor?: boolean;
  /**
   * Labels of the chart's ServiceMonitor, so that the cluster's Prometheus selects it.
   * @default { release: 'kube-prometheus-stack' }
   */
  readonly serviceMonitorLabels?: Record<string, string>;
}

/** Properties of a {@link TelemetryPlatform}. */
export interface TelemetryPlatformProps {
  /** The inference cluster (aws-eks-v2), whose name is the `ClusterName` dimension. */
  readonly cluster: eks.ICluster;
  /** The inference services to alarm on. */
  readonly services: readonly MonitoredService[];
  /**
   * The load balancer of the gateway.
   * @default - no load balancer alarms (ALM-3/ALM-4 stay with the PrometheusRule), with a warning
   */
  readonly loadBalancer?: GatewayLoadBalancer;
  /**
   * The CloudWatch agent that exports the engines' KV-cache gauge and the gateway's per-route
   * request and 5xx counters to CloudWatch, for ALM-1 and ALM-4 there.
   * @default - not installed: ALM-1 and ALM-4 stay with the PrometheusRules, with a warning
   * per missing alarm
   */
  readonly prometheusExport?: PrometheusExportOptions;
  /**
   * The DCGM exporter.
   * @default - PINNED_DCGM_EXPORTER in `gpu-monitoring`, with a ServiceMonitor
   */
  readonly dcgmExporter?: DcgmExporterOptions;
  /**
   * Subscriptions of the platform team to the alarm topic.
   * @default - none (subscribe outside the stack)
   */
  readonly subscriptions?: readonly sns.ITopicSubscription[];
  /**
   * The standard whose numbers are the thresholds.
   * @default DEFAULT_STANDARD
   */
  readonly standard?: Standard;
  /**
   * Name of the CloudWatch dashboard.
   * @default - generated by CloudFormation
   */
  readonly dashboardName?: string;
}

/** A service's alarms. */
export interface ServiceAlarms {
  /** ALM-1 on effective GPU memory, when the service's KV-cache metric is in CloudWatch. */
  readonly effectiveMemory?: cloudwatch.Alarm;
  /** ALM-2 on raw framebuffer use. */
  readonly rawMemory: cloudwatch.Alarm;
  /** OBS-2: the service's GPU metrics are missing. */
  readonly metricsMissing: cloudwatch.Alarm;
  /** ALM-4 on the 5xx share of the service's route at the gateway, when the export is on. */
  readonly serverErrors?: cloudwatch.Alarm;
}

/** What the Prometheus export installs. */
export interface PrometheusExport {
  /** The agent's objects, applied to the cluster. */
  readonly chart: CloudWatchPrometheusChart;
  /** The log group of the embedded-metric-format events. */
  readonly logGroup: logs.LogGroup;
  /** The agent's role, through EKS Pod Identity. */
  readonly role: iam.Role;
  /** The association of the role with the agent's ServiceAccount. */
  readonly podIdentity: eks.CfnPodIdentityAssociation;
  /** The agent's namespace, applied and retained (other tools share it). */
  readonly namespace: eks.KubernetesManifest;
  /** The agent's objects. */
  readonly manifest: eks.KubernetesManifest;
}

/**
 * The platform side of telemetry: the NVIDIA DCGM exporter on the GPU nodes (collecting
 * every 5 s, scraped every 10 s); optionally the CloudWatch agent that exports what Container
 * Insights lacks (vLLM's KV-cache gauge, the gateway's per-route counters); CloudWatch alarms
 * on those, on the Container Insights GPU metrics and on an ALB in front of the gateway, all
 * publishing to one encrypted SNS topic; and a CloudWatch dashboard with the same views as the
 * Grafana one.
 */
export class TelemetryPlatform extends Construct {
  /** The services of a cluster's InferenceService constructs, for {@link TelemetryPlatformProps.services}. */
  public static serviceOf(
    service: InferenceService,
    kvCacheUsage?: cloudwatch.IMetric,
  ): MonitoredService {
    return { namespace: service.namespace, name: service.name, plan: service.plan, kvCacheUsage };
  }

  /** The Prometheus export, when `prometheusExport` is given. */
  public readonly prometheusExport?: PrometheusExport;

  /** The topic every alarm publishes to. */
  public readonly topic: sns.Topic;
  /** The key of the topic. */
  public readonly topicKey: kms.Key;
  /** The DCGM exporter release. */
  public readonly dcgmExporter: eks.HelmChart;
  /** The alarms of each service, by `<namespace>/<name>`. */
  public readonly serviceAlarms: Readonly<Record<string, ServiceAlarms>>;
  /** ALM-4 at the load balancer, when one is given. */
  public readonly serverErrorAlarm?: cloudwatch.Alarm;
  /** ALM-3 at the load balancer, when one is given. */
  public readonly latencyAlarm?: cloudwatch.Alarm;
  /** The dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;

  private readonly standard: Standard;
  private readonly clusterName: string;

  constructor(scope: Construct, id: string, props: TelemetryPlatformProps) {
    super(scope, id);

    // Defaults.
    this.standard = props.standard ?? DEFAULT_STANDARD;
    const dcgm = props.dcgmExporter ?? {};
    const chartVersion = dcgm.chartVersion ?? PINNED_DCGM_EXPORTER.chartVersion;
    const imageTag = dcgm.imageTag ?? PINNED_DCGM_EXPORTER.imageTag;
    this.clusterName = props.cluster.clusterName;

    // Checks.
    if (!/^\d+\.\d+\.\d+$/.test(chartVersion)) {
      refuse(
        'SW-2',
        'props.dcgmExporter.chartVersion',
        'an exact chart version such as 4.1.3',
        chartVersion,
        'the DCGM exporter is pinned',
      );
    }
    if (!/^\d+\.\d+\.\d+-\d+\.\d+\.\d+-[a-z0-9.]+$/.test(imageTag)) {
      refuse(
        'SW-2',
        'props.dcgmExporter.imageTag',
        'an exact tag <dcgm>-<exporter>-<base>, such as 4.2.3-4.1.3-ubuntu22.04',
        imageTag,
        'the DCGM exporter image is pinned',
      );
    }
    if (props.services.length === 0) {
      refuse(
        'OBS-1',
        'props.services',
        'at least one inference service',
        [],
        'there is nothing to alarm on',
      );
    }
    const seen = new Set<string>();
    for (const [i, s] of props.services.entries()) {
      const key = `${s.namespace}/${s.name}`;
      if (seen.has(key)) {
        refuse(
          'OBS-1',
          `props.services[${i}]`,
          'each service once',
          key,
          'a service is listed twice',
        );
      }
      seen.add(key);
    }

    // Resources.
    this.topicKey = this.newTopicKey();
    this.topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'Inference platform alarms (ALM, OBS)',
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    for (const s of props.subscriptions ?? []) this.topic.addSubscription(s);
    this.dcgmExporter = this.addDcgmExporter(props.cluster, dcgm, chartVersion, imageTag);
    if (props.prometheusExport) {
      this.prometheusExport = this.addPrometheusExport(props.cluster, props.prometheusExport);
    }

    const alarms: Record<string, ServiceAlarms> = {};
    for (const s of props.services) alarms[`${s.namespace}/${s.name}`] = this.addServiceAlarms(s);
    this.serviceAlarms = Object.freeze(alarms);
    if (props.loadBalancer) {
      this.serverErrorAlarm = this.addServerErrorAlarm(props.loadBalancer);
      this.latencyAlarm = this.addLatencyAlarm(props.loadBalancer);
    } else {
      Annotations.of(this).addWarningV2(
        'compliant-inference:telemetry:no-load-balancer',
        this.prometheusExport
          ? 'ALM-3: no load balancer given; the CloudWatch latency alarm at the edge is not created (the PrometheusRule of each service carries ALM-3; ALM-4 comes from the gateway counters the Prometheus export publishes).'
          : 'ALM-3/ALM-4: no load balancer given and no Prometheus export; the CloudWatch 5xx-share and latency alarms are not created (the PrometheusRule of each service still carries them).',
      );
    }

    this.dashboard = this.addDashboard(props);
  }

  /** A Container Insights pod GPU metric of one service, over all its pods and GPUs. */
  public podMetric(
    service: MonitoredService,
    metricName: string,
    statistic: string,
  ): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: CONTAINER_INSIGHTS.namespace,
      metricName,
      dimensionsMap: {
        ClusterName: this.clusterName,
        Namespace: service.namespace,
        PodName: service.name,
      },
      statistic,
      period: Duration.seconds(CONTAINER_INSIGHTS.periodSeconds),
    });
  }

  private alarm(id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, props);
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    return alarm;
  }

  private addServiceAlarms(s: MonitoredService): ServiceAlarms {
    const a = this.standard.alarms;
    const id = `${s.namespace}-${s.name}`;
    const minute = Duration.seconds(CONTAINER_INSIGHTS.periodSeconds);

    // ALM-2: raw framebuffer use. Container Insights publishes once a minute, so no alarm can
    // evaluate a 30 s window: the highest value of the minute, one period of one. The liveness
    // probe restarts the pod after 30 s; this alarm reports it within the minute.
    const rawMemory = this.alarm(`Alm2-${id}`, {
      alarmName: `ALM-2 ${s.namespace}/${s.name} raw GPU memory > ${a.memoryCriticalPercent}%`,
      alarmDescription:
        `ALM-2 (critical): a GPU of ${s.namespace}/${s.name} holds more than ${a.memoryCriticalPercent}% of its memory. ` +
        `The liveness probe restarts the pod after ${a.memoryCriticalForSeconds} s above the limit. ` +
        `CloudWatch sees one-minute maxima of ${CONTAINER_INSIGHTS.podGpuMemoryUtilization}; the PrometheusRule evaluates the ${a.memoryCriticalForSeconds} s window.`,
      metric: this.podMetric(s, CONTAINER_INSIGHTS.podGpuMemoryUtilization, 'Maximum'),
      threshold: a.memoryCriticalPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // ALM-1: effective use, (memory outside the KV pool + KV usage x KV pool) / GPU memory.
    let effectiveMemory: cloudwatch.Alarm | undefined;
    const kv = this.kvCacheSource(s);
    if (kv) {
      const p = s.plan;
      effectiveMemory = this.alarm(`Alm1-${id}`, {
        alarmName: `ALM-1 ${s.namespace}/${s.name} effective GPU memory > ${a.memoryWarningPercent}%`,
        alarmDescription: `ALM-1 (warning): effective GPU memory of ${s.namespace}/${s.name} above ${a.memoryWarningPercent}% for ${a.memoryWarningForMinutes} minutes (KV-cache usage x KV pool + memory outside the pool, from the memory plan).`,
        metric: new cloudwatch.MathExpression({
          expression: `100 * (${p.nonKvBytes} + ${p.kvPoolBytes} * ${kv.expression}) / ${p.gpuMemoryBytes}`,
          usingMetrics: kv.metrics,
          label: 'effective GPU memory (%)',
          period: minute,
        }),
        threshold: a.memoryWarningPercent,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: a.memoryWarningForMinutes,
        datapointsToAlarm: a.memoryWarningForMinutes,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    } else {
      Annotations.of(this).addWarningV2(
        `compliant-inference:telemetry:no-effective-memory:${id}`,
        `ALM-1: ${s.namespace}/${s.name} has no KV-cache metric in CloudWatch; no CloudWatch ALM-1 alarm is created, because raw framebuffer use sits at the engine's reserved fraction and would never clear. The PrometheusRule carries ALM-1.`,
      );
    }

    // OBS-2: no GPU sample for the service for 10 minutes. Missing data is the breach.
    const metricsMissing = this.alarm(`Obs2-${id}`, {
      alarmName: `OBS-2 ${s.namespace}/${s.name} GPU metrics absent`,
      alarmDescription: `OBS-2: no ${CONTAINER_INSIGHTS.podGpuMemoryUtilization} sample for ${s.namespace}/${s.name} for ${this.standard.observability.absentForMinutes} minutes.`,
      metric: this.podMetric(s, CONTAINER_INSIGHTS.podGpuMemoryUtilization, 'SampleCount'),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: this.standard.observability.absentForMinutes,
      datapointsToAlarm: this.standard.observability.absentForMinutes,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    // ALM-4: the 5xx share of the service's route at the gateway, from the exported counters.
    const serverErrors = this.prometheusExport ? this.addRouteErrorAlarm(s, id) : undefined;

    return { effectiveMemory, rawMemory, metricsMissing, serverErrors };
  }

  /**
   * The KV-cache usage of a service as a metric-math term: the metric given for it, else
   * vLLM's gauge as the export publishes it, under whichever of its two names the engine's
   * version uses (the worst pod of the minute).
   */
  private kvCacheSource(
    s: MonitoredService,
  ): { expression: string; metrics: Record<string, cloudwatch.IMetric> } | undefined {
    if (s.kvCacheUsage) return { expression: 'kv', metrics: { kv: s.kvCacheUsage } };
    if (!this.prometheusExport) return undefined;
    const [current, previous] = CLOUDWATCH_PROMETHEUS.kvCacheMetrics;
    const minute = Duration.seconds(CONTAINER_INSIGHTS.periodSeconds);
    return {
      expression: 'MAX([FILL(kv, 0), FILL(kvPrevious, 0)])',
      metrics: {
        kv: this.exportedMetric(s.namespace, s.name, current, 'Maximum', minute),
        kvPrevious: this.exportedMetric(s.namespace, s.name, previous, 'Maximum', minute),
      },
    };
  }

  /** A metric the Prometheus export publishes, for one service. */
  public exportedMetric(
    namespace: string,
    service: string,
    metricName: string,
    statistic: string,
    period: Duration,
  ): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: CLOUDWATCH_PROMETHEUS.namespace,
      metricName,
      dimensionsMap: { ClusterName: this.clusterName, Namespace: namespace, Service: service },
      statistic,
      period,
    });
  }

  /**
   * ALM-4 per service: 5xx responses over requests of its route, percent, each minute; two
   * minutes above the share within five. A single minute never fires it: the agent's first
   * sample of a counter after it restarts is not a one-scrape delta (it is dropped or, in some
   * versions, the counter's whole history), and one such minute must not page anyone.
   */
  private addRouteErrorAlarm(s: MonitoredService, id: string): cloudwatch.Alarm {
    const a = this.standard.alarms;
    const route = s.route ?? { namespace: s.namespace, name: s.name };
    const c = CLOUDWATCH_PROMETHEUS;
    const minute = Duration.minutes(1);
    return this.serverErrorShareAlarm(`Alm4-${id}`, {
      alarmName: `ALM-4 ${s.namespace}/${s.name} 5xx share > ${a.serverErrorPercent}%`,
      alarmDescription:
        `ALM-4 (critical): more than ${a.serverErrorPercent}% of the requests the gateway sent to ${s.namespace}/${s.name} ` +
        `(HTTPRoute ${route.namespace}/${route.name}) got a 5xx, in ${ROUTE_ERROR_MINUTES.above} of ${ROUTE_ERROR_MINUTES.of} minutes. 429 (rate limit) is a 4xx and is not counted.`,
      // A route that never answered 5xx has no 5xx series: no data is zero errors.
      errors: this.exportedMetric(
        route.namespace,
        route.name,
        c.routeResponsesByClass,
        'Sum',
        minute,
      ),
      requests: this.exportedMetric(route.namespace, route.name, c.routeRequests, 'Sum', minute),
      label: '5xx share of the route (%)',
      period: minute,
      evaluationPeriods: ROUTE_ERROR_MINUTES.of,
      datapointsToAlarm: ROUTE_ERROR_MINUTES.above,
    });
  }

  /** An ALM-4 alarm: `100 * errors / requests` over one window, above the standard's share. */
  private serverErrorShareAlarm(
    id: string,
    o: {
      alarmName: string;
      alarmDescription: string;
      errors: cloudwatch.IMetric;
      requests: cloudwatch.IMetric;
      label: string;
      period: Duration;
      evaluationPeriods: number;
      datapointsToAlarm: number;
    },
  ): cloudwatch.Alarm {
    return this.alarm(id, {
      alarmName: o.alarmName,
      alarmDescription: o.alarmDescription,
      metric: new cloudwatch.MathExpression({
        expression: '100 * FILL(errors, 0) / requests',
        usingMetrics: { errors: o.errors, requests: o.requests },
        label: o.label,
        period: o.period,
      }),
      threshold: this.standard.alarms.serverErrorPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: o.evaluationPeriods,
      datapointsToAlarm: o.datapointsToAlarm,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /**
   * The CloudWatch agent that publishes the ALM-1 and ALM-4 sources: its log group (KMS, one
   * year), a role that can write only that group, the Pod Identity association, and its
   * Kubernetes objects.
   */
  private addPrometheusExport(
    cluster: eks.ICluster,
    options: PrometheusExportOptions,
  ): PrometheusExport {
    const stack = Stack.of(this);
    const logGroup = new logs.LogGroup(this, 'PrometheusExportLogs', {
      logGroupName: `/aws/containerinsights/${this.clusterName}/prometheus`,
      retention: options.logRetention ?? logs.RetentionDays.ONE_YEAR,
      encryptionKey: newLogsKey(
        this,
        'PrometheusExportLogsKey',
        'Encryption of the CloudWatch agent Prometheus export log group',
      ),
    });
    const principal = new iam.ServicePrincipal('pods.eks.amazonaws.com');
    const role = new iam.Role(this, 'PrometheusExportRole', {
      description: 'CloudWatch agent exporting inference Prometheus metrics (EKS Pod Identity)',
      assumedBy: principal,
    });
    role.assumeRolePolicy?.addStatements(
      new iam.PolicyStatement({ actions: ['sts:TagSession'], principals: [principal] }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogGroup',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [logGroup.logGroupArn],
      }),
    );
    const chart = new CloudWatchPrometheusChart(new App(), 'cloudwatch-prometheus', {
      clusterName: this.clusterName,
      region: stack.region,
      logGroupName: logGroup.logGroupName,
      image: options.image,
      standard: this.standard,
    });
    const podIdentity = new eks.CfnPodIdentityAssociation(this, 'PrometheusExportIdentity', {
      clusterName: this.clusterName,
      namespace: CLOUDWATCH_PROMETHEUS.agentNamespace,
      serviceAccount: chart.serviceAccountName,
      roleArn: role.roleArn,
    });
    // The namespace is shared with the cluster's Prometheus stack: applied, never deleted.
    const namespace = new eks.KubernetesManifest(this, 'PrometheusExportNamespace', {
      cluster,
      // A copy, unlabelled: nothing to prune in a manifest of one retained object.
      manifest: [structuredClone(chart.namespaceObject)],
      prune: false,
      overwrite: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The agent's pod must find its credentials at start: the association comes first.
    const manifest = cluster.addCdk8sChart('PrometheusExportObjects', chart);
    manifest.node.addDependency(namespace, podIdentity, logGroup);
    return { chart, logGroup, role, podIdentity, namespace, manifest };
  }

  private albDimensions(lb: GatewayLoadBalancer): Record<string, string> {
    return {
      LoadBalancer: lb.loadBalancerFullName,
      ...(lb.targetGroupFullName ? { TargetGroup: lb.targetGroupFullName } : {}),
    };
  }

  private albMetric(
    lb: GatewayLoadBalancer,
    metricName: string,
    statistic: string,
    period: Duration,
  ) {
    return new cloudwatch.Metric({
      namespace: ALB_METRICS.namespace,
      metricName,
      dimensionsMap: this.albDimensions(lb),
      statistic,
      period,
    });
  }

  /** ALM-4: target 5xx over all requests, in percent, over the rate window of the rules (5 min). */
  private addServerErrorAlarm(lb: GatewayLoadBalancer): cloudwatch.Alarm {
    const a = this.standard.alarms;
    const window = SERVER_ERROR_WINDOW;
    return this.serverErrorShareAlarm('Alm4', {
      alarmName: `ALM-4 gateway 5xx share > ${a.serverErrorPercent}%`,
      alarmDescription: `ALM-4 (critical): the gateway's targets answered more than ${a.serverErrorPercent}% 5xx over ${window.toMinutes()} minutes. 429 (rate limit) is a 4xx and is not counted.`,
      errors: this.albMetric(lb, ALB_METRICS.target5xx, 'Sum', window),
      requests: this.albMetric(lb, ALB_METRICS.requests, 'Sum', window),
      label: 'target 5xx share (%)',
      period: window,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
    });
  }

  /** ALM-3 at the edge: P99 target response time (time to the response headers). */
  private addLatencyAlarm(lb: GatewayLoadBalancer): cloudwatch.Alarm {
    const a = this.standard.alarms;
    const window = Duration.minutes(5);
    return this.alarm('Alm3', {
      alarmName: `ALM-3 gateway P99 latency > ${a.latencyP99Ms} ms`,
      alarmDescription: `ALM-3 (critical): P99 target response time above ${a.latencyP99Ms} ms over ${window.toMinutes()} minutes.`,
      metric: this.albMetric(lb, ALB_METRICS.targetResponseTime, 'p99', window),
      // TargetResponseTime is in seconds.
      threshold: a.latencyP99Ms / 1000,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  private addDcgmExporter(
    cluster: eks.ICluster,
    options: DcgmExporterOptions,
    chartVersion: string,
    imageTag: string,
  ): eks.HelmChart {
    const o = this.standard.observability;
    const taint = this.standard.hardware.gpuTaint;
    return cluster.addHelmChart('DcgmExporter', {
      repository: PINNED_DCGM_EXPORTER.repository,
      chart: PINNED_DCGM_EXPORTER.chart,
      version: chartVersion,
      release: 'dcgm-exporter',
      namespace: options.namespace ?? 'gpu-monitoring',
      createNamespace: true,
      values: {
        image: { repository: PINNED_DCGM_EXPORTER.image, tag: imageTag },
        // Collection every 5 s (milliseconds on the command line and in the environment).
        arguments: [
          '-f',
          '/etc/dcgm-exporter/default-counters.csv',
          '-c',
          String(o.dcgmCollectIntervalMs),
        ],
        extraEnv: [
          { name: 'DCGM_EXPORTER_INTERVAL', value: String(o.dcgmCollectIntervalMs) },
          { name: 'DCGM_EXPORTER_KUBERNETES', value: 'true' },
        ],
        // GPU nodes only, tolerating their taint (HW-4).
        tolerations: [
          { key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect },
        ],
        nodeSelector: { [INSTANCE_TYPE_LABEL]: this.standard.hardware.instanceType },
        serviceMonitor: {
          enabled: options.serviceMonitor ?? true,
          interval: `${o.scrapeIntervalSeconds}s`,
          // Honoured: the pod attribution arrives as `pod`/`namespace`. The recording rules
          // also read the renamed `exported_pod`/`exported_namespace` of a scraper that does not.
          honorLabels: true,
          additionalLabels: options.serviceMonitorLabels ?? { release: 'kube-prometheus-stack' },
        },
      },
    });
  }

  /** The key of the alarm topic: rotated, usable by CloudWatch alarms of this account. */
  private newTopicKey(): kms.Key {
    const stack = Stack.of(this);
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encryption of the inference platform alarm topic',
      enableKeyRotation: true,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsOfThisAccount',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    denyGrantsOutsideAwsServices(key);
    return key;
  }

  private addDashboard(props: TelemetryPlatformProps): cloudwatch.Dashboard {
    const a = this.standard.alarms;
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(6),
    });
    const all = Object.values(this.serviceAlarms).flatMap((s) =>
      [s.effectiveMemory, s.rawMemory, s.metricsMissing, s.serverErrors].filter(
        (x): x is cloudwatch.Alarm => !!x,
      ),
    );
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms (ALM-1 to ALM-4, OBS-2)',
        alarms: [
          ...all,
          ...[this.serverErrorAlarm, this.latencyAlarm].filter((x): x is cloudwatch.Alarm => !!x),
        ],
        width: 24,
      }),
    );
    for (const s of props.services) {
      const alarms = this.serviceAlarms[`${s.namespace}/${s.name}`];
      dashboard.addWidgets(
        new cloudwatch.TextWidget({
          markdown: `## ${s.namespace}/${s.name}`,
          width: 24,
          height: 1,
        }),
      );
      dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: 'GPU utilization (%)',
          left: [this.podMetric(s, CONTAINER_INSIGHTS.podGpuUtilization, 'Average')],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'GPU memory used (bytes)',
          left: [this.podMetric(s, CONTAINER_INSIGHTS.podGpuMemoryUsed, 'Maximum')],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'GPU temperature (°C)',
          left: [this.podMetric(s, CONTAINER_INSIGHTS.podGpuTemperature, 'Maximum')],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'GPU memory: raw (ALM-2) and effective (ALM-1) (%)',
          left: [
            this.podMetric(s, CONTAINER_INSIGHTS.podGpuMemoryUtilization, 'Maximum'),
            ...(alarms.effectiveMemory ? [alarms.effectiveMemory.metric] : []),
          ],
          leftAnnotations: [
            { value: a.memoryWarningPercent, label: 'ALM-1' },
            { value: a.memoryCriticalPercent, label: 'ALM-2' },
          ],
          width: 6,
        }),
      );
      if (alarms.serverErrors) {
        dashboard.addWidgets(
          new cloudwatch.GraphWidget({
            title: 'Route 5xx share (%) (ALM-4)',
            left: [alarms.serverErrors.metric],
            leftAnnotations: [{ value: a.serverErrorPercent, label: 'ALM-4' }],
            width: 24,
          }),
        );
      }
    }
    if (this.serverErrorAlarm && this.latencyAlarm) {
      dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: 'Gateway 5xx share (%) (ALM-4)',
          left: [this.serverErrorAlarm.metric],
          leftAnnotations: [{ value: a.serverErrorPercent, label: 'ALM-4' }],
          width: 12,
        }),
        new cloudwatch.GraphWidget({
          title: 'Gateway P99 response time (s) (ALM-3)',
          left: [this.latencyAlarm.metric],
          leftAnnotations: [{ value: a.latencyP99Ms / 1000, label: 'ALM-3' }],
          width: 12,
        }),
      );
    }
    return dashboard;
  }
}
