import { Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import {
  InferenceAdmissionPolicy,
  PreloadedWeights,
  Standard,
  WeightsVolumes,
  weightsName,
} from '../constructs';
import { REFERENCE_MODELS } from './reference-models';

/** Properties of {@link ClusterServices}. */
export interface ClusterServicesProps extends ChartProps {
  /** The model revisions the GPU nodes preload. @default the reference models */
  readonly weights?: readonly PreloadedWeights[];
  /** The standard. @default DEFAULT_STANDARD */
  readonly standard?: Standard;
}

/**
 * Cluster services the inference workloads rely on, installed by the platform team: the
 * node-local weights volumes (W-3) and the admission policy that refuses non-compliant
 * inference workloads, hand-written ones included (OPS-4).
 */
export class ClusterServices extends Chart {
  public readonly weightsVolumes: WeightsVolumes;
  public readonly admission: InferenceAdmissionPolicy;

  constructor(scope: Construct, id: string, props: ClusterServicesProps = {}) {
    super(scope, id, props);
    this.weightsVolumes = new WeightsVolumes(this, 'WeightsVolumes', {
      weights:
        props.weights ??
        Object.values(REFERENCE_MODELS).map((m) => ({
          name: weightsName(m.model, m.weights),
          revision: m.revision,
        })),
      standard: props.standard,
    });
    this.admission = new InferenceAdmissionPolicy(this, 'Admission', { standard: props.standard });
  }
}
