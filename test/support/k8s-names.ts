/**
 * Kubernetes name, label and quantity rules, written from the API server's own validation
 * (k8s.io/apimachinery/pkg/util/validation, pkg/api/resource/quantity.go and the per-kind
 * name validators of pkg/apis/<group>/validation). kubernetes-models checks none of them:
 * its JSON schemas only say "string". Every function returns the list of problems, empty
 * when the value is valid, worded like the API server's field errors.
 */

const DNS1123_LABEL_MAX = 63;
const DNS1123_SUBDOMAIN_MAX = 253;
const DNS1035_LABEL_MAX = 63;
const QUALIFIED_NAME_MAX = 63;
const LABEL_VALUE_MAX = 63;
const PORT_NAME_MAX = 15;
/** TotalAnnotationSizeLimitB: the keys and values of all annotations together, in bytes. */
export const ANNOTATIONS_TOTAL_MAX_BYTES = 256 * 1024;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function tooLong(max: number): string {
  return `must be no more than ${max} characters`;
}

/** IsDNS1123Label: lower-case alphanumerics and '-', starting and ending alphanumeric, <= 63. */
export function dns1123Label(value: string): string[] {
  const errors: string[] = [];
  if (value.length > DNS1123_LABEL_MAX) errors.push(tooLong(DNS1123_LABEL_MAX));
  if (!DNS1123_LABEL.test(value)) {
    errors.push(
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
    );
  }
  return errors;
}

/** IsDNS1123Subdomain: dot-separated RFC 1123 labels, <= 253 characters in all. */
export function dns1123Subdomain(value: string): string[] {
  const errors: string[] = [];
  if (value.length > DNS1123_SUBDOMAIN_MAX) errors.push(tooLong(DNS1123_SUBDOMAIN_MAX));
  if (!DNS1123_SUBDOMAIN.test(value)) {
    errors.push(
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
    );
  }
  return errors;
}

/** IsDNS1035Label: like an RFC 1123 label, but starting with a letter (Service names). */
export function dns1035Label(value: string): string[] {
  const errors: string[] = [];
  if (value.length > DNS1035_LABEL_MAX) errors.push(tooLong(DNS1035_LABEL_MAX));
  if (!DNS1035_LABEL.test(value)) {
    errors.push(
      "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
    );
  }
  return errors;
}

/**
 * IsQualifiedName, the syntax of label and annotation keys: an optional DNS-1123 subdomain
 * prefix (<= 253) and '/', then a name part of <= 63 alphanumerics, '-', '_' or '.',
 * starting and ending alphanumeric.
 */
export function qualifiedName(value: string): string[] {
  const errors: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0];
  } else if (parts.length === 2) {
    const [prefix] = parts;
    name = parts[1];
    if (prefix.length === 0) {
      errors.push('prefix part must be non-empty');
    } else {
      errors.push(...dns1123Subdomain(prefix).map((e) => `prefix part ${e}`));
    }
  } else {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, with an optional DNS subdomain prefix and '/'",
    ];
  }
  if (name.length === 0) {
    errors.push('name part must be non-empty');
  } else if (name.length > QUALIFIED_NAME_MAX) {
    errors.push(`name part ${tooLong(QUALIFIED_NAME_MAX)}`);
  }
  if (name.length > 0 && !QUALIFIED_NAME.test(name)) {
    errors.push(
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    );
  }
  return errors;
}

/** IsValidLabelValue: empty, or <= 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric. */
export function labelValue(value: string): string[] {
  const errors: string[] = [];
  if (value.length > LABEL_VALUE_MAX) errors.push(tooLong(LABEL_VALUE_MAX));
  if (!LABEL_VALUE.test(value)) {
    errors.push(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    );
  }
  return errors;
}

/**
 * IsValidPortName (IANA_SVC_NAME), for container port names and named target ports:
 * <= 15 characters of [-a-z0-9], at least one letter, no '--', no '-' at either end.
 */
export function portName(value: string): string[] {
  const errors: string[] = [];
  if (value.length > PORT_NAME_MAX) errors.push(tooLong(PORT_NAME_MAX));
  if (!/^[-a-z0-9]+$/.test(value)) {
    errors.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  }
  if (!/[a-z]/.test(value)) errors.push('must contain at least one letter (a-z)');
  if (value.includes('--')) errors.push('must not contain consecutive hyphens');
  if (value.startsWith('-') || value.endsWith('-')) {
    errors.push('must not begin or end with a hyphen');
  }
  return errors;
}

/** IsValidPathSegmentName, the RBAC name rule: not '.' or '..', and no '/' or '%'. */
export function pathSegmentName(value: string): string[] {
  if (value === '.' || value === '..') return [`may not be '${value}'`];
  const errors: string[] = [];
  for (const c of ['/', '%']) if (value.includes(c)) errors.push(`may not contain '${c}'`);
  return errors;
}

/** A metadata.name validator, as each API group registers one per kind. */
export type NameValidator = (value: string) => string[];

/**
 * The name rule of each kind whose rule is not the default DNS-1123 subdomain
 * (apimachinery NameIsDNSSubdomain), keyed by `group/Kind` with '' for the core group.
 */
