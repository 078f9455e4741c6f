import { Token } from 'aws-cdk-lib';
import { ComplianceError, RuleId, describeValue } from '../../standard';

/** The characters a weights prefix may hold: no wildcard, no space, no colon, no backslash. */
const PREFIX_CHARS = /^[A-Za-z0-9._\-/]+$/;

/**
 * Checks a weights prefix and returns it without a trailing slash. A prefix is a path inside
 * the weights bucket: relative (no leading `/`), without `..` or `.` segments or empty segments,
 * and without characters that IAM reads as wildcards (`*`, `?`), so that a grant on it never
 * reaches beyond it (W-4).
 * @throws ComplianceError with the rule given (W-4 by default)
 */
export function normalizeWeightsPrefix(
  prefix: string,
  field: string,
  rule: RuleId = 'W-4',
): string {
  if (Token.isUnresolved(prefix)) {
    throw new ComplianceError({
      rule,
      field,
      limit: 'a literal prefix',
      received: 'an unresolved token',
      message: 'a weights prefix must be known at synth so the node role can be limited to it',
    });
  }
  const refuse = (why: string): never => {
    throw new ComplianceError({
      rule,
      field,
      limit: "a relative key prefix of [A-Za-z0-9._-/] without '..', '.' or empty segments",
      received: describeValue(prefix),
      message: `the weights prefix ${describeValue(prefix)} ${why}`,
    });
  };
  if (typeof prefix !== 'string' || prefix.length === 0) refuse('is empty');
  if (prefix.startsWith('/')) refuse('starts with a slash; S3 keys are relative to the bucket');
  const trimmed = prefix.replace(/\/+$/, '');
  if (trimmed.length === 0) refuse('is only slashes');
  const segments = trimmed.split('/');
  if (segments.some((s) => s === '..'))
    refuse("holds a '..' segment, which would reach outside it");
  if (segments.some((s) => s === '.' || s === '')) refuse("holds a '.' or empty segment");
  if (!PREFIX_CHARS.test(trimmed))
    refuse('holds a character outside [A-Za-z0-9._-/] (wildcards, spaces, colons)');
  return trimmed;
}
