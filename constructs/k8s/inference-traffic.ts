import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { RuleId, Standard, refuse } from '../standard';
import { InferenceService } from './inference-service';
import {
  BackendTrafficPolicySpec,
  HttpBackendRef,
  HttpRouteSpec,
  RETRY_TRIGGERS,
  RateLimitRule,
  ReferenceGrantSpec,
  ResponseOverride,
  RetryTrigger,
  gatewayDuration,
} from './private/traffic-crds';
import {
  ADMISSION_SUCCESS_STATUSES,
  API_KEY_HEADER,
  PRE_ENGINE_RETRY_TRIGGERS,
  TRAFFIC_SIZING,
  TRAFFIC_STATUS,
  TrafficInvariantContext,
  admissionRejectionAggression,
  checkTrafficInvariants,
  requestBodyCeilingBytes,
} from './traffic-settings';

export type { RetryTrigger } from './private/traffic-crds';

/** The platform Gateway a route attaches to. */
export interface GatewayAttachment {
  /** Name of the Gateway. */
  readonly name: string;
  /** Namespace of the Gateway. */
  readonly namespace: string;
  /**
   * The listener to attach to.
   * @default - every listener of the Gateway that admits the route
   */
  readonly sectionName?: string;
  /**
   * Envoy proxies serving the Gateway. Circuit-breaker limits are per proxy, so the engines'
   * capacity is divided among them (NET-3).
   * @default 1 (Envoy Gateway's default proxy Deployment)
   */
  readonly proxyReplicas?: number;
}

/** A Service that takes traffic beside the new one (OPS-2). */
export interface PredecessorBackend {
  /** Service name (DNS-1035). */
  readonly serviceName: string;
  /**
   * Its namespace; another namespace gets a ReferenceGrant there.
   * @default the inference service's namespace
   */
  readonly namespace?: string;
  /** Its port, 1..65535. */
  readonly port: number;
}

/** Properties of an {@link InferenceTraffic}. */
export interface InferenceTrafficProps {
  /** The inference service the route sends traffic to; every number is read from it. */
  readonly service: InferenceService;
  /** The platform Gateway (see `lib/traffic-platform.ts`). */
  readonly gateway: GatewayAttachment;
  /**
   * Hostnames the route answers.
   * @default - every hostname of the listener
   */
  readonly hostnames?: readonly string[];
  /**
   * Path prefixes the route matches.
   * @default ['/v1/chat/completions', '/v1/completions'] for generation, ['/v1/embeddings'] for embedding
   */
  readonly pathPrefixes?: readonly string[];
  /**
   * Requests per second per distinct API key for a generation service (NET-5); refused for an
   * embedding service, which always gets the standard's limit (200 rps per key).
   * @default - no per-key limit for generation
   */
  readonly perKeyRateLimitRps?: number;
  /**
   * The header carrying the API key the rate limit counts on (NET-5).
   * @default 'x-api-key'
   */
  readonly apiKeyHeader?: string;
  /**
   * The Service the new one shares traffic with until its review is recorded (OPS-2).
   * @default - the OPS-1 fallback backend, if the service has one
   */
  readonly predecessor?: PredecessorBackend;
  /**
   * The share of the route's traffic the new service takes, in percent (OPS-2).
   * @default the standard's unreviewed share (1%) without a review, 100 with one
   */
  readonly trafficPercent?: number;
  /**
   * The request timeout, in milliseconds (NET-1); at most the standard's.
   * @default the standard's 5000 ms
   */
  readonly requestTimeoutMs?: number;
  /**
   * Retries of one request (NET-2); a whole number, at most the standard's.
   * @default the standard's 2
   */
  readonly retries?: number;
  /**
   * The retry triggers (NET-2): only failures before the request reached the engine.
   * @default ['connect-failure', 'refused-stream', 'reset-before-request']
   */
  readonly retryOn?: readonly RetryTrigger[];
  /**
   * TCP connect timeout to an engine pod, in milliseconds; with the retries and the backoff
   * ceiling it must leave time in the request budget (NET-2).
   * @default TRAFFIC_SIZING.connectTimeoutMs (500 ms)
   */
  readonly connectTimeoutMs?: number;
  /**
   * The request-body ceiling, in bytes (NET-6); at most the ceiling derived from the plan's
   * token budget.
   * @default requestBodyCeilingBytes(plan.tokenBudget): 49152 bytes for 4096 tokens
   */
  readonly bodyLimitBytes?: number;
}

