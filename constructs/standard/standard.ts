import { refuse } from './compliance-error';
import { RuleId } from './rules';

/** The numbers of the hardware rules (HW) for the one approved instance type. */
export interface HardwareStandard {
  /** The only instance type approved for production inference (HW-1). */
  readonly instanceType: string;
  /** GPUs per instance. */
  readonly gpusPerInstance: number;
  /** The GPU model, as `nvidia-smi` names it. */
  readonly gpuModel: string;
  /** Memory of one GPU, in MiB (A100 40 GB: 40960 MiB). */
  readonly gpuMemoryMiB: number;
  /** vCPUs per instance. */
  readonly vcpus: number;
  /** Host memory per instance, in GiB. */
  readonly hostMemoryGiB: number;
  /** NVMe instance-store disks per instance. */
  readonly nvmeDisks: number;
  /** Size of one NVMe disk, in GB (10^9 bytes). */
  readonly nvmeDiskSizeGB: number;
  /** EFA network interfaces per instance. */
  readonly efaInterfaces: number;
  /** The most GPUs one pod may hold (HW-2). */
  readonly maxGpusPerPod: number;
  /** The taint that isolates GPU nodes (HW-4), as `key=value:Effect`. */
  readonly gpuTaint: {
    readonly key: string;
    readonly value: string;
    readonly effect: 'NoSchedule';
  };
}

/** The numbers of the GPU memory rules (MEM). */
export interface MemoryStandard {
  /** Fraction of each GPU's memory the engine may use (MEM-1), 0..1. */
  readonly engineMemoryFraction: number;
  /** The value of `PYTORCH_CUDA_ALLOC_CONF` (MEM-4). */
  readonly cudaAllocConf: string;
}

/** The software versions locked by SW-1 and pinned on the node by NODE-2. */
export interface SoftwareLock {
  readonly python: string;
  readonly pytorch: string;
  readonly cudaToolkit: string;
  readonly cudaDriver: string;
  readonly nccl: string;
  readonly triton: string;
  readonly transformers: string;
}

/** The weight formats Q-1 accepts without a waiver. */
export type WeightFormatName = 'fp16' | 'bf16' | 'int8' | 'awq' | 'gptq';

/** The numbers of the quantization rule (Q). */
export interface QuantizationStandard {
  /** Formats accepted in production without a waiver. */
  readonly approvedFormats: readonly WeightFormatName[];
}

/** The numbers of the traffic rules (NET). */
export interface TrafficStandard {
  /** NET-1: the longest a request may take, in milliseconds. */
  readonly requestTimeoutMs: number;
  /** NET-2: the most retries of one request. */
  readonly maxRetries: number;
  /** NET-2: exponential backoff base interval, in milliseconds. */
  readonly retryBackoffBaseMs: number;
  /** NET-2: exponential backoff ceiling, in milliseconds. */
  readonly retryBackoffMaxMs: number;
  /** NET-2: retries as a share of active requests, in percent. */
  readonly retryBudgetPercent: number;
  /** NET-4: failure share that shuts ingress, in percent. */
  readonly circuitBreakerFailurePercent: number;
  /** NET-4: the window the failure share is measured over, in seconds. */
  readonly circuitBreakerWindowSeconds: number;
  /** NET-5: requests per second per API key for embedding services. */
  readonly embeddingRateLimitPerKeyRps: number;
  /** NET-6: the token budget of one request. */
  readonly tokenBudget: number;
  /** NET-7: the dimension of embeddings sent to the vector store. */
  readonly embeddingDimensions: number;
}

/** The numbers of the observability rules (OBS). */
export interface ObservabilityStandard {
  /** OBS-1: the metric names every inference deployment exports. */
  readonly requiredMetrics: readonly string[];
  /** OBS-2: how long metrics may be absent before the deployment is flagged, in minutes. */
  readonly absentForMinutes: number;
  /** DCGM exporter collection interval, in milliseconds. */
  readonly dcgmCollectIntervalMs: number;
  /** Prometheus scrape interval for GPU and engine metrics, in seconds. */
  readonly scrapeIntervalSeconds: number;
}

/** The thresholds of the alarm rules (ALM). */
export interface AlarmStandard {
  /** ALM-1: effective GPU memory warning threshold, in percent. */
  readonly memoryWarningPercent: number;
  /** ALM-1: how long above the threshold before the warning, in minutes. */
  readonly memoryWarningForMinutes: number;
  /** ALM-2: raw GPU memory critical threshold, in percent. */
  readonly memoryCriticalPercent: number;
  /** ALM-2: how long above the threshold before the alert and the restart, in seconds. */
  readonly memoryCriticalForSeconds: number;
  /** ALM-3: P99 inference latency threshold, in milliseconds. */
  readonly latencyP99Ms: number;
  /** ALM-4: 5xx share of all responses, in percent. */
  readonly serverErrorPercent: number;
}

/** The numbers of the process rules (OPS). */
export interface OperationsStandard {
  /** OPS-2: the most traffic a service takes before its review is recorded, in percent. */
  readonly unreviewedTrafficPercent: number;
}

