import { Chart, Testing } from 'cdk8s';
import {
  ADMISSION_SUCCESS_STATUSES,
  CLIENT_REJECTION_STATUSES,
  ComplianceError,
  DEFAULT_STANDARD,
  InferenceService,
  InferenceTraffic,
  InferenceTrafficProps,
  TRAFFIC_SIZING,
  admissionRejectionAggression,
  deriveStandard,
  maxEjectedEndpoints,
  requestBodyCeilingBytes,
  trafficInvariantViolations,
} from '../../constructs';
import { argValue, engine } from '../k8s/fixture';
import { expectValidCustomResources, validateCustomResource } from '../support/crd-schema';
import {
  GATEWAY,
  K8sObject,
  REVIEW,
  TrafficSynth,
  embeddingProps,
  generationProps,
  synthTraffic,
} from './fixture';

const T = DEFAULT_STANDARD.traffic;
const FALLBACK = { kind: 'fallback', serviceName: 'cpu-fallback', port: 8080 } as const;

/** The invariant context of one synthesis, as the construct builds it. */
function contextOf(s: TrafficSynth, overrides: Record<string, unknown> = {}) {
  const plan = s.service.gpuLossPlan;
  return {
    standard: s.service.standard,
    role: s.service.role,
    engineTokenBudget: s.service.plan.tokenBudget,
    replicas: s.service.replicas,
    concurrency: s.service.plan.concurrency,
    proxyReplicas: 1,
    gpuLossPlan: plan.kind,
    retryAfterSeconds: plan.kind === 'fail-fast' ? plan.retryAfterSeconds : undefined,
    reviewed: s.service.review !== undefined,
    serviceName: s.service.name,
    fallbackServiceName: plan.kind === 'fallback' ? plan.serviceName : undefined,
    perKeyRateLimitRps: s.service.role === 'embedding' ? T.embeddingRateLimitPerKeyRps : undefined,
    apiKeyHeader: 'x-api-key',
    ...overrides,
  } as Parameters<typeof trafficInvariantViolations>[2];
}

/** Runs `build` and returns the ComplianceError it throws; fails when it throws anything else. */
function refusal(build: () => unknown): ComplianceError {
  try {
    build();
  } catch (e) {
    if (ComplianceError.isComplianceError(e)) return e;
    throw e;
  }
  throw new Error('expected a ComplianceError, nothing was thrown');
}

function deepCopy<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

function weights(route: K8sObject): Record<string, number> {
  return Object.fromEntries(
    route.spec.rules[0].backendRefs.map((b: K8sObject) => [b.name, b.weight]),
  );
}

