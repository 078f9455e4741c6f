import {
  Clock,
  ComplianceError,
  DEFAULT_STANDARD,
  EnforcementPoint,
  RuleId,
  SYSTEM_CLOCK,
  Standard,
  WAIVER_ANNOTATION_PREFIX,
  Waiver,
  isRuleId,
  rulesEnforcedAt,
  validateWaiver,
} from '../standard';
import { TemplateFinding, checkTemplate, isCloudFormationTemplate } from './cfn-rules';
import { InputProblem, LoadLimits, SourceDocument, loadPaths } from './loader';
import {
  ManifestObject,
  ObjectFinding,
  checkDisruptionBudgets,
  checkMemoryPlan,
  checkScrapeTargets,
  checkInferenceRoutes,
  checkTrafficPolicy,
} from './manifest-rules';
import { evaluateCel, toCelValue } from './private/cel';
import {
  inferenceScopeExpression,
  isWorkloadKind,
  podMetadataPath,
  podSpecPath,
  workloadChecks,
  workloadVariables,
} from './workload-rules';

/** How bad a finding is: `error` breaks a rule; `note` is a waived finding, listed only. */
export type FindingSeverity = 'error' | 'note';

/** Where a finding or a waiver sits. */
export interface AuditLocation {
  /** The file (`-` for standard input). */
  readonly file: string;
  /** The document in the file, from 0. */
  readonly document: number;
  /** The object's kind, or the resource type of a template. */
  readonly kind: string;
  /** The object's name (`namespace/name` when namespaced), or the resource's logical id. */
  readonly name: string;
  /** The line the document starts on, from 1, when known. */
  readonly line?: number;
}

/** A waiver found in the input. */
export interface FoundWaiver extends AuditLocation {
  /** The rule waived. */
  readonly rule: string;
  /** Why. */
  readonly reason: string;
  /** Who approved it. */
  readonly approvedBy: string;
  /** Last day in force, YYYY-MM-DD. */
  readonly expires: string;
  /** `in-force`, or `invalid` (expired, no reason, no approver, bad date, unknown rule). */
  readonly status: 'in-force' | 'invalid';
  /** Why it is invalid. */
  readonly problem?: string;
}

/** One rule broken by one object. */
export interface AuditFinding extends AuditLocation {
  /** The rule. */
  readonly rule: RuleId;
  /** `error`, or `note` when a waiver in force covers it. */
  readonly severity: FindingSeverity;
  /** The path of the offending field in the object or template. */
  readonly field: string;
  /** One line saying what to change, starting with the rule id. */
  readonly message: string;
  /** The waiver that covers it, for a `note`. */
  readonly waiver?: FoundWaiver;
}

/** The result of an audit. */
export interface AuditReport {
  /** Rules broken (severity `error`) and waived findings (severity `note`). */
  readonly findings: AuditFinding[];
  /** Waivers found, valid or not. */
  readonly waivers: FoundWaiver[];
  /** Inputs or documents that could not be audited. */
  readonly problems: InputProblem[];
  /** Files read. */
  readonly files: string[];
  /** Files passed over (cdk.out bookkeeping). */
  readonly skipped: string[];
  /** Kubernetes objects and templates audited. */
  readonly audited: number;
  /** The rules the audit checks. */
  readonly rulesChecked: RuleId[];
}

/** Options of an audit. */
export interface AuditOptions extends LoadLimits {
  /** The standard the input is judged against. @default DEFAULT_STANDARD */
  readonly standard?: Standard;
  /** The clock waivers are judged on. @default the system clock */
  readonly clock?: Clock;
  /**
   * Who may approve a waiver. A waiver is an annotation anyone can write; with this list, a
   * waiver approved by anyone else is invalid and its rule is reported as broken.
   * @default - any approver
   */
  readonly approvers?: readonly string[];
}

