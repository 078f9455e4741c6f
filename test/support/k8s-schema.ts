/**
 * Validation of generated Kubernetes manifests against the API schemas of Kubernetes
 * 1.33, the version of the cluster (`InferenceCluster`).
 *
 * Three layers, because the API server applies three:
 * 1. the OpenAPI schema of each kind, as compiled into the `kubernetes-models` package
 *    (types, enums, required fields, formats such as `quantity`);
 * 2. unknown fields: the compiled schemas do not reject them (the API server drops them
 *    silently, which is exactly how a typo'd field ships), so every property the schema
 *    does not declare is an error here;
 * 3. the API server's own Go validation that no schema expresses: names, labels,
 *    annotations, exact quantity syntax, selectors that match their template, container,
 *    port and volume names (see `k8s-names.ts`).
 *
 * Unknown kinds are an error ("no schema for kind"), never silently valid.
 */
import {
  FieldProblem,
  dns1123Label,
  nameValidatorFor,
  portName,
  qualifiedName,
  quantity,
  quantityValue,
  validateLabels,
  validateObjectMeta,
} from './k8s-names';

/** The Kubernetes version the schemas of kubernetes-models 4.5.1 were generated from. */
export const KUBERNETES_SCHEMA_VERSION = '1.33';

/**
 * The group versions served by default by Kubernetes 1.33 that the package has schemas
 * for. Beta and removed versions (apps/v1beta1, policy/v1beta1, ...) are in the package
 * for history, but the cluster does not serve them: they are not registered, so an object
 * that uses one fails with "no schema".
 */
const SERVED_GROUP_VERSIONS: readonly string[] = [
  'v1',
  'admissionregistration.k8s.io/v1',
  'apiextensions.k8s.io/v1',
  'apiregistration.k8s.io/v1',
  'apps/v1',
  'authentication.k8s.io/v1',
  'authorization.k8s.io/v1',
  'autoscaling/v1',
  'autoscaling/v2',
  'batch/v1',
  'certificates.k8s.io/v1',
  'coordination.k8s.io/v1',
  'discovery.k8s.io/v1',
  'events.k8s.io/v1',
  'flowcontrol.apiserver.k8s.io/v1',
  'networking.k8s.io/v1',
  'node.k8s.io/v1',
  'policy/v1',
  'rbac.authorization.k8s.io/v1',
  'scheduling.k8s.io/v1',
  'storage.k8s.io/v1',
];

/** A model class of kubernetes-models: static apiVersion and kind, and a validate method. */
interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  readonly prototype: { validate(this: unknown): void };
}

/** An ajv error as kubernetes-models reports it. */
interface SchemaError {
  readonly instancePath: string;
  readonly message?: string;
  readonly params?: Record<string, unknown>;
}

let registry: Map<string, ModelClass> | undefined;

function models(): Map<string, ModelClass> {
  if (registry) return registry;
  registry = new Map();
  for (const groupVersion of SERVED_GROUP_VERSIONS) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const module = require(`kubernetes-models/${groupVersion}`) as Record<string, unknown>;
    for (const value of Object.values(module)) {
      const model = value as Partial<ModelClass>;
      if (
        typeof value === 'function' &&
        model.apiVersion === groupVersion &&
        typeof model.kind === 'string' &&
        !model.kind.endsWith('List')
      ) {
        registry.set(`${groupVersion}/${model.kind}`, model as ModelClass);
      }
    }
  }
  return registry;
}

/** The `apiVersion/kind` pairs that have a schema, sorted. */
export function knownK8sKinds(): string[] {
  return [...models().keys()].sort();
}

// --- Unknown fields -----------------------------------------------------------------------

/** What the compiled validator did with one object: the keys it read, whether it listed them. */
interface Access {
  readonly read: Set<string>;
  enumerated: boolean;
}

/**
 * Wraps a value so that every property the compiled validator reads is recorded. An ajv
 * validator reads each property its schema declares (`data.replicas`) and enumerates the
 * keys only of maps (`additionalProperties`); so a key that was never read, in an object
 * the validator looked into, is not in the schema. An object it never looked into (a
 * free-form field, or a parent of the wrong type) is not judged.
 */
