/**
 * Validation of custom resources (Gateway API, Envoy Gateway, prometheus-operator)
 * against the CustomResourceDefinitions of the versions the project targets, as the API
 * server validates them on create:
 *
 * 1. the served version's structural `openAPIV3Schema`, with ajv, Kubernetes extensions
 *    included (`x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`,
 *    `nullable`, `x-kubernetes-list-type` set/map uniqueness, formats);
 * 2. unknown fields are errors wherever the schema does not preserve them (the API
 *    server prunes them silently);
 * 3. defaults are applied, as the API server does before validation, and then every
 *    `x-kubernetes-validations` rule is evaluated with CEL at its schema location. A rule
 *    that cannot be evaluated is a failure that says so, never a pass.
 *
 * The CRDs are read from `shared/crds` beside the repository (`../shared/crds` from the
 * repository root), every `*.yaml` file below it.
 */
import Ajv, { ErrorObject, SchemaObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync, readdirSync, statSync } from 'fs';
import { join } from 'path';
import { parseAllDocuments } from 'yaml';
import { celList, celMap, celTimestamp, compileRule, re2ToRegExp } from './k8s-cel';
import { validateK8sObject } from './k8s-schema';

/** Where the CRD files are: `shared/crds` beside the repository root. */
export const CRD_DIRECTORY = join(__dirname, '..', '..', '..', 'shared', 'crds');

type Schema = Record<string, unknown>;
type Obj = Record<string, unknown>;

interface CrdVersion {
  readonly group: string;
  readonly kind: string;
  readonly version: string;
  readonly served: boolean;
  readonly file: string;
  /** The schema as the CRD states it, for the CEL walk. */
  readonly schema: Schema;
  /** The schema prepared for ajv: strict objects, nullable, metadata left to ObjectMeta. */
  validate?: ValidateFunction;
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return yamlFiles(path);
      return /\.ya?ml$/.test(name) ? [path] : [];
    });
}

let crds: Map<string, CrdVersion> | undefined;

/** Every CRD version found, keyed by `group/version/Kind`. */
export function loadCrds(directory = CRD_DIRECTORY): Map<string, CrdVersion> {
  if (crds && directory === CRD_DIRECTORY) return crds;
  const found = new Map<string, CrdVersion>();
  for (const file of yamlFiles(directory)) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const crd = doc.toJS() as Obj | null;
      if (!isObj(crd) || crd.kind !== 'CustomResourceDefinition' || !isObj(crd.spec)) continue;
      const spec = crd.spec as { group: string; names: { kind: string }; versions: Obj[] };
      for (const v of spec.versions) {
        const schema = isObj(v.schema) ? (v.schema.openAPIV3Schema as Schema) : undefined;
        if (!schema) continue;
        found.set(`${spec.group}/${String(v.name)}/${spec.names.kind}`, {
          group: spec.group,
          kind: spec.names.kind,
          version: String(v.name),
          served: v.served === true,
          file,
          schema,
        });
      }
    }
  }
  if (directory === CRD_DIRECTORY) crds = found;
  return found;
}

// --- ajv with the Kubernetes extensions ---------------------------------------------------

/**
 * Go's time.ParseDuration syntax, which Kubernetes' `duration` format uses (not ISO 8601
 * as in ajv-formats).
 */
const GO_DURATION = /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$|^[-+]?0$/;

/** Every schema keyword the loader understands; the tests prove the CRDs use no other. */
export const HANDLED_KEYWORDS: readonly string[] = [
  'type',
  'description',
  'properties',
  'required',
  'items',
  'additionalProperties',
  'enum',
  'default',
  'format',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'allOf',
  'anyOf',
  'oneOf',
  'not',
  'nullable',
  'title',
  'example',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
];

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

let ajvInstance: Ajv | undefined;

