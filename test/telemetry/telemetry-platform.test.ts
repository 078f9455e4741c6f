import { existsSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { App, AppProps, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { ComplianceError, DEFAULT_STANDARD } from '../../constructs';
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

  it('ALM-1: no alarm on raw memory for a service without a KV-cache metric, and a warning says why', () => {
    const alm1 = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((r) =>
      String(r.Properties.AlarmName).startsWith('ALM-1'),
    );
    expect(alm1).toHaveLength(1);
    assertWarning(
      stack,
      '/Telemetry/Telemetry',
      Match.stringLikeRegexp(`ALM-1: inference/${emb.name} has no KV-cache metric`),
    );
    expect(platform.serviceAlarms[`inference/${emb.name}`].effectiveMemory).toBeUndefined();
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
      AlarmName: Match.stringLikeRegexp('^ALM-4 '),
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

  it('are left out, with a warning, when no load balancer is given', () => {
    const { stack: s2, template: t2 } = build({ loadBalancer: undefined });
    const names = Object.values(t2.findResources('AWS::CloudWatch::Alarm')).map((r) =>
      String(r.Properties.AlarmName),
    );
    expect(names.some((n) => /^ALM-[34]/.test(n))).toBe(false);
    assertWarning(s2, '/Telemetry/Telemetry', Match.stringLikeRegexp('^ALM-3/ALM-4'));
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
