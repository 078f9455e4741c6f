import * as YAML from 'yaml';
import {
  ALERT_NAMES,
  DEFAULT_STANDARD,
  DERIVED_METRICS,
  PrometheusRuleEntry,
  PrometheusRuleGroup,
} from '../../constructs';
import {
  PromtoolTest,
  promtool,
  runRuleTests,
  series,
  synthMonitoring,
  workDir,
  writeRuleFile,
} from './fixture';
import { generationProps } from '../k8s/fixture';

// GIVEN the reference generation service (llama-2-70b, AWQ, two A100 40 GiB per pod) and its
// monitoring, synthesized once; every test reads the rules out of the PrometheusRule.
const { service, monitoring, objects } = synthMonitoring();
const rule = objects.find((o) => o.kind === 'PrometheusRule')!;
const groups = rule.spec.groups as PrometheusRuleGroup[];
const plan = service.plan;
const a = DEFAULT_STANDARD.alarms;

const NS = 'inference';
const SVC = service.name;
const SERVICE_LABELS = { namespace: NS, service: SVC };
const POD_A = `${SVC}-5d8f7c9b4-abcde`;
const POD_B = `${SVC}-5d8f7c9b4-fghij`;
const GPU_MEMORY_MIB = plan.gpuMemoryBytes / 2 ** 20;

/** The engine's scrape target of one pod, as the ServiceMonitor's discovery labels it. */
const target = (pod: string) => ({
  job: SVC,
  namespace: NS,
  service: SVC,
  pod,
  endpoint: 'http',
  instance: `10.0.0.${pod === POD_A ? 1 : 2}:8000`,
});
const up = (pod: string, values = '1x200') => ({ series: series('up', target(pod)), values });

/** A DCGM series as Prometheus stores it when the ServiceMonitor does NOT honour labels. */
const dcgmRenamed = (metric: string, pod: string, gpu: string) =>
  series(metric, {
    job: 'dcgm-exporter',
    namespace: 'gpu-monitoring',
    pod: 'dcgm-exporter-x7k2p',
    container: 'exporter',
    exported_namespace: NS,
    exported_pod: pod,
    exported_container: 'engine',
    gpu,
    UUID: `GPU-${gpu}`,
    Hostname: 'ip-10-0-1-10',
  });
/** A DCGM series as Prometheus stores it when the ServiceMonitor honours labels. */
const dcgmHonoured = (metric: string, pod: string, gpu: string) =>
  series(metric, {
    job: 'dcgm-exporter',
    namespace: NS,
    pod,
    container: 'engine',
    gpu,
    UUID: `GPU-${gpu}`,
    Hostname: 'ip-10-0-1-11',
  });

/** The labels every recorded GPU series of POD_A's GPU 0 carries. */
const gpuLabels = (pod: string, gpu: string) =>
  `{UUID="GPU-${gpu}",gpu="${gpu}",namespace="${NS}",pod="${pod}",service="${SVC}"}`;

/** The rules with annotations removed, except ALM-2's, which the tests render and check. */
function rulesForTests(): PrometheusRuleGroup[] {
  return groups.map((g) => ({
    ...g,
    rules: g.rules.map((r: PrometheusRuleEntry) =>
      r.alert && r.alert !== ALERT_NAMES['ALM-2'] ? { ...r, annotations: undefined } : r,
    ),
  }));
}

/** The alert labels promtool expects: the series' labels, the rule's labels and the name. */
function alertLabels(
  id: keyof typeof ALERT_NAMES,
  series: Record<string, string>,
): Record<string, string> {
  const r = groups[0].rules.find((x) => x.alert === ALERT_NAMES[id])!;
  return { ...r.labels, ...series, alertname: ALERT_NAMES[id] };
}

/** Renders the three template forms the ALM-2 annotations use. */
function renderAnnotations(
  id: keyof typeof ALERT_NAMES,
  labels: Record<string, string>,
  value: number,
) {
  const r = groups[0].rules.find((x) => x.alert === ALERT_NAMES[id])!;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.annotations ?? {})) {
    out[k] = v
      .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, l: string) => labels[l] ?? '')
      .replace(/\{\{ \$value \| printf "%\.(\d)f" \}\}/g, (_, d: string) =>
        value.toFixed(Number(d)),
      );
  }
  return out;
}