function ajv(): Ajv {
  if (ajvInstance) return ajvInstance;
  const instance = new Ajv({
    allErrors: true,
    // verbose: errors carry the value, for messages such as `Unsupported value: "x"`.
    verbose: true,
    strict: false,
    useDefaults: true,
    // Schema patterns are Go RE2: leading inline flags such as (?i) need translating.
    code: {
      regExp: Object.assign((source: string) => re2ToRegExp(source), { code: 're2ToRegExp' }),
    },
  });
  addFormats(instance);
  instance.addFormat('duration', { type: 'string', validate: GO_DURATION });
  instance.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n <= 2 ** 31 - 1,
  });
  instance.addFormat('int64', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && Number.isSafeInteger(n),
  });
  instance.addKeyword({
    keyword: 'x-kubernetes-int-or-string',
    schemaType: 'boolean',
    validate: function intOrString(enabled: boolean, data: unknown): boolean {
      if (!enabled || typeof data === 'string' || Number.isInteger(data)) return true;
      (intOrString as { errors?: Partial<ErrorObject>[] }).errors = [
        {
          keyword: 'x-kubernetes-int-or-string',
          message: 'must be an integer or a string',
          params: {},
        },
      ];
      return false;
    },
    errors: true,
  });
  instance.addKeyword({
    keyword: 'x-kubernetes-list-type',
    schemaType: 'string',
    validate: function listType(type: string, data: unknown, parent?: SchemaObject): boolean {
      if (!Array.isArray(data) || (type !== 'set' && type !== 'map')) return true;
      const keys = (parent?.['x-kubernetes-list-map-keys'] as string[] | undefined) ?? [];
      const seen: unknown[] = [];
      for (const item of data) {
        const identity =
          type === 'set' ? item : keys.map((k) => (isObj(item) ? item[k] : undefined));
        if (seen.some((s) => deepEqual(s, identity))) {
          (listType as { errors?: Partial<ErrorObject>[] }).errors = [
            {
              keyword: 'x-kubernetes-list-type',
              message: `Duplicate value: ${JSON.stringify(identity)} (list-type ${type}${keys.length ? ` keyed by ${keys.join(', ')}` : ''})`,
              params: {},
            },
          ];
          return false;
        }
        seen.push(identity);
      }
      return true;
    },
    errors: true,
  });
  for (const keyword of [
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-embedded-resource',
    'x-kubernetes-validations',
    'x-kubernetes-list-map-keys',
    'x-kubernetes-map-type',
  ]) {
    instance.addKeyword({ keyword });
  }
  ajvInstance = instance;
  return instance;
}

/**
 * The schema as the API server applies it: every object that neither preserves unknown
 * fields nor declares a map gets `additionalProperties: false` (the server would prune
 * the rest); `nullable` admits null. Logical junctors (allOf, anyOf, oneOf, not) only
 * constrain values in a structural schema, so their branches are left as they are.
 */
function strict(schema: Schema): Schema {
  const out: Schema = { ...schema };
  if (out.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
  }
  // ajv's own `nullable` needs a single `type`; the union above says the same.
  delete out.nullable;
  if (isObj(out.properties)) {
    const props: Schema = {};
    for (const [k, v] of Object.entries(out.properties)) props[k] = strict(v as Schema);
    out.properties = props;
  }
  if (isObj(out.items)) out.items = strict(out.items as Schema);
  if (isObj(out.additionalProperties)) {
    out.additionalProperties = strict(out.additionalProperties as Schema);
  }
  const isObject = out.type === 'object' || isObj(out.properties);
  if (
    isObject &&
    out.additionalProperties === undefined &&
    out['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    out.additionalProperties = false;
  }
  return out;
}

function validatorFor(crd: CrdVersion): ValidateFunction {
  if (!crd.validate) {
    const root = strict(crd.schema);
    // metadata is ObjectMeta, checked by the built-in schema; apiVersion and kind are fixed.
    root.properties = {
      ...(root.properties as Schema),
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
    };
    crd.validate = ajv().compile(root);
  }
  return crd.validate;
}

function describeAjvError(e: ErrorObject): string {
  const path = e.instancePath || '/';
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return `${path}/${String(p.additionalProperty)}: unknown field "${String(p.additionalProperty)}": not in the schema, the API server would drop it`;
    case 'enum':
      return `${path}: Unsupported value: ${JSON.stringify(
        (e.data as unknown) ?? null,
      )}: supported values: ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${path}: ${e.message ?? 'is invalid'}`;
  }
}

// --- CEL ----------------------------------------------------------------------------------

