import { refuse } from '../standard';
import { countParameters } from './weights';
import { ModelArchitecture } from './types';

/**
 * The whole-number fields and their upper bounds: each far above any published model (the
 * largest have about 128 layers, 256 experts and a million tokens of context), low enough
 * that no value can overflow the planner's arithmetic or keep it busy.
 */
const INTEGER_FIELDS = {
  parameters: 1e14,
  layers: 4096,
  hiddenSize: 1_048_576,
  intermediateSize: 4_194_304,
  attentionHeads: 4096,
  kvHeads: 4096,
  headDim: 4096,
  vocabSize: 16_777_216,
  maxContextTokens: 268_435_456,
} as const;

/** The most experts per MoE layer. */
const MAX_EXPERTS = 4096;

function fail(field: string, limit: string, received: unknown, message: string): never {
  return refuse('MEM-2', field, limit, received, message);
}

/**
 * Validates a model architecture (catalogue or custom): bounded positive whole numbers, KV
 * heads dividing attention heads, booleans where booleans belong, a known dtype and role,
 * sane experts, and a declared parameter count within 1% of what the shapes imply (so a
 * typo in a shape cannot pass unnoticed). The rule is MEM-2: an architecture exists to be
 * planned.
 * @returns the same architecture, for chaining
 * @throws ComplianceError (MEM-2) naming the field
 */
export function validateArchitecture(model: ModelArchitecture, field = 'model'): ModelArchitecture {
  if (!model || typeof model !== 'object' || Array.isArray(model)) {
    fail(field, 'a model architecture (an object)', model, 'no model architecture given');
  }
  if (typeof model.name !== 'string' || !/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/.test(model.name)) {
    fail(
      `${field}.name`,
      'lower-case letters, digits, dots and dashes, at most 63 characters',
      model.name,
      'a model name becomes part of Kubernetes names and labels',
    );
  }
  const bounds = Object.entries(INTEGER_FIELDS) as [keyof typeof INTEGER_FIELDS, number][];
  for (const [key, max] of bounds) {
    const v = model[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0 || v > max) {
      fail(
        `${field}.${key}`,
        `a whole number from 1 to ${max}`,
        v,
        `${model.name}: ${key} must be a whole number from 1 to ${max}`,
      );
    }
  }
  if (typeof model.tiedEmbeddings !== 'boolean') {
    fail(
      `${field}.tiedEmbeddings`,
      'true or false',
      model.tiedEmbeddings,
      `${model.name}: say whether the output head shares the input embedding`,
    );
  }
  if (model.attentionBias !== undefined && typeof model.attentionBias !== 'boolean') {
    fail(
      `${field}.attentionBias`,
      'true or false',
      model.attentionBias,
      `${model.name}: attentionBias must be a boolean`,
    );
  }
  if (model.role !== undefined && model.role !== 'generation' && model.role !== 'embedding') {
    fail(`${field}.role`, "'generation' or 'embedding'", model.role, `${model.name}: unknown role`);
  }
  if (model.attentionHeads % model.kvHeads !== 0) {
    fail(
      `${field}.kvHeads`,
      `a divisor of attentionHeads (${model.attentionHeads})`,
      model.kvHeads,
      `${model.name}: the KV heads must divide the attention heads (grouped-query attention)`,
    );
  }
  if (!['float16', 'bfloat16', 'float32'].includes(model.nativeDtype)) {
    fail(
      `${field}.nativeDtype`,
      'float16, bfloat16 or float32',
      model.nativeDtype,
      `${model.name}: unknown dtype`,
    );
  }
  if (model.experts !== undefined) {
    const { count, activePerToken } = model.experts ?? {};
    const valid =
      Number.isSafeInteger(count) &&
      count >= 2 &&
      count <= MAX_EXPERTS &&
      Number.isSafeInteger(activePerToken) &&
      activePerToken >= 1 &&
      activePerToken <= count;
    if (!valid) {
      fail(
        `${field}.experts`,
        `2 to ${MAX_EXPERTS} experts, 1..count active per token`,
        model.experts,
        `${model.name}: invalid expert layout`,
      );
    }
  }
  if (model.role === 'embedding' && model.embeddingDimensions !== undefined) {
    const d = model.embeddingDimensions;
    if (!Number.isSafeInteger(d) || d <= 0 || d > INTEGER_FIELDS.hiddenSize) {
      fail(
        `${field}.embeddingDimensions`,
        `a whole number from 1 to ${INTEGER_FIELDS.hiddenSize}`,
        d,
        `${model.name}: invalid embedding dimension`,
      );
    }
  }
  const counted = countParameters(model);
  const drift = Math.abs(counted - model.parameters) / model.parameters;
  if (drift > 0.01) {
    fail(
      `${field}.parameters`,
      `within 1% of ${counted} (what the shapes imply)`,
      model.parameters,
      `${model.name}: the declared parameter count does not match the layer shapes; check hiddenSize, intermediateSize, heads and vocabSize`,
    );
  }
  return model;
}