/** A number within 1e-9 of `expected`, as a PromQL check that returns 1 (promtool compares floats exactly). */
const near = (expr: string, expected: number) => `abs(${expr} - ${expected}) < bool 1e-9`;

function run(tests: PromtoolTest[]) {
  const dir = workDir();
  writeRuleFile(dir, 'rules.yaml', rulesForTests());
  const result = runRuleTests(dir, {
    rule_files: ['rules.yaml'],
    evaluation_interval: `${DEFAULT_STANDARD.observability.scrapeIntervalSeconds}s`,
    tests,
  });
  return { ...result, dir };
}

function expectPass(tests: PromtoolTest[]) {
  const r = run(tests);
  if (r.status !== 0) {
    throw new Error(`promtool test rules failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  expect(r.stdout).toMatch(/SUCCESS/);
}

describe('promtool check rules', () => {
  it('finds no problem in the synthesized rule file', () => {
    const dir = workDir();
    writeRuleFile(dir, 'rules.yaml', groups);
    const r = promtool(['check', 'rules', 'rules.yaml'], dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('finds no problem in the rules of both reference services', () => {
    const { objects: embedding } = synthMonitoring(
      {},
      generationProps({
        model: 'gte-qwen2-1.5b-instruct',
        weights: 'int8',
        weightsRevision: '5e3e4d1',
        role: 'embedding',
        concurrency: 32,
      }),
    );
    const r2 = embedding.find((o) => o.kind === 'PrometheusRule')!;
    const dir = workDir();
    writeRuleFile(dir, 'rules.yaml', r2.spec.groups);
    const r = promtool(['check', 'rules', 'rules.yaml'], dir);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS/);
  });
});

describe('OBS-1 recording rules, checked against hand-computed values', () => {
  it('records the five metrics with their units, for both DCGM label conventions', () => {
    // Pod A's GPU 0 arrives renamed (exported_pod), pod B's GPU 1 arrives honoured (pod).
    // A GPU of another service and an unattributed GPU must not be recorded.
    const input = [
      up(POD_A),
      up(POD_B),
      { series: dcgmRenamed('DCGM_FI_DEV_FB_USED', POD_A, '0'), values: '20480x30' },
      { series: dcgmHonoured('DCGM_FI_DEV_FB_USED', POD_B, '1'), values: '30720x30' },
      { series: dcgmRenamed('DCGM_FI_DEV_FB_USED', 'other-svc-6c9-zzzzz', '2'), values: '1x30' },
      {
        series: series('DCGM_FI_DEV_FB_USED', {
          job: 'dcgm-exporter',
          namespace: 'gpu-monitoring',
          pod: 'dcgm-exporter-x7k2p',
          gpu: '7',
          UUID: 'GPU-7',
        }),
        values: '5x30',
      },
      { series: dcgmRenamed('DCGM_FI_DEV_GPU_UTIL', POD_A, '0'), values: '87x30' },
      { series: dcgmHonoured('DCGM_FI_DEV_GPU_UTIL', POD_B, '1'), values: '42x30' },
      { series: dcgmRenamed('DCGM_FI_DEV_GPU_TEMP', POD_A, '0'), values: '65x30' },
      { series: dcgmHonoured('DCGM_FI_DEV_GPU_TEMP', POD_B, '1'), values: '71x30' },
      // vLLM V0 names on pod A, V1 names on pod B: both are read.
      {
        series: series('vllm:gpu_cache_usage_perc', {
          ...target(POD_A),
          model_name: 'llama-2-70b',
        }),
        values: '0.5x30',
      },
      {
        series: series('vllm:kv_cache_usage_perc', { ...target(POD_B), model_name: 'llama-2-70b' }),
        values: '0.25x30',
      },
      // Inter-token latency: per 10 s, 50 tokens <= 25 ms and 50 more <= 50 ms.
      ...[
        ['0.01', 0],
        ['0.025', 50],
        ['0.05', 100],
        ['0.075', 100],
        ['+Inf', 100],
      ].map(([le, step]) => ({
        series: series('vllm:time_per_output_token_seconds_bucket', {
          ...target(POD_A),
          le: String(le),
        }),
        values: `0+${step}x30`,
      })),
    ];
    // Hand-computed: p50 is the top of the 25 ms bucket; p99 lies 49/50 of the way through
    // (25 ms, 50 ms]: 25 + 25 x 0.98 = 49.5 ms. Effective memory of pod A at 50% KV use:
    // 100 x (nonKv + 0.5 x kvPool) / GPU memory; the numbers are the planner's.
    const effectiveA = (100 * (plan.nonKvBytes + plan.kvPoolBytes * 0.5)) / plan.gpuMemoryBytes;
    expect(effectiveA).toBeCloseTo(66.9, 1);
    const raw = (mib: number) => (100 * mib * 2 ** 20) / plan.gpuMemoryBytes;
    expect(raw(20480)).toBe(50);

    expectPass([
      {
        name: 'OBS-1 recorded values',
        interval: '10s',
        input_series: input,
        promql_expr_test: [
          {
            expr: 'gpu_memory_used_bytes',
            eval_time: '1m',
            exp_samples: [
              // 20480 MiB = 20 GiB = 21474836480 bytes; 30720 MiB = 30 GiB.
              { labels: `gpu_memory_used_bytes${gpuLabels(POD_A, '0')}`, value: 21474836480 },
              { labels: `gpu_memory_used_bytes${gpuLabels(POD_B, '1')}`, value: 32212254720 },
            ],
          },
          {
            expr: 'gpu_utilization_percentage',
            eval_time: '1m',
            exp_samples: [
              { labels: `gpu_utilization_percentage${gpuLabels(POD_A, '0')}`, value: 87 },
              { labels: `gpu_utilization_percentage${gpuLabels(POD_B, '1')}`, value: 42 },
            ],
          },
          {
            expr: 'gpu_temperature_celsius',
            eval_time: '1m',
            exp_samples: [
              { labels: `gpu_temperature_celsius${gpuLabels(POD_A, '0')}`, value: 65 },
              { labels: `gpu_temperature_celsius${gpuLabels(POD_B, '1')}`, value: 71 },
            ],
          },
          {
            expr: 'kv_cache_utilization_ratio',
            eval_time: '1m',
            exp_samples: [
              {
                labels: `kv_cache_utilization_ratio{namespace="${NS}",pod="${POD_A}",service="${SVC}"}`,
                value: 0.5,
              },
              {
                labels: `kv_cache_utilization_ratio{namespace="${NS}",pod="${POD_B}",service="${SVC}"}`,
                value: 0.25,
              },
            ],
          },
          {
            expr: near('token_generation_latency_ms{quantile="0.5"}', 25),
            eval_time: '2m',
            exp_samples: [
              { labels: `{namespace="${NS}",quantile="0.5",service="${SVC}"}`, value: 1 },
            ],
          },
          {
            expr: near('token_generation_latency_ms{quantile="0.99"}', 49.5),
            eval_time: '2m',
            exp_samples: [
              { labels: `{namespace="${NS}",quantile="0.99",service="${SVC}"}`, value: 1 },
            ],
          },
          {
            expr: near(`${DERIVED_METRICS.effectiveMemoryPercent}{pod="${POD_A}"}`, effectiveA),
            eval_time: '1m',
            exp_samples: [
              { labels: `{namespace="${NS}",pod="${POD_A}",service="${SVC}"}`, value: 1 },
            ],
          },
          {
            expr: `${DERIVED_METRICS.rawMemoryPercent}{pod="${POD_A}"}`,
            eval_time: '1m',
            exp_samples: [
              { labels: `${DERIVED_METRICS.rawMemoryPercent}${gpuLabels(POD_A, '0')}`, value: 50 },
            ],
          },
        ],
      },
    ]);
  });
});

describe('ALM-1: effective GPU memory above 75% for 3 minutes (warning)', () => {
  // The KV usage that puts pod A at 76% effective use.
  const kvAt = (percent: number) =>
    ((percent / 100) * plan.gpuMemoryBytes - plan.nonKvBytes) / plan.kvPoolBytes;
  const kv = (values: string) => ({
    series: series('vllm:gpu_cache_usage_perc', { ...target(POD_A), model_name: 'llama-2-70b' }),
    values,
  });
  const labels = alertLabels('ALM-1', { namespace: NS, pod: POD_A, service: SVC });

  it('uses the planner numbers: 76% effective needs the KV usage the test feeds', () => {
    const u = kvAt(a.memoryWarningPercent + 1);
    expect(u).toBeGreaterThan(0);
    expect(u).toBeLessThan(1);
    expect((100 * (plan.nonKvBytes + u * plan.kvPoolBytes)) / plan.gpuMemoryBytes).toBeCloseTo(
      76,
      9,
    );
  });

  it('fires after 3 minutes at 76%, not after 2, not at 74% for 10 minutes', () => {
    const u76 = kvAt(76);
    const u74 = kvAt(74);
    expectPass([
      {
        name: 'ALM-1 76% for 3 minutes fires',
        interval: '10s',
        input_series: [kv(`${u76}x40`)],
        alert_rule_test: [
          { eval_time: '2m50s', alertname: ALERT_NAMES['ALM-1'], exp_alerts: [] },
          {
            eval_time: '3m',
            alertname: ALERT_NAMES['ALM-1'],
            exp_alerts: [{ exp_labels: labels }],
          },
        ],
      },
      {
        name: 'ALM-1 76% for 2 minutes does not fire',
        interval: '10s',
        // 76% from 0 s to 120 s, then 50%.
        input_series: [kv(`${u76}x12 0.1x40`)],
        alert_rule_test: [
          { eval_time: '2m', alertname: ALERT_NAMES['ALM-1'], exp_alerts: [] },
          { eval_time: '3m', alertname: ALERT_NAMES['ALM-1'], exp_alerts: [] },
          { eval_time: '5m', alertname: ALERT_NAMES['ALM-1'], exp_alerts: [] },
        ],
      },
      {
        name: 'ALM-1 74% for 10 minutes does not fire',
        interval: '10s',
        input_series: [kv(`${u74}x70`)],
        alert_rule_test: [{ eval_time: '10m', alertname: ALERT_NAMES['ALM-1'], exp_alerts: [] }],
      },
    ]);
  });

  it('does not fire on raw framebuffer use at the engine fraction (85%) when the KV cache is idle', () => {
    // The ALM decision: raw use sits at 85% from the first minute; ALM-1 must stay quiet.
    const fb85 = Math.round(GPU_MEMORY_MIB * DEFAULT_STANDARD.memory.engineMemoryFraction);
    expectPass([
      {
        name: 'ALM-1 ignores the reservation',
        interval: '10s',
        input_series: [
          up(POD_A),
          { series: dcgmHonoured('DCGM_FI_DEV_FB_USED', POD_A, '0'), values: `${fb85}x70` },
          kv('0.05x70'),
        ],
        alert_rule_test: [{ eval_time: '10m', alertname: ALERT_NAMES['ALM-1'], exp_alerts: [] }],
      },
    ]);
  });
});

describe('ALM-2: raw GPU memory above 90% for 30 s (critical)', () => {
  const mib = (percent: number) => Math.ceil((GPU_MEMORY_MIB * percent) / 100);
  const fb = (values: string, labels = dcgmRenamed('DCGM_FI_DEV_FB_USED', POD_A, '0')) => ({
    series: labels,
    values,
  });
  const exp = alertLabels('ALM-2', {
    namespace: NS,
    pod: POD_A,
    gpu: '0',
    UUID: 'GPU-0',
    service: SVC,
  });
  const m91 = mib(91); // 37274 MiB = 91.0009...%
  const m89 = Math.floor((GPU_MEMORY_MIB * 89) / 100); // 36454 MiB = 88.999...%
  const value91 = (100 * m91) / GPU_MEMORY_MIB;

  it('fires at 91% after 30 s with the restart note, not at 20 s; not at 89% for 5 minutes', () => {
    expect(value91).toBeGreaterThan(91);
    expect((100 * m89) / GPU_MEMORY_MIB).toBeLessThan(89);
    const annotations = renderAnnotations('ALM-2', exp, value91);
    expect(annotations.description).toMatch(/liveness probe restarts the pod/);
    expectPass([
      {
        name: 'ALM-2 91% for 30 s fires',
        interval: '10s',
        input_series: [up(POD_A), fb(`${m91}x40`)],
        alert_rule_test: [
          { eval_time: '20s', alertname: ALERT_NAMES['ALM-2'], exp_alerts: [] },
          {
            eval_time: '30s',
            alertname: ALERT_NAMES['ALM-2'],
            exp_alerts: [{ exp_labels: exp, exp_annotations: annotations }],
          },
        ],
      },
      {
        name: 'ALM-2 91% for 20 s does not fire',
        interval: '10s',
        input_series: [up(POD_A), fb(`${m91}x2 32768x40`)],
        alert_rule_test: [
          { eval_time: '30s', alertname: ALERT_NAMES['ALM-2'], exp_alerts: [] },
          { eval_time: '1m', alertname: ALERT_NAMES['ALM-2'], exp_alerts: [] },
        ],
      },
      {
        name: 'ALM-2 89% for 5 minutes does not fire',
        interval: '10s',
        input_series: [up(POD_A), fb(`${m89}x40`)],
        alert_rule_test: [{ eval_time: '5m', alertname: ALERT_NAMES['ALM-2'], exp_alerts: [] }],
      },
    ]);
  });

  it('fires for the honoured label convention too', () => {
    const honoured = alertLabels('ALM-2', {
      namespace: NS,
      pod: POD_B,
      gpu: '1',
      UUID: 'GPU-1',
      service: SVC,
    });
    expectPass([
      {
        name: 'ALM-2 honoured labels',
        interval: '10s',
        input_series: [up(POD_B), fb(`${m91}x40`, dcgmHonoured('DCGM_FI_DEV_FB_USED', POD_B, '1'))],
        alert_rule_test: [
          {
            eval_time: '30s',
            alertname: ALERT_NAMES['ALM-2'],
            exp_alerts: [
              {
                exp_labels: honoured,
                exp_annotations: renderAnnotations('ALM-2', honoured, value91),
              },
            ],
          },
        ],
      },
    ]);
  });
});

describe('ALM-3: P99 end-to-end latency above 10,000 ms (critical)', () => {
  // Per 10 s: `below5` requests <= 5 s, `below10` <= 10 s, all 200 <= 15 s.
  const e2e = (below10: number) =>
    [
      ['5', 100],
      ['10', below10],
      ['15', 200],
      ['+Inf', 200],
    ].map(([le, step]) => ({
      series: series('vllm:e2e_request_latency_seconds_bucket', {
        ...target(POD_A),
        le: String(le),
      }),
      values: `0+${step}x60`,
    }));
  const labels = alertLabels('ALM-3', SERVICE_LABELS);

  it('fires when P99 is 11,667 ms, not when it is 9,949 ms', () => {
    // 197 of 200 within 10 s: P99 (rank 198) is 1/3 into (10 s, 15 s] = 11.667 s.
    // 199 of 200 within 10 s: P99 is 98/99 of (5 s, 10 s] = 9.949 s.
    const p99 = (below10: number) =>
      below10 >= 198
        ? 5 + (5 * (198 - 100)) / (below10 - 100)
        : 10 + (5 * (198 - below10)) / (200 - below10);
    expect(p99(197) * 1000).toBeGreaterThan(a.latencyP99Ms);
    expect(p99(199) * 1000).toBeLessThan(a.latencyP99Ms);
    expectPass([
      {
        name: 'ALM-3 fires above 10 s',
        interval: '10s',
        input_series: e2e(197),
        alert_rule_test: [
          {
            eval_time: '5m',
            alertname: ALERT_NAMES['ALM-3'],
            exp_alerts: [{ exp_labels: labels }],
          },
        ],
        promql_expr_test: [
          {
            expr: near(DERIVED_METRICS.e2eLatencyP99Ms, p99(197) * 1000),
            eval_time: '5m',
            exp_samples: [{ labels: `{namespace="${NS}",service="${SVC}"}`, value: 1 }],
          },
        ],
      },
      {
        name: 'ALM-3 quiet below 10 s',
        interval: '10s',
        input_series: e2e(199),
        alert_rule_test: [{ eval_time: '5m', alertname: ALERT_NAMES['ALM-3'], exp_alerts: [] }],
      },
    ]);
  });
});

describe('ALM-4: 5xx above 2% of requests (critical), 429 never counted', () => {
  const rq = (code: string, perStep: number, cluster = `httproute/${NS}/${SVC}/rule/0`) => ({
    series: series('envoy_cluster_upstream_rq', {
      job: 'envoy-gateway-proxy',
      namespace: 'envoy-gateway-system',
      envoy_cluster_name: cluster,
      envoy_response_code: code,
    }),
    values: `0+${perStep}x60`,
  });
  const labels = alertLabels('ALM-4', SERVICE_LABELS);

  it('fires at 3% 5xx, with 504 timeouts counted', () => {
    expectPass([
      {
        name: 'ALM-4 3% fires',
        interval: '10s',
        input_series: [rq('200', 970), rq('503', 20), rq('504', 10)],
        alert_rule_test: [
          {
            eval_time: '5m',
            alertname: ALERT_NAMES['ALM-4'],
            exp_alerts: [{ exp_labels: labels }],
          },
        ],
        promql_expr_test: [
          {
            expr: near(DERIVED_METRICS.serverErrorPercent, 3),
            eval_time: '5m',
            exp_samples: [{ labels: `{namespace="${NS}",service="${SVC}"}`, value: 1 }],
          },
        ],
      },
    ]);
  });

  it('does not fire at 1.9% 5xx with 20% 429s, nor at 50% 429s, nor for another route', () => {
    expectPass([
      {
        name: 'ALM-4 1.9% 5xx and 20% 429',
        interval: '10s',
        input_series: [rq('200', 781), rq('429', 200), rq('500', 10), rq('504', 9)],
        alert_rule_test: [{ eval_time: '5m', alertname: ALERT_NAMES['ALM-4'], exp_alerts: [] }],
        promql_expr_test: [
          {
            expr: near(DERIVED_METRICS.serverErrorPercent, 1.9),
            eval_time: '5m',
            exp_samples: [{ labels: `{namespace="${NS}",service="${SVC}"}`, value: 1 }],
          },
        ],
      },
      {
        name: 'ALM-4 half 429',
        interval: '10s',
        input_series: [rq('200', 100), rq('429', 100)],
        alert_rule_test: [{ eval_time: '5m', alertname: ALERT_NAMES['ALM-4'], exp_alerts: [] }],
      },
      {
        name: 'ALM-4 other routes',
        interval: '10s',
        input_series: [
          rq('200', 100),
          rq('500', 100, `httproute/${NS}/other-gen/rule/0`),
          rq('500', 100, `httproute/${NS}/${SVC}-v2/rule/0`),
        ],
        alert_rule_test: [{ eval_time: '5m', alertname: ALERT_NAMES['ALM-4'], exp_alerts: [] }],
      },
    ]);
  });
});

describe('OBS-2: metrics of a deployed service absent for 10 minutes', () => {
  // Every source series of the five metrics, present for the first 50 s, then gone (the
  // scrape target disappeared: Prometheus writes a staleness marker at 60 s).
  const vanishing = (values = '1x5 stale') => [
    { series: series('up', target(POD_A)), values },
    { series: dcgmHonoured('DCGM_FI_DEV_FB_USED', POD_A, '0'), values },
    { series: dcgmHonoured('DCGM_FI_DEV_GPU_UTIL', POD_A, '0'), values },
    { series: dcgmHonoured('DCGM_FI_DEV_GPU_TEMP', POD_A, '0'), values },
    { series: series('vllm:gpu_cache_usage_perc', target(POD_A)), values },
    {
      series: series('vllm:time_per_output_token_seconds_bucket', { ...target(POD_A), le: '+Inf' }),
      values,
    },
  ];
  const expected = DEFAULT_STANDARD.observability.requiredMetrics.map((metric) => ({
    exp_labels: alertLabels('OBS-2', { ...SERVICE_LABELS, metric }),
  }));

  it('flags each of the five metrics 10 minutes after they vanish, not before', () => {
    // The four gauges vanish with their source at 60 s. The latency quantile is a rate over
    // the 5-minute window: it stays computable while two samples remain in the window
    // (up to 5 m 40 s; Prometheus 2.x windows are closed on the left), so its own 10 minutes start then.
    expect(expected).toHaveLength(5);
    const gauges = expected.filter((e) => e.exp_labels.metric !== 'token_generation_latency_ms');
    expectPass([
      {
        name: 'OBS-2 absent',
        interval: '10s',
        input_series: vanishing(),
        alert_rule_test: [
          { eval_time: '10m50s', alertname: ALERT_NAMES['OBS-2'], exp_alerts: [] },
          { eval_time: '11m', alertname: ALERT_NAMES['OBS-2'], exp_alerts: gauges },
          { eval_time: '15m40s', alertname: ALERT_NAMES['OBS-2'], exp_alerts: gauges },
          { eval_time: '15m50s', alertname: ALERT_NAMES['OBS-2'], exp_alerts: expected },
        ],
      },
      {
        name: 'OBS-2 quiet while present',
        interval: '10s',
        input_series: vanishing('1x120'),
        alert_rule_test: [{ eval_time: '15m', alertname: ALERT_NAMES['OBS-2'], exp_alerts: [] }],
      },
    ]);
  });
});

describe('rule labels', () => {
  const all = groups.flatMap((g) => g.rules);

  it('are valid Prometheus label names, on every rule, alert and annotation', () => {
    const names = all.flatMap((r) => [
      ...Object.keys(r.labels ?? {}),
      ...Object.keys(r.annotations ?? {}),
    ]);
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) expect(n).toMatch(/^[a-zA-Z_][a-zA-Z0-9_]*$/);
  });

  it('give every alert a severity, a rule id, a summary and a runbook', () => {
    const alerts = all.filter((r) => r.alert);
    expect(new Set(alerts.map((r) => r.labels?.rule))).toEqual(
      new Set(['ALM-1', 'ALM-2', 'ALM-3', 'ALM-4', 'OBS-2']),
    );
    for (const r of alerts) {
      expect(['warning', 'critical']).toContain(r.labels?.severity);
      expect(r.annotations?.summary).toMatch(new RegExp(`^${r.labels?.rule}: `));
      expect(r.annotations?.runbook_url).toBe(`docs/telemetry.md#${r.alert!.toLowerCase()}`);
    }
    expect(alerts.find((r) => r.labels?.rule === 'ALM-1')?.labels?.severity).toBe('warning');
    expect(alerts.find((r) => r.labels?.rule === 'ALM-2')?.labels?.severity).toBe('critical');
  });

  it('record exactly the five OBS-1 metric names, each carrying the service labels', () => {
    const records = all.filter((r) => r.record && !r.record.includes(':')).map((r) => r.record);
    expect(new Set(records)).toEqual(new Set(DEFAULT_STANDARD.observability.requiredMetrics));
    for (const r of all.filter((x) => x.record && !x.record.includes(':'))) {
      expect(r.labels?.service).toBe(SVC);
      // The namespace comes from the join (DCGM) or the scrape target (vLLM): it is kept.
      expect(r.expr).toMatch(/by \(namespace, /);
    }
  });

  it('put the rule selector labels on the PrometheusRule and the ServiceMonitor', () => {
    for (const kind of ['PrometheusRule', 'ServiceMonitor']) {
      expect(objects.find((o) => o.kind === kind)!.metadata.labels).toMatchObject({
        release: 'kube-prometheus-stack',
      });
    }
    const custom = synthMonitoring({ ruleSelectorLabels: { prometheus: 'inference' } }).objects;
    expect(custom.find((o) => o.kind === 'PrometheusRule')!.metadata.labels).toMatchObject({
      prometheus: 'inference',
    });
    expect(monitoring.ruleSelectorLabels).toEqual({ release: 'kube-prometheus-stack' });
  });

  it('bake the planner numbers and the standard thresholds into the expressions', () => {
    const text = YAML.stringify(groups);
    expect(text).toContain(String(plan.nonKvBytes));
    expect(text).toContain(String(plan.kvPoolBytes));
    const byAlert = (id: keyof typeof ALERT_NAMES) => all.find((r) => r.alert === ALERT_NAMES[id])!;
    expect(byAlert('ALM-1').expr).toMatch(new RegExp(`> ${a.memoryWarningPercent}$`));
    expect(byAlert('ALM-1').for).toBe(`${a.memoryWarningForMinutes}m`);
    expect(byAlert('ALM-2').expr).toMatch(new RegExp(`> ${a.memoryCriticalPercent}$`));
    expect(byAlert('ALM-2').for).toBe(`${a.memoryCriticalForSeconds}s`);
    expect(byAlert('ALM-3').expr).toMatch(new RegExp(`> ${a.latencyP99Ms}$`));
    expect(byAlert('ALM-4').expr).toMatch(new RegExp(`> ${a.serverErrorPercent}$`));
    expect(byAlert('OBS-2').for).toBe(`${DEFAULT_STANDARD.observability.absentForMinutes}m`);
    expect(groups[0].interval).toBe(`${DEFAULT_STANDARD.observability.scrapeIntervalSeconds}s`);
  });
});
