import { distance } from 'fastest-levenshtein';
import {
  ComplianceError,
  DEFAULT_STANDARD,
  Standard,
  WeightFormatName,
  describeValue,
} from '../standard';
import { MODEL_CATALOGUE, CATALOGUE_NAMES } from './catalogue';
import { validateArchitecture } from './validate';
import { DEFAULT_GROUP_SIZE, WEIGHT_FORMATS, isWeightFormat } from './weight-formats';
import { shardWeightBytes, weightBytes } from './weights';
import { GpuSpec, MemoryPlan, ModelArchitecture, OverheadItem, PlanRequest } from './types';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Sequences served at once when the request does not say. */
export const DEFAULT_CONCURRENCY = 8;

/** KV-cache element size: the engine keeps keys and values in the 16-bit model dtype. */
const KV_BYTES_PER_ELEMENT = 2;

/**
 * Fixed parts of the per-GPU overhead allowance, in bytes. They are deliberately round and
 * on the safe side of what vLLM reports at start-up on A100s ("model weights took", "non-torch
 * memory", "CUDA graphs took"):
 * - the CUDA context, cuBLAS workspaces and allocator slack: 1 GiB;
 * - CUDA graphs captured for decode batch sizes: 512 MiB;
 * - NCCL communicator buffers, only when tensor-parallel > 1: 512 MiB.
 */
export const OVERHEAD_ALLOWANCE = Object.freeze({
  cudaContextBytes: 1 * GiB,
  cudaGraphBytes: 512 * MiB,
  ncclBytes: 512 * MiB,
});

/** The GPU of the standard's instance type. */
export function standardGpu(standard: Standard = DEFAULT_STANDARD): GpuSpec {
  return { name: standard.hardware.gpuModel, memoryMiB: standard.hardware.gpuMemoryMiB };
}

/**
 * The catalogue entry with this name.
 * @throws ComplianceError (MEM-2) naming the closest catalogue names
 */
export function catalogueModel(name: string, field = 'model'): ModelArchitecture {
  const found = MODEL_CATALOGUE[name];
  if (found) return found;
  // Names that contain the input (a prefix such as 'mixtral'), else every name at the
  // smallest edit distance: 'llama-2-71b' is one edit from both 'llama-2-7b' and 'llama-2-70b'.
  const text = String(name);
  const near = CATALOGUE_NAMES.filter((n) => n.includes(text));
  const distances = CATALOGUE_NAMES.map((n) => distance(text, n));
  const best = Math.min(...distances);
  const suggestion =
    near.length > 0 ? near : CATALOGUE_NAMES.filter((_, i) => distances[i] === best);
  throw new ComplianceError({
    rule: 'MEM-2',
    field,
    limit: 'a model of the catalogue or a custom architecture',
    received: describeValue(name),
    message: `unknown model ${describeValue(name)}; did you mean ${suggestion.map((s) => `'${s}'`).join(' or ')}?`,
  });
}

/** Tensor-parallel sizes valid for a model (MEM-3) within the GPUs a pod may hold (HW-2). */
export function validTensorParallelSizes(
  model: ModelArchitecture,
  standard: Standard = DEFAULT_STANDARD,
): number[] {
  const max = Math.min(standard.hardware.maxGpusPerPod, standard.hardware.gpusPerInstance);
  const out: number[] = [];
  for (let tp = 1; tp <= max; tp++) {
    if (model.attentionHeads % tp === 0 && model.kvHeads % tp === 0) out.push(tp);
  }
  return out;
}

function positiveInteger(
  value: unknown,
  rule: ComplianceError['rule'],
  field: string,
  what: string,
): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ComplianceError({
      rule,
      field,
      limit: 'a whole number greater than 0',
      received: describeValue(value),
      message: `${what} must be a whole number greater than 0; received ${describeValue(value)}`,
    });
  }
  return value;
}

/** AWQ and GPTQ group sizes: a power of two from 16 to 1024, or -1 for one group per channel. */
function validGroupSize(value: unknown): number {
  const ok =
    value === -1 ||
    (typeof value === 'number' &&
      Number.isInteger(value) &&
      value >= 16 &&
      value <= 1024 &&
      (value & (value - 1)) === 0);
  if (!ok) {
    throw new ComplianceError({
      rule: 'MEM-2',
      field: 'groupSize',
      limit: 'a power of two from 16 to 1024, or -1 (one group per channel)',
      received: describeValue(value),
      message: `the quantization group size must be a power of two from 16 to 1024, or -1; received ${describeValue(value)}`,
    });
  }
  return value as number;
}

