import { App, Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import {
  Clock,
  InferenceMonitoring,
  InferenceNamespace,
  InferenceService,
  InferenceServiceProps,
} from '../constructs';
import { REFERENCE_MODELS, ReferenceModel } from './reference-models';

/** The serving image of the reference deployment, pinned by digest (SW-2). */
export const REFERENCE_IMAGE =
  'public.ecr.aws/compliant-inference/vllm-openai@sha256:4f1c6a1f3c7ae9a0c2d5e6b8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012345';

/** Properties of the reference workloads chart. */
export interface ReferenceWorkloadsProps extends ChartProps {
  /** The clock waivers and reviews are checked against. */
  readonly clock?: Clock;
  /** Overrides applied to both services (tests use them to vary inputs). */
  readonly overrides?: Partial<InferenceServiceProps>;
}

/** The inference namespace and the two reference services. */
export class ReferenceWorkloads extends Chart {
  public readonly generation: InferenceService;
  public readonly embedding: InferenceService;
  public readonly monitoring: readonly InferenceMonitoring[];

  constructor(scope: Construct, id: string, props: ReferenceWorkloadsProps = {}) {
    super(scope, id, { namespace: 'inference', ...props });
    new InferenceNamespace(this, 'Namespace', { name: this.namespace ?? 'inference' });
    const common = {
      image: REFERENCE_IMAGE,
      replicas: 2,
      clock: props.clock,
      gpuLossPlan: { kind: 'fail-fast', retryAfterSeconds: 30 } as const,
      review: { reviewer: 'sre-oncall-lead', date: '2026-11-20' },
      ...props.overrides,
    };
    this.generation = new InferenceService(this, 'Generation', {
      ...serviceModel(REFERENCE_MODELS.generation),
      role: 'generation',
      ...common,
    });
    this.embedding = new InferenceService(this, 'Embedding', {
      ...serviceModel(REFERENCE_MODELS.embedding),
      role: 'embedding',
      concurrency: 32,
      ...common,
    });
    this.monitoring = [this.generation, this.embedding].map(
      (service) => new InferenceMonitoring(this, `${service.node.id}Monitoring`, { service }),
    );
  }
}

/** Builds the reference workloads into a cdk8s app writing to `outdir`. */
export function synthReferenceWorkloads(outdir: string, clock?: Clock): App {
  const app = new App({ outdir, outputFileExtension: '.yaml' });
  new ReferenceWorkloads(app, 'inference-workloads', { clock });
  app.synth();
  return app;
}

/** The props that name a reference model's preloaded copy. */
function serviceModel(m: ReferenceModel) {
  return { model: m.model, weights: m.weights, weightsRevision: m.revision };
}
