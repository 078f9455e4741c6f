/**
 * Every rule of the inference standard, as data. The ids are stable: they appear in
 * error messages, audit findings, admission messages, alert labels and test titles.
 */

/** Where a rule is enforced. */
export enum EnforcementPoint {
  /** A construct refuses the props at synthesis. */
  SYNTH = 'synth',
  /** The node's boot script checks it and the node never joins when it fails. */
  BOOT = 'boot',
  /** A probe, an engine flag or a proxy setting enforces it while serving. */
  RUNTIME = 'runtime',
  /** A PrometheusRule alert and/or a CloudWatch alarm fires. */
  ALERT = 'alert',
  /** The in-cluster ValidatingAdmissionPolicy refuses an object that breaks it. */
  ADMISSION = 'admission',
  /** The `audit` command reports it for any manifest or template. */
  AUDIT = 'audit',
  /** The project's own test suite proves it (AWS checks such as cdk-nag). */
  TESTS = 'tests',
}

/** The families of rules, as grouped in the standard. */
export type RuleArea =
  'HW' | 'MEM' | 'NODE' | 'W' | 'SW' | 'Q' | 'NET' | 'OBS' | 'ALM' | 'OPS' | 'SEC';

/** The id of one rule, such as `MEM-2`. */
export type RuleId =
  | 'HW-1'
  | 'HW-2'
  | 'HW-3'
  | 'HW-4'
  | 'MEM-1'
  | 'MEM-2'
  | 'MEM-3'
  | 'MEM-4'
  | 'MEM-5'
  | 'NODE-1'
  | 'NODE-2'
  | 'NODE-3'
  | 'NODE-4'
  | 'W-1'
  | 'W-2'
  | 'W-3'
  | 'W-4'
  | 'SW-1'
  | 'SW-2'
  | 'Q-1'
  | 'NET-1'
  | 'NET-2'
  | 'NET-3'
  | 'NET-4'
  | 'NET-5'
  | 'NET-6'
  | 'NET-7'
  | 'OBS-1'
  | 'OBS-2'
  | 'ALM-1'
  | 'ALM-2'
  | 'ALM-3'
  | 'ALM-4'
  | 'ALM-5'
  | 'OPS-1'
  | 'OPS-2'
  | 'OPS-3'
  | 'OPS-4'
  | 'SEC-1'
  | 'SEC-2'
  | 'SEC-3'
  | 'SEC-4';

/** One rule: its id, what it demands in one line, and where it is enforced. */
export interface RuleDefinition {
  /** Stable id, as in the standard. */
  readonly id: RuleId;
  /** The family the rule belongs to. */
  readonly area: RuleArea;
  /** The rule in one sentence. */
  readonly statement: string;
  /** Every point where the rule is enforced. */
  readonly enforcedAt: readonly EnforcementPoint[];
}

const S = EnforcementPoint.SYNTH;
const B = EnforcementPoint.BOOT;
const R = EnforcementPoint.RUNTIME;
const AL = EnforcementPoint.ALERT;
const AD = EnforcementPoint.ADMISSION;
const AU = EnforcementPoint.AUDIT;
const T = EnforcementPoint.TESTS;

function rule(id: RuleId, statement: string, enforcedAt: EnforcementPoint[]): RuleDefinition {
  const area = id.slice(0, id.indexOf('-')) as RuleArea;
  return Object.freeze({ id, area, statement, enforcedAt: Object.freeze(enforcedAt) });
}