/** CEL reserved words that Kubernetes escapes as `__word__` in property names. */
const CEL_RESERVED = new Set([
  'true',
  'false',
  'null',
  'in',
  'as',
  'break',
  'const',
  'continue',
  'else',
  'for',
  'function',
  'if',
  'import',
  'let',
  'loop',
  'package',
  'namespace',
  'return',
  'var',
  'void',
  'while',
]);

/**
 * The name of a declared property as CEL sees it (apiserver/pkg/cel escaping): reserved
 * words become `__word__`; `__`, `.`, `-`, `/` become `__underscores__`, `__dot__`,
 * `__dash__`, `__slash__`. A name that cannot be escaped is not visible to rules.
 */
export function escapePropertyName(name: string): string | undefined {
  if (name.length === 0 || /^[0-9]/.test(name)) return undefined;
  if (CEL_RESERVED.has(name)) return `__${name}__`;
  if (/[^a-zA-Z0-9\-./_]/.test(name)) return undefined;
  return name.replace(/__|[-./]/g, (s) =>
    s === '__' ? '__underscores__' : s === '.' ? '__dot__' : s === '-' ? '__dash__' : '__slash__',
  );
}

/** JSON data without a schema, as Kubernetes decodes it: whole numbers are int. */
function untypedToCel(value: unknown): unknown {
  if (Number.isInteger(value)) return BigInt(value as number);
  if (Array.isArray(value)) return celList(value.map(untypedToCel));
  if (isObj(value)) {
    const out = celMap();
    for (const [k, v] of Object.entries(value)) out[k] = untypedToCel(v);
    return out;
  }
  return value;
}

/** Converts data to the CEL value the API server builds from the schema. */
function toCel(value: unknown, schema: Schema | undefined): unknown {
  if (value === null || value === undefined) return value;
  if (!schema) return untypedToCel(value);
  if (schema['x-kubernetes-int-or-string'] === true) {
    return Number.isInteger(value) ? BigInt(value as number) : value;
  }
  switch (schema.type) {
    case 'integer':
      return Number.isInteger(value) ? BigInt(value as number) : value;
    case 'string':
      return schema.format === 'date-time' || schema.format === 'date'
        ? celTimestamp(value as string)
        : value;
    case 'array':
      return Array.isArray(value)
        ? celList(value.map((v) => toCel(v, schema.items as Schema | undefined)))
        : value;
    case 'object':
    case undefined: {
      if (!isObj(value)) return untypedToCel(value);
      const props = isObj(schema.properties) ? (schema.properties as Record<string, Schema>) : {};
      const extra = isObj(schema.additionalProperties)
        ? (schema.additionalProperties as Schema)
        : undefined;
      const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
      const out = celMap();
      for (const [k, v] of Object.entries(value)) {
        if (props[k]) {
          const name = escapePropertyName(k);
          if (name !== undefined) out[name] = toCel(v, props[k]);
        } else if (extra) {
          out[k] = toCel(v, extra);
        } else if (preserve || schema.type === undefined) {
          out[k] = untypedToCel(v);
        }
      }
      return out;
    }
    default:
      return value;
  }
}

interface CelFinding {
  readonly path: string;
  readonly message: string;
}

function evaluateRules(value: unknown, schema: Schema, path: string, out: CelFinding[]): void {
  const rules = schema['x-kubernetes-validations'];
  if (!Array.isArray(rules)) return;
  let self: unknown;
  let converted = false;
  for (const r of rules as Obj[]) {
    const rule = String(r.rule);
    // A transition rule compares with the stored object; on create there is none, and the
    // API server does not evaluate it (optionalOldSelf would only matter on update).
    if (/\boldSelf\b/.test(rule)) continue;
    if (!converted) {
      self = toCel(value, schema);
      converted = true;
    }
    const where = `${path || '/'}${typeof r.fieldPath === 'string' ? ` (${r.fieldPath})` : ''}`;
    let result: unknown;
    try {
      result = compileRule(rule)(self);
    } catch (e) {
      out.push({
        path: where,
        message: `x-kubernetes-validations rule could not be evaluated: ${(e as Error).message.split('\n')[0]} (rule: ${rule})`,
      });
      continue;
    }
    if (typeof result !== 'boolean') {
      out.push({
        path: where,
        message: `rule did not return a bool but ${String(result)} (rule: ${rule})`,
      });
    } else if (!result) {
      out.push({ path: where, message: `${ruleMessage(r, self)} (rule: ${rule})` });
    }
  }
}

