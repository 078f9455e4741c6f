import { readFileSync } from 'fs';
import { join } from 'path';
import { ApiObject, Chart, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { IntOrString, KubePodDisruptionBudget, Quantity } from 'cdk8s-plus-27/lib/imports/k8s';
import { Construct } from 'constructs';
import {
  GPU_RESOURCE,
  INFERENCE_WORKLOAD_LABEL,
  INSTANCE_TYPE_LABEL,
  LABEL_PREFIX,
  PLAN_ANNOTATION,
  isDigestPinned,
  weightsName as defaultWeightsName,
  weightsReadyLabel,
  weightsStorageClass,
} from '../conventions';
import {
  MemoryPlan,
  ModelArchitecture,
  ModelRole,
  catalogueModel,
  isWeightFormat,
  planRefusal,
  planMemory,
  validateArchitecture,
} from '../planner';
import {
  Clock,
  ComplianceError,
  DEFAULT_STANDARD,
  SYSTEM_CLOCK,
  Standard,
  Waiver,
  WaiverSet,
  WeightFormatName,
  describeValue,
  refuse,
} from '../standard';
import { InferenceEngine, VllmEngine } from './engine';
import { GpuLossPlan, ReviewRecord, validateGpuLossPlan, validateReview } from './service-policy';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** A weights revision: a label value and part of a StorageClass name. */
const REVISION = /^[a-z0-9]([a-z0-9._-]{0,38}[a-z0-9])?$/;

/**
 * How the container's resources are sized from the plan. Host memory covers, per GPU, the
 * host-side copy of that GPU's shard while it loads plus a working allowance, then the
 * process base and /dev/shm. CPUs are whole so that the kubelet's static CPU manager can
 * pin them.
 */
export const RESOURCE_SIZING = Object.freeze({
  /** Whole CPUs per GPU (p4d.24xlarge has 12 vCPUs per GPU; 2 stay for the node's daemons). */
  cpusPerGpu: 10,
  /** Host memory per GPU beyond its shard: tokenizer, scheduler, CUDA host buffers. */
  hostWorkingBytesPerGpu: 4 * GiB,
  /** Host memory of the serving process itself. */
  hostBaseBytes: 8 * GiB,
  /** /dev/shm per GPU when a pod holds more than one (NCCL's shared-memory transport). */
  shmBytesPerGpu: 2 * GiB,
  /** Ephemeral storage beyond the writable emptyDirs: container logs. */
  logBytes: 2 * GiB,
});

/**
 * How the startup probe's window is sized: reading the weights from the NVMe array, then the
 * engine's own start (profiling, CUDA graph capture, NCCL set-up), times a safety factor.
 */
export const STARTUP_SIZING = Object.freeze({
  /** Read rate assumed for loading safetensors from the RAID0 array, bytes per second (2 GB/s). */
  nvmeReadBytesPerSecond: 2e9,
  /** Engine start-up after the weights are read, in seconds. */
  engineInitSeconds: 180,
  /** Multiplier on the expected time. */
  safetyFactor: 2,
  /** Probe period, in seconds. */
  periodSeconds: 10,
});

/** The grace between SIGTERM and SIGKILL, and the pre-stop drain before SIGTERM (OPS-3). */
export const SHUTDOWN = Object.freeze({
  /** Pre-stop sleep so endpoints are removed before the engine stops accepting, in seconds. */
  preStopDrainSeconds: 10,
  /** Engine shutdown margin after in-flight requests finish, in seconds. */
  engineStopSeconds: 10,
});

/** Properties of an {@link InferenceService}. */
export interface InferenceServiceProps {
  /** The model: a catalogue name (`llama-2-70b`) or a custom architecture. */
  readonly model: string | ModelArchitecture;
  /** The weight format of the preloaded checkpoint (Q-1: fp16 and bf16 need a waiver). */
  readonly weights: WeightFormatName;
  /** Quantization group size for AWQ and GPTQ. @default 128 */
  readonly groupSize?: number;
  /**
   * The revision of the weights on the node's NVMe array, as the node group preloads it (a
   * commit id, for example). Lower-case letters, digits, `.`, `_`, `-`; at most 40 characters.
   */
  readonly weightsRevision: string;
  /**
   * The name of the weights on the node (the directory under the weights root).
   * A local name only: `s3://`, `hf://` and hub ids such as `org/model` are refused (W-3).
   * @default `<model>-<weights>`, as the GPU node group names the copies it preloads
   */
  readonly weightsName?: string;
  /** What the model is served for. */
  readonly role: ModelRole;
  /** The serving image, pinned by digest: `registry/repo@sha256:<64 hex>` (SW-2). */
  readonly image: string;
  /** Tokens per request, prompt and output together (NET-6). @default the standard's 4096 */
  readonly tokenBudget?: number;
  /** Sequences served at once per pod, at the full budget. @default 8 */
  readonly concurrency?: number;
  /** Pods. @default 2 */
  readonly replicas?: number;
  /** GPUs per pod; must be a size the planner accepts (HW-2, MEM-3). @default the planner's smallest fitting size */
  readonly gpus?: number;
  /**
   * The name of the Deployment, Service, PodDisruptionBudget and route (DNS-1035, at most 63
   * characters). Two services of one model and role in one namespace need different names.
   * @default `<model>-gen` or `<model>-embed`
   */
  readonly name?: string;
  /** The name clients use for the model. @default the model's name */
  readonly servedModelName?: string;
  /** How the service behaves when the whole GPU cluster is lost (OPS-1). */
  readonly gpuLossPlan: GpuLossPlan;
  /** The recorded review; without it the service takes at most 1% of traffic (OPS-2). @default - not reviewed */
  readonly review?: ReviewRecord;
  /** The serving engine. @default VllmEngine */
  readonly engine?: InferenceEngine;
  /** The standard in force. @default DEFAULT_STANDARD */
  readonly standard?: Standard;
  /** Waivers in force for this service. @default none */
  readonly waivers?: readonly Waiver[];
  /** The clock waivers are checked against. @default the system clock */
  readonly clock?: Clock;
  /** Namespace of the gateway's proxies, the only source of inference traffic (SEC-2). @default 'envoy-gateway-system' */
  readonly gatewayNamespace?: string;
  /** Namespace of the metrics scraper (SEC-2). @default 'monitoring' */
  readonly monitoringNamespace?: string;
  /** Numeric user and group the engine runs as (SEC-1). @default 1000 */
  readonly runAsUser?: number;
}

/** The recommended `app.kubernetes.io/*` labels, plus the project's own. */
export interface InferenceLabels {
  /** Labels every object of the service carries. */
  readonly common: Record<string, string>;
  /** The labels selectors use: a subset of the pod template's labels, unique to this service. */
  readonly selector: Record<string, string>;
}

/**
 * One model served on the GPU fleet: a Deployment whose limits come from the memory plan,
 * its Service, PodDisruptionBudget and NetworkPolicy. Every rule of the standard that
 * applies to a workload is enforced here at synthesis; the props cannot express a
 * non-compliant pod.
 */
export class InferenceService extends Construct {
  /** The memory plan the pod is sized from. */
  public readonly plan: MemoryPlan;
  /** The model served. */
  public readonly model: ModelArchitecture;
  /** The waivers this service relies on. */
  public readonly waivers: WaiverSet;
  /** The standard the service was checked against. */
  public readonly standard: Standard;
  /** The engine. */
  public readonly engine: InferenceEngine;
  /** What the service is for. */
  public readonly role: ModelRole;
  /** Pods. */
  public readonly replicas: number;
  /** GPU-loss behaviour (OPS-1). */
  public readonly gpuLossPlan: GpuLossPlan;
  /** The review record, if any (OPS-2). */
  public readonly review?: ReviewRecord;
  /** The name of the Service, the Deployment and the PDB. */
  public readonly name: string;
  /** The namespace of every object. */
  public readonly namespace: string;
  /** Labels of the service's objects, and the selector labels. */
  public readonly labels: InferenceLabels;
  /** The cdk8s+ Deployment. */
  public readonly deployment: kplus.Deployment;
  /** The cdk8s+ Service. */
  public readonly service: kplus.Service;

  constructor(scope: Construct, id: string, props: InferenceServiceProps) {
    super(scope, id);
    if (!props || typeof props !== 'object') {
      refuse(
        'OPS-4',
        'props',
        'the props of an inference service',
        props,
        'an inference service needs its props',
      );
    }

    // Defaults.
    this.standard = props.standard ?? DEFAULT_STANDARD;
    this.engine = props.engine ?? new VllmEngine();
    this.waivers = WaiverSet.of(props.waivers ?? [], props.clock ?? SYSTEM_CLOCK, 'props.waivers');
    this.role = props.role;
    this.replicas = props.replicas ?? 2;
    this.namespace = Chart.of(this).namespace ?? 'default';
    const gatewayNamespace = namespaceName(
      props.gatewayNamespace ?? 'envoy-gateway-system',
      'props.gatewayNamespace',
    );
    const monitoringNamespace = namespaceName(
      props.monitoringNamespace ?? 'monitoring',
      'props.monitoringNamespace',
    );
    const user = props.runAsUser ?? 1000;

    // Single-prop checks.
    if (
      typeof props.model === 'string' &&
      (props.model.includes('/') || props.model.includes(':'))
    ) {
      refuse(
        'W-3',
        'props.model',
        'a catalogue name or an architecture; the weights come from the node',
        props.model,
        'a hub id or URL is not a model here: name the architecture, and the node serves its preloaded weights',
      );
    }
    this.model =
      typeof props.model === 'string'
        ? catalogueModel(props.model, 'props.model')
        : validateArchitecture(props.model, 'props.model');
    this.checkRole(props.role);
    this.checkImage(props.image);
    const weightsName = this.checkWeightsName(
      props.weightsName ?? defaultWeightsName(this.model.name, props.weights),
    );
    const revision = this.checkRevision(props.weightsRevision);
    this.checkQuantization(props.weights);
    const tokenBudget = this.checkTokenBudget(
      props.tokenBudget ?? this.standard.traffic.tokenBudget,
    );
    if (!Number.isSafeInteger(this.replicas) || this.replicas < 1) {
      refuse(
        'OPS-3',
        'props.replicas',
        'a whole number >= 1',
        props.replicas,
        'replicas must be a whole number of pods, at least 1',
      );
    }
    if (!Number.isSafeInteger(user) || user < 1) {
      refuse(
        'SEC-1',
        'props.runAsUser',
        'a numeric UID >= 1',
        user,
        'the engine must run as a numeric, non-root user',
      );
    }
    this.gpuLossPlan = validateGpuLossPlan(props.gpuLossPlan, 'props.gpuLossPlan');
    this.review =
      props.review === undefined
        ? undefined
        : validateReview(props.review, props.clock ?? SYSTEM_CLOCK, 'props.review');

    // Derived values: the plan decides the GPUs, the KV budget and every memory number.
    this.plan = this.planFor(props, tokenBudget);
    const gpus = this.plan.gpusPerPod;
    this.name =
      props.name !== undefined
        ? this.checkName(props.name)
        : kubernetesName(`${this.model.name}-${props.role === 'embedding' ? 'embed' : 'gen'}`);
    const servedModelName = props.servedModelName ?? this.model.name;
    const storageClass = weightsStorageClass(weightsName, revision);
    const readyLabel = weightsReadyLabel(weightsName, revision);
    this.labels = {
      selector: {
        'app.kubernetes.io/name': this.model.name,
        'app.kubernetes.io/instance': this.name,
      },
      common: {
        'app.kubernetes.io/name': this.model.name,
        'app.kubernetes.io/instance': this.name,
        'app.kubernetes.io/version': revision,
        'app.kubernetes.io/component': `${props.role}-server`,
        'app.kubernetes.io/part-of': 'compliant-inference',
        'app.kubernetes.io/managed-by': 'cdk8s',
        [INFERENCE_WORKLOAD_LABEL]: 'inference',
        [`${LABEL_PREFIX}/role`]: props.role,
        [`${LABEL_PREFIX}/engine`]: this.engine.name,
      },
    };
    const memoryBytes = this.hostMemoryBytes();
    const shmBytes = gpus > 1 ? gpus * RESOURCE_SIZING.shmBytesPerGpu : 0;
    const writableBytes = this.engine.writablePaths.reduce((n, p) => n + p.sizeLimitMiB * MiB, 0);
    const ephemeralBytes = writableBytes + RESOURCE_SIZING.logBytes;
    const modelPath = '/models';
    const context = {
      plan: this.plan,
      modelPath,
      servedModelName,
      role: props.role,
      standard: this.standard,
    };
    const annotations = {
      [PLAN_ANNOTATION]: JSON.stringify(planSummary(this.plan)),
      ...this.waivers.toAnnotations(),
    };

    // Resources.
    const writable = this.engine.writablePaths.map((p) => ({
      path: p.path,
      volume: kplus.Volume.fromEmptyDir(this, `Writable-${p.name}`, p.name, {
        sizeLimit: Size.mebibytes(p.sizeLimitMiB),
      }),
    }));
    const shm =
      gpus > 1
        ? kplus.Volume.fromEmptyDir(this, 'Shm', 'dshm', {
            medium: kplus.EmptyDirMedium.MEMORY,
            sizeLimit: Size.mebibytes(shmBytes / MiB),
          })
        : undefined;
    const securityContext: kplus.ContainerSecurityContextProps = {
      ensureNonRoot: true,
      user,
      group: user,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
    };
    const exactly = <T>(value: T) => ({ request: value, limit: value });
    const cpus = gpus * RESOURCE_SIZING.cpusPerGpu;
    const lock = this.softwareLock();

    this.deployment = new kplus.Deployment(this, 'Deployment', {
      metadata: { name: this.name, labels: this.labels.common, annotations },
      podMetadata: { labels: this.labels.common, annotations },
      select: false,
      replicas: this.replicas,
      strategy: kplus.DeploymentStrategy.rollingUpdate({
        maxSurge: kplus.PercentOrAbsolute.absolute(0),
        maxUnavailable: kplus.PercentOrAbsolute.absolute(1),
      }),
      automountServiceAccountToken: false,
      securityContext: { ensureNonRoot: true, user, group: user, fsGroup: user },
      terminationGracePeriod: Duration.seconds(
        SHUTDOWN.preStopDrainSeconds +
          Math.ceil(this.standard.traffic.requestTimeoutMs / 1000) +
          SHUTDOWN.engineStopSeconds,
      ),
      initContainers: [
        {
          name: 'version-check',
          image: props.image,
          command: ['python3', '-c', readScript('version-check.py')],
          envVariables: { VERSION_LOCK: kplus.EnvValue.fromValue(JSON.stringify(lock)) },
          securityContext,
          resources: {
            cpu: exactly(kplus.Cpu.units(1)),
            memory: exactly(Size.gibibytes(2)),
            ephemeralStorage: exactly(Size.gibibytes(1)),
          },
        },
      ],
      containers: [
        {
          name: 'engine',
          image: props.image,
          args: this.engine.args(context),
          ports: [{ name: 'http', number: this.engine.port }],
          envVariables: Object.fromEntries(
            Object.entries({
              ...this.engine.env(context),
              HF_HUB_OFFLINE: '1',
              TRANSFORMERS_OFFLINE: '1',
              PYTORCH_CUDA_ALLOC_CONF: this.standard.memory.cudaAllocConf,
              NVIDIA_DRIVER_CAPABILITIES: 'compute,utility',
              LIVENESS_GPU_MEMORY_LIMIT_PERCENT: String(this.standard.alarms.memoryCriticalPercent),
              LIVENESS_HEALTH_URL: `http://127.0.0.1:${this.engine.port}${this.engine.healthPath}`,
            }).map(([k, v]) => [k, kplus.EnvValue.fromValue(v)]),
          ),
          securityContext,
          resources: {
            cpu: exactly(kplus.Cpu.units(cpus)),
            memory: exactly(Size.mebibytes(memoryBytes / MiB)),
            ephemeralStorage: exactly(Size.mebibytes(ephemeralBytes / MiB)),
          },
          startup: kplus.Probe.fromHttpGet(this.engine.healthPath, {
            port: this.engine.port,
            periodSeconds: Duration.seconds(STARTUP_SIZING.periodSeconds),
            failureThreshold: this.startupFailureThreshold(),
            timeoutSeconds: Duration.seconds(5),
          }),
          readiness: kplus.Probe.fromHttpGet(this.engine.healthPath, {
            port: this.engine.port,
            periodSeconds: Duration.seconds(5),
            failureThreshold: 2,
            successThreshold: 1,
            timeoutSeconds: Duration.seconds(3),
          }),
          // ALM-2: a container has one liveness probe; this one reads raw GPU memory and the
          // engine's health, and fails three times in a row (about 30 s) before a restart.
          liveness: kplus.Probe.fromCommand(['python3', '-c', readScript('liveness.py')], {
            periodSeconds: Duration.seconds(this.standard.alarms.memoryCriticalForSeconds / 3),
            failureThreshold: 3,
            successThreshold: 1,
            timeoutSeconds: Duration.seconds(8),
          }),
          lifecycle: {
            preStop: kplus.Handler.fromCommand(['sleep', String(SHUTDOWN.preStopDrainSeconds)]),
          },
          volumeMounts: [
            ...writable.map((w) => ({ path: w.path, volume: w.volume })),
            ...(shm ? [{ path: '/dev/shm', volume: shm }] : []),
          ],
        },
      ],
      volumes: [...writable.map((w) => w.volume), ...(shm ? [shm] : [])],
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: this.labels.selector }));

    // What cdk8s+ cannot say: GPUs, the weights volume, seccomp, placement on ready nodes.
    const pod = ApiObject.of(this.deployment);
    const gpuPath = `/spec/template/spec/containers/0/resources`;
    // Patches apply before the API object's own serialisation, which renders Quantity objects.
    const gpuQuantity = Quantity.fromString(String(gpus));
    pod.addJsonPatch(
      JsonPatch.add(`${gpuPath}/requests/${escapePointer(GPU_RESOURCE)}`, gpuQuantity),
      JsonPatch.add(`${gpuPath}/limits/${escapePointer(GPU_RESOURCE)}`, gpuQuantity),
      JsonPatch.add('/spec/template/spec/securityContext/seccompProfile', {
        type: 'RuntimeDefault',
      }),
      JsonPatch.add('/spec/template/spec/containers/0/securityContext/seccompProfile', {
        type: 'RuntimeDefault',
      }),
      JsonPatch.add('/spec/template/spec/initContainers/0/securityContext/seccompProfile', {
        type: 'RuntimeDefault',
      }),
      // cdk8s+ names capabilities CAP_*, and has no ALL: the restricted profile needs drop ALL.
      JsonPatch.add('/spec/template/spec/containers/0/securityContext/capabilities', {
        drop: ['ALL'],
      }),
      JsonPatch.add('/spec/template/spec/initContainers/0/securityContext/capabilities', {
        drop: ['ALL'],
      }),
      JsonPatch.add('/spec/template/spec/containers/0/volumeMounts/-', {
        name: 'weights',
        mountPath: modelPath,
        readOnly: true,
      }),
      JsonPatch.add('/spec/template/spec/volumes/-', {
        name: 'weights',
        ephemeral: {
          volumeClaimTemplate: {
            metadata: { labels: this.labels.common },
            spec: {
              accessModes: ['ReadOnlyMany'],
              storageClassName: storageClass,
              resources: { requests: { storage: Quantity.fromString('1Mi') } },
            },
          },
        },
      }),
      JsonPatch.add('/spec/template/spec/nodeSelector', {
        [INSTANCE_TYPE_LABEL]: this.standard.hardware.instanceType,
      }),
      JsonPatch.add('/spec/template/spec/tolerations', [
        {
          key: this.standard.hardware.gpuTaint.key,
          operator: 'Equal',
          value: this.standard.hardware.gpuTaint.value,
          effect: this.standard.hardware.gpuTaint.effect,
        },
      ]),
      JsonPatch.add('/spec/template/spec/affinity', {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              {
                matchExpressions: [
                  { key: readyLabel.key, operator: 'In', values: [readyLabel.value] },
                ],
              },
            ],
          },
        },
      }),
    );

    this.service = new kplus.Service(this, 'Service', {
      metadata: { name: this.name, labels: this.labels.common },
      type: kplus.ServiceType.CLUSTER_IP,
      selector: kplus.Pods.select(this, 'Pods', { labels: this.labels.selector }),
      ports: [
        {
          name: 'http',
          port: this.engine.port,
          targetPort: this.engine.port,
          protocol: kplus.Protocol.TCP,
        },
      ],
    });

    new KubePodDisruptionBudget(this, 'Pdb', {
      metadata: { name: this.name, labels: this.labels.common },
      spec: {
        maxUnavailable: IntOrString.fromNumber(1),
        selector: { matchLabels: this.labels.selector },
      },
    });

    new kplus.NetworkPolicy(this, 'Ingress', {
      metadata: { name: `${this.name}-ingress`, labels: this.labels.common },
      selector: kplus.Pods.select(this, 'PolicyPods', { labels: this.labels.selector }),
      ingress: {
        default: kplus.NetworkPolicyTrafficDefault.DENY,
        rules: [gatewayNamespace, monitoringNamespace].map((ns) => ({
          peer: kplus.Namespaces.select(this, `Peer-${ns}`, { names: [ns] }),
          ports: [kplus.NetworkPolicyPort.tcp(this.engine.port)],
        })),
      },
      egress: { default: kplus.NetworkPolicyTrafficDefault.DENY },
    });
  }

  /** The Service's in-cluster DNS name and port, for routes and scrapers. */
  public get servicePort(): number {
    return this.engine.port;
  }

  private checkRole(role: unknown): void {
    if (role !== 'generation' && role !== 'embedding') {
      refuse(
        'NET-5',
        'props.role',
        "'generation' or 'embedding'",
        role,
        'the role decides the rate limits; it must be generation or embedding',
      );
    }
    // NET-7 and NET-5 follow the role: an embedding model is served as one, and only it.
    const modelRole = this.model.role ?? 'generation';
    if (role !== modelRole) {
      refuse(
        'NET-7',
        'props.role',
        `'${modelRole}' (the role of ${this.model.name})`,
        role,
        `${this.model.name} is ${modelRole === 'embedding' ? 'an embedding' : 'a generation'} model`,
      );
    }
  }

  private checkName(name: unknown): string {
    if (typeof name !== 'string' || !/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) {
      refuse(
        'OPS-3',
        'props.name',
        'a DNS-1035 label of at most 63 characters',
        name,
        'the name of the service objects',
      );
    }
    return name;
  }

  private checkImage(image: unknown): void {
    if (!isDigestPinned(image)) {
      refuse(
        'SW-2',
        'props.image',
        'an image pinned by digest: registry/repository@sha256:<64 hex>',
        image,
        'the serving image must be pinned by digest, never a moving tag',
      );
    }
  }

  private checkWeightsName(name: unknown): string {
    if (typeof name !== 'string' || /:\/\//.test(name) || name.includes('/')) {
      refuse(
        'W-3',
        'props.weightsName',
        'the name of weights preloaded on the node (no s3://, hf:// or hub id)',
        name,
        'weights are read from the node NVMe array, never downloaded at run time',
      );
    }
    if (!/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/.test(name)) {
      refuse(
        'W-3',
        'props.weightsName',
        'lower-case letters, digits, . and -, at most 63 characters',
        name,
        'the weights name is part of a node label',
      );
    }
    return name;
  }

  private checkRevision(revision: unknown): string {
    if (typeof revision !== 'string' || !REVISION.test(revision)) {
      refuse(
        'W-3',
        'props.weightsRevision',
        'lower-case letters, digits, ., _ and -, at most 40 characters',
        revision,
        'the weights revision is a node label value and part of a StorageClass name',
      );
    }
    return revision;
  }

  private checkQuantization(weights: WeightFormatName): void {
    if (typeof weights !== 'string' || !isWeightFormat(weights)) {
      refuse(
        'Q-1',
        'props.weights',
        'fp16, bf16, int8, awq or gptq',
        weights,
        'unknown weight format',
      );
    }
    const approved = this.standard.quantization.approvedFormats;
    if (!approved.includes(weights) && !this.waivers.covers('Q-1')) {
      refuse(
        'Q-1',
        'props.weights',
        `one of ${approved.join(', ')}, or a waiver of Q-1`,
        weights,
        `production models are quantized; ${describeValue(weights)} needs a waiver of Q-1`,
      );
    }
  }

  private checkTokenBudget(tokenBudget: number): number {
    const limit = this.standard.traffic.tokenBudget;
    if (typeof tokenBudget === 'number' && tokenBudget > limit && !this.waivers.covers('NET-6')) {
      refuse(
        'NET-6',
        'props.tokenBudget',
        `<= ${limit} tokens`,
        tokenBudget,
        `a request may carry at most ${limit} tokens`,
      );
    }
    return tokenBudget;
  }

  private planFor(props: InferenceServiceProps, tokenBudget: number): MemoryPlan {
    const request = {
      model: this.model,
      weights: props.weights,
      groupSize: props.groupSize,
      tokenBudget,
      concurrency: props.concurrency,
      tensorParallelSize: props.gpus,
    };
    let plan: MemoryPlan;
    try {
      plan = planMemory(request, this.standard);
    } catch (e) {
      if (ComplianceError.isComplianceError(e) && e.field === 'tensorParallelSize')
        throw e.withField('props.gpus');
      if (ComplianceError.isComplianceError(e)) throw e.at('props');
      throw e;
    }
    if (!plan.fits) throw planRefusal(plan, 'props.model');
    return plan;
  }

  private hostMemoryBytes(): number {
    const gpus = this.plan.gpusPerPod;
    const shm = gpus > 1 ? gpus * RESOURCE_SIZING.shmBytesPerGpu : 0;
    const bytes =
      gpus * (this.plan.weightBytes + RESOURCE_SIZING.hostWorkingBytesPerGpu) +
      RESOURCE_SIZING.hostBaseBytes +
      shm;
    const rounded = Math.ceil(bytes / GiB) * GiB;
    const share =
      (this.standard.hardware.hostMemoryGiB * GiB * gpus) / this.standard.hardware.gpusPerInstance;
    if (rounded > share) {
      refuse(
        'HW-3',
        'props.model',
        `<= ${share / GiB} GiB (the host memory of ${gpus} of ${this.standard.hardware.gpusPerInstance} GPUs)`,
        `${rounded / GiB} GiB`,
        'the pod would need more host memory than its share of the node',
      );
    }
    return rounded;
  }

  private startupFailureThreshold(): number {
    const loadSeconds =
      this.plan.totalWeightBytes / STARTUP_SIZING.nvmeReadBytesPerSecond +
      STARTUP_SIZING.engineInitSeconds;
    return Math.ceil((loadSeconds * STARTUP_SIZING.safetyFactor) / STARTUP_SIZING.periodSeconds);
  }

  private softwareLock(): Record<string, string> {
    const { python, pytorch, cudaToolkit, nccl, triton, transformers } = this.standard.software;
    const waived = this.waivers.get('SW-1')?.values ?? {};
    return { python, pytorch, cudaToolkit, nccl, triton, transformers, ...waived };
  }
}

