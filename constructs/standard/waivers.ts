import { Clock, SYSTEM_CLOCK } from './clock';
import { ComplianceError, describeValue } from './compliance-error';
import { RuleId, isRuleId } from './rules';

/**
 * A recorded, time-boxed deviation from one rule. The only way around a rule.
 */
export interface Waiver {
  /** The rule waived, such as `Q-1`. */
  readonly rule: RuleId;
  /** Why the deviation is acceptable; never empty. */
  readonly reason: string;
  /** Who approved it (a person or a review board, as the organisation records it). */
  readonly approvedBy: string;
  /** The last day the waiver is in force, as `YYYY-MM-DD` (UTC). */
  readonly expires: string;
  /**
   * What the deviation actually is, where a rule needs to know: for example the driver an
   * EKS-optimized release really ships (`{ cudaDriver: '570.172.08' }`) under NODE-2.
   * @default - no values
   */
  readonly values?: Readonly<Record<string, string>>;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The end of the expiry day, in UTC, or undefined when the date is not a real date. */
function endOfDay(date: string): Date | undefined {
  const m = DATE.exec(date);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d, 23, 59, 59, 999));
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d)
    return undefined;
  return t;
}

/**
 * Checks one waiver: a known rule, a reason, an approver, a real date not in the past.
 * @param field where the waiver came from, for the error (`props.waivers[0]`)
 * @throws ComplianceError naming the waived rule and the field at fault
 */
export function validateWaiver(
  waiver: Waiver,
  clock: Clock = SYSTEM_CLOCK,
  field = 'waiver',
): void {
  const rawRule = (waiver as { rule?: unknown }).rule;
  if (typeof rawRule !== 'string' || !isRuleId(rawRule)) {
    throw new ComplianceError({
      rule: 'OPS-4',
      field: `${field}.rule`,
      limit: 'a rule id of the standard',
      received: describeValue(rawRule),
      message: `a waiver must name a rule of the standard; ${describeValue(rawRule)} is not one`,
    });
  }
  const rule = rawRule;
  if (typeof waiver.reason !== 'string' || waiver.reason.trim() === '') {
    throw new ComplianceError({
      rule,
      field: `${field}.reason`,
      limit: 'a non-empty reason',
      received: describeValue(waiver.reason),
      message: `the waiver of ${rule} has no reason`,
    });
  }
  if (typeof waiver.approvedBy !== 'string' || waiver.approvedBy.trim() === '') {
    throw new ComplianceError({
      rule,
      field: `${field}.approvedBy`,
      limit: 'the approver',
      received: describeValue(waiver.approvedBy),
      message: `the waiver of ${rule} names no approver`,
    });
  }
  const expiry = typeof waiver.expires === 'string' ? endOfDay(waiver.expires) : undefined;
  if (!expiry) {
    throw new ComplianceError({
      rule,
      field: `${field}.expires`,
      limit: 'a date as YYYY-MM-DD',
      received: describeValue(waiver.expires),
      message: `the waiver of ${rule} has an expiry that is not a date`,
    });
  }
  const now = clock.now();
  if (expiry.getTime() < now.getTime()) {
    throw new ComplianceError({
      rule,
      field: `${field}.expires`,
      limit: `on or after ${now.toISOString().slice(0, 10)}`,
      received: waiver.expires,
      message: `the waiver of ${rule} approved by ${waiver.approvedBy} expired on ${waiver.expires}`,
    });
  }
}

/**
 * The waivers in force for one deployment, validated as a whole when built. Constructs
 * ask it whether a rule is waived; output writers list it so every deviation is visible.
 */
export class WaiverSet {
  /** A set with no waivers. */
  public static readonly NONE = new WaiverSet([]);

  /**
   * Validates every waiver and returns the set.
   * @throws ComplianceError on the first invalid or expired waiver, or a rule waived twice
   */
  public static of(
    waivers: readonly Waiver[] = [],
    clock: Clock = SYSTEM_CLOCK,
    field = 'waivers',
  ): WaiverSet {
    const seen = new Set<string>();
    waivers.forEach((w, i) => {
      validateWaiver(w, clock, `${field}[${i}]`);
      if (seen.has(w.rule)) {
        throw new ComplianceError({
          rule: w.rule,
          field: `${field}[${i}].rule`,
          limit: 'one waiver per rule',
          received: w.rule,
          message: `${w.rule} is waived twice; merge the two waivers into one`,
        });
      }
      seen.add(w.rule);
    });
    return new WaiverSet(waivers.map((w) => Object.freeze({ ...w })));
  }

  private constructor(private readonly waivers: readonly Waiver[]) {}

  /** True when the rule is waived. */
  public covers(rule: RuleId): boolean {
    return this.waivers.some((w) => w.rule === rule);
  }

  /** The waiver of one rule, if any. */
  public get(rule: RuleId): Waiver | undefined {
    return this.waivers.find((w) => w.rule === rule);
  }

  /** Every waiver in force, in the order given. */
  public list(): readonly Waiver[] {
    return this.waivers;
  }

  /**
   * The waivers as annotations: `compliance.inference/waiver.<RULE>` =
   * `<expires>; <approvedBy>; <reason>`. Written on every manifest and template that relies on them.
   */
  public toAnnotations(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const w of this.waivers) {
      out[`${WAIVER_ANNOTATION_PREFIX}${w.rule}`] = JSON.stringify({
        reason: w.reason,
        approvedBy: w.approvedBy,
        expires: w.expires,
        ...(w.values ? { values: w.values } : {}),
      });
    }
    return out;
  }
}

/** The annotation key prefix under which waivers are written into manifests. */
export const WAIVER_ANNOTATION_PREFIX = 'compliance.inference/waiver.';