describe('InferenceTraffic', () => {
  describe('schema: every object validates against its CRD, CEL rules included', () => {
    test.each([
      ['a reviewed fail-fast generation service', () => synthTraffic()],
      [
        'an unreviewed generation service beside its predecessor',
        () =>
          synthTraffic(generationProps(), {
            predecessor: { serviceName: 'llama-2-70b-gen-v1', port: 8000 },
            perKeyRateLimitRps: 20,
          }),
      ],
      [
        'an embedding service with a fallback in another namespace',
        () =>
          synthTraffic(
            embeddingProps({ gpuLossPlan: { ...FALLBACK, namespace: 'cpu-fallback' } }),
            {
              hostnames: ['embed.inference.example.com'],
              gateway: { ...GATEWAY, sectionName: 'http' },
            },
          ),
      ],
      [
        'an unreviewed service with a predecessor and a fallback',
        () =>
          synthTraffic(generationProps({ gpuLossPlan: FALLBACK }), {
            predecessor: { serviceName: 'llama-2-70b-gen-v1', namespace: 'legacy', port: 8000 },
          }),
      ],
    ])('%s', (_name, build) => {
      const s = build();
      expectValidCustomResources(s.objects);
      expect(trafficInvariantViolations(s.route.spec, s.policy.spec, contextOf(s))).toEqual([]);
    });

    test('the validator evaluates CEL: a sampling window under 1 s is refused by the CRD rule', () => {
      const s = synthTraffic();
      const bad = deepCopy(s.policy);
      bad.spec.admissionControl.samplingWindow = '500ms';
      expect(validateCustomResource(bad).join('\n')).toMatch(/samplingWindow must be at least 1s/);
    });

    test('the validator evaluates CEL: a route backendRequest timeout over its request timeout is refused', () => {
      const s = synthTraffic();
      const bad = deepCopy(s.route);
      bad.spec.rules[0].timeouts.backendRequest = '6s';
      expect(validateCustomResource(bad).join('\n')).toMatch(
        /backendRequest timeout cannot be longer/,
      );
    });
  });

  describe('NET-1: request timeout', () => {
    test('NET-1: spec.timeout.http.requestTimeout and the route rule timeouts.request carry 5000 ms', () => {
      const s = synthTraffic();
      expect(s.policy.spec.timeout.http.requestTimeout).toBe('5s');
      expect(s.route.spec.rules[0].timeouts).toEqual({ request: '5s' });
    });

    test('NET-1: spec.timeout.http.streamIdleTimeout is longer than the request timeout, so the cut is a 504', () => {
      const s = synthTraffic();
      expect(s.policy.spec.timeout.http.streamIdleTimeout).toBe(
        `${(T.requestTimeoutMs * TRAFFIC_SIZING.streamIdleTimeoutFactor) / 1000}s`,
      );
    });

    test('NET-1: a shorter request timeout is carried on both objects', () => {
      const s = synthTraffic(undefined, { requestTimeoutMs: 4500 });
      expect(s.policy.spec.timeout.http.requestTimeout).toBe('4500ms');
      expect(s.route.spec.rules[0].timeouts.request).toBe('4500ms');
      expectValidCustomResources(s.objects);
    });
  });

  describe('NET-2: bounded retries', () => {
    test('NET-2: spec.retry retries at most twice, only before the engine, with the standard backoff', () => {
      const { policy } = synthTraffic();
      expect(policy.spec.retry).toEqual({
        numRetries: T.maxRetries,
        retryOn: { triggers: ['connect-failure', 'refused-stream', 'reset-before-request'] },
        perRetry: { timeout: '5s', backOff: { baseInterval: '100ms', maxInterval: '1s' } },
      });
      expect(policy.spec.retry.retryOn.httpStatusCodes).toBeUndefined();
    });

    test('NET-2: spec.circuitBreaker.retryBudget is 20% of active requests', () => {
      const { policy } = synthTraffic();
      expect(policy.spec.circuitBreaker.retryBudget.percent).toEqual({
        numerator: T.retryBudgetPercent,
        denominator: 100,
      });
    });

    test('NET-2: retries x (connect timeout + backoff ceiling) stays inside the request timeout', () => {
      const { policy } = synthTraffic();
      const connectMs = TRAFFIC_SIZING.connectTimeoutMs;
      expect(policy.spec.timeout.tcp.connectTimeout).toBe(`${connectMs}ms`);
      expect(T.maxRetries * (connectMs + T.retryBackoffMaxMs)).toBeLessThan(T.requestTimeoutMs);
    });
  });

  describe('NET-3: fail fast', () => {
    test('NET-3: spec.circuitBreaker.maxParallelRequests is replicas x the plan concurrency', () => {
      const s = synthTraffic(generationProps({ review: REVIEW, replicas: 3, concurrency: 4 }));
      expect(s.service.plan.concurrency).toBe(4);
      expect(s.policy.spec.circuitBreaker).toMatchObject({
        maxParallelRequests: 12,
        maxConnections: 12,
        maxPendingRequests: 3,
      });
    });

    test('NET-3: the capacity is shared among the proxies (limits are per Envoy)', () => {
      const s = synthTraffic(generationProps({ review: REVIEW, replicas: 3, concurrency: 4 }), {
        gateway: { ...GATEWAY, proxyReplicas: 2 },
      });
      expect(s.policy.spec.circuitBreaker.maxParallelRequests).toBe(6);
    });
  });

  describe('NET-4: circuit breaker', () => {
    test('NET-4: spec.admissionControl sheds over a 60 s window below 95% success', () => {
      const { policy } = synthTraffic();
      expect(policy.spec.admissionControl).toMatchObject({
        samplingWindow: '60s',
        minSuccessRate: 95,
        maxRejectionPercent: 100,
        rejectionAggression: admissionRejectionAggression(DEFAULT_STANDARD),
      });
      // At twice the failure threshold (10%), at least 90% of requests are refused.
      const a = policy.spec.admissionControl.rejectionAggression;
      expect(Math.pow(1 - 0.9 / 0.95, 1 / a)).toBeGreaterThanOrEqual(0.9);
    });

    test('NET-4: spec.healthCheck ejects at 5% failures in 60 s with the panic threshold at 0', () => {
      const { policy } = synthTraffic();
      expect(policy.spec.healthCheck).toMatchObject({
        panicThreshold: 0,
        passive: {
          interval: '60s',
          failurePercentageThreshold: T.circuitBreakerFailurePercent,
          consecutive5XxErrors: TRAFFIC_SIZING.consecutive5xxErrors,
          maxEjectionPercent: 100,
        },
      });
    });

    test('NET-4: with an OPS-1 fallback, ejection can never empty the pool', () => {
      const { policy } = synthTraffic(generationProps({ review: REVIEW, gpuLossPlan: FALLBACK }));
      const percent = policy.spec.healthCheck.passive.maxEjectionPercent;
      expect(percent).toBe(99);
      for (let endpoints = 1; endpoints <= 500; endpoints++) {
        expect(maxEjectedEndpoints(percent, endpoints, false)).toBeLessThanOrEqual(endpoints - 1);
      }
      // Two GPU pods beside one fallback endpoint: both GPU pods can be ejected.
      expect(maxEjectedEndpoints(percent, 3, false)).toBe(2);
    });

    test('NET-4: a 429 or a 413 counts as a success for admission control, never as a failure', () => {
      const { policy } = synthTraffic();
      const codes: number[] = policy.spec.admissionControl.successCriteria.http.statusCodes;
      for (const code of CLIENT_REJECTION_STATUSES) expect(codes).toContain(code);
      expect(codes.every((c) => c < 500)).toBe(true);
      expect(codes).toEqual([...ADMISSION_SUCCESS_STATUSES]);
    });
  });

  describe('NET-5: per-key rate limit', () => {
    test('NET-5: an embedding service limits each distinct x-api-key to 200 rps (429 beyond)', () => {
      const { policy } = synthTraffic(embeddingProps({ review: REVIEW }));
      expect(policy.spec.rateLimit).toEqual({
        type: 'Global',
        global: {
          rules: [
            {
              clientSelectors: [{ headers: [{ name: 'x-api-key', type: 'Distinct' }] }],
              limit: { requests: T.embeddingRateLimitPerKeyRps, unit: 'Second' },
            },
            {
              clientSelectors: [
                {
                  headers: [
                    { name: 'x-api-key', type: 'RegularExpression', value: '.*', invert: true },
                  ],
                },
              ],
              limit: { requests: T.embeddingRateLimitPerKeyRps, unit: 'Second' },
            },
          ],
        },
      });
    });

    test('NET-5: a generation service gets the per-key limit its inputs ask for, or none', () => {
      const limited = synthTraffic(undefined, {
        perKeyRateLimitRps: 25,
        apiKeyHeader: 'X-Tenant-Key',
      });
      expect(limited.policy.spec.rateLimit.global.rules[0]).toEqual({
        clientSelectors: [{ headers: [{ name: 'X-Tenant-Key', type: 'Distinct' }] }],
        limit: { requests: 25, unit: 'Second' },
      });
      expect(synthTraffic().policy.spec.rateLimit).toBeUndefined();
    });
  });

  describe('NET-6: token budget at the edge', () => {
    test('NET-6: spec.requestBuffer.limit is the budget x 8 bytes + the 16 KiB envelope, 413 beyond', () => {
      const s = synthTraffic();
      expect(s.policy.spec.requestBuffer).toEqual({ limit: '49152' });
      expect(requestBodyCeilingBytes(T.tokenBudget)).toBe(49152);
    });

    test("NET-6: the ceiling follows the engine's --max-model-len", () => {
      const s = synthTraffic(generationProps({ review: REVIEW, tokenBudget: 2048 }));
      const args: string[] = engineArgs(s);
      expect(argValue(args, '--max-model-len')).toBe('2048');
      expect(s.policy.spec.requestBuffer.limit).toBe(String(requestBodyCeilingBytes(2048)));
    });

    test('NET-6: a smaller ceiling is accepted', () => {
      const s = synthTraffic(undefined, { bodyLimitBytes: 40000 });
      expect(s.policy.spec.requestBuffer.limit).toBe('40000');
    });
  });

  describe('OPS-1: GPU-loss path', () => {
    test('OPS-1: fail-fast answers a local 503 with Retry-After (spec.responseOverride)', () => {
      const { policy } = synthTraffic(
        generationProps({
          review: REVIEW,
          gpuLossPlan: { kind: 'fail-fast', retryAfterSeconds: 45 },
        }),
      );
      expect(policy.spec.responseOverride).toHaveLength(1);
      expect(policy.spec.responseOverride[0]).toMatchObject({
        source: 'Local',
        match: { statusCodes: [{ type: 'Value', value: 503 }] },
        response: { statusCode: 503, header: { set: [{ name: 'Retry-After', value: '45' }] } },
      });
    });

    test('OPS-1: a fallback stays a backendRef of the route, with its ReferenceGrant', () => {
      const s = synthTraffic(
        generationProps({
          review: REVIEW,
          gpuLossPlan: { ...FALLBACK, namespace: 'cpu-fallback' },
        }),
      );
      const fallback = s.route.spec.rules[0].backendRefs.find(
        (b: K8sObject) => b.name === 'cpu-fallback',
      );
      expect(fallback).toEqual({
        group: '',
        kind: 'Service',
        name: 'cpu-fallback',
        namespace: 'cpu-fallback',
        port: 8080,
        weight: TRAFFIC_SIZING.fallbackStandbyWeight,
      });
      const grant = s.objects.find((o) => o.kind === 'ReferenceGrant')!;
      expect(grant.metadata.namespace).toBe('cpu-fallback');
      expect(grant.spec.from).toEqual([
        { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'inference' },
      ]);
      expect(s.policy.spec.responseOverride).toBeUndefined();
    });

    test('OPS-1: a service without a GPU-loss plan is refused before any route exists', () => {
      const err = refusal(() =>
        synthTraffic(generationProps({ gpuLossPlan: undefined as never, review: REVIEW })),
      );
      expect(err.rule).toBe('OPS-1');
      expect(err.field).toBe('props.gpuLossPlan');
    });
  });

  describe('OPS-2: traffic share before review', () => {
    test('OPS-2: an unreviewed service takes 1% beside its predecessor (backendRefs[].weight)', () => {
      const s = synthTraffic(generationProps(), {
        predecessor: { serviceName: 'llama-2-70b-gen-v1', port: 8000 },
      });
      expect(weights(s.route)).toEqual({
        'llama-2-70b-gen': 10_000,
        'llama-2-70b-gen-v1': 990_000,
      });
    });

    test('OPS-2: without a predecessor, the OPS-1 fallback takes the other 99%', () => {
      const s = synthTraffic(generationProps({ gpuLossPlan: FALLBACK }));
      expect(weights(s.route)).toEqual({ 'llama-2-70b-gen': 10_000, 'cpu-fallback': 990_000 });
    });

    test('OPS-2: a reviewed service takes all traffic; a fallback keeps only its standby weight', () => {
      expect(weights(synthTraffic().route)).toEqual({ 'llama-2-70b-gen': 1_000_000 });
      const s = synthTraffic(generationProps({ review: REVIEW, gpuLossPlan: FALLBACK }));
      expect(weights(s.route)).toEqual({ 'llama-2-70b-gen': 999_999, 'cpu-fallback': 1 });
    });
  });

  describe('bad input: refused with the rule id, the field, the limit and the value', () => {
    const predecessor = { serviceName: 'llama-2-70b-gen-v1', port: 8000 };
    test.each<[string, Partial<InferenceTrafficProps>, string, string, 'reviewed' | 'unreviewed']>([
      [
        'a timeout over 5000 ms',
        { requestTimeoutMs: 5001 },
        'NET-1',
        'props.requestTimeoutMs',
        'reviewed',
      ],
      ['a zero timeout', { requestTimeoutMs: 0 }, 'NET-1', 'props.requestTimeoutMs', 'reviewed'],
      ['unbounded retries', { retries: Infinity }, 'NET-2', 'props.retries', 'reviewed'],
      ['negative retries', { retries: -1 }, 'NET-2', 'props.retries', 'reviewed'],
      ['more retries than the standard', { retries: 3 }, 'NET-2', 'props.retries', 'reviewed'],
      ['fractional retries', { retries: 1.5 }, 'NET-2', 'props.retries', 'reviewed'],
      [
        'retries on 5xx',
        { retryOn: ['connect-failure', '5xx'] },
        'NET-2',
        'props.retryOn[1]',
        'reviewed',
      ],
      [
        'retries on gateway errors',
        { retryOn: ['gateway-error'] },
        'NET-2',
        'props.retryOn[0]',
        'reviewed',
      ],
      [
        'retries on retriable status codes',
        { retryOn: ['retriable-status-codes'] },
        'NET-2',
        'props.retryOn[0]',
        'reviewed',
      ],
      ['retries on any reset', { retryOn: ['reset'] }, 'NET-2', 'props.retryOn[0]', 'reviewed'],
      [
        'an empty trigger list (Envoy Gateway would retry 503)',
        { retryOn: [] },
        'NET-2',
        'props.retryOn',
        'reviewed',
      ],
      [
        'a connect timeout that lets the retries use up the budget',
        { connectTimeoutMs: 1500 },
        'NET-2',
        'props.connectTimeoutMs',
        'reviewed',
      ],
      [
        'a rate limit on a header with no name',
        { apiKeyHeader: '' },
        'NET-5',
        'props.apiKeyHeader',
        'reviewed',
      ],
      [
        'a rate limit on a header name with a space',
        { apiKeyHeader: 'x api key' },
        'NET-5',
        'props.apiKeyHeader',
        'reviewed',
      ],
      [
        'a negative per-key limit',
        { perKeyRateLimitRps: -5 },
        'NET-5',
        'props.perKeyRateLimitRps',
        'reviewed',
      ],
      [
        'a body ceiling over the budget',
        { bodyLimitBytes: 49153 },
        'NET-6',
        'props.bodyLimitBytes',
        'reviewed',
      ],
      [
        'a traffic share over 1% without a review',
        { trafficPercent: 5, predecessor },
        'OPS-2',
        'props.trafficPercent',
        'unreviewed',
      ],
      [
        'an unreviewed fail-fast service with nothing to take the other 99%',
        {},
        'OPS-2',
        'props.predecessor',
        'unreviewed',
      ],
      ['a zero traffic share', { trafficPercent: 0 }, 'OPS-2', 'props.trafficPercent', 'reviewed'],
      [
        'the service as its own predecessor',
        { predecessor: { serviceName: 'llama-2-70b-gen', port: 8000 }, trafficPercent: 50 },
        'OPS-2',
        'props.predecessor.serviceName',
        'reviewed',
      ],
    ])('%s', (_name, props, rule, field, review) => {
      const serviceProps =
        review === 'reviewed' ? generationProps({ review: REVIEW }) : generationProps();
      const err = refusal(() => synthTraffic(serviceProps, props));
      expect(err.rule).toBe(rule);
      expect(err.field).toBe(field);
      expect(err.limit).not.toBe('');
      expect(err.message).toMatch(
        new RegExp(`^${rule}: .*\\[field: ${escape(field)}; limit: .+; received: .+\\]$`),
      );
    });

    test('NET-2: a connect timeout longer than the request is refused even without retries', () => {
      const err = refusal(() => synthTraffic(undefined, { retries: 0, connectTimeoutMs: 1e12 }));
      expect(err.rule).toBe('NET-2');
      expect(err.field).toBe('props.connectTimeoutMs');
    });

    test('NET-2: a standard variant the gateway cannot express is refused, naming its field', () => {
      const change = { traffic: { retryBackoffBaseMs: 100.5 } };
      // deriveStandard refuses a fractional duration itself...
      expect(
        refusal(() => deriveStandard(DEFAULT_STANDARD, { version: 'f', reason: 'r', ...change }))
          .rule,
      ).toBe('NET-2');
      // ...and the construct still refuses one built by hand, without deriveStandard.
      const standard = {
        ...DEFAULT_STANDARD,
        traffic: { ...DEFAULT_STANDARD.traffic, ...change.traffic },
      };
      const err = refusal(() => synthTraffic(generationProps({ review: REVIEW, standard })));
      expect(err.rule).toBe('NET-2');
      expect(err.field).toBe('standard.traffic.retryBackoffBaseMs');
    });

    test('NET-5: an embedding service cannot take another per-key limit than the standard', () => {
      const err = refusal(() =>
        synthTraffic(embeddingProps({ review: REVIEW }), { perKeyRateLimitRps: 500 }),
      );
      expect(err.rule).toBe('NET-5');
      expect(err.field).toBe('props.perKeyRateLimitRps');
      expect(err.received).toBe('500');
    });

    test('NET-6: a token budget over the standard is refused by the service, so no ceiling exceeds it', () => {
      const err = refusal(() =>
        synthTraffic(generationProps({ review: REVIEW, tokenBudget: 8192 })),
      );
      expect(err.rule).toBe('NET-6');
    });
  });

  describe('invariants: a hand-edited route or policy is caught, with its rule', () => {
    test.each<[string, (route: K8sObject, policy: K8sObject) => void, string]>([
      [
        'route and policy timeouts disagree',
        (r) => (r.spec.rules[0].timeouts.request = '4s'),
        'NET-1',
      ],
      [
        'the idle timeout at the request timeout (408 instead of 504)',
        (_r, p) => (p.spec.timeout.http.streamIdleTimeout = '5s'),
        'NET-1',
      ],
      [
        'retries x connect timeout beyond the budget',
        (_r, p) => (p.spec.timeout.tcp.connectTimeout = '2s'),
        'NET-2',
      ],
      ['a 5xx retry trigger', (_r, p) => p.spec.retry.retryOn.triggers.push('5xx'), 'NET-2'],
      [
        'a retry budget of 50%',
        (_r, p) => (p.spec.circuitBreaker.retryBudget.percent.numerator = 50),
        'NET-2',
      ],
      [
        'a parallel limit above the engines',
        (_r, p) => (p.spec.circuitBreaker.maxParallelRequests = 1024),
        'NET-3',
      ],
      [
        'a long pending queue',
        (_r, p) => (p.spec.circuitBreaker.maxPendingRequests = 1024),
        'NET-3',
      ],
      ['panic mode on', (_r, p) => (p.spec.healthCheck.panicThreshold = 50), 'NET-4'],
      [
        'a 429 counted as a failure',
        (_r, p) => (p.spec.admissionControl.successCriteria.http.statusCodes = [200]),
        'ALM-4',
      ],
      [
        'a body ceiling over the budget',
        (_r, p) => (p.spec.requestBuffer.limit = '1000000'),
        'NET-6',
      ],
      [
        'Retry-After dropped',
        (_r, p) => (p.spec.responseOverride[0].response.header.set = []),
        'OPS-1',
      ],
    ])('%s', (_name, edit, rule) => {
      const s = synthTraffic();
      const route = deepCopy(s.route);
      const policy = deepCopy(s.policy);
      edit(route, policy);
      const rules = trafficInvariantViolations(route.spec, policy.spec, contextOf(s)).map(
        (e) => e.rule,
      );
      expect(rules).toContain(rule);
    });

    test('NET-4: full ejection beside a fallback is caught; beside fail-fast it is what OPS-1 asks', () => {
      const s = synthTraffic(generationProps({ review: REVIEW, gpuLossPlan: FALLBACK }));
      const policy = deepCopy(s.policy);
      policy.spec.healthCheck.passive.maxEjectionPercent = 100;
      const found = trafficInvariantViolations(s.route.spec, policy.spec, contextOf(s));
      expect(found.map((e) => e.field)).toContain('spec.healthCheck.passive.maxEjectionPercent');
      const failFast = synthTraffic();
      expect(failFast.policy.spec.healthCheck.passive.maxEjectionPercent).toBe(100);
      expect(
        trafficInvariantViolations(failFast.route.spec, failFast.policy.spec, contextOf(failFast)),
      ).toEqual([]);
    });

    test('OPS-2: an unreviewed route edited to send 50% to the new service is caught', () => {
      const s = synthTraffic(generationProps(), {
        predecessor: { serviceName: 'llama-2-70b-gen-v1', port: 8000 },
      });
      const route = deepCopy(s.route);
      route.spec.rules[0].backendRefs[0].weight = 990_000;
      const found = trafficInvariantViolations(route.spec, s.policy.spec, contextOf(s));
      expect(found.map((e) => e.rule)).toContain('OPS-2');
    });
  });

  test('the objects carry the waivers of the service as annotations', () => {
    const chart = new Chart(Testing.app(), 'w', { namespace: 'inference' });
    const service = new InferenceService(
      chart,
      'Svc',
      generationProps({
        review: REVIEW,
        weights: 'fp16',
        model: 'llama-2-7b',
        waivers: [
          { rule: 'Q-1', reason: 'baseline comparison', approvedBy: 'arb', expires: '2027-01-31' },
        ],
      }),
    );
    const traffic = new InferenceTraffic(chart, 'Traffic', { service, gateway: GATEWAY });
    const objects = Testing.synth(chart) as K8sObject[];
    const route = objects.find((o) => o.kind === 'HTTPRoute')!;
    expect(Object.keys(route.metadata.annotations)).toContain('compliance.inference/waiver.Q-1');
    expect(traffic.bodyLimitBytes).toBe(requestBodyCeilingBytes(service.plan.tokenBudget));
  });
});

function engineArgs(s: TrafficSynth): string[] {
  const chart = Chart.of(s.service);
  const objects = Testing.synth(chart) as K8sObject[];
  return engine(objects).args;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
