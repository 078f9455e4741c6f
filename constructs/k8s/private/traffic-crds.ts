/**
 * Typed shapes of the parts of the Gateway API (v1.6.1, standard channel) and Envoy Gateway
 * (v1.9.0) custom resources this library writes. Field names are those of the CRD schemas in
 * `shared/crds`; only the fields the library sets are declared. Durations are Gateway API
 * durations (`5s`, `250ms`), sizes are byte counts or Kubernetes quantities.
 */

/** A Gateway API duration: `^([0-9]{1,5}(h|m|s|ms)){1,4}$`. */
export type GatewayDuration = string;

/** `gateway.networking.k8s.io/v1` ParentReference. */
export interface ParentReference {
  readonly group?: string;
  readonly kind?: string;
  readonly name: string;
  readonly namespace?: string;
  readonly sectionName?: string;
}

/** `gateway.networking.k8s.io/v1` HTTPBackendRef (Service backends only). */
export interface HttpBackendRef {
  readonly group: '';
  readonly kind: 'Service';
  readonly name: string;
  readonly namespace?: string;
  readonly port: number;
  readonly weight: number;
}

/** `gateway.networking.k8s.io/v1` HTTPRouteMatch (path only). */
export interface HttpRouteMatch {
  readonly path: { readonly type: 'PathPrefix' | 'Exact'; readonly value: string };
}

/** `gateway.networking.k8s.io/v1` HTTPRouteRule. */
export interface HttpRouteRule {
  readonly name?: string;
  readonly matches: readonly HttpRouteMatch[];
  readonly backendRefs: readonly HttpBackendRef[];
  readonly timeouts?: { readonly request?: GatewayDuration };
}

/** `gateway.networking.k8s.io/v1` HTTPRoute spec. */
export interface HttpRouteSpec {
  readonly parentRefs: readonly ParentReference[];
  readonly hostnames?: readonly string[];
  readonly rules: readonly HttpRouteRule[];
}

/** `gateway.networking.k8s.io/v1` ReferenceGrant spec. */
export interface ReferenceGrantSpec {
  readonly from: readonly { group: string; kind: string; namespace: string }[];
  readonly to: readonly { group: string; kind: string; name?: string }[];
}

/** `gateway.networking.k8s.io/v1` GatewayClass spec. */
export interface GatewayClassSpec {
  readonly controllerName: string;
  readonly description?: string;
}

/** `gateway.networking.k8s.io/v1` Listener. */
export interface GatewayListener {
  readonly name: string;
  readonly protocol: 'HTTP' | 'HTTPS';
  readonly port: number;
  readonly hostname?: string;
  readonly tls?: {
    readonly mode: 'Terminate';
    readonly certificateRefs: readonly { kind: 'Secret'; group: ''; name: string }[];
  };
  readonly allowedRoutes: {
    readonly namespaces: {
      readonly from: 'Selector';
      readonly selector: { readonly matchLabels: Readonly<Record<string, string>> };
    };
    readonly kinds: readonly { group: string; kind: 'HTTPRoute' }[];
  };
}

/** `gateway.networking.k8s.io/v1` Gateway spec. */
export interface GatewaySpec {
  readonly gatewayClassName: string;
  readonly listeners: readonly GatewayListener[];
  readonly infrastructure?: {
    readonly annotations?: Readonly<Record<string, string>>;
    readonly labels?: Readonly<Record<string, string>>;
  };
}

/** The policy target: an HTTPRoute or a Gateway in the policy's namespace. */
export interface PolicyTargetReference {
  readonly group: 'gateway.networking.k8s.io';
  readonly kind: 'HTTPRoute' | 'Gateway';
  readonly name: string;
  readonly sectionName?: string;
}

/** Envoy Gateway retry triggers (`retry.retryOn.triggers[]` enum of the v1.9.0 CRD). */
export type RetryTrigger =
  | '5xx'
  | 'gateway-error'
  | 'reset'
  | 'reset-before-request'
  | 'connect-failure'
  | 'retriable-4xx'
  | 'refused-stream'
  | 'retriable-status-codes'
  | 'cancelled'
  | 'deadline-exceeded'
  | 'internal'
  | 'resource-exhausted'
  | 'unavailable';

