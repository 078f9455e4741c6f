import { Chart, Testing } from 'cdk8s';
import fc from 'fast-check';
import {
  ComplianceError,
  DEFAULT_STANDARD,
  GpuLossPlan,
  InferenceService,
  InferenceServiceProps,
  InferenceTraffic,
  InferenceTrafficProps,
  PRE_ENGINE_RETRY_TRIGGERS,
  PredecessorBackend,
  RetryTrigger,
  requestBodyCeilingBytes,
  trafficInvariantViolations,
} from '../../constructs';
import { RETRY_TRIGGERS, parseGatewayDuration } from '../../constructs/k8s/private/traffic-crds';
import { validateCustomResource } from '../support/crd-schema';
import { GATEWAY, K8sObject, REVIEW, embeddingProps, generationProps } from './fixture';

const T = DEFAULT_STANDARD.traffic;

/** One combination of inputs: the service's and the route's. */
interface Case {
  readonly service: InferenceServiceProps;
  readonly traffic: Omit<InferenceTrafficProps, 'service'>;
}

const gpuLossPlan: fc.Arbitrary<GpuLossPlan> = fc.oneof(
  fc.record({
    kind: fc.constant('fail-fast' as const),
    retryAfterSeconds: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 1, max: 3600 }) },
      { weight: 1, arbitrary: fc.constantFrom(0, 7200) },
    ),
  }),
  fc.record(
    {
      kind: fc.constant('fallback' as const),
      serviceName: fc.constantFrom('cpu-fallback', 'other-region'),
      namespace: fc.constantFrom('inference', 'fallback'),
      port: fc.constantFrom(80, 8080),
    },
    { requiredKeys: ['kind', 'serviceName', 'port'] },
  ),
);

/** Numbers around every limit, plus the values that break naive checks. */
const around = (limit: number) =>
  fc.oneof(
    fc.integer({ min: Math.max(-1, limit - 3), max: limit + 3 }),
    fc.integer({ min: -10, max: limit * 3 }),
    fc.constantFrom(0, -1, 0.5, Number.NaN, Infinity),
  );

/** Mostly a valid value, sometimes a value that may break a rule, often unset. */
function mostly<T>(valid: fc.Arbitrary<T>, risky: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: valid },
    { weight: 1, arbitrary: risky },
  );
}

const caseArb: fc.Arbitrary<Case> = fc
  .record(
    {
      role: fc.constantFrom('generation', 'embedding'),
      replicas: fc.integer({ min: 1, max: 6 }),
      concurrency: fc.integer({ min: 1, max: 16 }),
      tokenBudget: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(1024, 2048, 4096) },
        { weight: 1, arbitrary: fc.constant(8192) },
      ),
      reviewed: fc.boolean(),
      gpuLossPlan,
      predecessor: mostly<PredecessorBackend>(
        fc.record(
          {
            serviceName: fc.constantFrom('previous-gen', 'cpu-fallback'),
            namespace: fc.constantFrom('inference', 'legacy'),
            port: fc.constant(8000),
          },
          { requiredKeys: ['serviceName', 'port'] },
        ),
        fc.record({
          serviceName: fc.constantFrom('Bad_Name', 'llama-2-70b-gen'),
          port: fc.constantFrom(0, 8000),
        }),
      ),
      trafficPercent: mostly(
        fc.oneof(fc.double({ min: 0.01, max: 1, noNaN: true }), fc.constantFrom(1, 50, 100)),
        fc.oneof(fc.double({ min: -1, max: 120, noNaN: true }), around(1)),
      ),
      requestTimeoutMs: mostly(
        fc.integer({ min: 3500, max: T.requestTimeoutMs }),
        around(T.requestTimeoutMs),
      ),
      retries: mostly(fc.integer({ min: 0, max: T.maxRetries }), around(T.maxRetries)),
      retryOn: mostly(
        fc.subarray([...PRE_ENGINE_RETRY_TRIGGERS], { minLength: 1 }),
        fc.subarray([...RETRY_TRIGGERS] as RetryTrigger[]),
      ),
      connectTimeoutMs: mostly(
        fc.integer({ min: 1, max: 500 }),
        fc.oneof(fc.integer({ min: -5, max: 3000 }), fc.constantFrom(1e12, 0.5, Number.NaN)),
      ),
      bodyLimitBytes: mostly(
        fc.integer({ min: 1, max: requestBodyCeilingBytes(1024) }),
        around(requestBodyCeilingBytes(T.tokenBudget)),
      ),
      perKeyRateLimitRps: mostly(
        fc.integer({ min: 1, max: 1000 }),
        around(T.embeddingRateLimitPerKeyRps),
      ),
      apiKeyHeader: mostly(
        fc.constantFrom('x-api-key', 'X-Tenant'),
        fc.constantFrom('', ' ', 'bad header'),
      ),
      proxyReplicas: mostly(fc.integer({ min: 1, max: 4 }), fc.integer({ min: -1, max: 0 })),
    },
    {
      requiredKeys: [
        'role',
        'replicas',
        'concurrency',
        'tokenBudget',
        'reviewed',
        'gpuLossPlan',
        'predecessor',
        'trafficPercent',
        'requestTimeoutMs',
        'retries',
        'retryOn',
        'connectTimeoutMs',
        'bodyLimitBytes',
        'perKeyRateLimitRps',
        'apiKeyHeader',
        'proxyReplicas',
      ],
    },
  )
  .map((x) => {
    const base = x.role === 'embedding' ? embeddingProps() : generationProps();
    return {
      service: {
        ...base,
        replicas: x.replicas,
        concurrency: x.concurrency,
        tokenBudget: x.tokenBudget,
        gpuLossPlan: x.gpuLossPlan,
        ...(x.reviewed ? { review: REVIEW } : {}),
      },
      traffic: {
        gateway: { ...GATEWAY, proxyReplicas: x.proxyReplicas },
        predecessor: x.predecessor,
        trafficPercent: x.trafficPercent,
        requestTimeoutMs: x.requestTimeoutMs,
        retries: x.retries,
        retryOn: x.retryOn,
        connectTimeoutMs: x.connectTimeoutMs,
        bodyLimitBytes: x.bodyLimitBytes,
        perKeyRateLimitRps: x.perKeyRateLimitRps,
        apiKeyHeader: x.apiKeyHeader,
      },
    };
  });

