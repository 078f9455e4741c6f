import { Chart, Testing } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../../bin/cli';
import { BufferedOutput } from '../../bin/private/output';
import {
  ADMISSION_POLICY_NAME,
  INFERENCE_NAMESPACE_LABEL,
  InferenceAdmissionPolicy,
  WORKLOAD_KINDS,
  admissionManifests,
  admissionPolicy,
  admissionPolicyBinding,
  selectorMatches,
  workloadChecks,
  workloadVariables,
} from '../../constructs';
import { compileCel } from '../../constructs/audit/private/cel';
import { validateK8sObject } from '../support/k8s-schema';
import { Obj, admit, clone, generationDeployment, referenceObjects } from './fixture';

describe('the generated ValidatingAdmissionPolicy', () => {
  const policy = admissionPolicy() as Obj;
  const binding = admissionPolicyBinding() as Obj;

  test('the policy and the binding validate against the Kubernetes 1.33 schema', () => {
    expect(validateK8sObject(policy)).toEqual([]);
    expect(validateK8sObject(binding)).toEqual([]);
  });

  test('it is admissionregistration.k8s.io/v1, fails closed and matches every workload kind on create and update', () => {
    expect(policy.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(policy.spec.failurePolicy).toBe('Fail');
    const rules = policy.spec.matchConstraints.resourceRules as Obj[];
    expect(rules.flatMap((r) => r.resources).sort()).toEqual(
      WORKLOAD_KINDS.map((k) => k.resource).sort(),
    );
    for (const r of rules) expect(r.operations).toEqual(['CREATE', 'UPDATE']);
  });

  test('the binding denies, in every namespace but kube-system', () => {
    expect(binding.spec).toEqual({
      policyName: ADMISSION_POLICY_NAME,
      validationActions: ['Deny'],
      matchResources: {
        namespaceSelector: {
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] },
          ],
        },
      },
    });
  });

  test('its validations are the admission checks of the rule list, word for word', () => {
    const admissionChecks = workloadChecks().filter((c) => c.admission);
    expect(policy.spec.validations).toEqual(
      admissionChecks.map((c) => ({
        expression: c.expression,
        message: c.message,
        reason: 'Invalid',
      })),
    );
    expect(policy.spec.variables).toEqual(workloadVariables());
  });

  test('every message is one line that starts with a rule id', () => {
    for (const v of policy.spec.validations as Obj[]) {
      expect(v.message).toMatch(/^[A-Z]+-\d: [^\n]+$/);
    }
  });

  test('every expression compiles in cel-js (the audit runtime)', () => {
    const all = [
      ...(policy.spec.matchConditions as Obj[]),
      ...(policy.spec.variables as Obj[]),
      ...(policy.spec.validations as Obj[]),
    ];
    for (const e of all) expect(() => compileCel(e.expression)).not.toThrow();
  });

  test('no expression uses a Kubernetes-only CEL library (quantity, regex find, url, authorizer)', () => {
    const text = JSON.stringify(policy.spec);
    expect(text).not.toMatch(/\b(quantity|isQuantity|find|findAll|url|isURL|authorizer|ip|cidr)\(/);
  });

  test('every function called is in the subset both Kubernetes CEL and cel-js document', () => {
    const BOTH = [
      'has',
      'all',
      'exists',
      'filter',
      'matches',
      'contains',
      'startsWith',
      'split',
      'join',
      'size',
      'int',
      'string',
    ];
    const text = [
      ...(policy.spec.matchConditions as Obj[]),
      ...(policy.spec.variables as Obj[]),
      ...(policy.spec.validations as Obj[]),
    ]
      .map((e) => e.expression as string)
      .join(' | ')
      .replace(/'(?:[^'\\]|\\.)*'/g, "''");
    const called = [
      ...new Set([...text.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*\(/g)].map((m) => m[1])),
    ];
    expect(called.filter((f) => !BOTH.includes(f))).toEqual([]);
    expect(called.sort()).toEqual(
      expect.arrayContaining(['has', 'all', 'matches', 'split', 'join']),
    );
  });

  test('the cdk8s construct synthesizes the same two objects', () => {
    const chart = new Chart(Testing.app(), 'vap');
    new InferenceAdmissionPolicy(chart, 'Policy');
    expect(Testing.synth(chart)).toEqual(admissionManifests());
  });
});

describe('what the policy admits', () => {
  const reference = referenceObjects();

  test("the binding selects the reference chart's inference namespace, and any other but kube-system", () => {
    const ns = reference.find((o) => o.kind === 'Namespace') as Obj;
    const selector = (admissionPolicyBinding() as Obj).spec.matchResources.namespaceSelector;
    const labels = (name: string) => ({ 'kubernetes.io/metadata.name': name });
    expect(selectorMatches(selector, { ...ns.metadata.labels, ...labels(ns.metadata.name) })).toBe(
      true,
    );
    expect(ns.metadata.labels[INFERENCE_NAMESPACE_LABEL]).toBe('true');
    expect(selectorMatches(selector, labels('team-a'))).toBe(true);
    expect(selectorMatches(selector, labels('kube-system'))).toBe(false);
  });

  test('workloads that are not inference workloads pass untouched', () => {
    const web = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'nginx', image: 'nginx:latest' }] },
        },
      },
    };
    expect(admit(web)).toEqual({ admitted: true, messages: [] });
  });

  test('a bare Pod, a Job and a CronJob with the reference pod spec are admitted; with a tag they are refused', () => {
    const d = generationDeployment(reference);
    const template = clone(d.spec.template);
    const kinds: Obj[] = [
      { apiVersion: 'v1', kind: 'Pod', metadata: template.metadata, spec: template.spec },
      { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { template } },
      {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: { name: 'c' },
        spec: { schedule: '@daily', jobTemplate: { spec: { template } } },
      },
    ];
    for (const k of kinds) {
      expect(admit(k)).toEqual({ admitted: true, messages: [] });
      const tagged = clone(k);
      const spec =
        k.kind === 'Pod'
          ? tagged.spec
          : k.kind === 'Job'
            ? tagged.spec.template.spec
            : tagged.spec.jobTemplate.spec.template.spec;
      spec.containers[0].image = 'vllm/vllm-openai:latest';
      expect(admit(tagged).messages).toEqual([expect.stringMatching(/^SW-2: /)]);
    }
  });

  test('a GPU pod without the inference label is still in scope', () => {
    const d = clone(generationDeployment(reference));
    delete d.spec.template.metadata.labels['compliance.inference/workload'];
    d.spec.template.spec.containers[0].image = 'registry.example.com/engine:1.0';
    const answer = admit(d);
    expect(answer.admitted).toBe(false);
    expect(answer.messages.map((m) => m.slice(0, m.indexOf(':'))).sort()).toEqual([
      'OBS-1',
      'SW-2',
    ]);
  });
});

describe('compliant-inference admission-policy', () => {
  test('prints the policy and the binding as two YAML documents that parse back to the same objects', async () => {
    const out = new BufferedOutput();
    expect(await runCli(['admission-policy'], out)).toBe(0);
    const docs = parseAllDocuments(out.text).map((d) => d.toJS());
    expect(docs).toEqual(admissionManifests());
  });

  test('--format json prints them as a List', async () => {
    const out = new BufferedOutput();
    expect(await runCli(['admission-policy', '--format', 'json'], out)).toBe(0);
    expect(JSON.parse(out.text)).toEqual({
      apiVersion: 'v1',
      kind: 'List',
      items: admissionManifests(),
    });
  });
});
