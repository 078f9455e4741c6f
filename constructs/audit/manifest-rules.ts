/**
 * The manifest checks that are not single-object workload checks, in TypeScript: MEM-2
 * (which reads the JSON memory plan recorded on the workload, something CEL cannot parse),
 * the cross-object rules OPS-3 (a PodDisruptionBudget for each inference Deployment) and
 * OBS-1 (a ServiceMonitor or PodMonitor selecting each inference workload), and NET-1,
 * NET-2 and NET-3 on Envoy Gateway BackendTrafficPolicy objects.
 */
import { GPU_RESOURCE, PLAN_ANNOTATION } from '../conventions';
import { MODEL_CATALOGUE, isWeightFormat, planMemory } from '../planner';
import { ComplianceError, RuleId, Standard, gpuMemoryBytes } from '../standard';
import { podMetadataPath, podSpecPath } from './workload-rules';

type Json = Record<string, unknown>;

const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** A finding of a TypeScript manifest check, before it is placed in a file. */
export interface ObjectFinding {
  /** The rule broken. */
  readonly rule: RuleId;
  /** The path of the offending field in the object. */
  readonly field: string;
  /** One line saying what to change, starting with the rule id. */
  readonly message: string;
}

/** A Kubernetes object with the facts the cross-object checks need. */
export interface ManifestObject {
  /** The object as parsed. */
  readonly object: Json;
  /** Its kind. */
  readonly kind: string;
  /** Its namespace, when it names one. */
  readonly namespace?: string;
  /** True when the CEL scope says it is an inference workload. */
  readonly inference: boolean;
}

function get(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/** The pod labels of a workload. */
export function workloadPodLabels(o: ManifestObject): Record<string, string> {
  const labels = get(o.object, `${podMetadataPath(o.kind)}.labels`);
  return isObj(labels) ? (labels as Record<string, string>) : {};
}

/** True when a Kubernetes label selector (matchLabels and matchExpressions) selects `labels`. */
export function selectorMatches(selector: unknown, labels: Record<string, string>): boolean {
  if (!isObj(selector)) return false;
  const matchLabels = isObj(selector.matchLabels) ? selector.matchLabels : {};
  if (!Object.entries(matchLabels).every(([k, v]) => labels[k] === v)) return false;
  const expressions = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  return expressions.every((e) => {
    if (!isObj(e) || typeof e.key !== 'string') return false;
    const values = Array.isArray(e.values) ? e.values : [];
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    switch (e.operator) {
      case 'In':
        return has && values.includes(labels[e.key]);
      case 'NotIn':
        return !has || !values.includes(labels[e.key]);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        return false;
    }
  });
}

const sameNamespace = (a?: string, b?: string): boolean => (a ?? 'default') === (b ?? 'default');

// ---- MEM-2 ----

/**
 * MEM-2 through the memory plan recorded on the workload: the plan exists, fits within the
 * standard's share of the GPU memory, and holds as many GPUs as the engine container asks.
 */
export function checkMemoryPlan(o: ManifestObject, standard: Standard): ObjectFinding[] {
  const field = `metadata.annotations['${PLAN_ANNOTATION}']`;
  const raw =
    (get(o.object, 'metadata.annotations') as Json | undefined)?.[PLAN_ANNOTATION] ??
    (get(o.object, `${podMetadataPath(o.kind)}.annotations`) as Json | undefined)?.[
      PLAN_ANNOTATION
    ];
  const fail = (message: string): ObjectFinding[] => [{ rule: 'MEM-2', field, message }];
  if (typeof raw !== 'string') {
    return fail(
      `MEM-2: record the memory plan in the ${PLAN_ANNOTATION} annotation (synthesize with InferenceService); without it the fit cannot be checked`,
    );
  }
  let plan: Json;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (!isObj(parsed)) throw new Error('not an object');
    plan = parsed;
  } catch {
    return fail(`MEM-2: the ${PLAN_ANNOTATION} annotation is not a JSON memory plan`);
  }
  const num = (k: string) =>
    typeof plan[k] === 'number' && Number.isFinite(plan[k]) ? (plan[k] as number) : undefined;
  const total = num('totalBytes');
  const budget = num('budgetBytes');
  const gpus = num('gpusPerPod');
  if (total === undefined || budget === undefined || gpus === undefined) {
    return fail('MEM-2: the memory plan lacks totalBytes, budgetBytes or gpusPerPod');
  }
  const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;
  const limit = gpuMemoryBytes(standard) * standard.memory.engineMemoryFraction;
  if (budget > Math.ceil(limit)) {
    return fail(
      `MEM-2: the plan's budget ${gib(budget)} per GPU is over ${Math.round(standard.memory.engineMemoryFraction * 100)}% of the GPU (${gib(limit)}); plan with the standard`,
    );
  }
  if (total > budget) {
    return fail(
      `MEM-2: the model needs ${gib(total)} per GPU, over the budget of ${gib(budget)}; use more GPUs, quantized weights or a smaller token budget`,
    );
  }
  const containers = get(o.object, `${podSpecPath(o.kind)}.containers`);
  const held = (Array.isArray(containers) ? containers : []).reduce((n: number, c: unknown) => {
    const v = get(c, 'resources.limits');
    const q = isObj(v) ? v[GPU_RESOURCE] : undefined;
    return n + (q === undefined ? 0 : Number(q));
  }, 0);
  if (held !== gpus) {
    return [
      {
        rule: 'MEM-2',
        field: `${podSpecPath(o.kind)}.containers[*].resources.limits['${GPU_RESOURCE}']`,
        message: `MEM-2: the plan was made for ${gpus} GPU(s) but the pod holds ${held}; re-plan or set the GPU limit to ${gpus}`,
      },
    ];
  }
  return checkEngineAgainstPlan(o, plan, standard);
}

