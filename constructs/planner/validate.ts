import { ComplianceError, describeValue } from '../standard';
import { countParameters } from './weights';
import { ModelArchitecture } from './types';

const INTEGER_FIELDS = [
  'parameters',
  'layers',
  'hiddenSize',
  'intermediateSize',
  'attentionHeads',
  'kvHeads',
  'headDim',
  'vocabSize',
  'maxContextTokens',
] as const;

function fail(field: string, limit: string, received: unknown, message: string): never {
  throw new ComplianceError({
    rule: 'MEM-2',
    field,
    limit,
    received: describeValue(received),
    message,
  });
}

/**
 * Validates a model architecture (catalogue or custom): positive whole numbers, KV heads
 * dividing attention heads, a known dtype, sane experts, and a declared parameter count
 * within 1% of what the shapes imply (so a typo in a shape cannot pass unnoticed).
 * @returns the same architecture, for chaining
 * @throws ComplianceError (MEM-2) naming the field
 */
export function validateArchitecture(model: ModelArchitecture, field = 'model'): ModelArchitecture {
  if (!model || typeof model !== 'object')
    fail(field, 'a model architecture', model, 'no model architecture given');
  if (typeof model.name !== 'string' || !/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/.test(model.name)) {
    fail(
      `${field}.name`,
      'lower-case letters, digits, dots and dashes, at most 63 characters',
      model.name,
      'a model name becomes part of Kubernetes names and labels',
    );
  }
  for (const key of INTEGER_FIELDS) {
    const v = model[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      fail(
        `${field}.${key}`,
        'a whole number greater than 0',
        v,
        `${model.name}: ${key} must be a whole number greater than 0`,
      );
    }
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
  if (model.experts) {
    const { count, activePerToken } = model.experts;
    if (
      !Number.isSafeInteger(count) ||
      count < 2 ||
      !Number.isSafeInteger(activePerToken) ||
      activePerToken < 1 ||
      activePerToken > count
    ) {
      fail(
        `${field}.experts`,
        '2 or more experts, 1..count active per token',
        model.experts,
        `${model.name}: invalid expert layout`,
      );
    }
  }
  if (model.role === 'embedding' && model.embeddingDimensions !== undefined) {
    if (!Number.isSafeInteger(model.embeddingDimensions) || model.embeddingDimensions <= 0) {
      fail(
        `${field}.embeddingDimensions`,
        'a whole number greater than 0',
        model.embeddingDimensions,
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
