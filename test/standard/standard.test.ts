import {
  DEFAULT_STANDARD,
  EnforcementPoint,
  RULES,
  deriveStandard,
  isRuleId,
  ruleById,
  rulesEnforcedAt,
} from '../../constructs';
import { readFileSync } from 'fs';
import { complianceErrorOf } from '../support/compliance';
import { join } from 'path';

const SPEC = join(__dirname, '..', '..', '..', 'shared', 'spec', 'STANDARD.md');

describe('the rules as data', () => {
  test('every rule id of STANDARD.md is in RULES, and nothing else', () => {
    const spec = readFileSync(SPEC, 'utf8');
    const ids = [...spec.matchAll(/^\| ((?:HW|MEM|NODE|W|SW|Q|NET|OBS|ALM|OPS|SEC)-\d+) \|/gm)].map(
      (m) => m[1],
    );
    expect(ids.length).toBeGreaterThan(30);
    expect(RULES.map((r) => r.id).sort()).toEqual([...new Set(ids)].sort());
  });

  test('each rule carries the enforcement points the standard lists for it', () => {
    const spec = readFileSync(SPEC, 'utf8');
    for (const row of spec.matchAll(/^\| ([A-Z]+-\d+) \|.*\| ([^|]+) \|\s*$/gm)) {
      const listed = row[2]
        .replace(/\([^)]*\)/g, '')
        .split(',')
        .map((s) => s.trim());
      const rule = ruleById(row[1] as never);
      for (const point of listed) {
        expect(rule.enforcedAt).toContain(point as EnforcementPoint);
      }
    }
  });

  test('ids are unique and their area is their prefix', () => {
    expect(new Set(RULES.map((r) => r.id)).size).toBe(RULES.length);
    for (const r of RULES) expect(r.id.startsWith(`${r.area}-`)).toBe(true);
  });

  test('isRuleId accepts rule ids and refuses anything else', () => {
    expect(isRuleId('MEM-2')).toBe(true);
    expect(isRuleId('MEM-99')).toBe(false);
    expect(isRuleId('mem-2')).toBe(false);
  });

  test('rulesEnforcedAt(admission) lists the rules the admission policy must carry', () => {
    expect(rulesEnforcedAt(EnforcementPoint.ADMISSION).map((r) => r.id)).toEqual(
      expect.arrayContaining(['HW-1', 'HW-2', 'HW-3', 'W-3', 'SW-2', 'SEC-1', 'OBS-1', 'OPS-4']),
    );
  });

  test('RULES cannot be changed at run time', () => {
    expect(() => (RULES as unknown as unknown[]).push({})).toThrow(TypeError);
    expect(() => {
      (RULES[0] as { statement: string }).statement = 'x';
    }).toThrow(TypeError);
  });
});

describe('DEFAULT_STANDARD', () => {
  test('holds the incident review numbers', () => {
    expect(DEFAULT_STANDARD.hardware).toMatchObject({
      instanceType: 'p4d.24xlarge',
      gpusPerInstance: 8,
      gpuMemoryMiB: 40960,
      vcpus: 96,
      hostMemoryGiB: 1152,
      nvmeDisks: 8,
      nvmeDiskSizeGB: 1000,
      efaInterfaces: 4,
    });
    expect(DEFAULT_STANDARD.memory.engineMemoryFraction).toBe(0.85);
    expect(DEFAULT_STANDARD.software).toEqual({
      python: '3.11.4',
      pytorch: '2.1.0',
      cudaToolkit: '12.2',
      cudaDriver: '535.104.05',
      nccl: '2.18.3',
      triton: '2.1.0',
      transformers: '4.34.0',
    });
    expect(DEFAULT_STANDARD.traffic).toMatchObject({
      requestTimeoutMs: 5000,
      maxRetries: 2,
      retryBackoffBaseMs: 100,
      retryBackoffMaxMs: 1000,
      retryBudgetPercent: 20,
      circuitBreakerFailurePercent: 5,
      circuitBreakerWindowSeconds: 60,
      embeddingRateLimitPerKeyRps: 200,
      tokenBudget: 4096,
      embeddingDimensions: 1536,
    });
    expect(DEFAULT_STANDARD.alarms).toEqual({
      memoryWarningPercent: 75,
      memoryWarningForMinutes: 3,
      memoryCriticalPercent: 90,
      memoryCriticalForSeconds: 30,
      latencyP99Ms: 10000,
      serverErrorPercent: 2,
    });
    expect(DEFAULT_STANDARD.operations.unreviewedTrafficPercent).toBe(1);
  });

  test('is deeply immutable', () => {
    'use strict';
    expect(() => {
      (DEFAULT_STANDARD.traffic as { tokenBudget: number }).tokenBudget = 1e9;
    }).toThrow(TypeError);
    expect(() => {
      (DEFAULT_STANDARD.hardware.gpuTaint as { effect: string }).effect = 'NoExecute';
    }).toThrow(TypeError);
    expect(DEFAULT_STANDARD.traffic.tokenBudget).toBe(4096);
  });
});

