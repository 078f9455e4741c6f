/**
 * The compliant inputs the audit tests start from, and helpers to audit them, mutate them
 * and put them through the generated admission policy.
 */
import { Chart, Testing } from 'cdk8s';
import {
  AuditReport,
  InferenceMonitoring,
  InferenceService,
  InferenceServiceProps,
  InferenceTraffic,
  admissionPolicy,
  auditDocuments,
  fixedClock,
  normalizeWorkload,
} from '../../constructs';
import { evaluateCel, toCelValue } from '../../constructs/audit/private/cel';
import { ReferenceWorkloads } from '../../lib/reference-workloads';

/** The day waivers are judged on. */
export const CLOCK = fixedClock('2026-12-03T12:00:00Z');

/** A Kubernetes object or a template, as parsed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>;

/** The gateway the reference routes attach to. */
export const GATEWAY = { name: 'inference', namespace: 'envoy-gateway-system' };

/**
 * Adds a ServiceMonitor and a traffic policy for each service that does not have one yet
 * (the reference chart may already carry them), then synthesizes the chart.
 */
function withEdges(chart: Chart, services: InferenceService[]): Obj[] {
  const all = chart.node.findAll();
  services.forEach((service, i) => {
    if (!all.some((c) => c instanceof InferenceMonitoring && c.service === service)) {
      new InferenceMonitoring(chart, `Monitoring${i}`, { service, dashboard: false });
    }
    if (!all.some((c) => c instanceof InferenceTraffic && c.name === service.name)) {
      new InferenceTraffic(chart, `Traffic${i}`, { service, gateway: GATEWAY });
    }
  });
  return Testing.synth(chart) as Obj[];
}

/**
 * The reference workloads of lib/reference-workloads.ts with their ServiceMonitors and
 * traffic policies: the compliant manifests every mutant starts from.
 */
export function referenceObjects(): Obj[] {
  const chart = new ReferenceWorkloads(Testing.app(), 'ref', { clock: CLOCK });
  return withEdges(chart, [chart.generation, chart.embedding]);
}

/** One InferenceService with its monitor and traffic policy, synthesized. */
export function serviceObjects(props: InferenceServiceProps): Obj[] {
  const chart = new Chart(Testing.app(), 'prop', { namespace: 'inference' });
  const service = new InferenceService(chart, 'Svc', props);
  return withEdges(chart, [service]);
}

/** Audits objects as if they were the documents of one file. */
export function audit(objects: readonly unknown[], file = 'input.yaml'): AuditReport {
  return auditDocuments(
    objects.map((value, index) => ({ file, index, value })),
    { clock: CLOCK },
  );
}

/** The rules an audit reports as broken (severity error), sorted and without repeats. */
export function brokenRules(report: AuditReport): string[] {
  return [
    ...new Set(report.findings.filter((f) => f.severity === 'error').map((f) => f.rule)),
  ].sort();
}

/** A deep copy. */
export function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

/** The generation service's Deployment among the objects. */
export function generationDeployment(objects: Obj[]): Obj {
  const d = objects.find((o) => o.kind === 'Deployment' && /-gen$/.test(o.metadata.name));
  if (!d) throw new Error('no generation Deployment');
  return d;
}

/** The engine container of a Deployment. */
export function engineOf(deployment: Obj): Obj {
  return deployment.spec.template.spec.containers.find((c: Obj) => c.name === 'engine');
}

/** What the API server answers: admitted, or refused with the messages of the failed validations. */
export interface AdmissionAnswer {
  readonly admitted: boolean;
  readonly messages: string[];
}

/**
 * Puts one object through the generated ValidatingAdmissionPolicy, as the API server
 * would: the object as admission sees it (quantities as strings), the match condition,
 * the variables in order, then each validation; an evaluation error denies (failurePolicy
 * Fail). The expressions are read from the generated policy object, not from the rule list.
 */
export function admit(obj: Obj): AdmissionAnswer {
  const policy = admissionPolicy() as Obj;
  const spec = policy.spec;
  const resources = (spec.matchConstraints.resourceRules as Obj[]).flatMap((r) => r.resources);
  const resource = `${String(obj.kind).toLowerCase()}s`;
  if (!resources.includes(resource)) return { admitted: true, messages: [] };
  const context = toCelValue({ object: normalizeWorkload(obj, obj.kind), variables: {} }) as Obj;
  for (const c of spec.matchConditions as Obj[]) {
    const matched = evaluateCel(c.expression, context);
    if (matched instanceof Error) return { admitted: false, messages: [matched.message] };
    if (matched !== true) return { admitted: true, messages: [] };
  }
  for (const v of spec.variables as Obj[]) {
    const value = evaluateCel(v.expression, context);
    if (value instanceof Error) return { admitted: false, messages: [value.message] };
    context.variables[v.name] = value;
  }
  const messages: string[] = [];
  for (const v of spec.validations as Obj[]) {
    if (evaluateCel(v.expression, context) !== true) messages.push(v.message);
  }
  return { admitted: messages.length === 0, messages };
}
