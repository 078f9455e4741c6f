import * as fc from 'fast-check';
import {
  CATALOGUE_NAMES,
  ComplianceError,
  MODEL_CATALOGUE,
  MemoryPlan,
  ModelArchitecture,
  WeightFormatName,
  catalogueModel,
  planMemory,
  planRefusal,
  requireFittingPlan,
  validTensorParallelSizes,
} from '../../constructs';
import { complianceErrorOf } from '../support/compliance';

const llama70b = MODEL_CATALOGUE['llama-2-70b'];

describe('the incident case (MEM-2)', () => {
  test('Llama 2 70B in FP16 on one A100 40 GiB is refused with the numbers', () => {
    const e = complianceErrorOf(() =>
      requireFittingPlan({ model: llama70b, weights: 'fp16', tensorParallelSize: 1 }),
    );
    expect(e.rule).toBe('MEM-2');
    expect(e.message).toMatch(
      /^MEM-2: llama-2-70b in fp16 needs 128\.5 GiB of weights per GPU at tensor-parallel 1; the budget is 34\.0 GiB \(85% of 40 GiB\)/,
    );
    expect(e.message).toMatch(/quantize to awq \(--weights awq\), which fits at tensor-parallel 2/);
  });

  test('the same model in AWQ 4-bit fits on p4d.24xlarge at the smallest valid tensor-parallel size', () => {
    const plan = planMemory({ model: llama70b, weights: 'awq' });
    expect(plan.fits).toBe(true);
    expect(plan.tensorParallelSize).toBe(2);
    expect(plan.gpusPerPod).toBe(2);
    // tensor-parallel 1 is valid for the heads but does not fit: so 2 is the smallest that does.
    expect(planMemory({ model: llama70b, weights: 'awq', tensorParallelSize: 1 }).fits).toBe(false);
  });
});

describe('planMemory numbers', () => {
  const plan = planMemory({ model: llama70b, weights: 'awq', tensorParallelSize: 2 });

  test('KV bytes per token count grouped-query attention: 2 x layers x kv heads x head dim x 2 bytes', () => {
    expect(plan.kvBytesPerTokenTotal).toBe(2 * 80 * 8 * 128 * 2);
    expect(plan.kvBytesPerToken).toBe((2 * 80 * 8 * 128 * 2) / 2);
    expect(plan.kvCacheBytes).toBe(plan.kvBytesPerToken * 4096 * 8);
  });

  test('the budget is 85% of the GPU (MEM-1) and the total is weights + KV + overhead', () => {
    expect(plan.budgetBytes).toBe(Math.floor(40960 * 1024 * 1024 * 0.85));
    expect(plan.totalBytes).toBe(plan.weightBytes + plan.kvCacheBytes + plan.overheadBytes);
    expect(plan.headroomBytes).toBe(plan.budgetBytes - plan.totalBytes);
    expect(plan.overheadBytes).toBe(plan.overhead.reduce((n, i) => n + i.bytes, 0));
  });

  test('the static numbers for the alarms: KV pool and memory outside it', () => {
    expect(plan.nonKvBytes).toBe(plan.weightBytes + plan.overheadBytes);
    expect(plan.kvPoolBytes).toBe(plan.budgetBytes - plan.nonKvBytes);
    expect(plan.maxConcurrency).toBe(Math.floor(plan.kvPoolBytes / (plan.kvBytesPerToken * 4096)));
    expect(plan.maxConcurrency).toBeGreaterThanOrEqual(plan.concurrency);
  });

  test('the shard of one GPU is half the checkpoint plus half the replicated norms', () => {
    const normBytes = (2 * 80 + 1) * 8192 * 2;
    expect(
      Math.abs(plan.weightBytes - (plan.totalWeightBytes / 2 + normBytes / 2)),
    ).toBeLessThanOrEqual(1);
  });

  test('NCCL buffers are allowed for only when GPUs talk to each other', () => {
    const names = (p: MemoryPlan) => p.overhead.map((o) => o.name);
    expect(names(plan)).toContain('NCCL buffers');
    expect(
      names(
        planMemory({ model: MODEL_CATALOGUE['llama-2-7b'], weights: 'awq', tensorParallelSize: 1 }),
      ),
    ).not.toContain('NCCL buffers');
  });
});