/** vLLM's own defaults, which apply when a flag is absent. */
const VLLM_DEFAULTS = Object.freeze({ memoryFraction: 0.9, maxNumSeqs: 256 });

/** The value of `--flag v` or `--flag=v` in a container's command line. */
function flag(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) return argv[i + 1];
    if (argv[i].startsWith(`${name}=`)) return argv[i].slice(name.length + 1);
  }
  return undefined;
}

/**
 * A recorded plan is a claim; the engine's arguments are what runs. For a vLLM container this
 * re-plans the recorded model with the arguments it actually carries (memory fraction, model
 * length, concurrent sequences, tensor-parallel size; vLLM's defaults where one is absent)
 * and reports MEM-2 when that plan does not fit, or the arguments outrun the recorded plan.
 */
function checkEngineAgainstPlan(
  o: ManifestObject,
  plan: Json,
  standard: Standard,
): ObjectFinding[] {
  const containers = get(o.object, `${podSpecPath(o.kind)}.containers`);
  const list = (Array.isArray(containers) ? containers : []).filter(isObj);
  const argvs = list.map((c) =>
    [...((c.command as unknown[]) ?? []), ...((c.args as unknown[]) ?? [])].map(String),
  );
  const index = argvs.findIndex(
    (argv) => argv.includes('--model') || argv.some((a) => a.startsWith('--model=')),
  );
  if (index < 0) return [];
  const argv = argvs[index];
  const field = `${podSpecPath(o.kind)}.containers[${index}].args`;
  const out: ObjectFinding[] = [];
  const num = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v));
  const fraction = num(flag(argv, '--gpu-memory-utilization'), VLLM_DEFAULTS.memoryFraction);
  const planned = (k: string) => (typeof plan[k] === 'number' ? (plan[k] as number) : undefined);
  const model = typeof plan.model === 'string' ? MODEL_CATALOGUE[plan.model] : undefined;
  const modelLen = num(flag(argv, '--max-model-len'), model?.maxContextTokens ?? Number.NaN);
  const seqs = num(flag(argv, '--max-num-seqs'), VLLM_DEFAULTS.maxNumSeqs);
  // A tensor-parallel size other than the plan's is HW-2's finding; re-plan at the plan's.
  const tp = planned('tensorParallelSize') ?? num(flag(argv, '--tensor-parallel-size'), 1);
  const limits: [string, number, number | undefined][] = [
    [
      '--gpu-memory-utilization',
      fraction,
      Math.min(planned('memoryFraction') ?? 1, standard.memory.engineMemoryFraction),
    ],
    ['--max-model-len', modelLen, planned('tokenBudget')],
    ['--max-num-seqs', seqs, planned('concurrency')],
  ];
  for (const [name, value, limit] of limits) {
    if (limit !== undefined && !(value <= limit)) {
      out.push({
        rule: 'MEM-2',
        field: `${field}[${name}]`,
        message: `MEM-2: ${name} is ${Number.isNaN(value) ? 'unset' : value} but the recorded plan allows at most ${limit}; the memory the plan promised is not the memory the engine will use`,
      });
    }
  }
  if (out.length > 0 || !model || typeof plan.weights !== 'string' || !isWeightFormat(plan.weights))
    return out;
  // The recorded model is a catalogue model: re-plan it with the arguments that will run.
  try {
    const actual = planMemory(
      {
        model,
        weights: plan.weights,
        tokenBudget: modelLen,
        concurrency: seqs,
        tensorParallelSize: tp,
      },
      standard,
    );
    if (!actual.fits) {
      out.push({
        rule: 'MEM-2',
        field,
        message: `MEM-2: re-planned with its own arguments, ${model.name} in ${plan.weights} needs ${(actual.totalBytes / 1024 ** 3).toFixed(1)} GiB per GPU at tensor-parallel ${tp}, over the budget of ${(actual.budgetBytes / 1024 ** 3).toFixed(1)} GiB`,
      });
    }
  } catch (e) {
    if (!ComplianceError.isComplianceError(e)) throw e;
    out.push({
      rule: 'MEM-2',
      field,
      message: `MEM-2: the engine arguments cannot be planned: ${e.message}`,
    });
  }
  return out;
}

