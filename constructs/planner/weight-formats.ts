import { WeightFormatName } from '../standard';

/** How a weight format stores the tensors of a checkpoint. */
export interface WeightFormatSpec {
  readonly name: WeightFormatName;
  /** Bits per element of the quantized linear-layer weights (16 when unquantized). */
  readonly linearBits: number;
  /** Whether linear layers carry per-group scales and zero points (AWQ, GPTQ). */
  readonly grouped: boolean;
  /** Whether each linear layer stores a per-input-channel group index (GPTQ's `g_idx`, int32). */
  readonly groupIndex: boolean;
  /** Whether linear layers carry one 16-bit scale per output channel (INT8). */
  readonly perChannelScale: boolean;
  /** The name vLLM's `--quantization` takes, if any. */
  readonly engineQuantization?: string;
  /** vLLM's `--dtype` for the unquantized tensors. */
  readonly engineDtype: 'float16' | 'bfloat16';
}

/** The formats the planner knows. Embeddings, the output head, norms and MoE routers stay 16-bit in every one. */
export const WEIGHT_FORMATS: Readonly<Record<WeightFormatName, WeightFormatSpec>> = Object.freeze({
  fp16: {
    name: 'fp16',
    linearBits: 16,
    grouped: false,
    groupIndex: false,
    perChannelScale: false,
    engineDtype: 'float16',
  },
  bf16: {
    name: 'bf16',
    linearBits: 16,
    grouped: false,
    groupIndex: false,
    perChannelScale: false,
    engineDtype: 'bfloat16',
  },
  int8: {
    name: 'int8',
    linearBits: 8,
    grouped: false,
    groupIndex: false,
    perChannelScale: true,
    engineQuantization: 'compressed-tensors',
    engineDtype: 'float16',
  },
  awq: {
    name: 'awq',
    linearBits: 4,
    grouped: true,
    groupIndex: false,
    perChannelScale: false,
    engineQuantization: 'awq',
    engineDtype: 'float16',
  },
  gptq: {
    name: 'gptq',
    linearBits: 4,
    grouped: true,
    groupIndex: true,
    perChannelScale: false,
    engineQuantization: 'gptq',
    engineDtype: 'float16',
  },
});

/** True when the name is a weight format the planner knows. */
export function isWeightFormat(name: string): name is WeightFormatName {
  return Object.prototype.hasOwnProperty.call(WEIGHT_FORMATS, name);
}

/** The default quantization group size of AWQ and GPTQ checkpoints. */
export const DEFAULT_GROUP_SIZE = 128;
