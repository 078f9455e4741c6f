import fc from 'fast-check';
import {
  ComplianceError,
  DEFAULT_STANDARD,
  deriveStandard,
  validateEmbedding,
  validateEmbeddingBatch,
} from '../../constructs';
import { complianceErrorOf } from '../support/compliance';

const DIM = DEFAULT_STANDARD.traffic.embeddingDimensions;

/** Runs `fn` and returns the ComplianceError it throws; fails the test otherwise. */

const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const nonFinite = fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY);
const smallDim = fc.integer({ min: 1, max: 64 });

describe('validateEmbedding', () => {
  test('the default dimension is the standard NET-7 dimension, 1536', () => {
    expect(DIM).toBe(1536);
    const v = new Array<number>(DIM).fill(0.25);
    expect(validateEmbedding(v)).toBe(v);
  });

  test('every finite vector of the right length passes, as number[], Float32Array and Float64Array', () => {
    fc.assert(
      fc.property(
        smallDim.chain((n) =>
          fc.tuple(fc.constant(n), fc.array(finite, { minLength: n, maxLength: n })),
        ),
        ([n, values]) => {
          expect(validateEmbedding(values, { dimensions: n })).toBe(values);
          expect(() =>
            validateEmbedding(Float64Array.from(values), { dimensions: n }),
          ).not.toThrow();
          const f32 = Float32Array.from(values);
          // Float32 rounds doubles beyond its range to ±Infinity, and those must fail.
          const firstBad = f32.findIndex((x) => !Number.isFinite(x));
          const failedAt = (): string => {
            try {
              validateEmbedding(f32, { dimensions: n });
              return 'passed';
            } catch (e) {
              return (e as ComplianceError).field;
            }
          };
          expect(failedAt()).toBe(firstBad === -1 ? 'passed' : `embedding[${firstBad}]`);
        },
      ),
    );
  });

  test('a full-size finite vector passes with the default options', () => {
    fc.assert(
      fc.property(
        fc.float32Array({ minLength: DIM, maxLength: DIM, noNaN: true, noDefaultInfinity: true }),
        (v) => {
          expect(validateEmbedding(v)).toBe(v);
        },
      ),
      { numRuns: 50 },
    );
  });

  test('one NaN or Infinity at any position fails, naming exactly that index and value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: DIM - 1 }),
        nonFinite,
        fc.constantFrom('array', 'f32', 'f64'),
        (index, bad, kind) => {
          const values = new Array<number>(DIM).fill(0.5);
          values[index] = bad;
          const vector =
            kind === 'array'
              ? values
              : kind === 'f32'
                ? Float32Array.from(values)
                : Float64Array.from(values);
          const error = complianceErrorOf(() => validateEmbedding(vector));
          expect(error.rule).toBe('NET-7');
          expect(error.field).toBe(`embedding[${index}]`);
          expect(error.received).toBe(String(bad));
          expect(error.message).toContain(`element ${index} of the embedding is ${String(bad)}`);
        },
      ),
    );
  });

  test('any wrong length fails, naming the length received and the length expected', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 * DIM }).filter((n) => n !== DIM),
        (n) => {
          const error = complianceErrorOf(() => validateEmbedding(new Float32Array(n)));
          expect(error.rule).toBe('NET-7');
          expect(error.received).toBe(`${n} dimensions`);
          expect(error.limit).toBe(`${DIM} dimensions`);
          expect(error.message).toContain(`length ${n}`);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('input that is not a vector is a NET-7 error saying what was received', () => {
    for (const [input, kind] of [
      [undefined, 'a undefined'],
      [null, 'null'],
      ['0.1,0.2', 'a string'],
      [{ length: DIM }, 'a object'],
      [new Int32Array(DIM), 'a Int32Array'],
    ] as const) {
      const error = complianceErrorOf(() => validateEmbedding(input as unknown as number[]));
      expect(error.rule).toBe('NET-7');
      expect(error.received).toBe(kind);
    }
  });

  test('an element that is not a number, or a hole, fails naming its index', () => {
    const values: unknown[] = new Array<number>(4).fill(1);
    values[2] = '1';
    expect(() => validateEmbedding(values as number[], { dimensions: 4 })).toThrow(
      /^NET-7: element 2 .*field: embedding\[2\]/,
    );
    expect(() => validateEmbedding([1, , 3] as number[], { dimensions: 3 })).toThrow(
      /embedding\[1\]/,
    );
  });

  test('the dimension follows a derived standard, and the field name is the caller’s', () => {
    const standard = deriveStandard(DEFAULT_STANDARD, {
      version: 'small-embeddings',
      reason: 'a 768-dimension embedding model',
      traffic: { embeddingDimensions: 768 },
    });
    expect(() => validateEmbedding(new Float32Array(768), { standard })).not.toThrow();
    expect(() =>
      validateEmbedding(new Float32Array(DIM), { standard, field: 'doc.vector' }),
    ).toThrow(/field: doc\.vector; limit: 768 dimensions; received: 1536 dimensions/);
  });

  test('a dimension that is not a positive whole number is a programming error', () => {
    expect(() => validateEmbedding([], { dimensions: 0 })).toThrow(RangeError);
    expect(() => validateEmbedding([1], { dimensions: 1.5 })).toThrow(RangeError);
  });
});

describe('validateEmbeddingBatch', () => {
  test('a batch of valid vectors passes and is returned as is', () => {
    const batch = [new Float32Array(DIM), new Array<number>(DIM).fill(1)];
    expect(validateEmbeddingBatch(batch)).toBe(batch);
  });

  test('one bad element anywhere in the batch fails naming the vector index and the element index', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 5 })
          .chain((size) =>
            fc.tuple(
              fc.constant(size),
              fc.integer({ min: 0, max: size - 1 }),
              fc.integer({ min: 0, max: 15 }),
              nonFinite,
            ),
          ),
        ([size, row, col, bad]) => {
          const batch = Array.from({ length: size }, () => new Float64Array(16).fill(-0.5));
          batch[row][col] = bad;
          const error = complianceErrorOf(() => validateEmbeddingBatch(batch, { dimensions: 16 }));
          expect(error.rule).toBe('NET-7');
          expect(error.field).toBe(`embeddings[${row}][${col}]`);
          expect(error.received).toBe(String(bad));
        },
      ),
    );
  });

  test('a vector of the wrong length in the batch fails naming its index and length', () => {
    const batch = [new Float32Array(DIM), new Float32Array(DIM - 1)];
    const error = complianceErrorOf(() => validateEmbeddingBatch(batch));
    expect(error.field).toBe('embeddings[1]');
    expect(error.received).toBe(`${DIM - 1} dimensions`);
  });

  test('a batch that is not an array is a NET-7 error', () => {
    expect(() => validateEmbeddingBatch(new Float32Array(DIM) as unknown as number[][])).toThrow(
      /^NET-7: a batch of embeddings must be an array/,
    );
  });
});
