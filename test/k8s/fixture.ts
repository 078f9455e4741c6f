import { Chart, Testing } from 'cdk8s';
import { InferenceService, InferenceServiceProps, fixedClock } from '../../constructs';
import { validateManifest } from '../support/manifests';

/** A digest-pinned image for tests. */
export const IMAGE = `registry.example.com/serving/vllm@sha256:${'0123456789abcdef'.repeat(4)}`;

/** The clock of every test: waivers and reviews are judged on this day. */
export const CLOCK = fixedClock('2026-12-03T12:00:00Z');

/** Props of a compliant generation service; tests change one thing at a time. */
export function generationProps(
  overrides: Partial<InferenceServiceProps> = {},
): InferenceServiceProps {
  return {
    model: 'llama-2-70b',
    weights: 'awq',
    weightsRevision: '8d5c0a5',
    role: 'generation',
    image: IMAGE,
    gpuLossPlan: { kind: 'fail-fast', retryAfterSeconds: 30 },
    clock: CLOCK,
    ...overrides,
  };
}

/** A Kubernetes object as synthesized. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = Record<string, any>;

/**
 * Synthesizes one service in its own chart and returns the service and the objects. Every
 * object is validated against its Kubernetes schema on the way, so every test case that
 * synthesizes is a schema test too.
 */
export function synthService(props: InferenceServiceProps = generationProps()): {
  service: InferenceService;
  objects: K8sObject[];
} {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'inference' });
  const service = new InferenceService(chart, 'Svc', props);
  const objects = Testing.synth(chart) as K8sObject[];
  const invalid = objects.flatMap((o) =>
    validateManifest(o).map((e) => `${o.kind}/${o.metadata?.name}: ${e}`),
  );
  if (invalid.length > 0) throw new Error(`invalid manifests:\n${invalid.join('\n')}`);
  return { service, objects };
}

/** The one object of a kind. */
export function only(objects: K8sObject[], kind: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0];
}

/** The pod spec of the service's Deployment. */
export function podSpec(objects: K8sObject[]): K8sObject {
  return only(objects, 'Deployment').spec.template.spec;
}

/** The engine container. */
export function engine(objects: K8sObject[]): K8sObject {
  return podSpec(objects).containers.find((c: K8sObject) => c.name === 'engine');
}

/** The value of a `--flag value` argument. */
export function argValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}
