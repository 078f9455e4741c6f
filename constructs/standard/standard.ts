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
  'hardware.gpuMemoryMiB': 'HW-1',
  'hardware.gpusPerInstance': 'HW-1',
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
  'alarms.memoryWarningPercent': 'ALM-1',
  'alarms.memoryCriticalPercent': 'ALM-2',
  'alarms.latencyP99Ms': 'ALM-3',
  'alarms.serverErrorPercent': 'ALM-4',
  'operations.unreviewedTrafficPercent': 'OPS-2',
};

/** The rule that a field of the standard serves, for error messages. */
export function ruleForStandardField(field: string): RuleId | undefined {
  return FIELD_RULES[field];
}

/**
 * Derives a variant of a standard through explicit, typed overrides. The base is never
 * changed; the result is frozen, and its `source` records the base and the reason.
 */
export function deriveStandard(base: Standard, overrides: StandardOverrides): Standard {
  if (!overrides.reason || overrides.reason.trim() === '') {
    throw new Error('deriveStandard: a variant of the standard needs a reason');
  }
  const out: Mutable<Standard> = JSON.parse(JSON.stringify(base));
  out.version = overrides.version;
  out.source = `${base.source}; variant ${overrides.version}: ${overrides.reason}`;
  const sections = [
    'hardware',
    'memory',
    'software',
    'quantization',
    'traffic',
    'observability',
    'alarms',
    'operations',
  ] as const;
  for (const section of sections) {
    const change = overrides[section] as Record<string, unknown> | undefined;
    if (!change) continue;
    const target = out[section] as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(change)) {
      if (!(key in target)) {
        throw new Error(`deriveStandard: '${section}.${key}' is not a field of the standard`);
      }
      if (
        typeof target[key] === 'number' &&
        (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      ) {
        const rule = FIELD_RULES[`${section}.${key}`];
        throw new Error(
          `deriveStandard: ${rule ? `${rule}: ` : ''}'${section}.${key}' must be a finite, non-negative number; received ${String(value)}`,
        );
      }
      target[key] = JSON.parse(JSON.stringify(value));
    }
  }
  return deepFreeze(out);
}

/** The GPU memory of one GPU under a standard, in bytes. */
export function gpuMemoryBytes(standard: Standard): number {
  return standard.hardware.gpuMemoryMiB * 1024 * 1024;
}
