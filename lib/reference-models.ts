import { WeightFormatName } from '../constructs';

/** A model the platform preloads and serves: catalogue name, format and revision of the copy. */
export interface ReferenceModel {
  /** The model's name in the planner catalogue (`llama-2-70b`). */
  readonly model: string;
  /** The weight format (Q-1: INT8 or 4-bit without a waiver). */
  readonly weights: WeightFormatName;
  /**
   * The revision of the copy in the weights bucket and on the node (a label value: the
   * checkpoint's commit, or your own version name).
   */
  readonly revision: string;
}

/**
 * The reference deployment, the one source for the platform stack (what the nodes preload)
 * and the workloads (what the pods claim): Llama 2 70B in AWQ 4-bit for generation and
 * gte-Qwen2-1.5B-instruct, whose embeddings have 1536 dimensions (NET-7), in INT8.
 */
export const REFERENCE_MODELS = Object.freeze({
  generation: Object.freeze<ReferenceModel>({
    model: 'llama-2-70b',
    weights: 'awq',
    revision: 'r1',
  }),
  embedding: Object.freeze<ReferenceModel>({
    model: 'gte-qwen2-1.5b-instruct',
    weights: 'int8',
    revision: 'r1',
  }),
});

/**
 * Images of the reference deployment, pinned by digest (SW-2). These are placeholders in a
 * registry that does not exist: a deployment sets the digests of its own mirror through the
 * cdk.json context keys `compliant-inference:servingImage`, `compliant-inference:redisImage` and
 * `compliant-inference:cloudWatchAgentImage`.
 */
export const REFERENCE_IMAGES = Object.freeze({
  serving: `registry.example.com/mirror/vllm-openai@sha256:${'0'.repeat(64)}`,
  redis: `registry.example.com/mirror/redis@sha256:${'0'.repeat(64)}`,
  cloudWatchAgent: `registry.example.com/mirror/cloudwatch-agent:1.300062.0b1304@sha256:${'0'.repeat(64)}`,
});