type Json = Record<string, unknown>;
const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Kinds of the built-in API groups; another kind in one of these groups is an error. */
const BUILTIN_KINDS: Readonly<Record<string, readonly string[]>> = {
  v1: [
    'Pod',
    'Service',
    'ConfigMap',
    'Secret',
    'Namespace',
    'ServiceAccount',
    'PersistentVolume',
    'PersistentVolumeClaim',
    'Endpoints',
    'LimitRange',
    'ResourceQuota',
    'Node',
    'Event',
    'ReplicationController',
    'PodTemplate',
    'List',
    'Binding',
    'ComponentStatus',
  ],
  'apps/v1': ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ControllerRevision'],
  'batch/v1': ['Job', 'CronJob'],
  'policy/v1': ['PodDisruptionBudget', 'Eviction'],
  'networking.k8s.io/v1': ['NetworkPolicy', 'Ingress', 'IngressClass', 'ServiceCIDR', 'IPAddress'],
};

/** The rules the audit covers: every rule with an audit or admission point. */
export function auditedRules(): RuleId[] {
  const ids = new Set<RuleId>();
  for (const p of [EnforcementPoint.AUDIT, EnforcementPoint.ADMISSION]) {
    for (const r of rulesEnforcedAt(p)) ids.add(r.id);
  }
  // OPS-4 is the admission policy itself: audit applies its checks, under their own ids.
  ids.delete('OPS-4');
  return [...ids];
}

/** Parses a waiver annotation value: the JSON that WaiverSet writes, or `expires; approvedBy; reason`. */
function parseWaiverValue(rule: string, raw: unknown): Waiver {
  if (isObj(raw)) return { rule, ...raw } as unknown as Waiver;
  const text = String(raw ?? '');
  try {
    const parsed: unknown = JSON.parse(text);
    if (isObj(parsed)) return { rule, ...parsed } as unknown as Waiver;
  } catch {
    // Not JSON: the short form below.
  }
  const [expires, approvedBy, ...reason] = text.split(';').map((s) => s.trim());
  return { rule, expires, approvedBy, reason: reason.join('; ') } as unknown as Waiver;
}

function judgeWaiver(
  w: Waiver,
  where: AuditLocation,
  clock: Clock,
  approvers?: readonly string[],
): FoundWaiver {
  const base = {
    ...where,
    rule: String(w.rule),
    reason: String(w.reason ?? ''),
    approvedBy: String(w.approvedBy ?? ''),
    expires: String(w.expires ?? ''),
  };
  try {
    validateWaiver(w, clock);
    if (approvers && !approvers.includes(base.approvedBy)) {
      return {
        ...base,
        status: 'invalid',
        problem: `approved by '${base.approvedBy}', who is not among the approvers (${approvers.join(', ')})`,
      };
    }
    return { ...base, status: 'in-force' };
  } catch (e) {
    const problem = ComplianceError.isComplianceError(e) ? e.detail : String(e);
    return { ...base, status: 'invalid', problem };
  }
}

/** Waivers written as annotations (`compliance.inference/waiver.<RULE>`) on an object or its pods. */
function annotationWaivers(obj: Json, kind: string): Waiver[] {
  const out: Waiver[] = [];
  const seen = new Set<string>();
  const paths = ['metadata.annotations'];
  if (isWorkloadKind(kind) && kind !== 'Pod') paths.push(`${podMetadataPath(kind)}.annotations`);
  for (const path of paths) {
    const annotations = path
      .split('.')
      .reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), obj);
    if (!isObj(annotations)) continue;
    for (const [key, value] of Object.entries(annotations)) {
      if (!key.startsWith(WAIVER_ANNOTATION_PREFIX)) continue;
      const rule = key.slice(WAIVER_ANNOTATION_PREFIX.length);
      if (seen.has(rule)) continue;
      seen.add(rule);
      out.push(parseWaiverValue(rule, value));
    }
  }
  return out;
}

/** Waivers recorded in template or resource Metadata. */
function metadataWaivers(metadata: unknown): Waiver[] {
  if (!isObj(metadata)) return [];
  const out: Waiver[] = [];
  const fromMap = (map: unknown) => {
    if (Array.isArray(map)) {
      for (const w of map) if (isObj(w)) out.push(w as unknown as Waiver);
    } else if (isObj(map)) {
      for (const [key, value] of Object.entries(map)) {
        const rule = key.startsWith(WAIVER_ANNOTATION_PREFIX)
          ? key.slice(WAIVER_ANNOTATION_PREFIX.length)
          : key;
        out.push(parseWaiverValue(rule, value));
      }
    }
  };
  fromMap(metadata['compliance.inference/waivers']);
  const record = metadata['compliance.inference'];
  if (isObj(record)) fromMap(record.waivers);
  return out;
}

