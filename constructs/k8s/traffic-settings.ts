import { ComplianceError, RuleId, Standard, describeValue } from '../standard';
import {
  BackendTrafficPolicySpec,
  HttpRouteSpec,
  RetryTrigger,
  parseGatewayDuration,
} from './private/traffic-crds';

/**
 * The design constants of the traffic layer: the numbers the standard does not give, each
 * with the reason it has its value. Every other number comes from the standard or the plan.
 */
export const TRAFFIC_SIZING = Object.freeze({
  /**
   * TCP connect timeout to an engine pod, in milliseconds. Pods sit in the same VPC, so a
   * connection opens in well under a millisecond; 500 ms only fires on a black-holed SYN
   * (a pod gone without its endpoint removed yet), and is the longest a retriable failure
   * can take.
   */
  connectTimeoutMs: 500,
  /**
   * Request bytes allowed per token of the budget (NET-6). BPE and SentencePiece tokenizers
   * average about 4 bytes of English per token; JSON escapes a non-ASCII character as a 6-byte
   * `\uXXXX`, and such a character is at least one token. 8 bytes per token lets an ordinary
   * prompt at the full budget through, escaped CJK included, and stops a prompt several times
   * over the budget (the incident's 50,000 words, about 300 KB) at the edge.
   */
  requestBytesPerToken: 8,
  /** Bytes of the OpenAI-style JSON envelope beside the text: model, roles, sampling parameters. */
  requestEnvelopeBytes: 16 * 1024,
  /**
   * The stream idle timeout as a multiple of the request timeout. Longer than the request
   * timeout, so that a routed request is always ended by the request timeout (504), never by the
   * idle timer (408); it ends streams that stall before they are routed (a slow upload).
   */
  streamIdleTimeoutFactor: 2,
  /**
   * Admission control (NET-4) rejects at least this share of requests, in percent, once the
   * failure share reaches twice the standard's threshold; the rejection aggression is derived
   * from it (the filter's curve is (1 - success/threshold)^(1/aggression)).
   */
  admissionRejectPercentAtTwiceThreshold: 90,
  /** Gateway API weights are parts per million of the rule's traffic (the CRD's maximum). */
  weightScale: 1_000_000,
  /**
   * The weight of an OPS-1 fallback backend beside a service that takes all traffic. Weight 0
   * would remove it from the pool; 1 part per million keeps it configured, and Envoy's
   * locality-weighted balancing gives it every request once the GPU backend has no healthy
   * endpoint.
   */
  fallbackStandbyWeight: 1,
  /** Consecutive 5xx (and, unsplit, local-origin failures) that eject one endpoint (NET-4). */
  consecutive5xxErrors: 5,
  /**
   * The most an Envoy proxy may eject when an OPS-1 fallback exists, in percent. Under 100,
   * floor(percent x endpoints / 100) is at most endpoints - 1 for any pool size: one endpoint
   * always stays. A fail-fast plan ejects up to 100%: an empty pool answers 503 with Retry-After.
   */
  fallbackMaxEjectionPercent: 99,
});

/** The statuses the gateway answers with, and why. */
export const TRAFFIC_STATUS = Object.freeze({
  /** NET-1: the request timeout fired before response headers were sent. */
  requestTimeout: 504,
  /** NET-3 and NET-4: circuit-breaker overflow, admission control, no healthy endpoint. */
  shed: 503,
  /** NET-5: the per-key rate limit. */
  rateLimited: 429,
  /** NET-6: the request body is over the byte ceiling. */
  bodyTooLarge: 413,
  /** NET-6: the engine's own refusal of a prompt over `--max-model-len`. */
  engineOverBudget: 400,
});

/**
 * Statuses that mean "the client asked too much": never a 5xx, never a failure for admission
 * control, outlier detection or the 5xx alarm (ALM-4).
 */
export const CLIENT_REJECTION_STATUSES: readonly number[] = Object.freeze([
  TRAFFIC_STATUS.engineOverBudget,
  TRAFFIC_STATUS.bodyTooLarge,
  TRAFFIC_STATUS.rateLimited,
]);