/** Every retry trigger the v1.9.0 CRD accepts. */
export const RETRY_TRIGGERS: readonly RetryTrigger[] = Object.freeze([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

/** A global rate-limit header selector (`rateLimit.global.rules[].clientSelectors[].headers[]`). */
export interface RateLimitHeaderMatch {
  readonly name: string;
  readonly type: 'Exact' | 'RegularExpression' | 'Distinct';
  readonly value?: string;
  readonly invert?: boolean;
}

/** One global rate-limit rule. */
export interface RateLimitRule {
  readonly clientSelectors: readonly { headers: readonly RateLimitHeaderMatch[] }[];
  readonly limit: { readonly requests: number; readonly unit: 'Second' };
}

/** One `responseOverride[]` entry that replaces a local reply. */
export interface ResponseOverride {
  readonly match: { readonly statusCodes: readonly { type: 'Value'; value: number }[] };
  readonly source: 'Local';
  readonly response: {
    readonly statusCode: number;
    readonly contentType: string;
    readonly body: { readonly type: 'Inline'; readonly inline: string };
    readonly header: { readonly set: readonly { name: string; value: string }[] };
  };
}

/** `gateway.envoyproxy.io/v1alpha1` BackendTrafficPolicy spec, the fields this library sets. */
export interface BackendTrafficPolicySpec {
  readonly targetRefs: readonly PolicyTargetReference[];
  readonly timeout: {
    readonly http: {
      readonly requestTimeout: GatewayDuration;
      readonly streamIdleTimeout: GatewayDuration;
    };
    readonly tcp: { readonly connectTimeout: GatewayDuration };
  };
  readonly retry: {
    readonly numRetries: number;
    readonly retryOn: { readonly triggers: readonly RetryTrigger[] };
    readonly perRetry: {
      readonly timeout: GatewayDuration;
      readonly backOff: {
        readonly baseInterval: GatewayDuration;
        readonly maxInterval: GatewayDuration;
      };
    };
  };
  readonly circuitBreaker: {
    readonly maxConnections: number;
    readonly maxPendingRequests: number;
    readonly maxParallelRequests: number;
    readonly maxParallelRetries: number;
    readonly retryBudget: {
      readonly percent: { readonly numerator: number; readonly denominator: number };
      readonly minRetryConcurrency: number;
    };
  };
  readonly admissionControl: {
    readonly samplingWindow: GatewayDuration;
    readonly minSuccessRate: number;
    readonly maxRejectionPercent: number;
    readonly rejectionAggression: number;
    readonly successCriteria: { readonly http: { readonly statusCodes: readonly number[] } };
  };
  readonly healthCheck: {
    readonly panicThreshold: number;
    readonly passive: {
      readonly interval: GatewayDuration;
      readonly failurePercentageThreshold: number;
      readonly consecutive5XxErrors: number;
      readonly splitExternalLocalOriginErrors: boolean;
      readonly baseEjectionTime: GatewayDuration;
      readonly maxEjectionPercent: number;
      readonly alwaysEjectOneEndpoint: boolean;
    };
  };
  readonly rateLimit?: {
    readonly type: 'Global';
    readonly global: { readonly rules: readonly RateLimitRule[] };
  };
  readonly requestBuffer: { readonly limit: string };
  readonly responseOverride?: readonly ResponseOverride[];
}

/** `gateway.envoyproxy.io/v1alpha1` ClientTrafficPolicy spec, the fields the platform sets. */
export interface ClientTrafficPolicySpec {
  readonly targetRefs: readonly PolicyTargetReference[];
  readonly timeout: {
    readonly http: {
      readonly requestReceivedTimeout: GatewayDuration;
      readonly streamIdleTimeout: GatewayDuration;
    };
  };
  readonly connection: { readonly bufferLimit: string };
}

/** Renders milliseconds as a Gateway API duration: whole seconds as `5s`, otherwise `250ms`. */
export function gatewayDuration(ms: number): GatewayDuration {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > 99999 * 1000) {
    throw new RangeError(`gatewayDuration: ${ms} ms is not a whole, representable duration`);
  }
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  if (ms <= 99999) return `${ms}ms`;
  const s = Math.floor(ms / 1000);
  return `${s}s${ms - s * 1000}ms`;
}

/** Parses a Gateway API duration back into milliseconds (for invariant checks and tests). */
export function parseGatewayDuration(value: GatewayDuration): number {
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  const part = /([0-9]{1,5})(ms|h|m|s)/g;
  if (!/^([0-9]{1,5}(h|m|s|ms)){1,4}$/.test(value)) {
    throw new RangeError(`parseGatewayDuration: '${value}' is not a Gateway API duration`);
  }
  let total = 0;
  for (const m of value.matchAll(part)) total += Number(m[1]) * unit[m[2]];
  return total;
}