function gib(bytes: number): string {
  return `${(bytes / GiB).toFixed(1)} GiB`;
}

/** Normalised inputs, validated once. */
interface Inputs {
  readonly model: ModelArchitecture;
  readonly weights: WeightFormatName;
  readonly groupSize?: number;
  readonly gpu: GpuSpec;
  readonly tokenBudget: number;
  readonly concurrency: number;
  readonly memoryFraction: number;
}

function validateRequest(request: PlanRequest, standard: Standard): Inputs {
  const model = validateArchitecture(request.model, 'model');
  if (typeof request.weights !== 'string' || !isWeightFormat(request.weights)) {
    throw new ComplianceError({
      rule: 'Q-1',
      field: 'weights',
      limit: `one of ${Object.keys(WEIGHT_FORMATS).join(', ')}`,
      received: describeValue(request.weights),
      message: `unknown weight format ${describeValue(request.weights)}`,
    });
  }
  const spec = WEIGHT_FORMATS[request.weights];
  const groupSize = spec.grouped
    ? validGroupSize(request.groupSize ?? DEFAULT_GROUP_SIZE)
    : undefined;
  const gpu = request.gpu ?? standardGpu(standard);
  positiveInteger(gpu.memoryMiB, 'HW-1', 'gpu.memoryMiB', 'GPU memory in MiB');
  const tokenBudget = positiveInteger(
    request.tokenBudget ?? standard.traffic.tokenBudget,
    'NET-6',
    'tokenBudget',
    'the token budget',
  );
  if (tokenBudget > model.maxContextTokens) {
    throw new ComplianceError({
      rule: 'NET-6',
      field: 'tokenBudget',
      limit: `<= ${model.maxContextTokens} tokens (the context of ${model.name})`,
      received: `${tokenBudget} tokens`,
      message: `a budget of ${tokenBudget} tokens is more than ${model.name} can attend to (${model.maxContextTokens})`,
    });
  }
  const concurrency = positiveInteger(
    request.concurrency ?? DEFAULT_CONCURRENCY,
    'MEM-2',
    'concurrency',
    'the number of concurrent sequences',
  );
  const memoryFraction = request.memoryFraction ?? standard.memory.engineMemoryFraction;
  if (
    typeof memoryFraction !== 'number' ||
    !Number.isFinite(memoryFraction) ||
    memoryFraction <= 0 ||
    memoryFraction > standard.memory.engineMemoryFraction
  ) {
    throw new ComplianceError({
      rule: 'MEM-1',
      field: 'memoryFraction',
      limit: `> 0 and <= ${standard.memory.engineMemoryFraction}`,
      received: describeValue(memoryFraction),
      message: `the engine may use at most ${standard.memory.engineMemoryFraction * 100}% of each GPU's memory`,
    });
  }
  return {
    model,
    weights: request.weights,
    groupSize,
    gpu,
    tokenBudget,
    concurrency,
    memoryFraction,
  };
}

/** The per-GPU overhead allowance for one configuration. */
export function overheadAllowance(
  model: ModelArchitecture,
  tensorParallelSize: number,
  tokenBudget: number,
): OverheadItem[] {
  // Peak activation of one prefill step of `tokenBudget` tokens (the engine's batched-token
  // limit is set to the budget): the MLP's gate and up outputs plus four hidden-sized buffers,
  // 16-bit, on this rank's share of the intermediate width.
  const activationElementsPerToken =
    (2 * model.intermediateSize) / tensorParallelSize + 4 * model.hiddenSize;
  const activations = tokenBudget * activationElementsPerToken * 2;
  const items: OverheadItem[] = [
    {
      name: 'CUDA context',
      bytes: OVERHEAD_ALLOWANCE.cudaContextBytes,
      basis: 'CUDA runtime, cuBLAS workspaces and allocator slack: 1 GiB',
    },
    {
      name: 'CUDA graphs',
      bytes: OVERHEAD_ALLOWANCE.cudaGraphBytes,
      basis: 'graphs captured for decode batch sizes: 512 MiB',
    },
    {
      name: 'activations',
      bytes: Math.ceil(activations),
      basis: `prefill of ${tokenBudget} tokens x (2 x ${model.intermediateSize} / TP + 4 x ${model.hiddenSize}) x 2 bytes`,
    },
  ];
  if (tensorParallelSize > 1) {
    items.push({
      name: 'NCCL buffers',
      bytes: OVERHEAD_ALLOWANCE.ncclBytes,
      basis: 'communicator buffers for tensor parallelism: 512 MiB',
    });
  }
  return items;
}

