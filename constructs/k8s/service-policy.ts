import { Clock, refuse } from '../standard';

/** A backend that takes the traffic when the whole GPU cluster is lost (OPS-1). */
export interface FallbackBackend {
  readonly kind: 'fallback';
  /** Service name of the fallback (another region's gateway, a smaller CPU model...). */
  readonly serviceName: string;
  /** Its namespace. @default the inference service's namespace */
  readonly namespace?: string;
  /** Its port. */
  readonly port: number;
}

/** Fail fast: 503 with a Retry-After header when no GPU backend is healthy (OPS-1). */
export interface FailFast {
  readonly kind: 'fail-fast';
  /** The Retry-After the client gets, in seconds. */
  readonly retryAfterSeconds: number;
}

/** How an inference service behaves when the whole GPU cluster is lost (OPS-1). */
export type GpuLossPlan = FallbackBackend | FailFast;

/** The review that lets a new service take more than the unreviewed share of traffic (OPS-2). */
export interface ReviewRecord {
  /** Who reviewed the GPU-loss plan with the SRE team. */
  readonly reviewer: string;
  /** When, as YYYY-MM-DD. */
  readonly date: string;
}

/**
 * Checks a GPU-loss plan (OPS-1).
 * @throws ComplianceError naming the field
 */
export function validateGpuLossPlan(plan: GpuLossPlan | undefined, field: string): GpuLossPlan {
  if (!plan || typeof plan !== 'object') {
    refuse(
      'OPS-1',
      field,
      "a fallback backend or 'fail-fast'",
      plan,
      'every inference service declares how it behaves when the GPU cluster is lost',
    );
  }
  if (plan.kind === 'fallback') {
    if (
      typeof plan.serviceName !== 'string' ||
      !/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(plan.serviceName)
    ) {
      refuse(
        'OPS-1',
        `${field}.serviceName`,
        'a Service name (DNS-1035)',
        plan.serviceName,
        'the fallback backend must be a Service',
      );
    }
    if (!Number.isInteger(plan.port) || plan.port < 1 || plan.port > 65535) {
      refuse('OPS-1', `${field}.port`, '1..65535', plan.port, 'the fallback backend needs a port');
    }
    return plan;
  }
  if (plan.kind === 'fail-fast') {
    if (
      !Number.isInteger(plan.retryAfterSeconds) ||
      plan.retryAfterSeconds < 1 ||
      plan.retryAfterSeconds > 3600
    ) {
      refuse(
        'OPS-1',
        `${field}.retryAfterSeconds`,
        '1..3600 seconds',
        plan.retryAfterSeconds,
        'a fast 503 tells clients when to come back',
      );
    }
    return plan;
  }
  return refuse(
    'OPS-1',
    `${field}.kind`,
    "'fallback' or 'fail-fast'",
    (plan as { kind?: unknown }).kind,
    'unknown GPU-loss plan',
  );
}

/**
 * Checks a review record (OPS-2): a reviewer and a real date not in the future.
 * @throws ComplianceError naming the field
 */
export function validateReview(review: ReviewRecord, clock: Clock, field: string): ReviewRecord {
  if (typeof review.reviewer !== 'string' || review.reviewer.trim() === '') {
    refuse(
      'OPS-2',
      `${field}.reviewer`,
      'the reviewer',
      review.reviewer,
      'a review record names its reviewer',
    );
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(review.date));
  const at = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!m || !at || at.getUTCDate() !== Number(m[3]) || at.getUTCMonth() !== Number(m[2]) - 1) {
    refuse(
      'OPS-2',
      `${field}.date`,
      'a date as YYYY-MM-DD',
      review.date,
      'a review record carries its date',
    );
  }
  if (at.getTime() > clock.now().getTime()) {
    refuse(
      'OPS-2',
      `${field}.date`,
      `on or before ${clock.now().toISOString().slice(0, 10)}`,
      review.date,
      'a review cannot be dated in the future',
    );
  }
  return review;
}
