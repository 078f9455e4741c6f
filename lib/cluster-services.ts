import { Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import { WeightsVolumes, weightsName } from '../constructs';
import { REFERENCE_MODELS } from './reference-models';

/**
 * Cluster services the inference workloads rely on, installed by the platform team:
 * the node-local weights volumes (W-3).
 */
export class ClusterServices extends Chart {
  public readonly weightsVolumes: WeightsVolumes;

  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);
    this.weightsVolumes = new WeightsVolumes(this, 'WeightsVolumes', {
      weights: Object.values(REFERENCE_MODELS).map((m) => ({
        name: weightsName(m.model, m.weights),
        revision: m.revision,
      })),
    });
  }
}