// ---- Quantities: the API server serializes them as strings; equal values compare equal. ----

const QUANTITY =
  /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:[eE]([+-]?[0-9]+))?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/;
const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The value of a Kubernetes quantity, or undefined when it is not one. */
export function quantityAmount(q: unknown): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  if (typeof q !== 'string') return undefined;
  const m = QUANTITY.exec(q.trim());
  if (!m) return undefined;
  return Number(m[1]) * 10 ** Number(m[2] ?? 0) * SUFFIX[m[3] ?? ''];
}

function normalizeResources(container: unknown): void {
  if (!isObj(container) || !isObj(container.resources)) return;
  const { requests, limits } = container.resources;
  for (const map of [requests, limits]) {
    if (!isObj(map)) continue;
    for (const [k, v] of Object.entries(map)) if (typeof v === 'number') map[k] = String(v);
  }
  if (isObj(requests) && isObj(limits)) {
    for (const [k, v] of Object.entries(requests)) {
      const a = quantityAmount(v);
      const b = quantityAmount(limits[k]);
      if (a !== undefined && b !== undefined && Math.abs(a - b) <= Math.abs(b) * 1e-12) {
        requests[k] = limits[k];
      }
    }
  }
}

/**
 * The object as the API server hands it to admission: quantities as strings, and requests
 * that equal their limits in value written as the limit (the server canonicalizes both).
 */
export function normalizeWorkload(obj: Json, kind: string): Json {
  const copy = JSON.parse(JSON.stringify(obj)) as Json;
  const spec = podSpecPath(kind)
    .split('.')
    .reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), copy);
  if (isObj(spec)) {
    for (const list of [spec.containers, spec.initContainers]) {
      if (Array.isArray(list)) list.forEach(normalizeResources);
    }
    if (Array.isArray(spec.volumes)) {
      for (const v of spec.volumes) {
        if (isObj(v) && isObj(v.emptyDir) && typeof v.emptyDir.sizeLimit === 'number') {
          v.emptyDir.sizeLimit = String(v.emptyDir.sizeLimit);
        }
      }
    }
  }
  return copy;
}

/** The result of the CEL checks on one workload. */
export interface WorkloadEvaluation {
  /** True when the object is an inference workload (the admission match condition). */
  readonly inference: boolean;
  /** The checks that failed, with the error text when a check could not be evaluated. */
  readonly failed: { rule: RuleId; field: string; message: string; admission: boolean }[];
}

/**
 * Evaluates the CEL checks of {@link workloadChecks} on one workload object with cel-js,
 * exactly as the admission policy states them: the match condition, then the variables,
 * then each check.
 * @param admissionOnly evaluate only the checks the admission policy carries
 * @throws Error when the object has no pod spec the variables can read
 */
export function evaluateWorkload(
  obj: Json,
  standard: Standard = DEFAULT_STANDARD,
  admissionOnly = false,
): WorkloadEvaluation {
  const kind = String(obj.kind);
  const context = toCelValue({ object: normalizeWorkload(obj, kind), variables: {} }) as Json;
  const scope = evaluateCel(inferenceScopeExpression(), context);
  if (scope instanceof Error)
    throw new Error(`cannot read the pod spec: ${scope.message.split('\n')[0]}`);
  if (scope !== true) return { inference: false, failed: [] };
  const variables = context.variables as Json;
  for (const v of workloadVariables()) {
    const value = evaluateCel(v.expression, context);
    if (value instanceof Error) {
      throw new Error(`cannot read the pod spec (${v.name}): ${value.message.split('\n')[0]}`);
    }
    variables[v.name] = value;
  }
  const failed: WorkloadEvaluation['failed'] = [];
  for (const check of workloadChecks(standard)) {
    if (admissionOnly && !check.admission) continue;
    const result = evaluateCel(check.expression, context);
    if (result === true) continue;
    const why = result instanceof Error ? ` (not evaluable: ${result.message.split('\n')[0]})` : '';
    failed.push({
      rule: check.rule,
      field: check.field,
      message: `${check.message}${why}`,
      admission: check.admission,
    });
  }
  return { inference: true, failed };
}

