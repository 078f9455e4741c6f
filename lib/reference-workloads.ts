import { App, Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import {
  Clock,
  InferenceTraffic,
  InferenceMonitoring,
  InferenceNamespace,
  InferenceService,
  InferenceServiceProps,
} from '../constructs';
import { REFERENCE_IMAGES, REFERENCE_MODELS, ReferenceModel } from './reference-models';
import { TRAFFIC_PLATFORM } from './traffic-platform';

/** Properties of the reference workloads chart. */
export interface ReferenceWorkloadsProps extends ChartProps {
  /** The clock waivers and reviews are checked against. */
  readonly clock?: Clock;
  /** The serving image, pinned by digest (SW-2). @default REFERENCE_IMAGES.serving */
  readonly image?: string;
  /** Overrides applied to both services (tests use them to vary inputs). */
  readonly overrides?: Partial<InferenceServiceProps>;
}

/** The inference namespace and the two reference services. */
export class ReferenceWorkloads extends Chart {
  public readonly generation: InferenceService;
  public readonly embedding: InferenceService;
  public readonly monitoring: readonly InferenceMonitoring[];
  public readonly traffic: readonly InferenceTraffic[];

  constructor(scope: Construct, id: string, props: ReferenceWorkloadsProps = {}) {
    super(scope, id, { namespace: 'inference', ...props });
    new InferenceNamespace(this, 'Namespace', { name: this.namespace ?? 'inference' });
    const common = {
      image: props.image ?? REFERENCE_IMAGES.serving,
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
    const services = [this.generation, this.embedding];
    this.monitoring = services.map(
      (service) => new InferenceMonitoring(this, `${service.node.id}Monitoring`, { service }),
    );
    const gateway = { name: TRAFFIC_PLATFORM.gatewayName, namespace: TRAFFIC_PLATFORM.namespace };
    this.traffic = services.map(
      (service) => new InferenceTraffic(this, `${service.node.id}Traffic`, { service, gateway }),
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