describe('tensor parallelism (MEM-3, HW-2)', () => {
  test('valid sizes divide both the attention heads and the KV heads', () => {
    expect(validTensorParallelSizes(llama70b)).toEqual([1, 2, 4, 8]);
    expect(validTensorParallelSizes(MODEL_CATALOGUE['llama-2-13b'])).toEqual(
      [1, 2, 4, 5, 8].filter((t) => 40 % t === 0),
    );
    expect(validTensorParallelSizes(MODEL_CATALOGUE['qwen2-7b'])).toEqual([1, 2, 4]);
  });

  test('MEM-3: a size that does not divide the heads is refused with the valid ones', () => {
    const e = complianceErrorOf(() =>
      planMemory({ model: MODEL_CATALOGUE['qwen2-7b'], weights: 'awq', tensorParallelSize: 8 }),
    );
    expect(e.rule).toBe('MEM-3');
    expect(e.limit).toMatch(/28 attention heads and 4 KV heads: 1, 2, 4/);
  });

  test('HW-2: more than 8 GPUs per pod is refused', () => {
    expect(
      complianceErrorOf(() =>
        planMemory({ model: llama70b, weights: 'awq', tensorParallelSize: 16 }),
      ).rule,
    ).toBe('HW-2');
  });

  test('when nothing fits, the plan is for the largest valid size and says what would fit', () => {
    const plan = planMemory({
      model: llama70b,
      weights: 'fp16',
      tokenBudget: 4096,
      concurrency: 200,
    });
    expect(plan.fits).toBe(false);
    expect(plan.tensorParallelSize).toBe(8);
    expect(plan.suggestions.join(' ')).toMatch(/concurrent sequences|token budget/);
    expect(planRefusal(plan).message).toMatch(/^MEM-2: .*what would fit/);
  });
});

describe('bad input gets a compliance error with the rule id and the value', () => {
  test.each<[string, Record<string, unknown>, string, RegExp]>([
    ['zero tensor-parallel', { tensorParallelSize: 0 }, 'HW-2', /received 0/],
    ['negative tensor-parallel', { tensorParallelSize: -2 }, 'HW-2', /received -2/],
    ['fractional GPU count', { tensorParallelSize: 1.5 }, 'HW-2', /received 1.5/],
    ['NaN concurrency', { concurrency: NaN }, 'MEM-2', /received NaN/],
    ['Infinity concurrency', { concurrency: Infinity }, 'MEM-2', /received Infinity/],
    ['zero token budget', { tokenBudget: 0 }, 'NET-6', /received 0/],
    [
      'a budget over the context',
      { tokenBudget: 8192 },
      'NET-6',
      /more than llama-2-70b can attend to \(4096\)/,
    ],
    ['an unknown weight format', { weights: 'fp8' }, 'Q-1', /unknown weight format 'fp8'/],
    ['a memory fraction over the standard', { memoryFraction: 0.9 }, 'MEM-1', /at most 85%/],
    ['a zero group size', { groupSize: 0 }, 'MEM-2', /group size/],
    ['a group size that is not a power of two', { groupSize: 100 }, 'MEM-2', /power of two/],
  ])('%s', (_what, change, rule, pattern) => {
    const e = complianceErrorOf(() =>
      planMemory({ model: llama70b, weights: 'awq', ...change } as never),
    );
    expect(e.rule).toBe(rule);
    expect(e.message).toMatch(pattern);
  });

  test('an unknown model name suggests the close matches', () => {
    const e = complianceErrorOf(() => catalogueModel('llama2-70b'));
    expect(e.message).toMatch(/unknown model 'llama2-70b'; did you mean 'llama-2-70b'\?/);
    expect(complianceErrorOf(() => catalogueModel('mixtral')).message).toMatch(/'mixtral-8x7b'/);
  });

  test.each<[string, Partial<ModelArchitecture>, string]>([
    ['zero layers', { layers: 0 }, 'model.layers'],
    ['KV heads that do not divide the heads', { kvHeads: 3 }, 'model.kvHeads'],
    ['a name that cannot be a Kubernetes label', { name: 'My Model!' }, 'model.name'],
    ['a parameter count that the shapes do not imply', { parameters: 1000 }, 'model.parameters'],
    ['an unknown dtype', { nativeDtype: 'float8' as never }, 'model.nativeDtype'],
    ['a one-expert mixture', { experts: { count: 1, activePerToken: 1 } }, 'model.experts'],
    ['a trillion layers (no crash, no endless loop)', { layers: 1e12 }, 'model.layers'],
    ['a billion experts', { experts: { count: 1e9, activePerToken: 1 } }, 'model.experts'],
    ['tiedEmbeddings as a string', { tiedEmbeddings: 'no' as never }, 'model.tiedEmbeddings'],
    ['an unknown role', { role: 'banana' as never }, 'model.role'],
  ])('a custom architecture with %s is refused, naming the field', (_what, change, field) => {
    const e = complianceErrorOf(() =>
      planMemory({ model: { ...llama70b, ...change }, weights: 'awq' }),
    );
    expect(e.field).toBe(field);
  });
});