/** The traffic numbers of a standard variant the gateway can express, or a ComplianceError. */
function checkTrafficStandard(standard: Standard): void {
  const t = standard.traffic;
  const whole = (
    rule: RuleId,
    key: keyof Standard['traffic'],
    min: number,
    max: number,
    why: string,
  ): void => {
    const v = t[key];
    if (!Number.isSafeInteger(v) || v < min || v > max) {
      refuse(rule, `standard.traffic.${key}`, `a whole number in ${min}..${max}`, v, why);
    }
  };
  const maxMs = 99_999;
  whole('NET-1', 'requestTimeoutMs', 1, maxMs, 'the gateway expresses whole milliseconds');
  whole('NET-2', 'maxRetries', 0, 10, 'retries are bounded');
  whole('NET-2', 'retryBackoffBaseMs', 1, maxMs, 'the gateway expresses whole milliseconds');
  whole(
    'NET-2',
    'retryBackoffMaxMs',
    t.retryBackoffBaseMs,
    maxMs,
    'the ceiling is at least the base',
  );
  whole('NET-2', 'retryBudgetPercent', 0, 100, 'a budget is a percentage');
  whole('NET-4', 'circuitBreakerFailurePercent', 1, 99, 'admission control needs 1..99');
  whole('NET-4', 'circuitBreakerWindowSeconds', 1, maxMs, 'a window of whole seconds');
  whole('NET-5', 'embeddingRateLimitPerKeyRps', 1, 4294967295, 'a positive whole rate');
  whole('NET-6', 'tokenBudget', 1, 1_000_000, 'a whole number of tokens');
}

const DNS_1035 = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** An HTTP header name: an RFC 9110 token. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/**
 * The edge of one inference service: an HTTPRoute from the platform Gateway to the service,
 * and the Envoy Gateway BackendTrafficPolicy that makes the NET rules hold in front of it
 * (timeouts, bounded retries, circuit breaking, admission control, passive health, per-key
 * rate limits, the body ceiling), with the OPS-1 GPU-loss path and the OPS-2 traffic share.
 * Every number comes from the service's standard and memory plan; inputs that would break a
 * rule are refused with a ComplianceError, and the emitted objects are checked against the
 * cross-field invariants before they are written.
 */
export class InferenceTraffic extends Construct {
  /** The HTTPRoute. */
  public readonly route: ApiObject;
  /** The BackendTrafficPolicy. */
  public readonly policy: ApiObject;
  /** ReferenceGrants for backends in other namespaces. */
  public readonly referenceGrants: readonly ApiObject[];
  /** The route's spec as emitted. */
  public readonly routeSpec: HttpRouteSpec;
  /** The policy's spec as emitted. */
  public readonly policySpec: BackendTrafficPolicySpec;
  /** The request-body ceiling, in bytes (NET-6). */
  public readonly bodyLimitBytes: number;
  /** The name of the route and the policy. */
  public readonly name: string;