type Outcome =
  | { readonly ok: true; readonly service: InferenceService; readonly objects: K8sObject[] }
  | { readonly ok: false; readonly error: unknown };

function build(c: Case): Outcome {
  try {
    const chart = new Chart(Testing.app(), 'p', { namespace: 'inference' });
    const service = new InferenceService(chart, 'Svc', c.service);
    new InferenceTraffic(chart, 'Traffic', { service, ...c.traffic });
    const objects = (Testing.synth(chart) as K8sObject[]).filter((o) =>
      ['HTTPRoute', 'BackendTrafficPolicy', 'ReferenceGrant'].includes(o.kind),
    );
    return { ok: true, service, objects };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Inputs the standard refuses whatever else is set: each must be refused with its rule. */
function mustRefuse(c: Case): string | undefined {
  const t = c.traffic;
  if (t.requestTimeoutMs !== undefined && !(t.requestTimeoutMs <= T.requestTimeoutMs))
    return 'NET-1';
  if (t.retries !== undefined && !(Number.isInteger(t.retries) && t.retries <= T.maxRetries))
    return 'NET-2';
  if (t.retries !== undefined && t.retries < 0) return 'NET-2';
  if (t.retryOn?.some((x) => !PRE_ENGINE_RETRY_TRIGGERS.includes(x))) return 'NET-2';
  if (t.apiKeyHeader !== undefined && !/^[A-Za-z0-9-]+$/.test(t.apiKeyHeader)) return 'NET-5';
  if (
    t.bodyLimitBytes !== undefined &&
    !(t.bodyLimitBytes <= requestBodyCeilingBytes(c.service.tokenBudget ?? T.tokenBudget))
  )
    return 'NET-6';
  if (!c.service.review && t.trafficPercent !== undefined && t.trafficPercent > 1) return 'OPS-2';
  return undefined;
}

describe('InferenceTraffic properties', () => {
  test('every accepted combination is schema- and CEL-valid and keeps the invariants; every refusal is a ComplianceError', () => {
    let accepted = 0;
    fc.assert(
      fc.property(caseArb, (c) => {
        const out = build(c);
        const refusedRule = mustRefuse(c);
        // A refusal is a ComplianceError, never a crash; an input the standard refuses is refused.
        expect(out.ok || ComplianceError.isComplianceError(out.error)).toBe(true);
        expect(out.ok && refusedRule !== undefined).toBe(false);
        if (!out.ok) return;
        accepted++;
        for (const o of out.objects) expect(validateCustomResource(o)).toEqual([]);
        const route = out.objects.find((o) => o.kind === 'HTTPRoute')!;
        const policy = out.objects.find((o) => o.kind === 'BackendTrafficPolicy')!;
        const svc = out.service;
        const plan = svc.gpuLossPlan;
        const perKey =
          svc.role === 'embedding' ? T.embeddingRateLimitPerKeyRps : c.traffic.perKeyRateLimitRps;
        expect(
          trafficInvariantViolations(route.spec, policy.spec, {
            standard: svc.standard,
            role: svc.role,
            engineTokenBudget: svc.plan.tokenBudget,
            replicas: svc.replicas,
            concurrency: svc.plan.concurrency,
            proxyReplicas: c.traffic.gateway.proxyReplicas ?? 1,
            gpuLossPlan: plan.kind,
            retryAfterSeconds: plan.kind === 'fail-fast' ? plan.retryAfterSeconds : undefined,
            reviewed: svc.review !== undefined,
            serviceName: svc.name,
            fallbackServiceName: plan.kind === 'fallback' ? plan.serviceName : undefined,
            perKeyRateLimitRps: perKey,
            apiKeyHeader: c.traffic.apiKeyHeader ?? 'x-api-key',
          }),
        ).toEqual([]);
        // Independent oracles on the numbers, beside the library's own invariant check.
        const requestMs = parseGatewayDuration(policy.spec.timeout.http.requestTimeout);
        expect(requestMs).toBeLessThanOrEqual(T.requestTimeoutMs);
        expect(policy.spec.retry.numRetries).toBeLessThanOrEqual(T.maxRetries);
        for (const trigger of policy.spec.retry.retryOn.triggers) {
          expect(PRE_ENGINE_RETRY_TRIGGERS).toContain(trigger);
        }
        expect(Number(policy.spec.requestBuffer.limit)).toBeLessThanOrEqual(
          requestBodyCeilingBytes(T.tokenBudget),
        );
        expect(policy.spec.healthCheck.panicThreshold).toBe(0);
        const refs: K8sObject[] = route.spec.rules[0].backendRefs;
        const total = refs.reduce((n, b) => n + b.weight, 0);
        const own = refs.find((b) => b.name === svc.name && b.namespace === undefined)!.weight;
        expect(svc.review !== undefined || own / total <= 0.01).toBe(true);
      }),
      { numRuns: 200, seed: 20261203 },
    );
    // The generator must reach the accepting side often enough to mean something.
    expect(accepted).toBeGreaterThan(20);
  });
});