function computePlan(inputs: Inputs, tensorParallelSize: number): Omit<MemoryPlan, 'suggestions'> {
  const { model, weights, groupSize, gpu, tokenBudget, concurrency, memoryFraction } = inputs;
  const gpuMemoryBytes = gpu.memoryMiB * MiB;
  const budgetBytes = Math.floor(gpuMemoryBytes * memoryFraction);
  const totalWeightBytes = weightBytes(model, weights, { groupSize });
  const shard = shardWeightBytes(model, weights, tensorParallelSize, { groupSize });
  const kvBytesPerTokenTotal =
    2 * model.layers * model.kvHeads * model.headDim * KV_BYTES_PER_ELEMENT;
  const kvBytesPerToken = kvBytesPerTokenTotal / tensorParallelSize;
  const kvCacheBytes = kvBytesPerToken * tokenBudget * concurrency;
  const overhead = overheadAllowance(model, tensorParallelSize, tokenBudget);
  const overheadBytes = overhead.reduce((n, i) => n + i.bytes, 0);
  const totalBytes = shard + kvCacheBytes + overheadBytes;
  const nonKvBytes = shard + overheadBytes;
  const kvPoolBytes = Math.max(0, budgetBytes - nonKvBytes);
  const perSequence = kvBytesPerToken * tokenBudget;
  return {
    model: model.name,
    weights,
    ...(groupSize !== undefined ? { groupSize } : {}),
    gpu,
    tensorParallelSize,
    pipelineParallelSize: 1,
    gpusPerPod: tensorParallelSize,
    tokenBudget,
    concurrency,
    memoryFraction,
    gpuMemoryBytes,
    budgetBytes,
    totalWeightBytes,
    weightBytes: shard,
    kvBytesPerToken,
    kvBytesPerTokenTotal,
    kvCacheBytes,
    overheadBytes,
    overhead,
    totalBytes,
    headroomBytes: budgetBytes - totalBytes,
    fits: totalBytes <= budgetBytes,
    maxConcurrency: Math.floor(kvPoolBytes / perSequence),
    kvPoolBytes,
    nonKvBytes,
  };
}

/** What would make a plan fit, in words, computed by trying each change. */
function suggest(
  inputs: Inputs,
  plan: Omit<MemoryPlan, 'suggestions'>,
  standard: Standard,
): string[] {
  const out: string[] = [];
  if (plan.maxConcurrency >= 1 && plan.maxConcurrency < inputs.concurrency) {
    out.push(
      `serve at most ${plan.maxConcurrency} concurrent sequences (--concurrency ${plan.maxConcurrency})`,
    );
  }
  const bigger = validTensorParallelSizes(inputs.model, standard).find(
    (tp) => tp > plan.tensorParallelSize && computePlan(inputs, tp).fits,
  );
  if (bigger) out.push(`hold ${bigger} GPUs per pod (--tensor-parallel ${bigger})`);
  for (const format of ['awq', 'gptq', 'int8'] as WeightFormatName[]) {
    if (format === inputs.weights) continue;
    const alt = {
      ...inputs,
      weights: format,
      groupSize: WEIGHT_FORMATS[format].grouped ? DEFAULT_GROUP_SIZE : undefined,
    };
    const tp = validTensorParallelSizes(inputs.model, standard).find(
      (t) => computePlan(alt, t).fits,
    );
    if (tp) {
      out.push(`quantize to ${format} (--weights ${format}), which fits at tensor-parallel ${tp}`);
      break;
    }
  }
  // The longest budget that fits at this size, by bisection: memory grows with the budget.
  let lo = 0;
  let hi = inputs.tokenBudget;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (computePlan({ ...inputs, tokenBudget: mid }, plan.tensorParallelSize).fits) lo = mid;
    else hi = mid - 1;
  }
  if (lo > 0 && lo < inputs.tokenBudget) {
    out.push(`shorten the token budget to ${lo} tokens (--token-budget ${lo})`);
  }
  return out;
}

