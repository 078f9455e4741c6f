import { WeightFormatName } from '../standard';
import { ModelArchitecture } from './types';
import { WEIGHT_FORMATS } from './weight-formats';

/** One linear layer: input and output features. */
interface Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** The tensors of a model, grouped by how quantization treats them. */
export interface TensorInventory {
  /** The linear layers of one transformer layer that quantization compresses (attention and MLP / expert projections). */
  readonly linearsPerLayer: readonly Linear[];
  /** Transformer layers, each with {@link linearsPerLayer}. */
  readonly layers: number;
  /** Parameters that stay 16-bit in every format: embeddings, output head, norms, biases, routers. */
  readonly unquantizedParameters: number;
  /** Of those, the parameters replicated on every tensor-parallel rank (norms, routers). */
  readonly replicatedParameters: number;
}

/** The tensors of a model as its published checkpoint holds them. */
export function tensorInventory(model: ModelArchitecture): TensorInventory {
  const { hiddenSize: h, headDim: d, attentionHeads: q, kvHeads: kv, layers } = model;
  const experts = model.experts?.count ?? 1;
  const perLayer: Linear[] = [
    { inFeatures: h, outFeatures: q * d }, // q_proj
    { inFeatures: h, outFeatures: kv * d }, // k_proj
    { inFeatures: h, outFeatures: kv * d }, // v_proj
    { inFeatures: q * d, outFeatures: h }, // o_proj
  ];
  for (let e = 0; e < experts; e++) {
    perLayer.push(
      { inFeatures: h, outFeatures: model.intermediateSize }, // gate (w1)
      { inFeatures: h, outFeatures: model.intermediateSize }, // up (w3)
      { inFeatures: model.intermediateSize, outFeatures: h }, // down (w2)
    );
  }

  const embedding = model.vocabSize * h;
  // An untied output head is part of the checkpoint even when an embedding model never uses it.
  const outputHead = model.tiedEmbeddings ? 0 : model.vocabSize * h;
  const norms = (2 * layers + 1) * h;
  const biases = model.attentionBias ? layers * (q * d + 2 * kv * d) : 0;
  const routers = model.experts ? layers * h * model.experts.count : 0;
  return {
    linearsPerLayer: perLayer,
    layers,
    unquantizedParameters: embedding + outputHead + norms + biases + routers,
    replicatedParameters: norms + routers,
  };
}

/** The parameter count the shapes of an architecture imply. */
export function countParameters(model: ModelArchitecture): number {
  const inv = tensorInventory(model);
  const perLayer = inv.linearsPerLayer.reduce((n, l) => n + l.inFeatures * l.outFeatures, 0);
  return inv.layers * perLayer + inv.unquantizedParameters;
}

/** Options of {@link weightBytes}. */
export interface WeightBytesOptions {
  /** Quantization group size for AWQ and GPTQ; -1 for one group per output channel. @default 128 */
  readonly groupSize?: number;
  /**
   * Bytes per element of the tensors that stay unquantized. 2 for the 16-bit formats the
   * engine serves; 4 to size a float32 checkpoint as published.
   * @default 2
   */
  readonly unquantizedBytesPerElement?: number;
}

/** Bytes of one linear layer in a format. */
function linearBytes(l: Linear, format: WeightFormatName, groupSize: number, elem: number): number {
  const spec = WEIGHT_FORMATS[format];
  const n = l.inFeatures * l.outFeatures;
  if (spec.linearBits === 16) return n * elem;
  let bytes = (n * spec.linearBits) / 8;
  if (spec.perChannelScale) bytes += l.outFeatures * 2;
  if (spec.grouped) {
    // GPTQ's group size -1 means one group over all input features (per-channel).
    const groups = groupSize === -1 ? 1 : Math.ceil(l.inFeatures / groupSize);
    bytes += groups * l.outFeatures * 2; // scales, fp16
    bytes += (groups * l.outFeatures * spec.linearBits) / 8; // zero points, packed like the weights
  }
  if (spec.groupIndex) bytes += l.inFeatures * 4; // g_idx, int32
  return bytes;
}

/** Bytes of the whole checkpoint of a model in a weight format. */
export function weightBytes(
  model: ModelArchitecture,
  format: WeightFormatName,
  options: WeightBytesOptions = {},
): number {
  const groupSize = options.groupSize ?? 128;
  const elem = options.unquantizedBytesPerElement ?? 2;
  const inv = tensorInventory(model);
  const linear =
    inv.layers *
    inv.linearsPerLayer.reduce((b, l) => b + linearBytes(l, format, groupSize, elem), 0);
  return Math.ceil(linear + inv.unquantizedParameters * elem);
}

/**
 * Bytes of the shard one GPU holds at a tensor-parallel size: linear layers, embeddings
 * and the output head are split across ranks (vocabulary-parallel); norms and routers are
 * replicated on each.
 */
export function shardWeightBytes(
  model: ModelArchitecture,
  format: WeightFormatName,
  tensorParallelSize: number,
  options: WeightBytesOptions = {},
): number {
  const elem = options.unquantizedBytesPerElement ?? 2;
  const total = weightBytes(model, format, options);
  const replicated = tensorInventory(model).replicatedParameters * elem;
  return Math.ceil((total - replicated) / tensorParallelSize + replicated);
}