// ---- OPS-3 and OBS-1 (cross-object) ----

const LONG_RUNNING = new Set(['Deployment', 'StatefulSet']);
const MONITORED = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/** OPS-3: a PodDisruptionBudget in the same input selects each inference Deployment. */
export function checkDisruptionBudgets(
  objects: readonly ManifestObject[],
): Map<ManifestObject, ObjectFinding[]> {
  const out = new Map<ManifestObject, ObjectFinding[]>();
  const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget');
  for (const w of objects.filter((o) => o.inference && LONG_RUNNING.has(o.kind))) {
    const labels = workloadPodLabels(w);
    const covered = pdbs.some(
      (p) =>
        sameNamespace(p.namespace, w.namespace) &&
        selectorMatches(get(p.object, 'spec.selector'), labels),
    );
    if (!covered) {
      out.set(w, [
        {
          rule: 'OPS-3',
          field: `${podMetadataPath(w.kind)}.labels`,
          message:
            'OPS-3: add a PodDisruptionBudget (maxUnavailable: 1) whose selector matches these pods',
        },
      ]);
    }
  }
  return out;
}

function namespaceAllowed(
  selector: unknown,
  own: string | undefined,
  target: string | undefined,
): boolean {
  if (!isObj(selector)) return sameNamespace(own, target);
  if (selector.any === true) return true;
  if (Array.isArray(selector.matchNames)) return selector.matchNames.includes(target ?? 'default');
  return sameNamespace(own, target);
}

/** OBS-1: a ServiceMonitor (through a Service) or a PodMonitor selects each inference workload. */
export function checkScrapeTargets(
  objects: readonly ManifestObject[],
): Map<ManifestObject, ObjectFinding[]> {
  const out = new Map<ManifestObject, ObjectFinding[]>();
  const podMonitors = objects.filter((o) => o.kind === 'PodMonitor');
  const serviceMonitors = objects.filter((o) => o.kind === 'ServiceMonitor');
  const services = objects.filter((o) => o.kind === 'Service');
  for (const w of objects.filter((o) => o.inference && MONITORED.has(o.kind))) {
    const labels = workloadPodLabels(w);
    const byPod = podMonitors.some(
      (m) =>
        namespaceAllowed(get(m.object, 'spec.namespaceSelector'), m.namespace, w.namespace) &&
        selectorMatches(get(m.object, 'spec.selector'), labels),
    );
    const byService = services.some((s) => {
      const podSelector = get(s.object, 'spec.selector');
      if (!sameNamespace(s.namespace, w.namespace) || !isObj(podSelector)) return false;
      if (Object.keys(podSelector).length === 0) return false;
      if (!Object.entries(podSelector).every(([k, v]) => labels[k] === v)) return false;
      const serviceLabels = (get(s.object, 'metadata.labels') ?? {}) as Record<string, string>;
      return serviceMonitors.some(
        (m) =>
          namespaceAllowed(get(m.object, 'spec.namespaceSelector'), m.namespace, s.namespace) &&
          selectorMatches(get(m.object, 'spec.selector'), serviceLabels),
      );
    });
    if (!byPod && !byService) {
      out.set(w, [
        {
          rule: 'OBS-1',
          field: `${podMetadataPath(w.kind)}.labels`,
          message:
            'OBS-1: add a ServiceMonitor (through the Service) or a PodMonitor that selects these pods, so the five required metrics are scraped',
        },
      ]);
    }
  }
  return out;
}

