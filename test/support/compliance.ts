import { ComplianceError } from '../../constructs';

/**
 * The ComplianceError that `fn` throws. Fails the test when it throws nothing, or throws
 * anything else (a crash from inside a dependency is exactly what the library must not do).
 */
export function complianceErrorOf(fn: () => unknown): ComplianceError {
  try {
    fn();
  } catch (e) {
    if (ComplianceError.isComplianceError(e)) return e;
    throw new Error(`expected a ComplianceError, got ${String(e)}`);
  }
  throw new Error('expected a ComplianceError, got none');
}