function recording(root: unknown): { proxy: unknown; access: WeakMap<object, Access> } {
  const access = new WeakMap<object, Access>();
  const proxies = new WeakMap<object, object>();
  const entry = (target: object): Access => {
    let a = access.get(target);
    if (!a) {
      a = { read: new Set(), enumerated: false };
      access.set(target, a);
    }
    return a;
  };
  const wrap = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const cached = proxies.get(value);
    if (cached) return cached;
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        if (typeof key === 'string') entry(target).read.add(key);
        return wrap(Reflect.get(target, key, receiver));
      },
      has(target, key) {
        if (typeof key === 'string') entry(target).read.add(key);
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        entry(target).enumerated = true;
        return Reflect.ownKeys(target);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  return { proxy: wrap(root), access };
}

function unknownFields(
  value: unknown,
  path: string,
  access: WeakMap<object, Access>,
  out: FieldProblem[],
): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => unknownFields(item, `${path}/${i}`, access, out));
    return;
  }
  const seen = access.get(value);
  if (!seen) return;
  for (const [key, child] of Object.entries(value)) {
    if (!seen.enumerated && !seen.read.has(key)) {
      out.push({
        path: `${path}/${key}`,
        message: `unknown field "${key}": not in the schema, the API server would drop it`,
      });
    } else {
      unknownFields(child, `${path}/${key}`, access, out);
    }
  }
}

function describeSchemaError(e: SchemaError): FieldProblem {
  const params = e.params ?? {};
  let message = e.message ?? 'is invalid';
  if (Array.isArray(params.allowedValues)) message += `: ${params.allowedValues.join(', ')}`;
  return { path: e.instancePath || '/', message };
}

// --- The API server's Go validation -----------------------------------------------------

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function list(v: unknown): Obj[] {
  return Array.isArray(v) ? v.filter(isObj) : [];
}

/** Label selectors anywhere: matchLabels and matchExpressions (ValidateLabelSelector). */
function selectors(value: unknown, path: string, out: FieldProblem[]): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => selectors(v, `${path}/${i}`, out));
    return;
  }
  if (!isObj(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const p = `${path}/${key}`;
    if (key === 'matchLabels' && isObj(child)) out.push(...validateLabels(child, p));
    if (key === 'matchExpressions' && Array.isArray(child)) {
      list(child).forEach((req, i) => {
        if (typeof req.key === 'string') {
          out.push(...qualifiedName(req.key).map((m) => ({ path: `${p}/${i}/key`, message: m })));
        }
        const values = Array.isArray(req.values) ? req.values : [];
        if ((req.operator === 'In' || req.operator === 'NotIn') && values.length === 0) {
          out.push({
            path: `${p}/${i}/values`,
            message: 'must be specified when `operator` is In or NotIn',
          });
        }
        if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && values.length > 0) {
          out.push({
            path: `${p}/${i}/values`,
            message: 'may not be specified when `operator` is Exists or DoesNotExist',
          });
        }
      });
    }
    selectors(child, p, out);
  }
}