/**
 * Every registered HTTP status below 500: what admission control counts as a success. Only a
 * 5xx is the service's failure; a 429, a 413 or a 400 is the client's.
 */
export const ADMISSION_SUCCESS_STATUSES: readonly number[] = Object.freeze([
  200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400,
  401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422,
  423, 424, 425, 426, 428, 429, 431, 451,
]);

/** The only retry triggers NET-2 allows: failures before the request reached the engine. */
export const PRE_ENGINE_RETRY_TRIGGERS: readonly RetryTrigger[] = Object.freeze([
  'connect-failure',
  'refused-stream',
  'reset-before-request',
]);

/** The default name of the API-key header the per-key rate limit counts on (NET-5). */
export const API_KEY_HEADER = 'x-api-key';

/**
 * The request-body ceiling for a token budget, in bytes (NET-6): the budget times the bytes a
 * token may take in a JSON request, plus the envelope.
 */
export function requestBodyCeilingBytes(tokenBudget: number): number {
  return tokenBudget * TRAFFIC_SIZING.requestBytesPerToken + TRAFFIC_SIZING.requestEnvelopeBytes;
}

/**
 * The rejection aggression of admission control (NET-4): the smallest whole aggression at which
 * a failure share twice the standard's threshold rejects at least
 * {@link TRAFFIC_SIZING.admissionRejectPercentAtTwiceThreshold} percent of requests, so that
 * ingress is all but shut while the service fails, and opens as failures leave the window.
 */
export function admissionRejectionAggression(standard: Standard): number {
  const failure = standard.traffic.circuitBreakerFailurePercent / 100;
  const threshold = 1 - failure;
  const success = Math.max(0, 1 - 2 * failure);
  const x = 1 - success / threshold;
  const target = TRAFFIC_SIZING.admissionRejectPercentAtTwiceThreshold / 100;
  if (x <= 0 || x >= 1) return 1;
  return Math.max(1, Math.ceil(Math.log(x) / Math.log(target)));
}

/**
 * How many endpoints Envoy's outlier detection may eject at once from a pool (its rule: eject
 * while 100 x (ejected + 1) / endpoints <= maxEjectionPercent, or the first one when
 * alwaysEjectOneEndpoint is set).
 */
export function maxEjectedEndpoints(
  maxEjectionPercent: number,
  endpoints: number,
  alwaysEjectOne: boolean,
): number {
  const byPercent = Math.floor((maxEjectionPercent * endpoints) / 100);
  return Math.min(endpoints, Math.max(byPercent, alwaysEjectOne && endpoints > 0 ? 1 : 0));
}

/** What the invariants need to know besides the emitted route and policy. */
export interface TrafficInvariantContext {
  /** The standard whose numbers the route and policy must carry. */
  readonly standard: Standard;
  /** The service's role. */
  readonly role: 'generation' | 'embedding';
  /** The token budget the engine runs with (`--max-model-len`). */
  readonly engineTokenBudget: number;
  /** Engine pods. */
  readonly replicas: number;
  /** The engine's maximum concurrent sequences per pod (`--max-num-seqs`). */
  readonly concurrency: number;
  /** Envoy proxies sharing the load; circuit-breaker limits are per proxy. */
  readonly proxyReplicas: number;
  /** The OPS-1 plan kind. */
  readonly gpuLossPlan: 'fallback' | 'fail-fast';
  /** The Retry-After of a fail-fast plan, in seconds. */
  readonly retryAfterSeconds?: number;
  /** Whether the OPS-2 review is recorded. */
  readonly reviewed: boolean;
  /** The name of the service's own Service (its backendRef). */
  readonly serviceName: string;
  /** The name of the fallback Service, when OPS-1 names one. */
  readonly fallbackServiceName?: string;
  /** The per-key limit expected, in requests per second, if any. */
  readonly perKeyRateLimitRps?: number;
  /** The API-key header the limit counts on. */
  readonly apiKeyHeader: string;
}

