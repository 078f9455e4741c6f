import { existsSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { App, AppProps, Fn, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { ComplianceError, DEFAULT_STANDARD, SOURCE_METRICS } from '../../constructs';
import { CLOUDWATCH_PROMETHEUS } from '../../lib/cloudwatch-prometheus';
import {
  ALB_METRICS,
  CONTAINER_INSIGHTS,
  PINNED_DCGM_EXPORTER,
  TelemetryPlatform,
  TelemetryPlatformProps,
} from '../../lib/telemetry-platform';
import { generationProps } from '../k8s/fixture';
import { synthMonitoring } from './fixture';

const a = DEFAULT_STANDARD.alarms;
const LB = 'app/inference-gateway/50dc6c495c0c9188';
const AGENT_IMAGE = `registry.example.com/mirror/cloudwatch-agent:1.300062.0b1304@sha256:${'cd'.repeat(32)}`;
const TG = 'targetgroup/envoy-proxies/73e2d6bc24d8a067';

// The reference services, as the inference-service construct plans them.
const gen = synthMonitoring().service;
const emb = synthMonitoring(
  {},
  generationProps({
    model: 'gte-qwen2-1.5b-instruct',
    weights: 'int8',
    weightsRevision: '5e3e4d1',
    role: 'embedding',
    concurrency: 32,
  }),
).service;

/** vLLM's KV-cache gauge as a Prometheus-scraping CloudWatch agent would publish it. */
const kvMetric = new cloudwatch.Metric({
  namespace: 'ContainerInsights/Prometheus',
  metricName: 'vllm_gpu_cache_usage_perc',
  dimensionsMap: { ClusterName: 'inference', Namespace: 'inference', Service: gen.name },
  statistic: 'Maximum',
});

function makeStack(props: Partial<TelemetryPlatformProps> = {}, appProps: AppProps = {}) {
  const app = new App(appProps);
  const stack = new Stack(app, 'Telemetry', {
    env: { account: '123456789012', region: 'us-east-1' },
  });
  const cluster = eks.Cluster.fromClusterAttributes(stack, 'Cluster', {
    clusterName: 'inference',
    kubectlProvider: eks.KubectlProvider.fromKubectlProviderAttributes(stack, 'Kubectl', {
      serviceToken: 'arn:aws:lambda:us-east-1:123456789012:function:kubectl-provider',
    }),
  });
  const platform = new TelemetryPlatform(stack, 'Telemetry', {
    cluster,
    prometheusExport: { image: AGENT_IMAGE },
    services: [TelemetryPlatform.serviceOf(gen, kvMetric), TelemetryPlatform.serviceOf(emb)],
    loadBalancer: { loadBalancerFullName: LB, targetGroupFullName: TG },
    subscriptions: [new subscriptions.EmailSubscription('gpu-platform@example.com')],
    ...props,
  });
  return { app, stack, platform };
}

function build(props: Partial<TelemetryPlatformProps> = {}) {
  const built = makeStack(props);
  return { ...built, template: Template.fromStack(built.stack) };
}

const { stack, platform, template } = build();
const podDims = (name: string) => [
  { Name: 'ClusterName', Value: 'inference' },
  { Name: 'Namespace', Value: 'inference' },
  { Name: 'PodName', Value: name },
];
/** Partial matches, under names the assertion lint rule knows. */
function assertResource(type: string, props: Record<string, unknown>): void {
  template.hasResourceProperties(type, props);
}
function assertAlarm(props: Record<string, unknown>): void {
  assertResource('AWS::CloudWatch::Alarm', props);
}
function assertWarning(s: Stack, path: string, message: unknown): void {
  Annotations.fromStack(s).hasWarning(path, message);
}
const topicAction = [{ Ref: Match.stringLikeRegexp('TelemetryAlarmTopic') }];

describe('CloudWatch alarms on Container Insights GPU metrics', () => {
  it.each([
    ['generation', gen.name],
    ['embedding', emb.name],
  ])(
    'ALM-2 (%s): one-minute maximum of pod_gpu_memory_utilization above 90%%, 1 of 1',
    (_, name) => {
      assertAlarm({
        AlarmName: Match.stringLikeRegexp(`^ALM-2 inference/${name} `),
        Namespace: 'ContainerInsights',
        MetricName: 'pod_gpu_memory_utilization',
        Dimensions: podDims(name),
        Statistic: 'Maximum',
        Period: 60,
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        Threshold: a.memoryCriticalPercent,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: topicAction,
        OKActions: topicAction,
      });
    },
  );

  it('ALM-1: effective memory from the plan and the KV-cache metric, 3 of 3 one-minute periods', () => {
    const p = gen.plan;
    assertAlarm({
      AlarmName: Match.stringLikeRegexp(`^ALM-1 inference/${gen.name} `),
      Threshold: a.memoryWarningPercent,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: a.memoryWarningForMinutes,
      DatapointsToAlarm: a.memoryWarningForMinutes,
      TreatMissingData: 'notBreaching',
      AlarmActions: topicAction,
      Metrics: Match.arrayWith([
        Match.objectLike({
          Expression: `100 * (${p.nonKvBytes} + ${p.kvPoolBytes} * kv) / ${p.gpuMemoryBytes}`,
          ReturnData: true,
        }),
        Match.objectLike({
          Id: 'kv',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: 'ContainerInsights/Prometheus',
              MetricName: 'vllm_gpu_cache_usage_perc',
              Dimensions: Match.arrayWith([{ Name: 'Service', Value: gen.name }]),
            },
            Period: 60,
            Stat: 'Maximum',
          },
        }),
      ]),
    });
  });

  it('ALM-1: without the export, no alarm on raw memory for a service without a KV-cache metric, and a warning says why', () => {
    const { stack: s2, template: t2, platform: p2 } = build({ prometheusExport: undefined });
    const alm1 = Object.values(t2.findResources('AWS::CloudWatch::Alarm')).filter((r) =>
      String(r.Properties.AlarmName).startsWith('ALM-1'),
    );
    expect(alm1).toHaveLength(1);
    assertWarning(
      s2,
      '/Telemetry/Telemetry',
      Match.stringLikeRegexp(`ALM-1: inference/${emb.name} has no KV-cache metric`),
    );
    expect(p2.serviceAlarms[`inference/${emb.name}`].effectiveMemory).toBeUndefined();
    expect(p2.prometheusExport).toBeUndefined();
    expect(t2.findResources('AWS::EKS::PodIdentityAssociation')).toEqual({});
  });

  it('OBS-2: GPU samples missing for 10 one-minute periods, missing data breaching', () => {
    assertAlarm({
      AlarmName: Match.stringLikeRegexp(`^OBS-2 inference/${gen.name} `),
      Namespace: 'ContainerInsights',
      MetricName: 'pod_gpu_memory_utilization',
      Dimensions: podDims(gen.name),
      Statistic: 'SampleCount',
      Period: 60,
      EvaluationPeriods: DEFAULT_STANDARD.observability.absentForMinutes,
      DatapointsToAlarm: DEFAULT_STANDARD.observability.absentForMinutes,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
  });

  it('uses only dimension sets Container Insights publishes for pod GPU metrics', () => {
    const published = [
      ['ClusterName'],
      ['ClusterName', 'Namespace'],
      ['ClusterName', 'Namespace', 'Service'],
      ['ClusterName', 'Namespace', 'PodName'],
      ['ClusterName', 'Namespace', 'PodName', 'FullPodName'],
      ['ClusterName', 'Namespace', 'PodName', 'FullPodName', 'GpuDevice'],
    ].map((d) => [...d].sort().join(','));
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    const ci = alarms.filter((r) => r.Properties.Namespace === CONTAINER_INSIGHTS.namespace);
    // ALM-2 and OBS-2 for each of the two services (ALM-1 is metric math on the KV metric).
    expect(ci.length).toBe(4);
    for (const r of ci) {
      const dims = (r.Properties.Dimensions as { Name: string }[]).map((d) => d.Name).sort();
      expect(published).toContain(dims.join(','));
    }
  });

  it('sets an explicit missing-data treatment on every alarm', () => {
    for (const r of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
      expect(['notBreaching', 'breaching']).toContain(r.Properties.TreatMissingData);
    }
  });
});

describe('load balancer alarms', () => {
  const albDims = [
    { Name: 'LoadBalancer', Value: LB },
    { Name: 'TargetGroup', Value: TG },
  ];

  it('ALM-4: target 5xx share of all requests above 2% over 5 minutes (metric math)', () => {
    assertAlarm({
      AlarmName: Match.stringLikeRegexp('^ALM-4 gateway '),
      Threshold: a.serverErrorPercent,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: topicAction,
      Metrics: [
        Match.objectLike({ Expression: '100 * FILL(errors, 0) / requests', ReturnData: true }),
        {
          Id: 'errors',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: ALB_METRICS.namespace,
              MetricName: 'HTTPCode_Target_5XX_Count',
              Dimensions: albDims,
            },
            Period: 300,
            Stat: 'Sum',
          },
        },
        {
          Id: 'requests',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: ALB_METRICS.namespace,
              MetricName: 'RequestCount',
              Dimensions: albDims,
            },
            Period: 300,
            Stat: 'Sum',
          },
        },
      ],
    });
  });

  it('ALM-3: P99 target response time above 10 s over 5 minutes', () => {
    assertAlarm({
      AlarmName: Match.stringLikeRegexp('^ALM-3 '),
      Namespace: ALB_METRICS.namespace,
      MetricName: 'TargetResponseTime',
      Dimensions: albDims,
      ExtendedStatistic: 'p99',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: a.latencyP99Ms / 1000,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('are left out, with a warning, when no load balancer is given: ALM-4 then comes from the export alone', () => {
    const { stack: s2, template: t2 } = build({ loadBalancer: undefined });
    const names = Object.values(t2.findResources('AWS::CloudWatch::Alarm')).map((r) =>
      String(r.Properties.AlarmName),
    );
    expect(names.filter((n) => /^ALM-[34]/.test(n)).sort()).toEqual(
      [gen, emb]
        .map((x) => `ALM-4 inference/${x.name} 5xx share > ${a.serverErrorPercent}%`)
        .sort(),
    );
    assertWarning(s2, '/Telemetry/Telemetry', Match.stringLikeRegexp('^ALM-3: no load balancer'));
  });

  it('without load balancer and export, no ALM-3 or ALM-4 alarm, and the warning names both', () => {
    const { stack: s2, template: t2 } = build({
      loadBalancer: undefined,
      prometheusExport: undefined,
    });
    const names = Object.values(t2.findResources('AWS::CloudWatch::Alarm')).map((r) =>
      String(r.Properties.AlarmName),
    );
    expect(names.some((n) => /^ALM-[34]/.test(n))).toBe(false);
    assertWarning(s2, '/Telemetry/Telemetry', Match.stringLikeRegexp('^ALM-3/ALM-4'));
  });
});

describe('the Prometheus export: ALM-1 and ALM-4 in CloudWatch', () => {
  const exported = (service: string, metricName: string, stat: string, period: number) => ({
    Metric: {
      Namespace: CLOUDWATCH_PROMETHEUS.namespace,
      MetricName: metricName,
      Dimensions: [
        { Name: 'ClusterName', Value: 'inference' },
        { Name: 'Namespace', Value: 'inference' },
        { Name: 'Service', Value: service },
      ],
    },
    Period: period,
    Stat: stat,
  });

  it("ALM-1 by default: vLLM's KV-cache gauge under either name, worst pod of the minute, 3 of 3", () => {
    const p = emb.plan;
    const [v1, v0] = CLOUDWATCH_PROMETHEUS.kvCacheMetrics;
    expect([v1, v0]).toEqual([SOURCE_METRICS.kvCacheV1, SOURCE_METRICS.kvCacheV0]);
    assertAlarm({
      AlarmName: `ALM-1 inference/${emb.name} effective GPU memory > ${a.memoryWarningPercent}%`,
      Threshold: a.memoryWarningPercent,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: a.memoryWarningForMinutes,
      DatapointsToAlarm: a.memoryWarningForMinutes,
      TreatMissingData: 'notBreaching',
      AlarmActions: topicAction,
      Metrics: [
        Match.objectLike({
          Expression: `100 * (${p.nonKvBytes} + ${p.kvPoolBytes} * MAX([FILL(kv, 0), FILL(kvPrevious, 0)])) / ${p.gpuMemoryBytes}`,
          ReturnData: true,
        }),
        { Id: 'kv', ReturnData: false, MetricStat: exported(emb.name, v1, 'Maximum', 60) },
        { Id: 'kvPrevious', ReturnData: false, MetricStat: exported(emb.name, v0, 'Maximum', 60) },
      ],
    });
  });

  it.each([
    ['generation', gen.name],
    ['embedding', emb.name],
  ])(
    "ALM-4 (%s): the route's 5xx responses over its requests above 2%% in 2 of 5 minutes",
    (_, name) => {
      assertAlarm({
        AlarmName: `ALM-4 inference/${name} 5xx share > ${a.serverErrorPercent}%`,
        Threshold: a.serverErrorPercent,
        ComparisonOperator: 'GreaterThanThreshold',
        // One minute alone never fires: the agent's first sample after a restart is no delta.
        EvaluationPeriods: 5,
        DatapointsToAlarm: 2,
        TreatMissingData: 'notBreaching',
        AlarmActions: topicAction,
        OKActions: topicAction,
        Metrics: [
          Match.objectLike({ Expression: '100 * FILL(errors, 0) / requests', ReturnData: true }),
          {
            Id: 'errors',
            ReturnData: false,
            MetricStat: exported(name, 'envoy_cluster_upstream_rq_xx', 'Sum', 60),
          },
          {
            Id: 'requests',
            ReturnData: false,
            MetricStat: exported(name, 'envoy_cluster_upstream_rq_total', 'Sum', 60),
          },
        ],
      });
    },
  );

  it('alarms only on metrics and dimensions the agent is configured to publish', () => {
    const config = platform.prometheusExport!.chart.agentConfig as {
      logs: { metrics_collected: { prometheus: { emf_processor: Record<string, unknown> } } };
    };
    const emf = config.logs.metrics_collected.prometheus.emf_processor as {
      metric_namespace: string;
      metric_declaration: { metric_selectors: string[]; dimensions: string[][] }[];
    };
    const stats = Object.values(template.findResources('AWS::CloudWatch::Alarm')).flatMap(
      (r) =>
        ((r.Properties.Metrics ?? []) as { MetricStat?: { Metric: Record<string, unknown> } }[])
          .map((m) => m.MetricStat?.Metric)
          .filter((m) => m?.Namespace === emf.metric_namespace) as {
          MetricName: string;
          Dimensions: { Name: string }[];
        }[],
    );
    // ALM-1: the generation service brings its own KV metric, the embedding one gets both
    // exported names; ALM-4: requests and 5xx of each of the two routes.
    expect(stats.length).toBe(7);
    for (const m of stats) {
      if (m.MetricName === 'vllm_gpu_cache_usage_perc') continue; // the test's own metric
      const d = emf.metric_declaration.find((x) =>
        x.metric_selectors.some((sel) => new RegExp(sel).test(m.MetricName)),
      );
      expect(d).toBeDefined();
      expect(d!.dimensions).toContainEqual(m.Dimensions.map((x) => x.Name));
    }
  });

  it('writes one KMS-encrypted log group kept a year, through a role that can write only there', () => {
    const groups = template.findResources('AWS::Logs::LogGroup');
    expect(Object.keys(groups)).toHaveLength(1);
    const [[groupId, group]] = Object.entries(groups);
    expect(group.Properties).toMatchObject({
      LogGroupName: '/aws/containerinsights/inference/prometheus',
      RetentionInDays: 365,
    });
    const [keyId] = group.Properties.KmsKeyId['Fn::GetAtt'];
    expect(template.findResources('AWS::KMS::Key')[keyId].Properties.EnableKeyRotation).toBe(true);
    assertResource('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'sts:AssumeRole',
            Principal: { Service: 'pods.eks.amazonaws.com' },
          }),
          Match.objectLike({
            Action: 'sts:TagSession',
            Principal: { Service: 'pods.eks.amazonaws.com' },
          }),
        ]),
      },
    });
    const role = platform.prometheusExport!.role;
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes(stack.resolve(role.roleName).Ref),
    );
    expect(policies).toHaveLength(1);
    expect(policies[0].Properties.PolicyDocument.Statement).toEqual([
      {
        Sid: 'WriteOwnLogGroup',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        Resource: { 'Fn::GetAtt': [groupId, 'Arn'] },
      },
    ]);
  });

  it("associates the role with the agent's ServiceAccount, before the agent's objects are applied", () => {
    const chart = platform.prometheusExport!.chart;
    assertResource('AWS::EKS::PodIdentityAssociation', {
      ClusterName: 'inference',
      Namespace: 'monitoring',
      ServiceAccount: chart.serviceAccountName,
      RoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('PrometheusExportRole'), 'Arn'] },
    });
    const manifests = Object.entries(
      template.findResources('Custom::AWSCDK-EKS-KubernetesResource'),
    );
    const agent = manifests.filter(([id]) => id.includes('PrometheusExportObjects'));
    expect(agent).toHaveLength(1);
    const [, resource] = agent[0];
    expect(resource.DependsOn).toEqual(
      expect.arrayContaining([expect.stringMatching(/PrometheusExportIdentity/)]),
    );
    const body = JSON.stringify(stack.resolve(resource.Properties.Manifest));
    expect(body).toContain('cwagent-prometheus');
    expect(body).toContain(AGENT_IMAGE);
  });

  it('applies the shared monitoring namespace apart, retained when the stack lets go of it', () => {
    const manifests = template.findResources('Custom::AWSCDK-EKS-KubernetesResource');
    const [[id, ns]] = Object.entries(manifests).filter(([k]) =>
      k.includes('PrometheusExportNamespace'),
    );
    expect(ns.DeletionPolicy).toBe('Retain');
    expect(ns.UpdateReplacePolicy).toBe('Retain');
    expect(JSON.parse(stack.resolve(ns.Properties.Manifest))).toEqual([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'monitoring' } },
    ]);
    const [objects] = Object.entries(manifests).filter(([k]) =>
      k.includes('PrometheusExportObjects'),
    );
    expect(objects[1].DependsOn).toContain(id);
    // The agent's objects are deleted with the stack as usual; only the namespace stays.
    expect(objects[1].DeletionPolicy).toBe('Delete');
    expect(JSON.stringify(stack.resolve(objects[1].Properties.Manifest))).not.toContain(
      '"kind":"Namespace"',
    );
  });

  it('carries a cluster name and region known only at deploy time into the agent configuration', () => {
    const app = new App();
    const s = new Stack(app, 'Tokens');
    const cluster = eks.Cluster.fromClusterAttributes(s, 'Cluster', {
      clusterName: Fn.importValue('InferenceClusterName'),
      kubectlProvider: eks.KubectlProvider.fromKubectlProviderAttributes(s, 'Kubectl', {
        serviceToken: 'arn:aws:lambda:us-east-1:123456789012:function:kubectl-provider',
      }),
    });
    const p = new TelemetryPlatform(s, 'Telemetry', {
      cluster,
      services: [TelemetryPlatform.serviceOf(gen)],
      prometheusExport: { image: AGENT_IMAGE },
    });
    const t = Template.fromStack(s);
    const [manifest] = Object.entries(t.findResources('Custom::AWSCDK-EKS-KubernetesResource'))
      .filter(([k]) => k.includes('PrometheusExportObjects'))
      .map(([, r]) => r.Properties.Manifest);
    // CloudFormation joins the manifest around the tokens: the cluster name, the region and
    // the log group name are references in the template, not strings frozen at synth.
    const joined = JSON.stringify(manifest);
    expect(joined).toContain('"Fn::Join"');
    expect(joined).toContain('{"Fn::ImportValue":"InferenceClusterName"}');
    expect(joined).toContain('{"Ref":"AWS::Region"}');
    expect(joined).toMatch(/cluster_name[^"]*"[^{]*\{"Fn::ImportValue":"InferenceClusterName"\}/);
    expect(p.prometheusExport!.chart.agentConfig).toMatchObject({
      logs: {
        metrics_collected: { prometheus: { cluster_name: expect.stringMatching(/^\$\{Token/) } },
      },
    });
  });
});

describe('the alarm topic', () => {
  it('is encrypted with a rotated KMS key that CloudWatch may use, and TLS-only', () => {
    assertResource('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('TelemetryAlarmTopicKey'), 'Arn'] },
    });
    assertResource('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'CloudWatchAlarmsOfThisAccount',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    assertResource('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('is subscribed by the platform team', () => {
    assertResource('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'gpu-platform@example.com',
    });
  });
});

describe('the DCGM exporter', () => {
  it('is the pinned chart, collecting every 5 s, scraped every 10 s, on tainted GPU nodes only', () => {
    const [chart] = Object.values(template.findResources('Custom::AWSCDK-EKS-HelmChart'));
    expect(chart.Properties).toMatchObject({
      Chart: 'dcgm-exporter',
      Version: PINNED_DCGM_EXPORTER.chartVersion,
      Repository: PINNED_DCGM_EXPORTER.repository,
      Namespace: 'gpu-monitoring',
      CreateNamespace: true,
    });
    const values = JSON.parse(chart.Properties.Values);
    const interval = String(DEFAULT_STANDARD.observability.dcgmCollectIntervalMs);
    expect(values.image).toEqual({
      repository: PINNED_DCGM_EXPORTER.image,
      tag: PINNED_DCGM_EXPORTER.imageTag,
    });
    expect(values.arguments).toEqual(expect.arrayContaining(['-c', interval]));
    expect(values.extraEnv).toContainEqual({ name: 'DCGM_EXPORTER_INTERVAL', value: interval });
    expect(values.tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Equal', value: 'true', effect: 'NoSchedule' },
    ]);
    expect(values.nodeSelector).toEqual({ 'node.kubernetes.io/instance-type': 'p4d.24xlarge' });
    expect(values.serviceMonitor).toMatchObject({
      enabled: true,
      interval: `${DEFAULT_STANDARD.observability.scrapeIntervalSeconds}s`,
      additionalLabels: { release: 'kube-prometheus-stack' },
    });
  });

  it('refuses a floating chart version or image tag (SW-2)', () => {
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const e1 = err(() => build({ dcgmExporter: { chartVersion: 'latest' } }));
    expect(ComplianceError.isComplianceError(e1) && e1.rule).toBe('SW-2');
    const e2 = err(() => build({ dcgmExporter: { imageTag: 'latest' } }));
    expect(ComplianceError.isComplianceError(e2) && e2.field).toBe('props.dcgmExporter.imageTag');
  });
});

describe('the CloudWatch dashboard (ALM-5)', () => {
  it('shows the GPU views of each service, the alarm states and the load balancer views', () => {
    const [dash] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(stack.resolve(dash.Properties.DashboardBody));
    for (const m of [
      'pod_gpu_utilization',
      'pod_gpu_memory_used',
      'pod_gpu_temperature',
      'pod_gpu_memory_utilization',
    ]) {
      expect(body).toContain(m);
    }
    for (const s of [gen, emb]) expect(body).toContain(`inference/${s.name}`);
    expect(body).toContain('alarm');
    expect(body).toContain('HTTPCode_Target_5XX_Count');
  });
});

describe('AWS checks (SEC-4)', () => {
  it('the telemetry resources pass cdk-nag AwsSolutions and the Control Tower guard rules', () => {
    // A bare topic beside them is the live control: the checks must find it, and only it.
    const outdir = mkdtempSync(join(tmpdir(), 'telemetry-checks-'));
    try {
      const { app, stack: s } = makeStack({}, { outdir });
      new sns.Topic(s, 'BareControlTopic');
      Validations.of(app).addPlugins(
        new AwsSolutionsChecks(app),
        new CfnGuardValidator({ controlTowerRulesEnabled: true }),
      );
      let error: Error | undefined;
      try {
        app.synth();
      } catch (e) {
        error = e as Error;
      }
      const file = join(outdir, 'validation-report.json');
      const reports: {
        pluginName: string;
        violations: { ruleName: string; violatingConstructs?: { constructPath?: string }[] }[];
      }[] = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).pluginReports : [];
      const paths = reports.flatMap((r) =>
        r.violations.flatMap((v) => (v.violatingConstructs ?? []).map((c) => c.constructPath)),
      );
      expect(error?.message).toMatch(/AwsSolutions-SNS/);
      expect(paths.length).toBeGreaterThan(0);
      for (const p of paths) expect(p).toMatch(/^Telemetry\/BareControlTopic/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