/** A namespace the NetworkPolicy admits traffic from (SEC-2): a DNS-1123 label. */
function namespaceName(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value)) {
    refuse(
      'SEC-2',
      field,
      'a namespace name (DNS-1123 label)',
      value,
      'the NetworkPolicy admits traffic from this namespace only',
    );
  }
  return value;
}

/** The plan numbers recorded on the Deployment for audit (MEM-2). */
export function planSummary(plan: MemoryPlan): Record<string, number | string> {
  return {
    model: plan.model,
    weights: plan.weights,
    gpusPerPod: plan.gpusPerPod,
    tensorParallelSize: plan.tensorParallelSize,
    tokenBudget: plan.tokenBudget,
    concurrency: plan.concurrency,
    memoryFraction: plan.memoryFraction,
    gpuMemoryBytes: plan.gpuMemoryBytes,
    budgetBytes: plan.budgetBytes,
    weightBytes: plan.weightBytes,
    kvCacheBytes: plan.kvCacheBytes,
    overheadBytes: plan.overheadBytes,
    totalBytes: plan.totalBytes,
    kvPoolBytes: plan.kvPoolBytes,
    nonKvBytes: plan.nonKvBytes,
  };
}

/** A DNS-1035 name of at most 63 characters, shortened with a stable hash when needed. */
export function kubernetesName(raw: string): string {
  let name = raw
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '');
  if (name.length === 0) name = 'inference';
  if (name.length <= 63) return name;
  let hash = 0;
  for (const ch of raw) hash = (Math.imul(hash, 31) + ch.charCodeAt(0)) >>> 0;
  const suffix = hash.toString(36).padStart(7, '0').slice(0, 7);
  return `${name.slice(0, 55).replace(/-+$/, '')}-${suffix}`;
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

const SCRIPTS = join(__dirname, 'scripts');
const scriptCache = new Map<string, string>();

/** A probe or check script shipped beside the construct. */
export function readScript(name: string): string {
  let text = scriptCache.get(name);
  if (text === undefined) {
    text = readFileSync(join(SCRIPTS, name), 'utf8');
    scriptCache.set(name, text);
  }
  return text;
}
