/** A waiver of Q-1 in force on the test clock's day. */
export const Q1_WAIVER = {
  reason: 'FP16 evaluation build for the accuracy review; quantized build follows',
  approvedBy: 'model-risk-board',
  expires: '2027-01-31',
};

/** The same waiver, expired. */
export const EXPIRED_Q1_WAIVER = { ...Q1_WAIVER, expires: '2026-11-30' };
