import { ComplianceError, WaiverSet, fixedClock, validateWaiver, Waiver } from '../../constructs';
import { complianceErrorOf } from '../support/compliance';

const clock = fixedClock('2026-12-03T12:00:00Z');
const valid: Waiver = {
  rule: 'Q-1',
  reason: 'FP16 baseline for the quantization regression report',
  approvedBy: 'sre-review-board',
  expires: '2027-01-31',
};

describe('validateWaiver', () => {
  test('accepts a complete waiver that has not expired', () => {
    expect(() => validateWaiver(valid, clock)).not.toThrow();
  });

  test('a waiver is in force through the whole of its expiry day (UTC)', () => {
    expect(() =>
      validateWaiver({ ...valid, expires: '2026-12-03' }, fixedClock('2026-12-03T23:59:59Z')),
    ).not.toThrow();
    expect(() =>
      validateWaiver({ ...valid, expires: '2026-12-03' }, fixedClock('2026-12-04T00:00:00Z')),
    ).toThrow(/^Q-1: the waiver of Q-1 approved by sre-review-board expired on 2026-12-03/);
  });

  test.each([
    ['an unknown rule id', { rule: 'MEM-99' }, 'waiver.rule', /is not one/],
    ['an empty reason', { reason: '   ' }, 'waiver.reason', /has no reason/],
    ['a missing approver', { approvedBy: undefined }, 'waiver.approvedBy', /names no approver/],
    ['a malformed date', { expires: '31/01/2027' }, 'waiver.expires', /not a date/],
    ['an impossible date', { expires: '2027-02-30' }, 'waiver.expires', /not a date/],
    ['an expiry in the past', { expires: '2026-12-02' }, 'waiver.expires', /expired on 2026-12-02/],
  ])('refuses %s, naming the field', (_what, change, field, pattern) => {
    const e = complianceErrorOf(() => validateWaiver({ ...valid, ...change } as Waiver, clock));
    expect(e.field).toBe(field);
    expect(e.message).toMatch(pattern);
  });
});

describe('WaiverSet', () => {
  test('reports every waiver in force, and which rules it covers', () => {
    const set = WaiverSet.of(
      [valid, { ...valid, rule: 'NODE-2', values: { cudaDriver: '570.172.08' } }],
      clock,
    );
    expect(set.covers('Q-1')).toBe(true);
    expect(set.covers('MEM-2')).toBe(false);
    expect(set.get('NODE-2')?.values).toEqual({ cudaDriver: '570.172.08' });
    expect(set.list().map((w) => w.rule)).toEqual(['Q-1', 'NODE-2']);
  });

  test('writes each waiver as an annotation carrying its reason, approver and expiry', () => {
    const annotations = WaiverSet.of([valid], clock).toAnnotations();
    expect(Object.keys(annotations)).toEqual(['compliance.inference/waiver.Q-1']);
    expect(JSON.parse(annotations['compliance.inference/waiver.Q-1'])).toEqual({
      reason: valid.reason,
      approvedBy: 'sre-review-board',
      expires: '2027-01-31',
    });
  });

  test('names the index of the bad waiver', () => {
    const e = complianceErrorOf(() =>
      WaiverSet.of([valid, { ...valid, rule: 'HW-1', reason: '' }], clock),
    );
    expect(e.rule).toBe('HW-1');
    expect(e.field).toBe('waivers[1].reason');
  });

  test('refuses two waivers of one rule', () => {
    expect(() => WaiverSet.of([valid, valid], clock)).toThrow(/Q-1 is waived twice/);
  });
});

describe('ComplianceError', () => {
  test('its message starts with the rule id and names field, limit and value', () => {
    const e = new ComplianceError({
      rule: 'NET-1',
      field: 'props.requestTimeoutMs',
      limit: '<= 5000 ms',
      received: '9000 ms',
      message: 'a request may take at most 5000 ms',
    });
    expect(e.message).toBe(
      'NET-1: a request may take at most 5000 ms [field: props.requestTimeoutMs; limit: <= 5000 ms; received: 9000 ms]',
    );
    expect(ComplianceError.isComplianceError(e)).toBe(true);
    expect(ComplianceError.isComplianceError(new Error('NET-1: x'))).toBe(false);
  });

  test('at() prefixes the field with a construct path', () => {
    const e = new ComplianceError({
      rule: 'HW-1',
      field: 'instanceType',
      limit: 'p4d.24xlarge',
      received: "'g5.xlarge'",
      message: 'm',
    });
    expect(e.at('Stack/Gpu').field).toBe('Stack/Gpu.instanceType');
  });
});
