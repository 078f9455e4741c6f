import { WeightFormatName } from '../standard';

/** Mixture-of-experts layout of a model's feed-forward blocks. */
export interface ExpertLayout {
  /** Experts per MoE layer. */
  readonly count: number;
  /** Experts each token is routed to. */
  readonly activePerToken: number;
}

/** What a model is served for. */
export type ModelRole = 'generation' | 'embedding';

/**
 * A model architecture, with the fields of its published `config.json` that decide its
 * memory. Catalogue entries cite their source; custom architectures are validated.
 */
export interface ModelArchitecture {
  /** Short name used on the command line and in manifests (`llama-2-70b`). */
  readonly name: string;
  /** The model's repository id where its configuration is published (`meta-llama/Llama-2-70b-hf`). */
  readonly repository: string;
  /** Where the numbers come from (the published configuration file). */
  readonly source: string;
  /** Total parameter count (all experts included). */
  readonly parameters: number;
  /** Transformer layers (`num_hidden_layers`). */
  readonly layers: number;
  /** Model width (`hidden_size`). */
  readonly hiddenSize: number;
  /** Feed-forward width of one MLP or one expert (`intermediate_size`). */
  readonly intermediateSize: number;
  /** Query heads (`num_attention_heads`). */
  readonly attentionHeads: number;
  /** Key/value heads (`num_key_value_heads`; equal to attentionHeads without grouped-query attention). */
  readonly kvHeads: number;
  /** Dimension of one head (`head_dim`, or hiddenSize / attentionHeads). */
  readonly headDim: number;
  /** Vocabulary size (`vocab_size`). */
  readonly vocabSize: number;
  /** Longest context the model supports, in tokens (`max_position_embeddings`). */
  readonly maxContextTokens: number;
  /** The dtype of the published weights. */
  readonly nativeDtype: 'float16' | 'bfloat16' | 'float32';
  /** True when the output head shares the input embedding (`tie_word_embeddings`). */
  readonly tiedEmbeddings: boolean;
  /** Mixture-of-experts layout, for MoE models. */
  readonly experts?: ExpertLayout;
  /** Whether the attention projections carry biases (`attention_bias`, Qwen2: q/k/v do). */
  readonly attentionBias?: boolean;
  /** What the model is for. @default 'generation' */
  readonly role?: ModelRole;
  /** Output dimension of an embedding model. */
  readonly embeddingDimensions?: number;
}

/** A GPU as the planner sees it. */
export interface GpuSpec {
  /** Name for reports (`A100-SXM4-40GB`). */
  readonly name: string;
  /** Memory of one GPU, in MiB. */
  readonly memoryMiB: number;
}

/** The inputs of one memory plan. */
export interface PlanRequest {
  /** The model architecture. */
  readonly model: ModelArchitecture;
  /** The weight format: `fp16`, `bf16`, `int8`, `awq`, `gptq`. */
  readonly weights: WeightFormatName;
  /** Quantization group size for AWQ and GPTQ. @default 128 */
  readonly groupSize?: number;
  /** The GPU. @default the standard's A100 40 GiB */
  readonly gpu?: GpuSpec;
  /** Tensor-parallel size. @default the smallest valid size that fits */
  readonly tensorParallelSize?: number;
  /** Token budget of one sequence (prompt + output), in tokens. @default the standard's 4096 (NET-6) */
  readonly tokenBudget?: number;
  /** Sequences served concurrently at the full budget. @default 8 */
  readonly concurrency?: number;
  /** Fraction of GPU memory the engine may use. @default the standard's 0.85 (MEM-1) */
  readonly memoryFraction?: number;
}

/** One line of the per-GPU overhead allowance, in bytes. */
export interface OverheadItem {
  readonly name: string;
  readonly bytes: number;
  /** How the number is derived, in words. */
  readonly basis: string;
}

/** A memory plan: the numbers of one model on one set of GPUs. All byte counts are per GPU unless named otherwise. */
export interface MemoryPlan {
  readonly model: string;
  readonly weights: WeightFormatName;
  readonly groupSize?: number;
  readonly gpu: GpuSpec;
  readonly tensorParallelSize: number;
  readonly pipelineParallelSize: number;
  /** GPUs one pod must hold (tensor x pipeline parallel). */
  readonly gpusPerPod: number;
  readonly tokenBudget: number;
  readonly concurrency: number;
  readonly memoryFraction: number;
  /** Memory of one GPU, in bytes. */
  readonly gpuMemoryBytes: number;
  /** The engine's budget on one GPU: memoryFraction x gpuMemoryBytes. */
  readonly budgetBytes: number;
  /** Weight bytes of the whole checkpoint. */
  readonly totalWeightBytes: number;
  /** Weight bytes of the shard one GPU holds. */
  readonly weightBytes: number;
  /** KV-cache bytes per token on one GPU (its share of the KV heads). */
  readonly kvBytesPerToken: number;
  /** KV-cache bytes per token for the whole model: 2 x layers x kvHeads x headDim x 2 bytes. */
  readonly kvBytesPerTokenTotal: number;
  /** KV-cache bytes for tokenBudget x concurrency on one GPU. */
  readonly kvCacheBytes: number;
  /** CUDA context, activations and engine overhead on one GPU. */
  readonly overheadBytes: number;
  readonly overhead: readonly OverheadItem[];
  /** weightBytes + kvCacheBytes + overheadBytes. */
  readonly totalBytes: number;
  /** budgetBytes - totalBytes (negative when it does not fit). */
  readonly headroomBytes: number;
  readonly fits: boolean;
  /** The most sequences at the full budget that fit (0 when none). */
  readonly maxConcurrency: number;
  /** The KV pool the engine will allocate: budgetBytes - weightBytes - overheadBytes. */
  readonly kvPoolBytes: number;
  /** Memory outside the KV pool on one GPU: weightBytes + overheadBytes. */
  readonly nonKvBytes: number;
  /** When it does not fit: what would. */
  readonly suggestions: readonly string[];
}