/** Whether a LabelSelector selects a label set (metav1.LabelSelectorAsSelector semantics). */
function selectorMatches(selector: Obj, labels: Record<string, unknown>): boolean {
  const matchLabels = isObj(selector.matchLabels) ? selector.matchLabels : {};
  for (const [k, v] of Object.entries(matchLabels)) if (labels[k] !== v) return false;
  for (const req of list(selector.matchExpressions)) {
    const key = String(req.key);
    const values = Array.isArray(req.values) ? req.values : [];
    const has = Object.prototype.hasOwnProperty.call(labels, key);
    if (req.operator === 'In' && !(has && values.includes(labels[key]))) return false;
    if (req.operator === 'NotIn' && has && values.includes(labels[key])) return false;
    if (req.operator === 'Exists' && !has) return false;
    if (req.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function problems(path: string, messages: string[], prefix = ''): FieldProblem[] {
  return messages.map((m) => ({ path, message: `${prefix}${m}` }));
}

function duplicate(seen: Set<string>, value: string, path: string, out: FieldProblem[]): void {
  if (seen.has(value)) out.push({ path, message: `Duplicate value: "${value}"` });
  seen.add(value);
}

/** ValidatePodSpec, the parts no schema expresses. */
function podSpec(spec: unknown, path: string, out: FieldProblem[]): void {
  if (!isObj(spec)) return;
  const volumeNames = new Set<string>();
  list(spec.volumes).forEach((v, i) => {
    if (typeof v.name === 'string') {
      out.push(...problems(`${path}/volumes/${i}/name`, dns1123Label(v.name), `'${v.name}': `));
      duplicate(volumeNames, v.name, `${path}/volumes/${i}/name`, out);
    }
    if (isObj(v.emptyDir) && v.emptyDir.sizeLimit !== undefined) {
      out.push(
        ...problems(`${path}/volumes/${i}/emptyDir/sizeLimit`, quantity(v.emptyDir.sizeLimit)),
      );
    }
  });
  if (isObj(spec.nodeSelector))
    out.push(...validateLabels(spec.nodeSelector, `${path}/nodeSelector`));
  const containerNames = new Set<string>();
  for (const group of ['initContainers', 'containers']) {
    list(spec[group]).forEach((c, i) => {
      const cpath = `${path}/${group}/${i}`;
      if (typeof c.name === 'string') {
        out.push(...problems(`${cpath}/name`, dns1123Label(c.name), `'${c.name}': `));
        duplicate(containerNames, c.name, `${cpath}/name`, out);
      }
      const portNames = new Set<string>();
      list(c.ports).forEach((p, j) => {
        if (typeof p.name === 'string') {
          out.push(...problems(`${cpath}/ports/${j}/name`, portName(p.name), `'${p.name}': `));
          duplicate(portNames, p.name, `${cpath}/ports/${j}/name`, out);
        }
      });
      list(c.volumeMounts).forEach((m, j) => {
        if (typeof m.name === 'string' && !volumeNames.has(m.name)) {
          out.push({ path: `${cpath}/volumeMounts/${j}/name`, message: `Not found: "${m.name}"` });
        }
      });
      resources(c.resources, `${cpath}/resources`, out);
    });
  }
}

/** Exact quantity syntax, non-negative values, and requests <= limits (ValidateResourceRequirements). */
function resources(value: unknown, path: string, out: FieldProblem[]): void {
  if (!isObj(value)) return;
  const parsed: Record<string, Record<string, number>> = { limits: {}, requests: {} };
  for (const part of ['limits', 'requests'] as const) {
    const map = value[part];
    if (!isObj(map)) continue;
    for (const [name, q] of Object.entries(map)) {
      const p = `${path}/${part}/${name}`;
      const errors = quantity(q);
      out.push(...problems(p, errors, `'${String(q)}': `));
      if (errors.length > 0) continue;
      const n = quantityValue(q as string | number);
      if (n < 0)
        out.push({ path: p, message: `'${String(q)}': must be greater than or equal to 0` });
      parsed[part][name] = n;
    }
  }
  for (const [name, request] of Object.entries(parsed.requests)) {
    const limit = parsed.limits[name];
    if (limit !== undefined && request > limit) {
      out.push({
        path: `${path}/requests/${name}`,
        message: `must be less than or equal to ${name} limit of ${String((value.limits as Obj)[name])}`,
      });
    }
  }
}

/** The pod template of the workload kinds, with its path. */
function podTemplate(obj: Obj): { template: Obj; path: string } | undefined {
  const spec = isObj(obj.spec) ? obj.spec : undefined;
  if (!spec) return undefined;
  if (['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job'].includes(String(obj.kind))) {
    return isObj(spec.template) ? { template: spec.template, path: '/spec/template' } : undefined;
  }
  if (obj.kind === 'CronJob' && isObj(spec.jobTemplate) && isObj(spec.jobTemplate.spec)) {
    const t = spec.jobTemplate.spec.template;
    return isObj(t) ? { template: t, path: '/spec/jobTemplate/spec/template' } : undefined;
  }
  return undefined;
}

function goValidation(obj: Obj): FieldProblem[] {
  const out: FieldProblem[] = [];
  out.push(
    ...validateObjectMeta(obj.metadata, nameValidatorFor(String(obj.apiVersion), String(obj.kind))),
  );
  selectors(obj.spec, '/spec', out);
  if (obj.kind === 'Pod') podSpec(obj.spec, '/spec', out);
  const t = podTemplate(obj);
  if (t) {
    out.push(...validateObjectMeta(t.template.metadata, () => [], `${t.path}/metadata`));
    podSpec(t.template.spec, `${t.path}/spec`, out);
    const spec = obj.spec as Obj;
    const labels =
      isObj(t.template.metadata) && isObj(t.template.metadata.labels)
        ? t.template.metadata.labels
        : {};
    if (['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet'].includes(String(obj.kind))) {
      const selector = isObj(spec.selector) ? spec.selector : undefined;
      const empty =
        !selector ||
        (Object.keys(isObj(selector.matchLabels) ? selector.matchLabels : {}).length === 0 &&
          list(selector.matchExpressions).length === 0);
      if (empty) {
        out.push({
          path: '/spec/selector',
          message: `empty selector is invalid for ${String(obj.kind)}`,
        });
      } else if (!selectorMatches(selector, labels)) {
        out.push({
          path: '/spec/template/metadata/labels',
          message: '`selector` does not match template `labels`',
        });
      }
      const restart = isObj(t.template.spec) ? t.template.spec.restartPolicy : undefined;
      if (restart !== undefined && restart !== 'Always') {
        out.push({
          path: '/spec/template/spec/restartPolicy',
          message: `Unsupported value: "${String(restart)}": supported values: "Always"`,
        });
      }
    }
  }
  if (obj.kind === 'Service' && isObj(obj.spec)) {
    const spec = obj.spec;
    if (isObj(spec.selector)) out.push(...validateLabels(spec.selector, '/spec/selector'));
    const ports = list(spec.ports);
    const names = new Set<string>();
    ports.forEach((p, i) => {
      const path = `/spec/ports/${i}`;
      if (typeof p.name === 'string') {
        out.push(...problems(`${path}/name`, dns1123Label(p.name), `'${p.name}': `));
        duplicate(names, p.name, `${path}/name`, out);
      } else if (ports.length > 1) {
        out.push({
          path: `${path}/name`,
          message: 'Required value: a Service with more than one port names each port',
        });
      }
      if (typeof p.targetPort === 'string') {
        out.push(...problems(`${path}/targetPort`, portName(p.targetPort), `'${p.targetPort}': `));
      } else if (typeof p.targetPort === 'number' && (p.targetPort < 1 || p.targetPort > 65535)) {
        out.push({ path: `${path}/targetPort`, message: 'must be between 1 and 65535, inclusive' });
      }
    });
  }
  return out;
}

// --- The API ------------------------------------------------------------------------------

function label(obj: unknown): string {
  if (!isObj(obj)) return '<not an object>';
  const name = isObj(obj.metadata) ? (obj.metadata.name ?? obj.metadata.generateName) : undefined;
  return `${String(obj.kind ?? '<no kind>')}/${String(name ?? '<no name>')}`;
}

/**
 * Validates one Kubernetes object as the API server of Kubernetes 1.33 would on create:
 * the kind's schema, unknown fields, and the name, label, quantity, selector, container,
 * port and volume rules of its Go validation.
 *
 * @returns one line per problem, `Kind/name /json/path: message`; empty when valid
 */
export function validateK8sObject(obj: unknown): string[] {
  const prefix = label(obj);
  const fail = (problems: FieldProblem[]): string[] =>
    problems.map((p) => `${prefix} ${p.path}: ${p.message}`);
  if (!isObj(obj)) return [`${prefix}: a Kubernetes object must be a JSON object`];
  if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
    return fail([{ path: '/', message: 'apiVersion and kind are required strings' }]);
  }
  const model = models().get(`${obj.apiVersion}/${obj.kind}`);
  if (!model) {
    return fail([
      {
        path: '/',
        message: `no schema for kind ${obj.kind} in ${obj.apiVersion} (Kubernetes ${KUBERNETES_SCHEMA_VERSION} serves no such built-in kind; custom resources go through validateCustomResource)`,
      },
    ]);
  }
  const found: FieldProblem[] = [];
  // A JSON round trip gives the plain data the API server would receive (no undefined, no class instances).
  const data = JSON.parse(JSON.stringify(obj)) as Obj;
  const { proxy, access } = recording(data);
  try {
    model.prototype.validate.call(proxy);
  } catch (e) {
    const errors = (e as { errors?: SchemaError[] }).errors;
    if (!Array.isArray(errors)) throw e;
    // oneOf reports each failed branch and then itself; the branch errors say more.
    found.push(...errors.filter((x) => !/oneOf/.test(x.message ?? '')).map(describeSchemaError));
  }
  unknownFields(data, '', access, found);
  found.push(...goValidation(data));
  return fail(found);
}

/**
 * Fails the current jest test when any object is invalid, listing every problem of every
 * object (`Kind/name /path: message`). An empty list fails too: a synth that produced
 * nothing is not a valid one.
 */
export function expectValidK8sObjects(objs: readonly unknown[]): void {
  if (objs.length === 0) throw new Error('expectValidK8sObjects: no objects to validate');
  const errors = objs.flatMap((o) => validateK8sObject(o));
  if (errors.length > 0) {
    throw new Error(
      `${errors.length} Kubernetes schema error(s) in ${objs.length} object(s):\n  - ${errors.join('\n  - ')}`,
    );
  }
}