/** The rule's message: messageExpression if it evaluates to a string, else message, else the rule. */
function ruleMessage(r: Obj, self: unknown): string {
  if (typeof r.messageExpression === 'string') {
    try {
      const m = compileRule(r.messageExpression)(self);
      if (typeof m === 'string' && m.trim() !== '') return m;
    } catch {
      // The API server falls back to message when messageExpression fails.
    }
  }
  if (typeof r.message === 'string' && r.message !== '') return r.message;
  return `failed rule: ${String(r.rule)}`;
}

/** Walks data and schema together and evaluates every rule where the data is present. */
function celWalk(
  value: unknown,
  schema: Schema | undefined,
  path: string,
  out: CelFinding[],
): void {
  if (!schema || value === undefined || value === null) return;
  evaluateRules(value, schema, path, out);
  if (Array.isArray(value) && isObj(schema.items)) {
    value.forEach((v, i) => celWalk(v, schema.items as Schema, `${path}/${i}`, out));
  } else if (isObj(value)) {
    const props = isObj(schema.properties) ? (schema.properties as Record<string, Schema>) : {};
    const extra = isObj(schema.additionalProperties)
      ? (schema.additionalProperties as Schema)
      : undefined;
    for (const [k, v] of Object.entries(value)) {
      celWalk(v, props[k] ?? extra, `${path}/${k}`, out);
    }
  }
}

// --- The API ------------------------------------------------------------------------------

function label(obj: Obj): string {
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  return `${String(obj.kind ?? '<no kind>')}/${String(meta.name ?? meta.generateName ?? '<no name>')}`;
}

/**
 * Validates one custom resource as the API server would on create, against the CRD of its
 * group, version and kind: metadata (ObjectMeta and its name rules), the structural
 * schema with unknown fields as errors, then, on the defaulted object, every CEL rule.
 *
 * @returns one line per problem, `Kind/name /json/path: message`; empty when valid
 */
export function validateCustomResource(obj: unknown): string[] {
  if (!isObj(obj)) return ['<not an object>: a custom resource must be a JSON object'];
  const prefix = label(obj);
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const crd = loadCrds().get(`${group}/${version}/${String(obj.kind)}`);
  if (!crd) {
    return [
      `${prefix} /: no schema for kind ${String(obj.kind)} in ${apiVersion || '<no apiVersion>'}: no CustomResourceDefinition in ${CRD_DIRECTORY} defines it`,
    ];
  }
  if (!crd.served)
    return [`${prefix} /: ${apiVersion} ${crd.kind} is not a served version of the CRD`];

  const errors: string[] = [];
  // metadata: the built-in ObjectMeta schema and the default name rule (DNS-1123 subdomain).
  const meta = validateK8sObject({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: obj.metadata ?? {},
  });
  errors.push(...meta.map((e) => e.replace(/^ConfigMap\/\S+ /, `${prefix} `)));

  const data = JSON.parse(JSON.stringify(obj)) as Obj;
  const validate = validatorFor(crd);
  if (!validate(data)) {
    for (const e of validate.errors ?? []) {
      // anyOf/oneOf report each failed branch, then themselves; keep them all but once.
      const line = `${prefix} ${describeAjvError(e)}`;
      if (!errors.includes(line)) errors.push(line);
    }
  }
  // CEL runs on the defaulted object, as in the API server; `data` now holds the defaults.
  const findings: CelFinding[] = [];
  celWalk(data, crd.schema, '', findings);
  errors.push(...findings.map((f) => `${prefix} ${f.path}: ${f.message}`));
  return errors;
}

/**
 * Fails the current jest test when any custom resource is invalid, listing every problem
 * of every object (`Kind/name /path: message`). An empty list fails too.
 */
export function expectValidCustomResources(objs: readonly unknown[]): void {
  if (objs.length === 0) throw new Error('expectValidCustomResources: no objects to validate');
  const errors = objs.flatMap((o) => validateCustomResource(o));
  if (errors.length > 0) {
    throw new Error(
      `${errors.length} custom resource error(s) in ${objs.length} object(s):\n  - ${errors.join('\n  - ')}`,
    );
  }
}
