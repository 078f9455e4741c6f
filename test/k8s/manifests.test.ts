import * as fc from 'fast-check';
import { Chart, Testing } from 'cdk8s';
import {
  CATALOGUE_NAMES,
  ComplianceError,
  InferenceService,
  InferenceServiceProps,
  MODEL_CATALOGUE,
  validTensorParallelSizes,
} from '../../constructs';
import { ReferenceWorkloads } from '../../lib/reference-workloads';
import { validateManifest } from '../support/manifests';
import { labelValue, quantity, validateObjectMeta } from '../support/k8s-names';
import { CLOCK, K8sObject, generationProps, synthService } from './fixture';

function schemaErrors(objects: K8sObject[]): string[] {
  return objects.flatMap((o) =>
    validateManifest(o).map((e) => `${o.kind}/${o.metadata?.name}: ${e}`),
  );
}

function nameErrors(objects: K8sObject[]): string[] {
  return objects.flatMap((o) =>
    validateObjectMeta(o.apiVersion, o.kind, o.metadata).map(
      (p) => `${o.kind}/${o.metadata?.name}: ${JSON.stringify(p)}`,
    ),
  );
}

/** True when every key of `selector` is in `labels` with the same value. */
function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function selectorsOf(objects: K8sObject[]): [string, Record<string, string>][] {
  const out: [string, Record<string, string>][] = [];
  for (const o of objects) {
    if (o.kind === 'Deployment') out.push(['Deployment', o.spec.selector.matchLabels]);
    if (o.kind === 'Service') out.push(['Service', o.spec.selector]);
    if (o.kind === 'PodDisruptionBudget')
      out.push(['PodDisruptionBudget', o.spec.selector.matchLabels]);
    if (o.kind === 'NetworkPolicy' && Object.keys(o.spec.podSelector).length > 0)
      out.push(['NetworkPolicy', o.spec.podSelector.matchLabels]);
  }
  return out;
}

