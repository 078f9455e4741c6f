/** The source of "now" for waiver expiry checks, injectable so that output is deterministic. */
export interface Clock {
  /** The current instant. */
  now(): Date;
}

/** The machine's clock. */
export const SYSTEM_CLOCK: Clock = Object.freeze({ now: () => new Date() });

/**
 * A clock stopped at one instant, for tests, snapshots and reproducible builds.
 * @param isoInstant an ISO-8601 date or date-time, such as `2026-12-03`
 */
export function fixedClock(isoInstant: string): Clock {
  const at = new Date(isoInstant);
  if (Number.isNaN(at.getTime())) {
    throw new Error(`fixedClock: '${isoInstant}' is not an ISO-8601 date`);
  }
  return Object.freeze({ now: () => new Date(at.getTime()) });
}