/** Every rule of the standard, in the order the standard lists them. */
export const RULES: readonly RuleDefinition[] = Object.freeze([
  rule('HW-1', 'Production inference runs only on p4d.24xlarge.', [S, AD, AU]),
  rule(
    'HW-2',
    'One pod per GPU set: GPUs are exclusive, a whole number, request equals limit, equal to tensor x pipeline parallel size, at most 8.',
    [S, AD, AU],
  ),
  rule(
    'HW-3',
    'Guaranteed QoS: CPU and memory requests equal limits; ephemeral storage bounded; every emptyDir has a sizeLimit.',
    [S, AD, AU],
  ),
  rule(
    'HW-4',
    'GPU node groups are isolated by the nvidia.com/gpu=true:NoSchedule taint, which inference pods tolerate.',
    [S, AU],
  ),
  rule('MEM-1', "The engine uses at most 85% of each GPU's memory.", [S, R]),
  rule(
    'MEM-2',
    'Weights, KV cache for the full token budget at the configured concurrency and overhead fit within 85% of the GPU memory the pod holds.',
    [S, AU],
  ),
  rule('MEM-3', "Tensor-parallel size divides the model's attention heads and KV heads.", [S]),
  rule('MEM-4', 'PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True is set against fragmentation.', [
    S,
    AU,
  ]),
  rule(
    'MEM-5',
    '/dev/shm is a memory-backed emptyDir with a sizeLimit when a pod holds more than one GPU, covered by the memory limit.',
    [S],
  ),
  rule(
    'NODE-1',
    'The node AMI is pinned (fixed AMI id or fixed EKS-optimized release version), never floating.',
    [S, AU],
  ),
  rule('NODE-2', 'The NVIDIA driver is pinned and verified on the node before it joins.', [B]),
  rule('NODE-3', "The NVIDIA fabric manager runs at exactly the driver's version.", [B]),
  rule('NODE-4', 'IMDSv2 is required and the root volume is encrypted.', [S, AU]),
  rule(
    'W-1',
    'Weights are preloaded onto the NVMe RAID0 before the kubelet joins; nothing loads weights over the network at run time.',
    [B, S, AD, AU],
  ),
  rule(
    'W-2',
    'Preloaded weights are verified against a SHA-256 manifest behind an atomic ready marker.',
    [B],
  ),
  rule(
    'W-3',
    'Pods read weights read-only from the NVMe path on nodes labelled ready for them, with a local model path and hub downloads off.',
    [S, AD, AU],
  ),
  rule(
    'W-4',
    'The weights bucket is private, KMS-encrypted, TLS-only and versioned; nodes read only their prefix.',
    [S, AU],
  ),
  rule('SW-1', 'Runtime versions are locked and checked at start-up.', [S, R]),
  rule('SW-2', 'Container images are pinned by digest.', [S, AD, AU]),
  rule(
    'Q-1',
    'Production models are quantized to INT8 or 4-bit (AWQ, GPTQ); FP16/BF16 only under a waiver.',
    [S, AU],
  ),
  rule('NET-1', 'A request longer than 5000 ms is cut with 504; nothing waits unbounded.', [
    R,
    S,
    AU,
  ]),
  rule(
    'NET-2',
    'Retries are bounded (at most 2, before the engine only), with exponential backoff, jitter and a 20% budget.',
    [R, S, AU],
  ),
  rule('NET-3', 'The pending queue in front of the engine is bounded; overflow gets 503 at once.', [
    R,
    S,
    AU,
  ]),
  rule(
    'NET-4',
    'When more than 5% of requests fail over 60 s, ingress is shut (503) until recovery.',
    [R, AL],
  ),
  rule(
    'NET-5',
    'Embedding services allow at most 200 requests per second per API key (429 beyond).',
    [R, S],
  ),
  rule(
    'NET-6',
    'A request over the 4096-token budget is rejected at the edge, before the engine.',
    [R, S],
  ),
  rule(
    'NET-7',
    'Embeddings are validated before the vector store: 1536 dimensions, no NaN or Inf.',
    [R],
  ),
  rule('OBS-1', 'Every inference deployment exports the five required GPU and engine metrics.', [
    S,
    AD,
    AU,
  ]),
  rule('OBS-2', 'A deployment whose metrics are absent for 10 minutes is flagged.', [AL]),
  rule('ALM-1', 'Warning: effective GPU memory use above 75% for 3 minutes.', [AL]),
  rule('ALM-2', 'Critical: raw GPU memory above 90% for 30 s, and the pod restarts.', [AL, R]),
  rule('ALM-3', 'Critical: inference latency P99 above 10,000 ms.', [AL]),
  rule('ALM-4', 'Critical: 5xx responses above 2% of all traffic.', [AL]),
  rule('ALM-5', 'Grafana and CloudWatch dashboards show the five metrics and the alarms.', [S]),
  rule('OPS-1', 'Every service declares and configures its behaviour on total GPU-cluster loss.', [
    S,
  ]),
  rule('OPS-2', 'A new service takes at most 1% of traffic until its review is recorded.', [S]),
  rule('OPS-3', 'Disruptions are bounded: PodDisruptionBudget and graceful drain.', [S, AU]),
  rule('OPS-4', 'The cluster refuses hand-written inference workloads that break the rules.', [AD]),
  rule(
    'SEC-1',
    'Pods meet the restricted Pod Security Standard with a read-only root filesystem.',
    [S, AD, AU],
  ),
  rule('SEC-2', 'Default-deny network; inference pods accept only the gateway and the scraper.', [
    S,
  ]),
  rule('SEC-3', 'No service-account token unless needed; least-privilege IAM.', [S, AU]),
  rule('SEC-4', 'The AWS side passes cdk-nag AwsSolutions and Control Tower proactive controls.', [
    T,
  ]),
]);

const BY_ID: ReadonlyMap<string, RuleDefinition> = new Map(RULES.map((r) => [r.id, r]));

/** True when `id` names a rule of the standard. */
export function isRuleId(id: string): id is RuleId {
  return BY_ID.has(id);
}

/**
 * The definition of one rule.
 * @throws Error when the id is not a rule of the standard.
 */
export function ruleById(id: RuleId): RuleDefinition {
  const found = BY_ID.get(id);
  if (!found) {
    throw new Error(`Unknown rule id '${id}'`);
  }
  return found;
}

/** The rules enforced at one point. */
export function rulesEnforcedAt(point: EnforcementPoint): readonly RuleDefinition[] {
  return RULES.filter((r) => r.enforcedAt.includes(point));
}