/**
 * The inference standard's numbers: one typed, versioned, immutable object. Constructs
 * read every limit from here; none is a literal in a construct.
 */
export interface Standard {
  /** The version of the standard these numbers belong to. */
  readonly version: string;
  /** Where the numbers come from, or how a variant was derived. */
  readonly source: string;
  readonly hardware: HardwareStandard;
  readonly memory: MemoryStandard;
  readonly software: SoftwareLock;
  readonly quantization: QuantizationStandard;
  readonly traffic: TrafficStandard;
  readonly observability: ObservabilityStandard;
  readonly alarms: AlarmStandard;
  readonly operations: OperationsStandard;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Overridable<T> = { readonly [K in keyof T]?: T[K] };

/**
 * Typed changes to a standard. Each section may override only the fields it names; a
 * variant must say why it exists.
 */
export interface StandardOverrides {
  /** Why the variant exists; recorded in its `source`. */
  readonly reason: string;
  /** Version label of the variant. */
  readonly version: string;
  readonly hardware?: Overridable<HardwareStandard>;
  readonly memory?: Overridable<MemoryStandard>;
  readonly software?: Overridable<SoftwareLock>;
  readonly quantization?: Overridable<QuantizationStandard>;
  readonly traffic?: Overridable<TrafficStandard>;
  readonly observability?: Overridable<ObservabilityStandard>;
  readonly alarms?: Overridable<AlarmStandard>;
  readonly operations?: Overridable<OperationsStandard>;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

/** The standard of the incident review RCA-2023-11-14, with its own numbers. */
export const DEFAULT_STANDARD: Standard = deepFreeze<Standard>({
  version: '2023-11-14',
  source: 'RCA-2023-11-14-GEN-AI-COLLAPSE remediation standard',
  hardware: {
    instanceType: 'p4d.24xlarge',
    gpusPerInstance: 8,
    gpuModel: 'NVIDIA A100-SXM4-40GB',
    gpuMemoryMiB: 40960,
    vcpus: 96,
    hostMemoryGiB: 1152,
    nvmeDisks: 8,
    nvmeDiskSizeGB: 1000,
    efaInterfaces: 4,
    maxGpusPerPod: 8,
    gpuTaint: { key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' },
  },
  memory: {
    engineMemoryFraction: 0.85,
    cudaAllocConf: 'expandable_segments:True',
  },
  software: {
    python: '3.11.4',
    pytorch: '2.1.0',
    cudaToolkit: '12.2',
    cudaDriver: '535.104.05',
    nccl: '2.18.3',
    triton: '2.1.0',
    transformers: '4.34.0',
  },
  quantization: { approvedFormats: ['int8', 'awq', 'gptq'] },
  traffic: {
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
  },
  observability: {
    requiredMetrics: [
      'gpu_utilization_percentage',
      'gpu_memory_used_bytes',
      'gpu_temperature_celsius',
      'token_generation_latency_ms',
      'kv_cache_utilization_ratio',
    ],
    absentForMinutes: 10,
    dcgmCollectIntervalMs: 5000,
    scrapeIntervalSeconds: 10,
  },
  alarms: {
    memoryWarningPercent: 75,
    memoryWarningForMinutes: 3,
    memoryCriticalPercent: 90,
    memoryCriticalForSeconds: 30,
    latencyP99Ms: 10000,
    serverErrorPercent: 2,
  },
  operations: { unreviewedTrafficPercent: 1 },
});

/** The rule each numeric field serves, so that a bad override names it. */
const FIELD_RULES: Readonly<Record<string, RuleId>> = {
  'hardware.gpusPerInstance': 'HW-1',
  'hardware.gpuMemoryMiB': 'HW-1',
  'hardware.vcpus': 'HW-1',
  'hardware.hostMemoryGiB': 'HW-1',
  'hardware.nvmeDisks': 'HW-1',
  'hardware.nvmeDiskSizeGB': 'HW-1',
  'hardware.efaInterfaces': 'HW-1',
  'hardware.maxGpusPerPod': 'HW-2',
  'memory.engineMemoryFraction': 'MEM-1',
  'traffic.requestTimeoutMs': 'NET-1',
  'traffic.maxRetries': 'NET-2',
  'traffic.retryBackoffBaseMs': 'NET-2',
  'traffic.retryBackoffMaxMs': 'NET-2',
  'traffic.retryBudgetPercent': 'NET-2',
  'traffic.circuitBreakerFailurePercent': 'NET-4',
  'traffic.circuitBreakerWindowSeconds': 'NET-4',
  'traffic.embeddingRateLimitPerKeyRps': 'NET-5',
  'traffic.tokenBudget': 'NET-6',
  'traffic.embeddingDimensions': 'NET-7',
  'observability.absentForMinutes': 'OBS-2',
  'observability.dcgmCollectIntervalMs': 'ALM-2',
  'observability.scrapeIntervalSeconds': 'ALM-2',
  'alarms.memoryWarningPercent': 'ALM-1',
  'alarms.memoryWarningForMinutes': 'ALM-1',
  'alarms.memoryCriticalPercent': 'ALM-2',
  'alarms.memoryCriticalForSeconds': 'ALM-2',
  'alarms.latencyP99Ms': 'ALM-3',
  'alarms.serverErrorPercent': 'ALM-4',
  'operations.unreviewedTrafficPercent': 'OPS-2',
};

/** Numeric fields that are fractions (0, 1] or percentages (0, 100]; the rest are counts or durations. */
const FRACTIONS = new Set(['memory.engineMemoryFraction']);
const PERCENTS = new Set([
  'traffic.retryBudgetPercent',
  'traffic.circuitBreakerFailurePercent',
  'alarms.memoryWarningPercent',
  'alarms.memoryCriticalPercent',
  'alarms.serverErrorPercent',
  'operations.unreviewedTrafficPercent',
]);
/** Counts that may be 0 (no retries); every other count or duration must be at least 1. */
const MAY_BE_ZERO = new Set(['traffic.maxRetries', 'hardware.efaInterfaces']);

const SECTIONS = [
  'hardware',
  'memory',
  'software',
  'quantization',
  'traffic',
  'observability',
  'alarms',
  'operations',
] as const;

/** Checks one numeric override against the kind of number its field is. */
function checkNumber(path: string, value: unknown): void {
  const rule = FIELD_RULES[path] ?? 'OPS-4';
  const bad = (limit: string) =>
    refuse(
      rule,
      `overrides.${path}`,
      limit,
      value,
      `'${path}' of a variant standard must be ${limit}`,
    );
  if (typeof value !== 'number' || !Number.isFinite(value)) bad('a finite number');
  const n = value as number;
  if (FRACTIONS.has(path)) {
    if (!(n > 0 && n <= 1)) bad('a fraction greater than 0 and at most 1');
  } else if (PERCENTS.has(path)) {
    if (!(n > 0 && n <= 100)) bad('a percentage greater than 0 and at most 100');
  } else if (MAY_BE_ZERO.has(path)) {
    if (!(Number.isSafeInteger(n) && n >= 0)) bad('a whole number, 0 or more');
  } else if (!(Number.isSafeInteger(n) && n >= 1)) {
    bad('a whole number, 1 or more');
  }
}

/**
 * Derives a variant of a standard through explicit, typed overrides. The base is never
 * changed; the result is frozen, and its `source` records the base and the reason. Every
 * number is checked for the kind of number it is (a fraction, a percentage, a count), and
 * the variant as a whole for consistency (a pod cannot hold more GPUs than an instance has).
 * @throws ComplianceError naming the field and the rule it serves
 */
export function deriveStandard(base: Standard, overrides: StandardOverrides): Standard {
  if (typeof overrides.reason !== 'string' || overrides.reason.trim() === '') {
    refuse(
      'OPS-4',
      'overrides.reason',
      'a reason',
      overrides.reason,
      'a variant of the standard needs a reason',
    );
  }
  if (typeof overrides.version !== 'string' || overrides.version.trim() === '') {
    refuse(
      'OPS-4',
      'overrides.version',
      'a version label',
      overrides.version,
      'a variant of the standard needs a version label',
    );
  }
  for (const key of Object.keys(overrides)) {
    if (key !== 'reason' && key !== 'version' && !(SECTIONS as readonly string[]).includes(key)) {
      refuse(
        'OPS-4',
        `overrides.${key}`,
        `one of ${SECTIONS.join(', ')}`,
        key,
        `'${key}' is not a section of the standard`,
      );
    }
  }
  const out: Mutable<Standard> = JSON.parse(JSON.stringify(base));
  out.version = overrides.version;
  out.source = `${base.source}; variant ${overrides.version}: ${overrides.reason}`;
  for (const section of SECTIONS) {
    const change = overrides[section] as Record<string, unknown> | undefined;
    if (!change) continue;
    const target = out[section] as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(change)) {
      const path = `${section}.${key}`;
      if (!(key in target)) {
        refuse(
          FIELD_RULES[path] ?? 'OPS-4',
          `overrides.${path}`,
          'a field of the standard',
          key,
          `'${path}' is not a field of the standard`,
        );
      }
      if (typeof target[key] === 'number') checkNumber(path, value);
      target[key] = JSON.parse(JSON.stringify(value));
    }
  }
  if (out.hardware.maxGpusPerPod > out.hardware.gpusPerInstance) {
    refuse(
      'HW-2',
      'overrides.hardware.maxGpusPerPod',
      `<= ${out.hardware.gpusPerInstance} (the GPUs of one instance)`,
      out.hardware.maxGpusPerPod,
      'a pod cannot hold more GPUs than its node has',
    );
  }
  return deepFreeze(out);
}

/** The GPU memory of one GPU under a standard, in bytes. */
export function gpuMemoryBytes(standard: Standard): number {
  return standard.hardware.gpuMemoryMiB * 1024 * 1024;
}