const NAME_RULES: Readonly<Record<string, NameValidator>> = {
  '/Namespace': dns1123Label,
  '/Service': dns1035Label,
  'rbac.authorization.k8s.io/Role': pathSegmentName,
  'rbac.authorization.k8s.io/ClusterRole': pathSegmentName,
  'rbac.authorization.k8s.io/RoleBinding': pathSegmentName,
  'rbac.authorization.k8s.io/ClusterRoleBinding': pathSegmentName,
};

/** The metadata.name rule the API server applies to a kind. */
export function nameValidatorFor(apiVersion: string, kind: string): NameValidator {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  return NAME_RULES[`${group}/${kind}`] ?? dns1123Subdomain;
}

/** A problem found at a path inside an object. */
export interface FieldProblem {
  /** JSON-pointer-like path (`/metadata/labels/app`). */
  readonly path: string;
  readonly message: string;
}

function at(path: string, messages: string[]): FieldProblem[] {
  return messages.map((message) => ({ path, message }));
}

/** ValidateLabels: every key a qualified name, every value a label value. */
export function validateLabels(labels: unknown, path: string): FieldProblem[] {
  if (labels === undefined || labels === null || typeof labels !== 'object') return [];
  const problems: FieldProblem[] = [];
  for (const [key, value] of Object.entries(labels as Record<string, unknown>)) {
    problems.push(
      ...at(
        `${path}/${key}`,
        qualifiedName(key).map((m) => `key: ${m}`),
      ),
    );
    if (typeof value === 'string') {
      problems.push(
        ...at(
          `${path}/${key}`,
          labelValue(value).map((m) => `value '${value}': ${m}`),
        ),
      );
    }
  }
  return problems;
}

/** ValidateAnnotations: keys are qualified names (lower-cased first), 256 KiB in all. */
export function validateAnnotations(annotations: unknown, path: string): FieldProblem[] {
  if (annotations === undefined || annotations === null || typeof annotations !== 'object') {
    return [];
  }
  const problems: FieldProblem[] = [];
  let total = 0;
  for (const [key, value] of Object.entries(annotations as Record<string, unknown>)) {
    problems.push(
      ...at(
        `${path}/${key}`,
        qualifiedName(key.toLowerCase()).map((m) => `key: ${m}`),
      ),
    );
    total += Buffer.byteLength(key) + (typeof value === 'string' ? Buffer.byteLength(value) : 0);
  }
  if (total > ANNOTATIONS_TOTAL_MAX_BYTES) {
    problems.push({
      path,
      message: `Too long: may not be more than ${ANNOTATIONS_TOTAL_MAX_BYTES} bytes (${total})`,
    });
  }
  return problems;
}

/**
 * ValidateObjectMeta's name, generateName, namespace, label and annotation checks. A
 * generateName is checked as a prefix: one trailing '-' is masked first.
 */
export function validateObjectMeta(
  metadata: unknown,
  nameRule: NameValidator,
  path = '/metadata',
): FieldProblem[] {
  if (metadata === undefined || metadata === null || typeof metadata !== 'object') return [];
  const meta = metadata as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  if (typeof meta.name === 'string') {
    problems.push(
      ...at(
        `${path}/name`,
        nameRule(meta.name).map((m) => `'${meta.name}': ${m}`),
      ),
    );
  } else if (meta.generateName === undefined && path === '/metadata') {
    problems.push({ path: `${path}/name`, message: 'name or generateName is required' });
  }
  if (typeof meta.generateName === 'string') {
    const prefix = meta.generateName.endsWith('-')
      ? `${meta.generateName.slice(0, -1)}a`
      : meta.generateName;
    problems.push(
      ...at(
        `${path}/generateName`,
        nameRule(prefix).map((m) => `'${meta.generateName}': ${m}`),
      ),
    );
  }
  if (typeof meta.namespace === 'string') {
    problems.push(
      ...at(
        `${path}/namespace`,
        dns1123Label(meta.namespace).map((m) => `'${meta.namespace}': ${m}`),
      ),
    );
  }
  problems.push(...validateLabels(meta.labels, `${path}/labels`));
  problems.push(...validateAnnotations(meta.annotations, `${path}/annotations`));
  return problems;
}

// --- Quantities -------------------------------------------------------------------------

/**
 * The exact grammar of resource.ParseQuantity: a signed decimal number, then one suffix:
 * binary SI (Ki Mi Gi Ti Pi Ei), decimal SI (n u m k M G T P E, or none), or a decimal
 * exponent (e or E, then a signed whole number). Not accepted, unlike the looser format
 * of kubernetes-models: other SI prefixes (h, da, Y, Z, ...), fractional exponents, a
 * bare 'e', blanks.
 */
const QUANTITY = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;

const SUFFIX_FACTORS: Readonly<Record<string, number>> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** Checks a quantity as the API server parses it; a JSON number is a valid quantity too. */
export function quantity(value: unknown): string[] {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? [] : ['quantities must be finite numbers'];
  }
  if (typeof value !== 'string') return ['quantities must be a string or a number'];
  if (!QUANTITY.test(value)) {
    return [
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' with a suffix of Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E or e<exponent>",
    ];
  }
  return [];
}

/**
 * The value of a valid quantity as a number, for comparisons (requests against limits).
 * Floating point: exact enough for comparing, never for printing.
 */
export function quantityValue(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/.exec(value);
  if (!m) throw new Error(`not a quantity: '${value}'`);
  const [, number, suffix = ''] = m;
  const factor = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : SUFFIX_FACTORS[suffix];
  return Number(number) * factor;
}