function renderField(field: string, kind: string): string {
  if (field.startsWith('podSpec.')) return `${podSpecPath(kind)}.${field.slice('podSpec.'.length)}`;
  if (field.startsWith('podMeta.'))
    return `${podMetadataPath(kind)}.${field.slice('podMeta.'.length)}`;
  return field;
}

interface Unit {
  readonly location: AuditLocation;
  readonly waivers: FoundWaiver[];
}

/**
 * Audits parsed documents: Kubernetes objects (List kinds expanded) and CloudFormation
 * templates. A document that cannot be audited is a problem; the rest are still audited.
 */
export function auditDocuments(
  documents: readonly SourceDocument[],
  options: AuditOptions = {},
): AuditReport {
  const standard = options.standard ?? DEFAULT_STANDARD;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const findings: AuditFinding[] = [];
  const waivers: FoundWaiver[] = [];
  const problems: InputProblem[] = [];
  const manifests: { unit: Unit; object: ManifestObject }[] = [];
  let audited = 0;

  const report = (unit: Unit, rule: RuleId, field: string, message: string) => {
    const waiver = unit.waivers.find((w) => w.rule === rule && w.status === 'in-force');
    findings.push({
      ...unit.location,
      rule,
      severity: waiver ? 'note' : 'error',
      field,
      message,
      ...(waiver ? { waiver } : {}),
    });
  };
  const collectWaivers = (list: Waiver[], location: AuditLocation): FoundWaiver[] => {
    const judged = list.map((w) => judgeWaiver(w, location, clock, options.approvers));
    waivers.push(...judged);
    for (const w of judged) {
      if (w.status === 'invalid' && isRuleId(w.rule)) {
        findings.push({
          ...location,
          rule: w.rule,
          severity: 'error',
          field: `waiver of ${w.rule}`,
          message: `${w.rule}: the waiver is not valid (${w.problem}); renew it or comply with the rule`,
        });
      } else if (w.status === 'invalid') {
        problems.push({
          file: location.file,
          document: location.document,
          message: `waiver of unknown rule '${w.rule}'`,
        });
      }
    }
    return judged;
  };

  const auditObject = (doc: SourceDocument, obj: unknown, label: string) => {
    if (!isObj(obj) || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
      problems.push({
        file: doc.file,
        document: doc.index,
        message: `${label}is neither a Kubernetes object (apiVersion and kind) nor a CloudFormation template (Resources)`,
      });
      return;
    }
    const kind = obj.kind;
    if (/List$/.test(kind) && Array.isArray(obj.items)) {
      obj.items.forEach((item, i) => auditObject(doc, item, `${label}item ${i} `));
      return;
    }
    const known = BUILTIN_KINDS[obj.apiVersion];
    if (known && !known.includes(kind)) {
      problems.push({
        file: doc.file,
        document: doc.index,
        message: `${label}unknown kind ${kind} in ${obj.apiVersion}`,
      });
      return;
    }
    const meta = isObj(obj.metadata) ? obj.metadata : {};
    const namespace = typeof meta.namespace === 'string' ? meta.namespace : undefined;
    const name = `${namespace ? `${namespace}/` : ''}${typeof meta.name === 'string' ? meta.name : '<no name>'}`;
    const location: AuditLocation = {
      file: doc.file,
      document: doc.index,
      line: doc.line,
      kind,
      name,
    };
    audited++;
    const unit: Unit = {
      location,
      waivers: collectWaivers(annotationWaivers(obj, kind), location),
    };
    let inference = false;
    if (isWorkloadKind(kind)) {
      let evaluation: WorkloadEvaluation;
      try {
        evaluation = evaluateWorkload(obj, standard);
      } catch (e) {
        problems.push({
          file: doc.file,
          document: doc.index,
          message: `${kind}/${name}: ${(e as Error).message}`,
        });
        return;
      }
      inference = evaluation.inference;
      for (const f of evaluation.failed)
        report(unit, f.rule, renderField(f.field, kind), f.message);
      if (inference && kind !== 'Pod' && kind !== 'Job' && kind !== 'CronJob') {
        const mo: ManifestObject = { object: obj, kind, namespace, inference };
        for (const f of checkMemoryPlan(mo, standard)) report(unit, f.rule, f.field, f.message);
      }
    }
    if (kind === 'BackendTrafficPolicy') {
      for (const f of checkTrafficPolicy(obj, standard)) report(unit, f.rule, f.field, f.message);
    }
    manifests.push({ unit, object: { object: obj, kind, namespace, inference } });
  };

  const auditTemplate = (doc: SourceDocument, template: Json) => {
    audited++;
    const templateLocation: AuditLocation = {
      file: doc.file,
      document: doc.index,
      line: doc.line,
      kind: 'Template',
      name: '*',
    };
    const templateWaivers = collectWaivers(metadataWaivers(template.Metadata), templateLocation);
    const resources = template.Resources as Json;
    const byResource = new Map<string, FoundWaiver[]>();
    for (const [id, r] of Object.entries(resources)) {
      if (!isObj(r)) continue;
      const list = metadataWaivers(r.Metadata);
      if (list.length === 0) continue;
      const location = {
        file: doc.file,
        document: doc.index,
        line: doc.line,
        kind: String(r.Type),
        name: id,
      };
      byResource.set(id, collectWaivers(list, location));
    }
    for (const f of checkTemplate(template, standard) as TemplateFinding[]) {
      const unit: Unit = {
        location: {
          file: doc.file,
          document: doc.index,
          line: doc.line,
          kind: f.type,
          name: f.logicalId,
        },
        waivers: [...(byResource.get(f.logicalId) ?? []), ...templateWaivers],
      };
      report(unit, f.rule, f.field, f.message);
    }
  };

  for (const doc of documents) {
    try {
      if (isCloudFormationTemplate(doc.value)) auditTemplate(doc, doc.value);
      else auditObject(doc, doc.value, '');
    } catch (e) {
      problems.push({
        file: doc.file,
        document: doc.index,
        message: `could not be audited: ${(e as Error).message}`,
      });
    }
  }

  const objects = manifests.map((m) => m.object);
  const units = new Map(manifests.map((m) => [m.object, m.unit]));
  const crossChecks = [
    checkDisruptionBudgets,
    checkScrapeTargets,
    (list: readonly ManifestObject[]) => checkInferenceRoutes(list, standard),
  ];
  for (const check of crossChecks) {
    for (const [o, list] of check(objects)) {
      const unit = units.get(o) as Unit;
      for (const f of list as ObjectFinding[])
        report(unit, f.rule, renderField(f.field, o.kind), f.message);
    }
  }

  return {
    findings,
    waivers,
    problems,
    files: [],
    skipped: [],
    audited,
    rulesChecked: auditedRules(),
  };
}

/** Reads the paths (files, folders, `-`) and audits everything in them. */
export function auditPaths(
  paths: readonly string[],
  options: AuditOptions = {},
  readStdin?: () => Buffer,
): AuditReport {
  const loaded = loadPaths(paths, options, readStdin);
  const report = auditDocuments(loaded.documents, options);
  return {
    ...report,
    problems: [...loaded.problems, ...report.problems],
    files: loaded.files,
    skipped: loaded.skipped,
  };
}

/**
 * The exit code of an audit: 2 when some input was unusable or nothing at all was audited (an
 * empty pipe must not pass CI), 1 when a rule is broken, else 0.
 */
export function auditExitCode(report: AuditReport): 0 | 1 | 2 {
  if (report.problems.length > 0 || report.audited === 0) return 2;
  if (report.findings.some((f) => f.severity === 'error')) return 1;
  return 0;
}