// ---- NET-1, NET-2, NET-3 on BackendTrafficPolicy ----

/** A Gateway API duration (`5s`, `500ms`, `1m30s`) in milliseconds, or undefined when not one. */
export function gatewayDurationMs(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^([0-9]+(\.[0-9]+)?(h|ms|m|s))+$/.test(value))
    return undefined;
  const unit: Record<string, number> = { h: 3600000, m: 60000, s: 1000, ms: 1 };
  let total = 0;
  for (const m of value.matchAll(/([0-9]+(?:\.[0-9]+)?)(h|ms|m|s)/g))
    total += Number(m[1]) * unit[m[2]];
  return total;
}

/** Retry triggers that fire after the request reached the engine: never allowed (NET-2). */
const UNSAFE_TRIGGERS = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'retriable-status-codes',
  'retriable-4xx',
  'deadline-exceeded',
  'internal',
  'unavailable',
  'resource-exhausted',
  'cancelled',
]);

/** NET-1, NET-2 and NET-3 on one BackendTrafficPolicy. */
export function checkTrafficPolicy(policy: Json, standard: Standard): ObjectFinding[] {
  const t = standard.traffic;
  const findings: ObjectFinding[] = [];
  const timeout = get(policy, 'spec.timeout.http.requestTimeout');
  const ms = gatewayDurationMs(timeout);
  if (ms === undefined || ms > t.requestTimeoutMs) {
    findings.push({
      rule: 'NET-1',
      field: 'spec.timeout.http.requestTimeout',
      message: `NET-1: set timeout.http.requestTimeout to at most ${t.requestTimeoutMs}ms (found ${timeout === undefined ? 'none' : String(timeout)})`,
    });
  }
  const retry = get(policy, 'spec.retry');
  if (isObj(retry)) {
    const n = retry.numRetries;
    if (typeof n !== 'number' || n > t.maxRetries) {
      findings.push({
        rule: 'NET-2',
        field: 'spec.retry.numRetries',
        message: `NET-2: set retry.numRetries to at most ${t.maxRetries} (found ${n === undefined ? 'the default' : String(n)})`,
      });
    }
    const triggers = get(retry, 'retryOn.triggers');
    const codes = get(retry, 'retryOn.httpStatusCodes');
    const unsafe = (Array.isArray(triggers) ? triggers : []).filter((x) =>
      UNSAFE_TRIGGERS.has(String(x)),
    );
    const fiveXx = (Array.isArray(codes) ? codes : []).filter((c) => Number(c) >= 500);
    if (!Array.isArray(triggers) || unsafe.length > 0 || fiveXx.length > 0) {
      findings.push({
        rule: 'NET-2',
        field: 'spec.retry.retryOn',
        message: `NET-2: retry only on connect-failure, refused-stream or reset-before-request, never on 5xx or timeouts (found ${[...unsafe, ...fiveXx].join(', ') || 'no explicit triggers'})`,
      });
    }
    if (!isObj(get(retry, 'perRetry.backOff'))) {
      findings.push({
        rule: 'NET-2',
        field: 'spec.retry.perRetry.backOff',
        message: `NET-2: set perRetry.backOff (base ${t.retryBackoffBaseMs}ms, max ${t.retryBackoffMaxMs}ms) so retries back off with jitter`,
      });
    }
  }
  const breaker = get(policy, 'spec.circuitBreaker');
  if (!isObj(breaker) || typeof breaker.maxPendingRequests !== 'number') {
    findings.push({
      rule: 'NET-3',
      field: 'spec.circuitBreaker.maxPendingRequests',
      message:
        'NET-3: bound the queue in front of the engine: set circuitBreaker.maxPendingRequests (overflow gets 503 at once)',
    });
  }
  return findings;
}

