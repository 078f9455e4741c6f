/**
 * The contract between the GPU nodes and the inference pods: where preloaded weights live
 * on a node, the label that says they are ready, and the labels every inference object
 * carries. The boot scripts and the Kubernetes constructs both read these, so the two
 * sides cannot drift apart.
 */

/** Where nodeadm's RAID0 local-storage strategy mounts the NVMe array. */
export const NVME_MOUNT = '/mnt/k8s-disks/0';

/** The directory under the NVMe mount that holds preloaded model weights. */
export const WEIGHTS_ROOT = `${NVME_MOUNT}/models`;

/** Label and annotation prefix of this project. */
export const LABEL_PREFIX = 'compliance.inference';

/** The directory of one model revision on a node: `<root>/<model>/<revision>`. */
export function weightsDirectory(model: string, revision: string): string {
  return `${WEIGHTS_ROOT}/${model}/${revision}`;
}

/** The file whose presence marks a verified, complete copy (W-2). Written last, atomically. */
export const READY_MARKER = '.compliance-ready';

/** The SHA-256 manifest stored beside the weights in the bucket and verified on the node (W-2). */
export const CHECKSUM_MANIFEST = 'SHA256SUMS';

/**
 * The node label set once a model's weights are verified on the node (W-3):
 * `weights.compliance.inference/<model>=<revision>`.
 */
export function weightsReadyLabel(model: string, revision: string): { key: string; value: string } {
  return { key: `weights.${LABEL_PREFIX}/${model}`, value: revision };
}

/** The label every inference pod carries so admission and audit can find it. */
export const INFERENCE_WORKLOAD_LABEL = `${LABEL_PREFIX}/workload`;

/** The annotation that records the memory plan on a Deployment (MEM-2 audit). */
export const PLAN_ANNOTATION = `${LABEL_PREFIX}/memory-plan`;

/** The well-known node label carrying the EC2 instance type (HW-1). */
export const INSTANCE_TYPE_LABEL = 'node.kubernetes.io/instance-type';

/** The extended resource the NVIDIA device plugin advertises. */
export const GPU_RESOURCE = 'nvidia.com/gpu';

/**
 * Where the boot script exposes each verified model revision as read-only bind mounts, one
 * per GPU of the node, for the local volume provisioner to publish as PersistentVolumes of
 * the model's storage class. Pods then claim the weights through a generic ephemeral
 * volume, which the restricted Pod Security Standard allows where a hostPath is not.
 */
export const WEIGHTS_PV_ROOT = '/mnt/weights-pv';

/** The StorageClass of one model revision's local weight volumes. */
export function weightsStorageClass(model: string, revision: string): string {
  return `weights-${model}-${revision}`.toLowerCase();
}

/** The discovery directory of one model revision's bind mounts on a node. */
export function weightsPvDirectory(model: string, revision: string): string {
  return `${WEIGHTS_PV_ROOT}/${weightsStorageClass(model, revision)}`;
}

/**
 * The name of a model's weights on the node and in the bucket: `<model>-<format>`, so two
 * formats of one model can sit side by side (`llama-2-70b-awq`).
 */
export function weightsName(model: string, format: string): string {
  return `${model}-${format}`;
}

/** `registry/repository[:tag]@sha256:<64 hex>`: the only image reference SW-2 accepts. */
const DIGEST_PINNED_IMAGE =
  /^[a-z0-9]+(?:[._\-/:][a-z0-9]+)*(?::[\w][\w.-]{0,127})?@sha256:[a-f0-9]{64}$/;

/** True when an image reference is pinned by digest (SW-2). */
export function isDigestPinned(image: unknown): image is string {
  return typeof image === 'string' && DIGEST_PINNED_IMAGE.test(image);
}