  constructor(scope: Construct, id: string, props: InferenceTrafficProps) {
    super(scope, id);

    // Defaults.
    const svc = props.service;
    if (!(svc instanceof InferenceService)) {
      refuse('OPS-1', 'props.service', 'an InferenceService', svc, 'the route needs its service');
    }
    const standard = svc.standard;
    const t = standard.traffic;
    const role = svc.role;
    const plan = svc.plan;
    const namespace = svc.namespace;
    this.name = svc.name;
    const reviewed = svc.review !== undefined;
    const gpuLoss = svc.gpuLossPlan;
    const apiKeyHeader = props.apiKeyHeader ?? API_KEY_HEADER;
    const proxyReplicas = props.gateway?.proxyReplicas ?? 1;
    const requestMs = props.requestTimeoutMs ?? t.requestTimeoutMs;
    const retries = props.retries ?? t.maxRetries;
    const retryOn = props.retryOn ?? PRE_ENGINE_RETRY_TRIGGERS;
    const connectMs = props.connectTimeoutMs ?? TRAFFIC_SIZING.connectTimeoutMs;
    const maxBody = requestBodyCeilingBytes(plan.tokenBudget);
    const bodyLimit = props.bodyLimitBytes ?? maxBody;
    const paths =
      props.pathPrefixes ??
      (role === 'embedding' ? ['/v1/embeddings'] : ['/v1/chat/completions', '/v1/completions']);

    // Single-prop checks.
    checkTrafficStandard(standard);
    this.checkGateway(props.gateway);
    if (!Number.isSafeInteger(proxyReplicas) || proxyReplicas < 1) {
      refuse(
        'NET-3',
        'props.gateway.proxyReplicas',
        'a whole number >= 1',
        proxyReplicas,
        'the proxies share the circuit-breaker capacity',
      );
    }
    this.checkHostnames(props.hostnames);
    this.checkPaths(paths);
    if (!Number.isSafeInteger(requestMs) || requestMs < 1 || requestMs > t.requestTimeoutMs) {
      refuse(
        'NET-1',
        'props.requestTimeoutMs',
        `1..${t.requestTimeoutMs} ms`,
        requestMs,
        `a request is cut at ${t.requestTimeoutMs} ms at the latest`,
      );
    }
    if (!Number.isSafeInteger(retries) || retries < 0 || retries > t.maxRetries) {
      refuse(
        'NET-2',
        'props.retries',
        `a whole number in 0..${t.maxRetries}`,
        retries,
        'retries are bounded: no retry storms',
      );
    }
    this.checkRetryOn(retryOn);
    if (!Number.isSafeInteger(connectMs) || connectMs < 1) {
      refuse(
        'NET-2',
        'props.connectTimeoutMs',
        'a whole number of milliseconds >= 1',
        connectMs,
        'a connect timeout bounds the only retriable failures',
      );
    }
    if (connectMs > requestMs) {
      refuse(
        'NET-2',
        'props.connectTimeoutMs',
        `<= ${requestMs} ms (the request timeout)`,
        connectMs,
        'a connection attempt cannot outlast the request',
      );
    }
    if (retries * (connectMs + t.retryBackoffMaxMs) >= requestMs) {
      refuse(
        'NET-2',
        'props.connectTimeoutMs',
        `retries x (connect timeout + ${t.retryBackoffMaxMs} ms backoff) < ${requestMs} ms`,
        connectMs,
        `${retries} retries of ${connectMs} ms connects could use up the request budget`,
      );
    }
    if (!Number.isSafeInteger(bodyLimit) || bodyLimit < 1 || bodyLimit > maxBody) {
      refuse(
        'NET-6',
        'props.bodyLimitBytes',
        `1..${maxBody} bytes (${plan.tokenBudget} tokens x ${TRAFFIC_SIZING.requestBytesPerToken} bytes + ${TRAFFIC_SIZING.requestEnvelopeBytes} bytes)`,
        bodyLimit,
        'the body ceiling cannot admit more than the token budget',
      );
    }
    if (typeof apiKeyHeader !== 'string' || !HEADER_NAME.test(apiKeyHeader)) {
      refuse(
        'NET-5',
        'props.apiKeyHeader',
        'a header name (an RFC 9110 token)',
        apiKeyHeader,
        'a rate limit on a header with no name limits nothing',
      );
    }
    const perKeyRps = this.perKeyLimit(
      role,
      props.perKeyRateLimitRps,
      t.embeddingRateLimitPerKeyRps,
    );
    const predecessor =
      props.predecessor === undefined ? undefined : this.checkPredecessor(props.predecessor);

    // Derived values: the OPS-2 weights and the OPS-1 path.
    const backendRefs = this.backendRefs(props, predecessor, reviewed);
    const capacity = Math.ceil((svc.replicas * plan.concurrency) / proxyReplicas);
    const maxEjection =
      gpuLoss.kind === 'fail-fast' ? 100 : TRAFFIC_SIZING.fallbackMaxEjectionPercent;
    this.bodyLimitBytes = bodyLimit;

    this.routeSpec = {
      parentRefs: [
        {
          group: 'gateway.networking.k8s.io',
          kind: 'Gateway',
          name: props.gateway.name,
          namespace: props.gateway.namespace,
          ...(props.gateway.sectionName ? { sectionName: props.gateway.sectionName } : {}),
        },
      ],
      ...(props.hostnames && props.hostnames.length > 0 ? { hostnames: [...props.hostnames] } : {}),
      rules: [
        {
          matches: paths.map((value) => ({ path: { type: 'PathPrefix' as const, value } })),
          backendRefs,
          timeouts: { request: gatewayDuration(requestMs) },
        },
      ],
    };

    const rateLimitRules: RateLimitRule[] =
      perKeyRps === undefined
        ? []
        : [
            {
              clientSelectors: [{ headers: [{ name: apiKeyHeader, type: 'Distinct' }] }],
              limit: { requests: perKeyRps, unit: 'Second' },
            },
            {
              // Distinct counts only requests that carry the header; the rest share one bucket.
              clientSelectors: [
                {
                  headers: [
                    { name: apiKeyHeader, type: 'RegularExpression', value: '.*', invert: true },
                  ],
                },
              ],
              limit: { requests: perKeyRps, unit: 'Second' },
            },
          ];
    const responseOverride: ResponseOverride[] =
      gpuLoss.kind === 'fail-fast'
        ? [
            {
              match: { statusCodes: [{ type: 'Value', value: TRAFFIC_STATUS.shed }] },
              source: 'Local',
              response: {
                statusCode: TRAFFIC_STATUS.shed,
                contentType: 'application/json',
                body: {
                  type: 'Inline',
                  inline: JSON.stringify({
                    error: {
                      message: `${svc.name} is unavailable; retry after ${gpuLoss.retryAfterSeconds} s`,
                      type: 'service_unavailable',
                      code: TRAFFIC_STATUS.shed,
                    },
                  }),
                },
                header: {
                  set: [{ name: 'Retry-After', value: String(gpuLoss.retryAfterSeconds) }],
                },
              },
            },
          ]
        : [];

    this.policySpec = {
      targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: this.name }],
      timeout: {
        http: {
          requestTimeout: gatewayDuration(requestMs),
          streamIdleTimeout: gatewayDuration(requestMs * TRAFFIC_SIZING.streamIdleTimeoutFactor),
        },
        tcp: { connectTimeout: gatewayDuration(connectMs) },
      },
      retry: {
        numRetries: retries,
        retryOn: { triggers: [...retryOn] },
        perRetry: {
          // Envoy stops a per-try timer once response headers go downstream, and only pre-engine
          // failures are retried: each attempt may use what is left of the request budget.
          timeout: gatewayDuration(requestMs),
          backOff: {
            baseInterval: gatewayDuration(t.retryBackoffBaseMs),
            maxInterval: gatewayDuration(t.retryBackoffMaxMs),
          },
        },
      },
      circuitBreaker: {
        maxConnections: capacity,
        maxPendingRequests: Math.max(1, svc.replicas),
        maxParallelRequests: capacity,
        maxParallelRetries: Math.max(1, Math.ceil((capacity * t.retryBudgetPercent) / 100)),
        retryBudget: {
          percent: { numerator: t.retryBudgetPercent, denominator: 100 },
          minRetryConcurrency: Math.max(1, svc.replicas),
        },
      },
      admissionControl: {
        samplingWindow: gatewayDuration(t.circuitBreakerWindowSeconds * 1000),
        minSuccessRate: 100 - t.circuitBreakerFailurePercent,
        maxRejectionPercent: 100,
        rejectionAggression: admissionRejectionAggression(standard),
        successCriteria: { http: { statusCodes: [...ADMISSION_SUCCESS_STATUSES] } },
      },
      healthCheck: {
        panicThreshold: 0,
        passive: {
          interval: gatewayDuration(t.circuitBreakerWindowSeconds * 1000),
          failurePercentageThreshold: t.circuitBreakerFailurePercent,
          consecutive5XxErrors: TRAFFIC_SIZING.consecutive5xxErrors,
          splitExternalLocalOriginErrors: false,
          baseEjectionTime: gatewayDuration(t.circuitBreakerWindowSeconds * 1000),
          maxEjectionPercent: maxEjection,
          alwaysEjectOneEndpoint: false,
        },
      },
      ...(rateLimitRules.length > 0
        ? { rateLimit: { type: 'Global' as const, global: { rules: rateLimitRules } } }
        : {}),
      requestBuffer: { limit: String(bodyLimit) },
      ...(responseOverride.length > 0 ? { responseOverride } : {}),
    };

    // Cross-field invariants, on what is about to be written.
    const context: TrafficInvariantContext = {
      standard,
      role,
      engineTokenBudget: plan.tokenBudget,
      replicas: svc.replicas,
      concurrency: plan.concurrency,
      proxyReplicas,
      gpuLossPlan: gpuLoss.kind,
      retryAfterSeconds: gpuLoss.kind === 'fail-fast' ? gpuLoss.retryAfterSeconds : undefined,
      reviewed,
      serviceName: svc.name,
      fallbackServiceName: gpuLoss.kind === 'fallback' ? gpuLoss.serviceName : undefined,
      perKeyRateLimitRps: perKeyRps,
      apiKeyHeader,
    };
    checkTrafficInvariants(this.routeSpec, this.policySpec, context);

    // Resources.
    const metadata = {
      name: this.name,
      namespace,
      labels: svc.labels.common,
      annotations: svc.waivers.toAnnotations(),
    };
    this.route = new ApiObject(this, 'Route', {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata,
      spec: this.routeSpec,
    });
    this.policy = new ApiObject(this, 'Policy', {
      apiVersion: 'gateway.envoyproxy.io/v1alpha1',
      kind: 'BackendTrafficPolicy',
      metadata,
      spec: this.policySpec,
    });
    this.referenceGrants = this.grants(backendRefs, namespace, svc.labels.common);
  }

  private checkGateway(gateway: GatewayAttachment | undefined): void {
    if (!gateway || typeof gateway.name !== 'string' || !DNS_1123_LABEL.test(gateway.name)) {
      refuse(
        'OPS-1',
        'props.gateway.name',
        'the name of the platform Gateway',
        gateway?.name,
        'the route attaches to the platform Gateway',
      );
    }
    if (typeof gateway.namespace !== 'string' || !DNS_1123_LABEL.test(gateway.namespace)) {
      refuse(
        'OPS-1',
        'props.gateway.namespace',
        'a namespace name',
        gateway.namespace,
        'the route attaches to the platform Gateway',
      );
    }
    if (gateway.sectionName !== undefined && !DNS_1123_LABEL.test(gateway.sectionName)) {
      refuse(
        'OPS-1',
        'props.gateway.sectionName',
        'a listener name',
        gateway.sectionName,
        'the listener to attach to',
      );
    }
  }

  private checkHostnames(hostnames: readonly string[] | undefined): void {
    if (hostnames === undefined) return;
    if (!Array.isArray(hostnames) || hostnames.length > 16) {
      refuse(
        'OPS-2',
        'props.hostnames',
        'at most 16 hostnames',
        hostnames,
        'a route lists at most 16 hostnames',
      );
    }
    hostnames.forEach((h, i) => {
      if (typeof h !== 'string' || h.length > 253 || !HOSTNAME.test(h)) {
        refuse(
          'OPS-2',
          `props.hostnames[${i}]`,
          'a DNS hostname, optionally with a leading *.',
          h,
          'the route answers these hostnames',
        );
      }
    });
  }

  private checkPaths(paths: readonly string[]): void {
    if (!Array.isArray(paths) || paths.length < 1 || paths.length > 64) {
      refuse(
        'OPS-2',
        'props.pathPrefixes',
        '1..64 path prefixes',
        paths,
        'the route matches these paths',
      );
    }
    paths.forEach((p, i) => {
      if (
        typeof p !== 'string' ||
        !/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/.test(p) ||
        p.length > 1024
      ) {
        refuse(
          'OPS-2',
          `props.pathPrefixes[${i}]`,
          'an absolute path',
          p,
          'the route matches these paths',
        );
      }
    });
  }

  private checkRetryOn(retryOn: readonly RetryTrigger[]): void {
    if (!Array.isArray(retryOn) || retryOn.length === 0) {
      refuse(
        'NET-2',
        'props.retryOn',
        `a non-empty subset of ${PRE_ENGINE_RETRY_TRIGGERS.join(', ')}`,
        retryOn,
        'without a trigger Envoy Gateway retries on 503 by default',
      );
    }
    retryOn.forEach((trigger, i) => {
      if (!RETRY_TRIGGERS.includes(trigger)) {
        refuse(
          'NET-2',
          `props.retryOn[${i}]`,
          `one of ${PRE_ENGINE_RETRY_TRIGGERS.join(', ')}`,
          trigger,
          'unknown retry trigger',
        );
      }
      if (!PRE_ENGINE_RETRY_TRIGGERS.includes(trigger)) {
        refuse(
          'NET-2',
          `props.retryOn[${i}]`,
          `one of ${PRE_ENGINE_RETRY_TRIGGERS.join(', ')}`,
          trigger,
          'a 5xx, a reset or a timeout may come from a generation that ran: never retried',
        );
      }
    });
    if (new Set(retryOn).size !== retryOn.length) {
      refuse('NET-2', 'props.retryOn', 'each trigger once', retryOn, 'a trigger is listed twice');
    }
  }

  private perKeyLimit(
    role: string,
    requested: number | undefined,
    embeddingRps: number,
  ): number | undefined {
    if (role === 'embedding') {
      if (requested !== undefined && requested !== embeddingRps) {
        refuse(
          'NET-5',
          'props.perKeyRateLimitRps',
          `unset for embedding (always ${embeddingRps} rps per key)`,
          requested,
          'an embedding service always gets the standard per-key limit',
        );
      }
      return embeddingRps;
    }
    if (requested === undefined) return undefined;
    if (!Number.isSafeInteger(requested) || requested < 1 || requested > 4294967295) {
      refuse(
        'NET-5',
        'props.perKeyRateLimitRps',
        'a whole number of requests per second >= 1',
        requested,
        'a per-key limit is a positive whole rate',
      );
    }
    return requested;
  }

  private checkPredecessor(p: PredecessorBackend): PredecessorBackend {
    if (typeof p.serviceName !== 'string' || !DNS_1035.test(p.serviceName)) {
      refuse(
        'OPS-2',
        'props.predecessor.serviceName',
        'a Service name (DNS-1035)',
        p.serviceName,
        'the predecessor is a Service',
      );
    }
    if (p.namespace !== undefined && !DNS_1123_LABEL.test(p.namespace)) {
      refuse(
        'OPS-2',
        'props.predecessor.namespace',
        'a namespace name',
        p.namespace,
        'the predecessor is a Service',
      );
    }
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
      refuse('OPS-2', 'props.predecessor.port', '1..65535', p.port, 'the predecessor needs a port');
    }
    return p;
  }

  /** The route's backends and weights (parts per million): OPS-2 share, OPS-1 fallback. */
  private backendRefs(
    props: InferenceTrafficProps,
    predecessor: PredecessorBackend | undefined,
    reviewed: boolean,
  ): HttpBackendRef[] {
    const svc = props.service;
    const scale = TRAFFIC_SIZING.weightScale;
    const maxUnreviewed = svc.standard.operations.unreviewedTrafficPercent;
    const percent = props.trafficPercent ?? (reviewed ? 100 : maxUnreviewed);
    if (typeof percent !== 'number' || !Number.isFinite(percent) || percent <= 0 || percent > 100) {
      refuse(
        'OPS-2',
        'props.trafficPercent',
        '0 < percent <= 100',
        percent,
        'the share of traffic the service takes',
      );
    }
    if (!reviewed && percent > maxUnreviewed) {
      refuse(
        'OPS-2',
        'props.trafficPercent',
        `<= ${maxUnreviewed}% until the review is recorded`,
        percent,
        'a new service takes at most its unreviewed share until its review (reviewer and date) is recorded',
      );
    }
    const plan = svc.gpuLossPlan;
    const fallback =
      plan.kind === 'fallback'
        ? { name: plan.serviceName, namespace: plan.namespace, port: plan.port }
        : undefined;
    const other = predecessor
      ? { name: predecessor.serviceName, namespace: predecessor.namespace, port: predecessor.port }
      : fallback;
    const own = Math.max(1, Math.round((percent * scale) / 100));
    const rest = scale - own;
    if (rest > 0 && !other) {
      refuse(
        'OPS-2',
        'props.predecessor',
        'a predecessor or an OPS-1 fallback to take the rest of the traffic',
        undefined,
        `the service takes ${percent}% of traffic; nothing is named to take the other ${100 - percent}%`,
      );
    }
    const ref = (
      b: { name: string; namespace?: string; port: number },
      weight: number,
    ): HttpBackendRef => ({
      group: '',
      kind: 'Service',
      name: b.name,
      ...(b.namespace && b.namespace !== svc.namespace ? { namespace: b.namespace } : {}),
      port: b.port,
      weight,
    });
    const sameBackend = (
      a: { name: string; namespace?: string },
      b: { name: string; namespace?: string },
    ) => a.name === b.name && (a.namespace ?? svc.namespace) === (b.namespace ?? svc.namespace);
    if (other && sameBackend(other, { name: svc.name })) {
      refuse(
        'OPS-2',
        'props.predecessor.serviceName',
        `a Service other than ${svc.name}`,
        other.name,
        'the predecessor cannot be the service itself',
      );
    }
    const standby = TRAFFIC_SIZING.fallbackStandbyWeight;
    const pred = predecessor
      ? { name: predecessor.serviceName, namespace: predecessor.namespace, port: predecessor.port }
      : undefined;
    const distinctPredecessor =
      pred && !(fallback && sameBackend(pred, fallback)) ? pred : undefined;
    // The fallback never drops to weight 0: it must stay in the pool to take over (OPS-1).
    const ownWeight = fallback ? Math.min(own, scale - standby) : own;
    const refs: HttpBackendRef[] = [ref({ name: svc.name, port: svc.servicePort }, ownWeight)];
    if (distinctPredecessor) {
      const weight = scale - ownWeight - (fallback ? standby : 0);
      if (weight > 0) refs.push(ref(distinctPredecessor, weight));
      if (fallback) refs.push(ref(fallback, standby));
    } else if (fallback) {
      refs.push(ref(fallback, scale - ownWeight));
    }
    return refs;
  }

  private grants(
    refs: readonly HttpBackendRef[],
    routeNamespace: string,
    labels: Record<string, string>,
  ): ApiObject[] {
    const byNamespace = new Map<string, string[]>();
    for (const r of refs) {
      if (r.namespace && r.namespace !== routeNamespace) {
        byNamespace.set(r.namespace, [...(byNamespace.get(r.namespace) ?? []), r.name]);
      }
    }
    return [...byNamespace.entries()].map(([ns, names]) => {
      const spec: ReferenceGrantSpec = {
        from: [
          { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: routeNamespace },
        ],
        to: [...new Set(names)].map((name) => ({ group: '', kind: 'Service', name })),
      };
      return new ApiObject(this, `Grant-${ns}`, {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'ReferenceGrant',
        metadata: {
          name: `${this.name}-from-${routeNamespace}`.slice(0, 63).replace(/-+$/, ''),
          namespace: ns,
          labels,
        },
        spec,
      });
    });
  }
}