// ---- NET-1, NET-2, NET-3 on routes (cross-object) ----

/** A Gateway API duration (`5s`, `500ms`, `1m`, `1h30m`) in milliseconds, or undefined. */
function durationMs(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^(\d+(h|m|s|ms))+$/.test(value)) return undefined;
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  let total = 0;
  for (const [, n, u] of value.matchAll(/(\d+)(ms|h|m|s)/g)) total += Number(n) * unit[u];
  return total;
}

/**
 * An HTTPRoute that sends traffic to the Service of an inference workload must be bounded
 * like the routes InferenceTraffic writes: every rule carries a request timeout within the
 * standard's (NET-1), and a BackendTrafficPolicy targets the route, carrying the retry
 * bounds and circuit breaker (NET-2, NET-3; the policy's own fields are checked where it
 * stands). A route without a policy has Envoy's defaults: no retry budget, no queue bound.
 */
export function checkInferenceRoutes(
  objects: readonly ManifestObject[],
  standard: Standard,
): Map<ManifestObject, ObjectFinding[]> {
  const out = new Map<ManifestObject, ObjectFinding[]>();
  const workloads = objects.filter((o) => o.inference);
  const inferenceServices = objects.filter((s) => {
    const selector = get(s.object, 'spec.selector');
    if (s.kind !== 'Service' || !isObj(selector) || Object.keys(selector).length === 0)
      return false;
    return workloads.some(
      (w) =>
        sameNamespace(s.namespace, w.namespace) &&
        Object.entries(selector).every(([k, v]) => workloadPodLabels(w)[k] === v),
    );
  });
  const policies = objects.filter((o) => o.kind === 'BackendTrafficPolicy');
  const limit = standard.traffic.requestTimeoutMs;
  for (const route of objects.filter((o) => o.kind === 'HTTPRoute')) {
    const rules = get(route.object, 'spec.rules');
    const list = (Array.isArray(rules) ? rules : []).filter(isObj);
    const name = String(get(route.object, 'metadata.name') ?? '');
    const toInference = list.some((r) =>
      (Array.isArray(r.backendRefs) ? r.backendRefs : [])
        .filter(isObj)
        .some((b) =>
          inferenceServices.some(
            (s) =>
              (b.kind === undefined || b.kind === 'Service') &&
              b.name === get(s.object, 'metadata.name') &&
              sameNamespace(
                typeof b.namespace === 'string' ? b.namespace : route.namespace,
                s.namespace,
              ),
          ),
        ),
    );
    if (!toInference) continue;
    const findings: ObjectFinding[] = [];
    list.forEach((r, i) => {
      const ms = durationMs(get(r, 'timeouts.request'));
      if (ms === undefined || ms === 0 || ms > limit) {
        findings.push({
          rule: 'NET-1',
          field: `spec.rules[${i}].timeouts.request`,
          message: `NET-1: a route to an inference service cuts every request at ${limit} ms (504); set timeouts.request to ${limit / 1000}s or less`,
        });
      }
    });
    const targeted = policies.some((p) => {
      if (!sameNamespace(p.namespace, route.namespace)) return false;
      const refs = [
        get(p.object, 'spec.targetRef'),
        ...((get(p.object, 'spec.targetRefs') as unknown[]) ?? []),
      ];
      return refs.some((t) => isObj(t) && t.kind === 'HTTPRoute' && t.name === name);
    });
    if (!targeted) {
      findings.push({
        rule: 'NET-2',
        field: 'metadata.name',
        message:
          'NET-2: no BackendTrafficPolicy targets this route to an inference service: bound its retries, backoff and budget (InferenceTraffic writes one)',
      });
      findings.push({
        rule: 'NET-3',
        field: 'metadata.name',
        message:
          'NET-3: no BackendTrafficPolicy targets this route to an inference service: bound its pending queue with a circuit breaker',
      });
    }
    if (findings.length > 0) out.set(route, findings);
  }
  return out;
}
