import * as eks from 'aws-cdk-lib/aws-eks-v2';
import { Construct } from 'constructs';
import { ComplianceError } from '../standard';

/**
 * The kubectl provider receives each manifest inside an asynchronous Lambda event, which
 * Lambda caps at 262,144 bytes (aws/aws-cdk#19165). A part's manifest JSON stays under this
 * budget, leaving room for the rest of the event.
 */
export const DEFAULT_MANIFEST_PAYLOAD_BYTES = 200_000;

/** A Kubernetes object as cdk8s synthesizes it. */
export type KubernetesObject = Record<string, unknown> & {
  readonly kind?: unknown;
  readonly metadata?: unknown;
};

/** Properties of a {@link ManifestDeployment}. */
export interface ManifestDeploymentProps {
  /** The cluster to apply the objects to. */
  readonly cluster: eks.ICluster;
  /** The objects, in the order cdk8s synthesized them (`Chart.toJson()`). */
  readonly objects: readonly KubernetesObject[];
  /**
   * The most bytes of manifest JSON in one KubernetesManifest resource.
   * @default DEFAULT_MANIFEST_PAYLOAD_BYTES (200,000 bytes)
   */
  readonly maxPayloadBytes?: number;
}

/** The order objects are applied in: namespaces and definitions before what lives in them. */
function rank(kind: unknown): number {
  if (kind === 'Namespace') return 0;
  if (kind === 'CustomResourceDefinition') return 1;
  if (kind === 'StorageClass' || kind === 'PriorityClass') return 2;
  return 3;
}

/**
 * Groups objects into parts that each stay under a byte budget, namespaces and custom
 * resource definitions first. Pure, so tests can check the split without a cluster.
 * @throws ComplianceError when one object alone is over the budget
 */
export function splitManifests(
  objects: readonly KubernetesObject[],
  maxPayloadBytes = DEFAULT_MANIFEST_PAYLOAD_BYTES,
): KubernetesObject[][] {
  const ordered = objects
    .map((o, i) => ({ o, i }))
    .sort((a, b) => rank(a.o.kind) - rank(b.o.kind) || a.i - b.i);
  const parts: KubernetesObject[][] = [];
  let current: KubernetesObject[] = [];
  let size = 2; // the brackets of the JSON array
  let currentRank = -1;
  for (const { o } of ordered) {
    const bytes = Buffer.byteLength(JSON.stringify(o)) + 1;
    if (bytes + 2 > maxPayloadBytes) {
      const meta = (o.metadata ?? {}) as { name?: string };
      throw new ComplianceError({
        rule: 'OPS-4',
        field: `objects[${String(o.kind)}/${meta.name ?? '?'}]`,
        limit: `<= ${maxPayloadBytes} bytes per manifest resource`,
        received: `${bytes} bytes`,
        message:
          'one Kubernetes object is larger than the kubectl provider can receive; split it or ship it as a Helm chart asset',
      });
    }
    // A new rank starts a new part so that each part depends on everything it needs.
    if (current.length > 0 && (size + bytes > maxPayloadBytes || rank(o.kind) !== currentRank)) {
      parts.push(current);
      current = [];
      size = 2;
    }
    current.push(o);
    size += bytes;
    currentRank = rank(o.kind);
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

/**
 * Applies a set of Kubernetes objects (a cdk8s chart's output) to a cluster through the
 * kubectl provider, split into parts that each fit the provider's payload limit and applied
 * in order.
 */
export class ManifestDeployment extends Construct {
  /** The KubernetesManifest resources, in apply order. */
  public readonly parts: readonly eks.KubernetesManifest[];

  constructor(scope: Construct, id: string, props: ManifestDeploymentProps) {
    super(scope, id);
    const groups = splitManifests(props.objects, props.maxPayloadBytes);
    const parts: eks.KubernetesManifest[] = [];
    groups.forEach((manifest, i) => {
      const part = new eks.KubernetesManifest(this, `Part${i}`, {
        cluster: props.cluster,
        manifest,
        overwrite: true,
      });
      if (i > 0) part.node.addDependency(parts[i - 1]);
      parts.push(part);
    });
    this.parts = parts;
  }
}