describe('the reference workloads', () => {
  const chart = new ReferenceWorkloads(Testing.app(), 'ref', { clock: CLOCK });
  const objects = Testing.synth(chart) as K8sObject[];

  test('every object validates against the Kubernetes API schema of the cluster version', () => {
    expect(objects.length).toBeGreaterThanOrEqual(9);
    expect(schemaErrors(objects)).toEqual([]);
  });

  test('names, labels and annotations follow the Kubernetes rules', () => {
    expect(nameErrors(objects)).toEqual([]);
  });

  test('the namespace enforces the restricted Pod Security Standard and denies all traffic by default (SEC-1, SEC-2)', () => {
    const ns = objects.find((o) => o.kind === 'Namespace') as K8sObject;
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const deny = objects.find(
      (o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'default-deny',
    ) as K8sObject;
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Egress', 'Ingress'] });
  });

  test('each selector selects its own pod template, and only it', () => {
    const deployments = objects.filter((o) => o.kind === 'Deployment');
    expect(deployments).toHaveLength(2);
    const byInstance = (d: K8sObject) => d.metadata.labels['app.kubernetes.io/instance'];
    for (const d of deployments) {
      const mine = objects.filter(
        (o) => o.metadata.labels?.['app.kubernetes.io/instance'] === byInstance(d),
      );
      const other = deployments.find((x) => x !== d) as K8sObject;
      const selectors = selectorsOf(mine);
      expect(selectors.map(([k]) => k).sort()).toEqual([
        'Deployment',
        'NetworkPolicy',
        'PodDisruptionBudget',
        'Service',
      ]);
      for (const [, selector] of selectors) {
        expect(Object.keys(selector).length).toBeGreaterThan(0);
        expect(selects(selector, d.spec.template.metadata.labels)).toBe(true);
        expect(selects(selector, other.spec.template.metadata.labels)).toBe(false);
      }
    }
  });

  test('snapshot of the reference workloads (wide output; the rules are asserted above and in inference-service.test.ts)', () => {
    expect(objects).toMatchSnapshot();
  });
});

describe('quantities are exact and canonical', () => {
  const variants: Partial<InferenceServiceProps>[] = [
    {},
    { model: 'llama-2-7b' },
    { model: 'mixtral-8x7b', weights: 'gptq', gpus: 4 },
    { model: 'qwen2-7b', weights: 'int8', concurrency: 3 },
    { model: 'gte-qwen2-1.5b-instruct', role: 'embedding', weights: 'int8', tokenBudget: 512 },
  ];

  test.each(variants.map((v) => [JSON.stringify(v), v]))('%s', (_name, variant) => {
    const { objects } = synthService(generationProps(variant));
    const pod = objects.find((o) => o.kind === 'Deployment')?.spec.template.spec;
    for (const c of [...pod.containers, ...pod.initContainers]) {
      const { requests, limits } = c.resources;
      // Byte-identical request and limit, each a canonical quantity that round-trips.
      expect(JSON.stringify(requests)).toBe(JSON.stringify(limits));
      for (const [resource, value] of Object.entries(limits as Record<string, string>)) {
        expect(typeof value).toBe('string');
        expect(quantity(value)).toEqual([]);
        const canonical = ['memory', 'ephemeral-storage'].includes(resource)
          ? /^[1-9]\d*(Mi|Gi)$/
          : /^[1-9]\d*$/;
        expect(value).toMatch(canonical);
      }
    }
    for (const v of pod.volumes.filter((x: K8sObject) => x.emptyDir))
      expect(v.emptyDir.sizeLimit).toMatch(/^[1-9]\d*(Mi|Gi)$/);
    expect(schemaErrors(objects)).toEqual([]);
  });
});

describe('long model names', () => {
  const base = MODEL_CATALOGUE['llama-2-7b'];
  test('names and label values stay within Kubernetes limits for any valid model name', () => {
    const modelName = fc
      .stringMatching(/^[a-z0-9][a-z0-9.-]{0,61}[a-z0-9]$/)
      .filter((n) => !n.includes('..') && !/[.-]{2}/.test(n));
    fc.assert(
      fc.property(
        modelName,
        fc.stringMatching(/^[a-z0-9]([a-z0-9._-]{0,38}[a-z0-9])?$/),
        (name, revision) => {
          const { objects } = synthService(
            generationProps({ model: { ...base, name }, weightsRevision: revision }),
          );
          const problems = [...nameErrors(objects), ...schemaErrors(objects)];
          for (const o of objects) {
            for (const value of Object.values(o.metadata.labels ?? {}))
              problems.push(...labelValue(value as string));
          }
          return problems.length === 0;
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('properties over the construct props', () => {
  // Mostly valid values, with enough invalid ones that both outcomes are exercised.
  const mostly = <T>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<T>) =>
    fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: invalid, weight: 1 });
  const props = fc.record({
    model: fc.constantFrom(...CATALOGUE_NAMES),
    weights: mostly(fc.constantFrom('awq', 'gptq', 'int8'), fc.constantFrom('fp16', 'bf16')),
    tokenBudget: mostly(fc.integer({ min: 1, max: 4096 }), fc.constantFrom(0, -1, 1.5, NaN, 8192)),
    concurrency: fc.option(
      mostly(fc.integer({ min: 1, max: 64 }), fc.constantFrom(0, -2, 2.5, 5000)),
      { nil: undefined },
    ),
    gpus: fc.option(mostly(fc.constantFrom(1, 2, 4, 8), fc.constantFrom(3, 0, 16, 1.5)), {
      nil: undefined,
    }),
    replicas: fc.option(mostly(fc.constantFrom(1, 2, 3), fc.constantFrom(0, -1, 2.5)), {
      nil: undefined,
    }),
    image: mostly(
      fc.constant(`registry.example.com/vllm@sha256:${'ab'.repeat(32)}`),
      fc.constantFrom('vllm/vllm-openai:v0.2.7', 'vllm/vllm-openai'),
    ),
    embedding: fc.boolean(),
  });

  test('every accepted combination synthesizes schema-valid manifests; every refused one fails with a compliance error', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(props, (p) => {
        const model = MODEL_CATALOGUE[p.model];
        const role = p.embedding && model.role === 'embedding' ? 'embedding' : 'generation';
        let objects: K8sObject[];
        try {
          const chart = new Chart(Testing.app(), 'p', { namespace: 'inference' });
          new InferenceService(chart, 'S', {
            ...generationProps(),
            model: p.model,
            weights: p.weights,
            tokenBudget: p.tokenBudget,
            concurrency: p.concurrency,
            gpus: p.gpus,
            replicas: p.replicas,
            image: p.image,
            role,
          });
          objects = Testing.synth(chart) as K8sObject[];
        } catch (e) {
          refused++;
          return ComplianceError.isComplianceError(e);
        }
        accepted++;
        const gpus = Number(
          objects.find((o) => o.kind === 'Deployment')?.spec.template.spec.containers[0].resources
            .limits['nvidia.com/gpu'],
        );
        return schemaErrors(objects).length === 0 && validTensorParallelSizes(model).includes(gpus);
      }),
      { numRuns: 120 },
    );
    expect(accepted).toBeGreaterThan(5);
    expect(refused).toBeGreaterThan(5);
  });
});
