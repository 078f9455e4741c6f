import { ComplianceError, DEFAULT_STANDARD, Standard } from '../standard';

/** A vector as an embedding client holds it: a plain array or a typed float array. */
export type EmbeddingVector = readonly number[] | Float32Array | Float64Array;

/** Options of {@link validateEmbedding} and {@link validateEmbeddingBatch}. */
export interface ValidateEmbeddingOptions {
  /**
   * The number of elements every vector must have.
   *
   * @default - `standard.traffic.embeddingDimensions` (1536 under the default standard)
   */
  readonly dimensions?: number;
  /**
   * The standard whose NET-7 dimension applies when `dimensions` is not given.
   *
   * @default DEFAULT_STANDARD
   */
  readonly standard?: Standard;
  /**
   * The name of the value in error messages, so that a caller can say where the vector
   * came from (`response.data[3].embedding`).
   *
   * @default 'embedding'
   */
  readonly field?: string;
}

function expectedDimensions(options: ValidateEmbeddingOptions): number {
  const dimensions =
    options.dimensions ?? (options.standard ?? DEFAULT_STANDARD).traffic.embeddingDimensions;
  if (!Number.isInteger(dimensions) || dimensions <= 0) {
    throw new RangeError(
      `validateEmbedding: dimensions must be a positive whole number; received ${String(dimensions)}`,
    );
  }
  return dimensions;
}

function isVector(value: unknown): value is EmbeddingVector {
  return Array.isArray(value) || value instanceof Float32Array || value instanceof Float64Array;
}

function describeKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  return `a ${typeof value}`;
}

function checkVector(vector: unknown, dimensions: number, field: string): void {
  if (!isVector(vector)) {
    throw new ComplianceError({
      rule: 'NET-7',
      field,
      limit: `an array of ${dimensions} finite numbers`,
      received: describeKind(vector),
      message: `an embedding must be a number[], Float32Array or Float64Array before it is written to the vector store`,
    });
  }
  if (vector.length !== dimensions) {
    throw new ComplianceError({
      rule: 'NET-7',
      field,
      limit: `${dimensions} dimensions`,
      received: `${vector.length} dimensions`,
      message: `the embedding has length ${vector.length}, but the vector store expects ${dimensions} dimensions`,
    });
  }
  for (let i = 0; i < vector.length; i++) {
    const value: unknown = vector[i];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      const shown = typeof value === 'number' ? String(value) : describeKind(value);
      throw new ComplianceError({
        rule: 'NET-7',
        field: `${field}[${i}]`,
        limit: 'a finite number (no NaN, Infinity or -Infinity)',
        received: shown,
        message: `element ${i} of the embedding is ${shown}, which the vector store must never receive`,
      });
    }
  }
}

/**
 * Checks one embedding before it is written to the vector store (NET-7): it must have
 * the expected number of dimensions and hold only finite numbers. Call it in the
 * embedding client, after the model answers and before the upsert; a vector that fails
 * is never stored.
 *
 * @param vector the embedding: `number[]`, `Float32Array` or `Float64Array`
 * @param options the expected dimension and the name used in error messages
 * @returns the same vector, typed, so that the call can wrap the value it checks
 * @throws ComplianceError (rule `NET-7`) naming the length received, or the index and
 *   value of the first element that is NaN, Infinity, -Infinity or not a number
 */
export function validateEmbedding<T extends EmbeddingVector>(
  vector: T,
  options: ValidateEmbeddingOptions = {},
): T {
  checkVector(vector, expectedDimensions(options), options.field ?? 'embedding');
  return vector;
}

/**
 * Checks a batch of embeddings, as an embedding API returns them, before any of them is
 * written (NET-7). The whole batch fails on the first bad vector, so a partial batch is
 * never stored; the error names the vector's index in the batch and, for a bad element,
 * the element's index (`embeddings[3][17]`).
 *
 * @param vectors the embeddings of one request
 * @param options the expected dimension and the name used in error messages
 * @returns the same batch
 * @throws ComplianceError (rule `NET-7`) when the batch is not an array or any vector fails
 *   {@link validateEmbedding}
 */
export function validateEmbeddingBatch<T extends EmbeddingVector>(
  vectors: readonly T[],
  options: ValidateEmbeddingOptions = {},
): readonly T[] {
  const dimensions = expectedDimensions(options);
  const field = options.field ?? 'embeddings';
  if (!Array.isArray(vectors)) {
    throw new ComplianceError({
      rule: 'NET-7',
      field,
      limit: `an array of embeddings of ${dimensions} dimensions`,
      received: describeKind(vectors),
      message: 'a batch of embeddings must be an array of vectors',
    });
  }
  vectors.forEach((vector, index) => checkVector(vector, dimensions, `${field}[${index}]`));
  return vectors;
}
