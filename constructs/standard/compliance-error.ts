import { RuleId } from './rules';

/** What a {@link ComplianceError} carries besides its sentence. */
export interface ComplianceErrorDetails {
  /** The rule the input breaks. */
  readonly rule: RuleId;
  /** The construct path, prop or field that carries the offending value (`props.tensorParallelSize`). */
  readonly field: string;
  /** The limit the rule sets, with its unit (`34.0 GiB`, `<= 5000 ms`, `p4d.24xlarge`). */
  readonly limit: string;
  /** The value received, with its unit. */
  readonly received: string;
  /** One sentence for a person: what is wrong and, where known, what would fix it. */
  readonly message: string;
}

/**
 * The one error type for inputs that break the inference standard. Its message starts
 * with the rule id, so that a log line, a test pattern and a CI annotation all read the
 * same: `MEM-2: llama-2-70b in fp16 needs ... [field: props.model, limit: ..., received: ...]`.
 */
export class ComplianceError extends Error {
  /** True on every ComplianceError, also across copies of the library. */
  public static isComplianceError(x: unknown): x is ComplianceError {
    return (
      x instanceof Error &&
      (x as Partial<ComplianceError>).rule !== undefined &&
      x.name === 'ComplianceError'
    );
  }

  public readonly rule: RuleId;
  public readonly field: string;
  public readonly limit: string;
  public readonly received: string;
  /** The sentence without the rule id and the bracketed details. */
  public readonly detail: string;

  constructor(details: ComplianceErrorDetails) {
    super(
      `${details.rule}: ${details.message} [field: ${details.field}; limit: ${details.limit}; received: ${details.received}]`,
    );
    this.name = 'ComplianceError';
    this.rule = details.rule;
    this.field = details.field;
    this.limit = details.limit;
    this.received = details.received;
    this.detail = details.message;
  }

  /** The same error, naming another field (a construct's prop that fed a planner input). */
  public withField(field: string): ComplianceError {
    return new ComplianceError({
      rule: this.rule,
      field,
      limit: this.limit,
      received: this.received,
      message: this.detail,
    });
  }

  /** The same error, with the field prefixed by a construct path or a parent field. */
  public at(path: string): ComplianceError {
    if (!path) return this;
    return new ComplianceError({
      rule: this.rule,
      field: `${path}.${this.field}`,
      limit: this.limit,
      received: this.received,
      message: this.detail,
    });
  }
}

/** Renders a value for an error message: strings quoted, numbers as they are. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    value === null ||
    value === undefined
  ) {
    return String(value);
  }
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * Throws the ComplianceError of one refused input: the rule, the field, the limit and the
 * value received (rendered by {@link describeValue}), and one sentence for a person.
 */
export function refuse(
  rule: RuleId,
  field: string,
  limit: string,
  received: unknown,
  message: string,
): never {
  throw new ComplianceError({ rule, field, limit, received: describeValue(received), message });
}