function violation(
  rule: RuleId,
  field: string,
  limit: string,
  received: unknown,
  message: string,
): ComplianceError {
  return new ComplianceError({
    rule,
    field,
    limit,
    received: typeof received === 'string' ? received : describeValue(received),
    message,
  });
}

/**
 * Checks the cross-field invariants of one service's route and policy, on the objects as they
 * are emitted. Returns every violation (empty when consistent); each names its rule.
 */
export function trafficInvariantViolations(
  route: HttpRouteSpec,
  policy: BackendTrafficPolicySpec,
  ctx: TrafficInvariantContext,
): ComplianceError[] {
  const out: ComplianceError[] = [];
  const t = ctx.standard.traffic;
  const requestMs = parseGatewayDuration(policy.timeout.http.requestTimeout);
  const idleMs = parseGatewayDuration(policy.timeout.http.streamIdleTimeout);
  const connectMs = parseGatewayDuration(policy.timeout.tcp.connectTimeout);
  const perTryMs = parseGatewayDuration(policy.retry.perRetry.timeout);
  const backoffBaseMs = parseGatewayDuration(policy.retry.perRetry.backOff.baseInterval);
  const backoffMaxMs = parseGatewayDuration(policy.retry.perRetry.backOff.maxInterval);
  const retries = policy.retry.numRetries;

  // NET-1: one request budget, on the route and on the policy, and nothing idles past it.
  if (requestMs <= 0 || requestMs > t.requestTimeoutMs) {
    out.push(
      violation(
        'NET-1',
        'spec.timeout.http.requestTimeout',
        `1..${t.requestTimeoutMs} ms`,
        `${requestMs} ms`,
        'the request timeout must be set and within the standard',
      ),
    );
  }
  for (const [i, rule] of route.rules.entries()) {
    const routeMs = rule.timeouts?.request ? parseGatewayDuration(rule.timeouts.request) : NaN;
    if (routeMs !== requestMs) {
      out.push(
        violation(
          'NET-1',
          `route.spec.rules[${i}].timeouts.request`,
          `${requestMs} ms (the policy's request timeout)`,
          rule.timeouts?.request ?? 'unset',
          'the route and its policy must carry the same request timeout',
        ),
      );
    }
  }
  if (idleMs <= requestMs) {
    out.push(
      violation(
        'NET-1',
        'spec.timeout.http.streamIdleTimeout',
        `> ${requestMs} ms`,
        `${idleMs} ms`,
        'an idle timeout at or under the request timeout would answer 408 where NET-1 promises 504',
      ),
    );
  }

  // NET-2: bounded retries, before the engine only, inside the request budget.
  if (!Number.isSafeInteger(retries) || retries < 0 || retries > t.maxRetries) {
    out.push(
      violation(
        'NET-2',
        'spec.retry.numRetries',
        `0..${t.maxRetries}`,
        retries,
        'retries are bounded by the standard',
      ),
    );
  }
  const bad = policy.retry.retryOn.triggers.filter((x) => !PRE_ENGINE_RETRY_TRIGGERS.includes(x));
  if (bad.length > 0 || policy.retry.retryOn.triggers.length === 0) {
    out.push(
      violation(
        'NET-2',
        'spec.retry.retryOn.triggers',
        `a non-empty subset of ${PRE_ENGINE_RETRY_TRIGGERS.join(', ')}`,
        policy.retry.retryOn.triggers,
        'only failures before the request reached the engine may be retried',
      ),
    );
  }
  if (backoffBaseMs !== t.retryBackoffBaseMs || backoffMaxMs !== t.retryBackoffMaxMs) {
    out.push(
      violation(
        'NET-2',
        'spec.retry.perRetry.backOff',
        `base ${t.retryBackoffBaseMs} ms, max ${t.retryBackoffMaxMs} ms`,
        `base ${backoffBaseMs} ms, max ${backoffMaxMs} ms`,
        'the backoff is the standard one',
      ),
    );
  }
  // A retried attempt failed before the engine: it lasted at most the connect timeout, then
  // waited at most the backoff ceiling. All of them must leave time for the last attempt.
  const retryPhaseMs = retries * (connectMs + backoffMaxMs);
  if (retryPhaseMs >= requestMs) {
    out.push(
      violation(
        'NET-2',
        'spec.retry.numRetries',
        `retries x (connect timeout + backoff max) < ${requestMs} ms`,
        `${retries} x (${connectMs} + ${backoffMaxMs}) = ${retryPhaseMs} ms`,
        'the retries could use up the whole request budget',
      ),
    );
  }
  if (perTryMs > requestMs) {
    out.push(
      violation(
        'NET-2',
        'spec.retry.perRetry.timeout',
        `<= ${requestMs} ms`,
        `${perTryMs} ms`,
        'an attempt cannot outlive the request',
      ),
    );
  }
  const budget = policy.circuitBreaker.retryBudget.percent;
  if (budget.numerator * 100 !== t.retryBudgetPercent * budget.denominator) {
    out.push(
      violation(
        'NET-2',
        'spec.circuitBreaker.retryBudget.percent',
        `${t.retryBudgetPercent}%`,
        `${budget.numerator}/${budget.denominator}`,
        'the retry budget is the standard one',
      ),
    );
  }

  // NET-3: the queue in front of the engines is what the engines can run, and small.
  const capacity = Math.ceil((ctx.replicas * ctx.concurrency) / ctx.proxyReplicas);
  const cb = policy.circuitBreaker;
  if (cb.maxParallelRequests < 1 || cb.maxParallelRequests > capacity) {
    out.push(
      violation(
        'NET-3',
        'spec.circuitBreaker.maxParallelRequests',
        `1..${capacity} (replicas x concurrency / proxies)`,
        cb.maxParallelRequests,
        'more parallel requests than the engines run would queue inside the engine',
      ),
    );
  }
  if (cb.maxPendingRequests < 1 || cb.maxPendingRequests > Math.max(1, ctx.replicas)) {
    out.push(
      violation(
        'NET-3',
        'spec.circuitBreaker.maxPendingRequests',
        `1..${Math.max(1, ctx.replicas)}`,
        cb.maxPendingRequests,
        'the pending queue stays small; overflow gets 503 at once',
      ),
    );
  }
  if (cb.maxConnections > cb.maxParallelRequests) {
    out.push(
      violation(
        'NET-3',
        'spec.circuitBreaker.maxConnections',
        `<= ${cb.maxParallelRequests}`,
        cb.maxConnections,
        'idle connections beyond the parallel limit serve no request',
      ),
    );
  }

  // NET-4: the breaker numbers, panic off, and the pool never emptied unless OPS-1 says so.
  const hc = policy.healthCheck;
  const ac = policy.admissionControl;
  const windowS = t.circuitBreakerWindowSeconds;
  if (
    parseGatewayDuration(ac.samplingWindow) !== windowS * 1000 ||
    ac.minSuccessRate !== 100 - t.circuitBreakerFailurePercent ||
    parseGatewayDuration(hc.passive.interval) !== windowS * 1000 ||
    hc.passive.failurePercentageThreshold !== t.circuitBreakerFailurePercent
  ) {
    out.push(
      violation(
        'NET-4',
        'spec.admissionControl, spec.healthCheck.passive',
        `${windowS} s window, ${100 - t.circuitBreakerFailurePercent}% success, ${t.circuitBreakerFailurePercent}% failure`,
        `${ac.samplingWindow}/${ac.minSuccessRate}%, ${hc.passive.interval}/${hc.passive.failurePercentageThreshold}%`,
        'the breaker numbers are the standard ones',
      ),
    );
  }
  if (hc.panicThreshold !== 0) {
    out.push(
      violation(
        'NET-4',
        'spec.healthCheck.panicThreshold',
        '0',
        hc.panicThreshold,
        'in panic mode Envoy sends load to failing endpoints instead of answering 503',
      ),
    );
  }
  const backends = route.rules.flatMap((r) => r.backendRefs);
  const poolMin = Math.max(1, ctx.replicas + backends.length - 1);
  const ejected = maxEjectedEndpoints(
    hc.passive.maxEjectionPercent,
    poolMin,
    hc.passive.alwaysEjectOneEndpoint,
  );
  const canEmpty =
    hc.passive.maxEjectionPercent >= 100 || ejected >= poolMin || hc.passive.maxEjectionPercent < 0;
  if (canEmpty && ctx.gpuLossPlan !== 'fail-fast') {
    out.push(
      violation(
        'NET-4',
        'spec.healthCheck.passive.maxEjectionPercent',
        '< 100 (one endpoint always stays) unless OPS-1 is fail-fast',
        hc.passive.maxEjectionPercent,
        'with the panic threshold off, ejection could empty the pool although OPS-1 names a fallback',
      ),
    );
  }

  // NET-4/ALM-4: a client rejection is never a failure or a 5xx.
  const success = new Set(ac.successCriteria.http.statusCodes);
  for (const code of CLIENT_REJECTION_STATUSES) {
    if (code >= 500 || !success.has(code)) {
      out.push(
        violation(
          'ALM-4',
          'spec.admissionControl.successCriteria.http.statusCodes',
          `contains ${code}, and ${code} < 500`,
          [...success].filter((c) => c >= 400 && c < 500),
          `a ${code} is the client's excess, never counted as a failure or a 5xx`,
        ),
      );
    }
  }
  if ([...success].some((c) => c >= 500)) {
    out.push(
      violation(
        'NET-4',
        'spec.admissionControl.successCriteria.http.statusCodes',
        'no 5xx',
        [...success].filter((c) => c >= 500),
        'a 5xx is a failure of the service',
      ),
    );
  }
  for (const [i, o] of (policy.responseOverride ?? []).entries()) {
    const codes = o.match.statusCodes.map((s) => s.value);
    if (codes.some((c) => CLIENT_REJECTION_STATUSES.includes(c)) || o.response.statusCode < 500) {
      out.push(
        violation(
          'ALM-4',
          `spec.responseOverride[${i}]`,
          'only 5xx local replies are rewritten, into a 5xx',
          codes,
          'a client rejection must keep its 4xx status',
        ),
      );
    }
  }

  // NET-5: the per-key limit on a named header, keyless requests included.
  const rules = policy.rateLimit?.global.rules ?? [];
  const expected =
    ctx.role === 'embedding' ? t.embeddingRateLimitPerKeyRps : ctx.perKeyRateLimitRps;
  if (expected !== undefined) {
    const distinct = rules.find((r) =>
      r.clientSelectors.some((s) =>
        s.headers.some((h) => h.type === 'Distinct' && h.name === ctx.apiKeyHeader),
      ),
    );
    const keyless = rules.find((r) =>
      r.clientSelectors.some((s) =>
        s.headers.some((h) => h.invert === true && h.name === ctx.apiKeyHeader),
      ),
    );
    if (!distinct || distinct.limit.requests !== expected || distinct.limit.unit !== 'Second') {
      out.push(
        violation(
          'NET-5',
          'spec.rateLimit.global.rules',
          `${expected} requests per second per distinct ${ctx.apiKeyHeader}`,
          distinct ? `${distinct.limit.requests} per ${distinct.limit.unit}` : 'no per-key rule',
          'each API key has its own limit',
        ),
      );
    }
    if (!keyless || keyless.limit.requests > expected) {
      out.push(
        violation(
          'NET-5',
          'spec.rateLimit.global.rules',
          `requests without ${ctx.apiKeyHeader} share one ${expected} rps limit`,
          keyless ? keyless.limit.requests : 'no rule',
          'a request without a key must not escape the limit',
        ),
      );
    }
  }
  for (const r of rules) {
    for (const s of r.clientSelectors) {
      for (const h of s.headers) {
        if (typeof h.name !== 'string' || h.name.trim() === '') {
          out.push(
            violation(
              'NET-5',
              'spec.rateLimit.global.rules[].clientSelectors[].headers[].name',
              'a header name',
              h.name,
              'a rate limit on a header with no name limits nothing',
            ),
          );
        }
      }
    }
  }

  // NET-6: the byte ceiling is derived from the same budget the engine refuses beyond.
  const ceiling = Number(policy.requestBuffer.limit);
  const maxCeiling = requestBodyCeilingBytes(ctx.engineTokenBudget);
  if (!Number.isSafeInteger(ceiling) || ceiling < 1 || ceiling > maxCeiling) {
    out.push(
      violation(
        'NET-6',
        'spec.requestBuffer.limit',
        `1..${maxCeiling} bytes (${ctx.engineTokenBudget} tokens)`,
        policy.requestBuffer.limit,
        'the byte ceiling must not admit more than the token budget can need',
      ),
    );
  }
  if (ctx.engineTokenBudget > t.tokenBudget) {
    out.push(
      violation(
        'NET-6',
        '--max-model-len',
        `<= ${t.tokenBudget} tokens`,
        ctx.engineTokenBudget,
        "the engine's limit exceeds the standard's budget",
      ),
    );
  }

  // OPS-2: an unreviewed service takes at most its share.
  const total = backends.reduce((n, b) => n + b.weight, 0);
  const own = backends
    .filter((b) => b.name === ctx.serviceName && b.namespace === undefined)
    .reduce((n, b) => n + b.weight, 0);
  const share = total > 0 ? (own * 100) / total : 0;
  const maxShare = ctx.standard.operations.unreviewedTrafficPercent;
  if (!ctx.reviewed && share > maxShare) {
    out.push(
      violation(
        'OPS-2',
        'route.spec.rules[].backendRefs[].weight',
        `<= ${maxShare}% without a review`,
        `${share}%`,
        'a new service takes at most its unreviewed share until its review is recorded',
      ),
    );
  }
  if (own === 0) {
    out.push(
      violation(
        'OPS-2',
        'route.spec.rules[].backendRefs',
        'the service itself, with a weight above 0',
        backends.map((b) => b.name),
        'the route does not send traffic to its service',
      ),
    );
  }

  // OPS-1: the GPU-loss path is configured.
  if (ctx.gpuLossPlan === 'fallback') {
    const fb = backends.find((b) => b.name === ctx.fallbackServiceName);
    if (!fb || fb.weight < 1) {
      out.push(
        violation(
          'OPS-1',
          'route.spec.rules[].backendRefs',
          `the fallback ${ctx.fallbackServiceName} with a weight >= 1`,
          backends.map((b) => `${b.name}:${b.weight}`),
          'the fallback must stay in the pool to take over when the GPUs are lost',
        ),
      );
    }
  } else {
    const ff = (policy.responseOverride ?? []).find(
      (o) =>
        o.source === 'Local' &&
        o.match.statusCodes.some((s) => s.value === TRAFFIC_STATUS.shed) &&
        o.response.header.set.some(
          (h) =>
            h.name.toLowerCase() === 'retry-after' && h.value === String(ctx.retryAfterSeconds),
        ),
    );
    if (!ff) {
      out.push(
        violation(
          'OPS-1',
          'spec.responseOverride',
          `a local 503 answered with Retry-After: ${ctx.retryAfterSeconds}`,
          policy.responseOverride ?? 'unset',
          'a fail-fast plan answers a fast 503 with Retry-After when no endpoint is healthy',
        ),
      );
    }
  }
  return out;
}

/**
 * Throws the first invariant violation of {@link trafficInvariantViolations}.
 * @throws ComplianceError naming the rule, the field, the limit and the value
 */
export function checkTrafficInvariants(
  route: HttpRouteSpec,
  policy: BackendTrafficPolicySpec,
  ctx: TrafficInvariantContext,
): void {
  const found = trafficInvariantViolations(route, policy, ctx);
  if (found.length > 0) throw found[0];
}