describe('deriveStandard', () => {
  test('GIVEN typed overrides THEN only those fields change and the base is untouched', () => {
    const variant = deriveStandard(DEFAULT_STANDARD, {
      version: '2023-11-14+long-context',
      reason: 'long-context pilot approved by SRE review',
      traffic: { tokenBudget: 8192 },
    });
    expect(variant.traffic.tokenBudget).toBe(8192);
    expect(variant.traffic.requestTimeoutMs).toBe(5000);
    expect(DEFAULT_STANDARD.traffic.tokenBudget).toBe(4096);
    expect(variant.source).toMatch(/long-context pilot/);
    expect(Object.isFrozen(variant.traffic)).toBe(true);
  });

  test('refuses a variant without a reason', () => {
    expect(() => deriveStandard(DEFAULT_STANDARD, { version: 'x', reason: ' ' })).toThrow(
      /needs a reason/,
    );
  });

  test('refuses a field the standard does not have', () => {
    expect(() =>
      deriveStandard(DEFAULT_STANDARD, {
        version: 'x',
        reason: 'r',
        traffic: { tokenBudgett: 1 } as never,
      }),
    ).toThrow(/traffic.tokenBudgett' is not a field/);
  });

  test('refuses a non-finite number, naming the rule the field serves', () => {
    expect(() =>
      deriveStandard(DEFAULT_STANDARD, {
        version: 'x',
        reason: 'r',
        traffic: { requestTimeoutMs: NaN },
      }),
    ).toThrow(/^NET-1: 'traffic.requestTimeoutMs' of a variant standard must be a finite number/);
  });

  test.each<[string, Record<string, unknown>, string, RegExp]>([
    [
      'a memory fraction of 5',
      { memory: { engineMemoryFraction: 5 } },
      'MEM-1',
      /fraction greater than 0 and at most 1/,
    ],
    [
      'a memory fraction of 0',
      { memory: { engineMemoryFraction: 0 } },
      'MEM-1',
      /fraction greater than 0/,
    ],
    ['no GPUs per pod', { hardware: { maxGpusPerPod: 0 } }, 'HW-2', /whole number, 1 or more/],
    [
      'more GPUs per pod than the instance has',
      { hardware: { maxGpusPerPod: 16 } },
      'HW-2',
      /more GPUs than its node has/,
    ],
    ['a fractional token budget', { traffic: { tokenBudget: 4096.5 } }, 'NET-6', /whole number/],
    ['a 5xx share over 100%', { alarms: { serverErrorPercent: 150 } }, 'ALM-4', /percentage/],
    ['an unknown section', { banana: { x: 1 } }, 'OPS-4', /not a section of the standard/],
  ])('refuses %s with the rule of the field', (_what, change, rule, pattern) => {
    const e = complianceErrorOf(() =>
      deriveStandard(DEFAULT_STANDARD, { version: 'v', reason: 'r', ...change } as never),
    );
    expect(e.rule).toBe(rule);
    expect(e.message).toMatch(pattern);
  });

  test('accepts no retries at all (0 is a count, not a mistake)', () => {
    expect(
      deriveStandard(DEFAULT_STANDARD, { version: 'v', reason: 'r', traffic: { maxRetries: 0 } })
        .traffic.maxRetries,
    ).toBe(0);
  });
});