describe('properties', () => {
  const formats: WeightFormatName[] = ['fp16', 'bf16', 'int8', 'awq', 'gptq'];
  const request = fc.record({
    name: fc.constantFrom(...CATALOGUE_NAMES),
    weights: fc.constantFrom(...formats),
    tokenBudget: fc.integer({ min: 1, max: 4096 }),
    concurrency: fc.integer({ min: 1, max: 512 }),
    tp: fc.option(fc.constantFrom(1, 2, 4, 8), { nil: undefined }),
  });

  function plan(r: {
    name: string;
    weights: WeightFormatName;
    tokenBudget: number;
    concurrency: number;
    tp?: number;
  }) {
    const model = MODEL_CATALOGUE[r.name];
    const tp =
      r.tp !== undefined && validTensorParallelSizes(model).includes(r.tp) ? r.tp : undefined;
    return planMemory({
      model,
      weights: r.weights,
      tokenBudget: r.tokenBudget,
      concurrency: r.concurrency,
      tensorParallelSize: tp ?? 1,
    });
  }

  test('more tokens or more concurrency never needs less memory', () => {
    fc.assert(
      fc.property(
        request,
        fc.integer({ min: 0, max: 4096 }),
        fc.integer({ min: 0, max: 64 }),
        (r, dt, dc) => {
          const base = plan(r);
          const more = plan({
            ...r,
            tokenBudget: Math.min(4096, r.tokenBudget + dt),
            concurrency: r.concurrency + dc,
          });
          return more.totalBytes >= base.totalBytes;
        },
      ),
    );
  });

  test('no plan holds NaN, Infinity or a negative number (headroom aside)', () => {
    fc.assert(
      fc.property(request, (r) => {
        const p = plan(r);
        for (const [key, value] of Object.entries(p)) {
          if (typeof value !== 'number') continue;
          if (!Number.isFinite(value)) return false;
          if (key !== 'headroomBytes' && value < 0) return false;
        }
        return p.overhead.every((o) => Number.isFinite(o.bytes) && o.bytes > 0);
      }),
    );
  });

  test('a plan is accepted exactly when its total is within the budget', () => {
    fc.assert(
      fc.property(request, (r) => {
        const p = plan(r);
        return p.fits === p.totalBytes <= p.budgetBytes && p.fits === p.headroomBytes >= 0;
      }),
    );
  });

  test('the planner picks the smallest valid tensor-parallel size that fits', () => {
    fc.assert(
      fc.property(request, (r) => {
        const model = MODEL_CATALOGUE[r.name];
        const auto = planMemory({
          model,
          weights: r.weights,
          tokenBudget: r.tokenBudget,
          concurrency: r.concurrency,
        });
        const smaller = validTensorParallelSizes(model).filter((t) => t < auto.tensorParallelSize);
        const noneSmallerFits = smaller.every(
          (t) =>
            !planMemory({
              model,
              weights: r.weights,
              tokenBudget: r.tokenBudget,
              concurrency: r.concurrency,
              tensorParallelSize: t,
            }).fits,
        );
        return (
          noneSmallerFits &&
          (auto.fits || auto.tensorParallelSize === Math.max(...validTensorParallelSizes(model)))
        );
      }),
      { numRuns: 60 },
    );
  });

  test('max concurrency fits and one more does not', () => {
    fc.assert(
      fc.property(request, (r) => {
        const p = plan(r);
        if (p.maxConcurrency === 0) return p.kvPoolBytes < p.kvBytesPerToken * p.tokenBudget;
        const at = plan({ ...r, concurrency: p.maxConcurrency });
        const over = plan({ ...r, concurrency: p.maxConcurrency + 1 });
        return at.fits && !over.fits;
      }),
      { numRuns: 60 },
    );
  });

  test('any malformed number is refused with a compliance error, never another exception', () => {
    // -1 is GPTQ's "one group per channel", a valid group size; it is malformed everywhere else.
    const bad = fc.oneof(
      fc.constantFrom(0, -1, NaN, Infinity, -Infinity, 0.5, 1e21),
      fc.double({ noInteger: true }),
      fc.integer({ max: 0 }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom('tensorParallelSize', 'tokenBudget', 'concurrency', 'groupSize'),
        bad,
        (field, value) => {
          if (field === 'groupSize' && value === -1) return true;
          try {
            planMemory({ model: llama70b, weights: 'awq', [field]: value });
            return false;
          } catch (e) {
            return ComplianceError.isComplianceError(e) && e.message.includes(String(value));
          }
        },
      ),
    );
  });

  test('the total is always the sum of its parts, and a shard never outweighs the checkpoint', () => {
    fc.assert(
      fc.property(request, (r) => {
        const p = plan(r);
        return (
          p.totalBytes === p.weightBytes + p.kvCacheBytes + p.overheadBytes &&
          p.weightBytes <= p.totalWeightBytes &&
          p.budgetBytes < p.gpuMemoryBytes
        );
      }),
    );
  });
});
