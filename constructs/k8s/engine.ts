import { MemoryPlan, ModelRole, WEIGHT_FORMATS } from '../planner';
import { Standard } from '../standard';

/** What an engine needs to render its command line. */
export interface EngineContext {
  /** The memory plan of the pod. */
  readonly plan: MemoryPlan;
  /** The local path of the weights inside the container (W-3). */
  readonly modelPath: string;
  /** The name clients use for the model. */
  readonly servedModelName: string;
  /** What the model is served for. */
  readonly role: ModelRole;
  /** The standard in force. */
  readonly standard: Standard;
}

/** A directory the engine writes to, backed by a size-limited emptyDir (SEC-1, HW-3). */
export interface WritablePath {
  /** Volume name. */
  readonly name: string;
  /** Mount path in the container. */
  readonly path: string;
  /** Size limit, in MiB. */
  readonly sizeLimitMiB: number;
}

/**
 * The engine-specific part of an inference container: its arguments, ports, health path
 * and the places it writes. A second engine (TGI, for example) implements this interface
 * and nothing else changes.
 */
export interface InferenceEngine {
  /** Engine name, for labels and reports. */
  readonly name: string;
  /** The port the OpenAPI-compatible server listens on. */
  readonly port: number;
  /** The path that answers 200 once the engine is ready, and while it is healthy. */
  readonly healthPath: string;
  /** The Prometheus metrics path on {@link port}. */
  readonly metricsPath: string;
  /** Directories the engine writes to; everything else is read-only. */
  readonly writablePaths: readonly WritablePath[];
  /** The container arguments. */
  args(context: EngineContext): string[];
  /** Engine-specific environment (offline switches and allocator settings are added by the construct). */
  env(context: EngineContext): Record<string, string>;
}

/** vLLM's OpenAI-compatible server, as the container's entrypoint runs it. */
export class VllmEngine implements InferenceEngine {
  public readonly name = 'vllm';
  public readonly port = 8000;
  public readonly healthPath = '/health';
  public readonly metricsPath = '/metrics';
  public readonly writablePaths: readonly WritablePath[] = [
    { name: 'tmp', path: '/tmp', sizeLimitMiB: 4096 },
    { name: 'cache', path: '/home/inference/.cache', sizeLimitMiB: 4096 },
  ];

  public args(c: EngineContext): string[] {
    const spec = WEIGHT_FORMATS[c.plan.weights];
    const args = [
      '--model',
      c.modelPath,
      '--served-model-name',
      c.servedModelName,
      '--host',
      '0.0.0.0',
      '--port',
      String(this.port),
      '--tensor-parallel-size',
      String(c.plan.tensorParallelSize),
      '--pipeline-parallel-size',
      String(c.plan.pipelineParallelSize),
      // MEM-1: vLLM's own default is 0.9; the standard's fraction is always set.
      '--gpu-memory-utilization',
      String(c.plan.memoryFraction),
      // NET-6: the engine refuses a sequence over the budget with 400 before scheduling it.
      '--max-model-len',
      String(c.plan.tokenBudget),
      '--max-num-batched-tokens',
      String(c.plan.tokenBudget),
      '--max-num-seqs',
      String(c.plan.concurrency),
      '--dtype',
      spec.engineDtype,
      '--load-format',
      'safetensors',
      '--disable-log-requests',
    ];
    if (spec.engineQuantization) args.push('--quantization', spec.engineQuantization);
    if (c.role === 'embedding') args.push('--task', 'embed');
    return args;
  }

  public env(): Record<string, string> {
    return {
      VLLM_NO_USAGE_STATS: '1',
      DO_NOT_TRACK: '1',
      HOME: '/home/inference',
    };
  }
}