/**
 * Plans the GPU memory of one model: the weights of its shard, the KV cache for the token
 * budget at the configured concurrency, and the overhead allowance, against the engine's
 * share of each GPU (MEM-1, MEM-2). Without a tensor-parallel size it picks the smallest
 * valid one that fits (MEM-3); when none fits it returns the largest, with `fits: false`.
 *
 * @throws ComplianceError for malformed input (zero, negative, NaN or fractional counts,
 * a budget over the model's context, a tensor-parallel size that does not divide the heads)
 */
export function planMemory(
  request: PlanRequest,
  standard: Standard = DEFAULT_STANDARD,
): MemoryPlan {
  const inputs = validateRequest(request, standard);
  const valid = validTensorParallelSizes(inputs.model, standard);
  let tp: number;
  if (request.tensorParallelSize !== undefined) {
    tp = positiveInteger(
      request.tensorParallelSize,
      'HW-2',
      'tensorParallelSize',
      'the tensor-parallel size (GPUs per pod)',
    );
    if (tp > standard.hardware.maxGpusPerPod) {
      throw new ComplianceError({
        rule: 'HW-2',
        field: 'tensorParallelSize',
        limit: `<= ${standard.hardware.maxGpusPerPod} GPUs per pod`,
        received: String(tp),
        message: `a pod may hold at most ${standard.hardware.maxGpusPerPod} GPUs`,
      });
    }
    if (!valid.includes(tp)) {
      throw new ComplianceError({
        rule: 'MEM-3',
        field: 'tensorParallelSize',
        limit: `a divisor of ${inputs.model.attentionHeads} attention heads and ${inputs.model.kvHeads} KV heads: ${valid.join(', ')}`,
        received: String(tp),
        message: `tensor-parallel ${tp} does not divide the heads of ${inputs.model.name}`,
      });
    }
  } else {
    tp = valid.find((t) => computePlan(inputs, t).fits) ?? valid[valid.length - 1];
  }
  const plan = computePlan(inputs, tp);
  return Object.freeze({
    ...plan,
    suggestions: Object.freeze(plan.fits ? [] : suggest(inputs, plan, standard)),
  });
}

/**
 * The refusal of a plan that does not fit, with its numbers: the error constructs throw.
 * Weights alone over the budget are named first, as they were in the incident.
 */
export function planRefusal(plan: MemoryPlan, field = 'model'): ComplianceError {
  const pct = Math.round(plan.memoryFraction * 100);
  const budget = `${gib(plan.budgetBytes)} (${pct}% of ${gib(plan.gpuMemoryBytes).replace('.0 ', ' ')})`;
  const what =
    plan.weightBytes > plan.budgetBytes
      ? `needs ${gib(plan.weightBytes)} of weights per GPU`
      : `needs ${gib(plan.totalBytes)} per GPU (weights ${gib(plan.weightBytes)}, KV cache ${gib(plan.kvCacheBytes)} for ${plan.concurrency} x ${plan.tokenBudget} tokens, overhead ${gib(plan.overheadBytes)})`;
  const fix =
    plan.suggestions.length > 0 ? `; what would fit: ${plan.suggestions.join('; or ')}` : '';
  return new ComplianceError({
    rule: 'MEM-2',
    field,
    limit: budget,
    received:
      plan.weightBytes > plan.budgetBytes
        ? `${gib(plan.weightBytes)} of weights`
        : gib(plan.totalBytes),
    message: `${plan.model} in ${plan.weights} ${what} at tensor-parallel ${plan.tensorParallelSize}; the budget is ${budget}${fix}`,
  });
}

/**
 * Plans and insists that the plan fits.
 * @throws ComplianceError (MEM-2) with the numbers and what would fit
 */
export function requireFittingPlan(
  request: PlanRequest,
  standard: Standard = DEFAULT_STANDARD,
  field = 'model',
): MemoryPlan {
  const plan = planMemory(request, standard);
  if (!plan.fits) throw planRefusal(plan, field);
  return plan;
}
