/**
 * The single-object checks of inference workloads, as CEL: one list that is the source of
 * both the `audit` command (which evaluates these expressions with cel-js) and the
 * in-cluster ValidatingAdmissionPolicy (which hands the API server the same strings).
 *
 * The CEL used here is the subset that Kubernetes (cel-go with its extension libraries)
 * and cel-js both accept: field selection, `has()` on plain field chains, `in` on maps,
 * the `all`/`exists`/`filter` macros, `matches`, `contains`, `startsWith`, `split`,
 * `join`, `size`, `int` and `string`. No Kubernetes-only function (quantity, regex find,
 * url, authorizer) is used, so the audit and the API server read every expression alike.
 */
import {
  GPU_RESOURCE,
  INFERENCE_WORKLOAD_LABEL,
  INSTANCE_TYPE_LABEL,
  LABEL_PREFIX,
} from '../conventions';
import { DEFAULT_STANDARD, RuleId, Standard } from '../standard';

/** The workload kinds the checks apply to, with their API group and resource. */
export const WORKLOAD_KINDS: readonly {
  readonly kind: string;
  readonly apiGroup: string;
  readonly resource: string;
}[] = Object.freeze([
  { kind: 'Pod', apiGroup: '', resource: 'pods' },
  { kind: 'Deployment', apiGroup: 'apps', resource: 'deployments' },
  { kind: 'StatefulSet', apiGroup: 'apps', resource: 'statefulsets' },
  { kind: 'DaemonSet', apiGroup: 'apps', resource: 'daemonsets' },
  { kind: 'ReplicaSet', apiGroup: 'apps', resource: 'replicasets' },
  { kind: 'Job', apiGroup: 'batch', resource: 'jobs' },
  { kind: 'CronJob', apiGroup: 'batch', resource: 'cronjobs' },
]);

/** True when `kind` is one of {@link WORKLOAD_KINDS}. */
export function isWorkloadKind(kind: unknown): boolean {
  return WORKLOAD_KINDS.some((k) => k.kind === kind);
}

/** Where the pod spec of a workload kind sits, as a dotted path. */
export function podSpecPath(kind: string): string {
  if (kind === 'Pod') return 'spec';
  if (kind === 'CronJob') return 'spec.jobTemplate.spec.template.spec';
  return 'spec.template.spec';
}

/** Where the pod metadata of a workload kind sits, as a dotted path. */
export function podMetadataPath(kind: string): string {
  if (kind === 'Pod') return 'metadata';
  if (kind === 'CronJob') return 'spec.jobTemplate.spec.template.metadata';
  return 'spec.template.metadata';
}

/** A named CEL value computed once per object, as ValidatingAdmissionPolicy `variables`. */
export interface WorkloadVariable {
  /** The variable's name: read as `variables.<name>`. */
  readonly name: string;
  /** Its CEL expression, over `object` and earlier variables. */
  readonly expression: string;
}

/** One check of one rule on an inference workload. */
export interface WorkloadCheck {
  /** The rule the check enforces. */
  readonly rule: RuleId;
  /**
   * The field the check reads, for the report. A leading `podSpec.` or `podMeta.` stands
   * for the pod spec or pod metadata of whatever kind the object is.
   */
  readonly field: string;
  /** The CEL expression; true means compliant. */
  readonly expression: string;
  /** One line saying what to change, starting with the rule id. */
  readonly message: string;
  /** True when the admission policy enforces it too; false for audit-only checks. */
  readonly admission: boolean;
}

// ---- Expression builders. They only concatenate strings; every result is plain CEL. ----

const q = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * `(has(a.b) && has(a.b.c) && ...)` for every step of a field chain after its root. A
 * policy variable always exists, so `variables.x` itself is never tested with `has`. The
 * parentheses matter: callers negate it (`!hasChain(...)`), and `!` binds tighter than `&&`.
 */
function hasChain(chain: string): string {
  const parts = chain.split('.');
  const out: string[] = [];
  const first = parts[0] === 'variables' ? 3 : 2;
  for (let i = first; i <= parts.length; i++) out.push(`has(${parts.slice(0, i).join('.')})`);
  return out.length === 1 ? out[0] : `(${out.join(' && ')})`;
}

/** The value of a chain, or `fallback` when any step is missing. */
function orElse(chain: string, fallback: string): string {
  return `(${hasChain(chain)} ? ${chain} : ${fallback})`;
}

/** A container's command and args as one list. */
const argv = (c: string): string =>
  `((has(${c}.command) ? ${c}.command : []) + (has(${c}.args) ? ${c}.args : []))`;

/** A container's command and args joined with single spaces, padded with a space each side. */
const joined = (c: string): string => `(' ' + ${argv(c)}.join(' ') + ' ')`;

const envOf = (c: string): string => `(has(${c}.env) ? ${c}.env : [])`;

const envIs = (c: string, name: string, value: string): string =>
  `${envOf(c)}.exists(e, e.name == ${q(name)} && has(e.value) && e.value == ${q(value)})`;

/**
 * A container requests or limits a GPU: `nvidia.com/gpu` or any other NVIDIA resource
 * (`nvidia.com/gpu.shared` of time-slicing, `nvidia.com/mig-*`), so that a shared or sliced
 * GPU is in scope and refused by HW-2 rather than passing unseen.
 */
const holdsGpu = (c: string): string =>
  `(has(${c}.resources) && ((has(${c}.resources.limits) && ${c}.resources.limits.exists(k, k.startsWith('nvidia.com/'))) || (has(${c}.resources.requests) && ${c}.resources.requests.exists(k, k.startsWith('nvidia.com/')))))`;

/** Inference engines known by image or command line. */
const ENGINE_PATTERN =
  '(vllm|text-generation-inference|text-generation-launcher|sglang|tritonserver)';

const looksLikeEngine = (c: string): string =>
  `((has(${c}.image) && ${c}.image.matches(${q(ENGINE_PATTERN)})) || ${joined(c)}.matches(${q(ENGINE_PATTERN)}))`;

/**
 * The value of a `--flag value` or `--flag=value` argument in a joined command line, or
 * `fallback` when absent. Built from `contains` and `split`, which both CEL runtimes have.
 */
function flagValue(j: string, flags: readonly string[], fallback: string): string {
  let expr = q(fallback);
  for (const flag of [...flags].reverse()) {
    for (const sep of ['=', ' ']) {
      const token = ` ${flag}${sep}`;
      expr = `(${j}.contains(${q(token)}) ? ${j}.split(${q(token)})[1].split(' ')[0] : ${expr})`;
    }
  }
  return expr;
}

/** A container's security context field, or the pod's when the container does not set it. */
function effective(c: string, field: string): { set: string; value: string } {
  const mine = `${c}.securityContext.${field}`;
  const pod = `variables.podSpec.securityContext.${field}`;
  return {
    set: `((${hasChain(mine)}) || (${hasChain(pod)}))`,
    value: `(${hasChain(mine)} ? ${mine} : ${pod})`,
  };
}

/**
 * The condition that scopes every check to inference workloads: a container that requests
 * a GPU or runs a known inference engine, or the inference workload label on the pod. It
 * is the admission policy's match condition, so it reads `object` only (match conditions
 * cannot read `variables`).
 */
export function inferenceScopeExpression(): string {
  const branch = (spec: string, meta: string): string => {
    const containers = `(has(${spec}.containers) ? ${spec}.containers : [])`;
    return (
      `((${hasChain(`${meta}.labels`)} && ${q(INFERENCE_WORKLOAD_LABEL)} in ${meta}.labels) || ` +
      `${containers}.exists(c, ${holdsGpu('c')} || ${looksLikeEngine('c')}))`
    );
  };
  return (
    `object.kind == 'Pod' ? ${branch('object.spec', 'object.metadata')} : ` +
    `(object.kind == 'CronJob' ? ${branch('object.spec.jobTemplate.spec.template.spec', 'object.spec.jobTemplate.spec.template.metadata')} : ` +
    `${branch('object.spec.template.spec', 'object.spec.template.metadata')})`
  );
}

/** The variables every check reads, in evaluation order. */
export function workloadVariables(): WorkloadVariable[] {
  return [
    {
      name: 'podSpec',
      expression:
        "object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)",
    },
    {
      name: 'podMeta',
      expression: `object.kind == 'Pod' ? object.metadata : (object.kind == 'CronJob' ? ${orElse('object.spec.jobTemplate.spec.template.metadata', '{}')} : ${orElse('object.spec.template.metadata', '{}')})`,
    },
    { name: 'podLabels', expression: orElse('variables.podMeta.labels', '{}') },
    { name: 'containers', expression: orElse('variables.podSpec.containers', '[]') },
    { name: 'initContainers', expression: orElse('variables.podSpec.initContainers', '[]') },
    { name: 'allContainers', expression: 'variables.containers + variables.initContainers' },
    { name: 'volumes', expression: orElse('variables.podSpec.volumes', '[]') },
    {
      name: 'engineContainers',
      expression: `variables.containers.filter(c, ${holdsGpu('c')} || ${looksLikeEngine('c')})`,
    },
  ];
}

const URL_SCHEMES = '(s3a?|s3n|hf|gs|gcs|az|abfss?|wasbs?)://|huggingface\\.co/|hf\\.co/';
const HUB_ID = '^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$';
const DOWNLOADERS =
  '(huggingface-cli|hf download|snapshot_download|hf_hub_download|aws s3 (cp|sync)|s5cmd|gsutil|gcloud storage|azcopy)';

/**
 * Every single-object check of inference workloads, with the numbers of `standard`.
 * Checks marked `admission` make the ValidatingAdmissionPolicy; all of them run in `audit`.
 */
export function workloadChecks(standard: Standard = DEFAULT_STANDARD): WorkloadCheck[] {
  const hw = standard.hardware;
  const taint = hw.gpuTaint;
  const gpuQ = q(GPU_RESOURCE);
  const limitOf = (c: string): string => `string(${c}.resources.limits[${gpuQ}])`;
  const readyPrefix = `weights.${LABEL_PREFIX}/`;
  const nodeAffinity = 'variables.podSpec.affinity.nodeAffinity';
  const required = `${nodeAffinity}.requiredDuringSchedulingIgnoredDuringExecution`;
  const tp = (c: string): string => flagValue(joined(c), ['--tensor-parallel-size', '-tp'], '1');
  const pp = (c: string): string => flagValue(joined(c), ['--pipeline-parallel-size', '-pp'], '1');

  return [
    // HW-1
    {
      rule: 'HW-1',
      field: `podSpec.nodeSelector['${INSTANCE_TYPE_LABEL}']`,
      expression: `${hasChain('variables.podSpec.nodeSelector')} && ${q(INSTANCE_TYPE_LABEL)} in variables.podSpec.nodeSelector && variables.podSpec.nodeSelector[${q(INSTANCE_TYPE_LABEL)}] == ${q(hw.instanceType)}`,
      message: `HW-1: set nodeSelector ${INSTANCE_TYPE_LABEL}: ${hw.instanceType}; inference runs only on ${hw.instanceType}`,
      admission: true,
    },
    // HW-2
    {
      rule: 'HW-2',
      field: `podSpec.containers[*].resources.limits['${GPU_RESOURCE}']`,
      expression: `variables.engineContainers.exists(c, ${holdsGpu('c')}) && variables.engineContainers.all(c, ${hasChain('c.resources.limits')} && ${gpuQ} in c.resources.limits && (!${hasChain('c.resources.requests')} || !(${gpuQ} in c.resources.requests) || string(c.resources.requests[${gpuQ}]) == ${limitOf('c')}))`,
      message: `HW-2: give the engine container a ${GPU_RESOURCE} limit (requests, if set, equal to it); GPUs are exclusive and whole`,
      admission: true,
    },
    {
      rule: 'HW-2',
      field: `podSpec.containers[*].resources.limits['${GPU_RESOURCE}']`,
      expression: `variables.containers.all(c, !${hasChain('c.resources.limits')} || !(${gpuQ} in c.resources.limits) || (${limitOf('c')}.matches('^[0-9]{1,3}$') && int(${limitOf('c')}) >= 1 && int(${limitOf('c')}) <= ${hw.maxGpusPerPod}))`,
      message: `HW-2: set ${GPU_RESOURCE} to a whole number from 1 to ${hw.maxGpusPerPod}`,
      admission: true,
    },
    {
      rule: 'HW-2',
      field: 'podSpec.containers[*].resources.limits',
      expression: `variables.allContainers.all(c, !${hasChain('c.resources.limits')} || c.resources.limits.all(k, !k.startsWith('nvidia.com/') || k == ${gpuQ})) && variables.allContainers.all(c, !${hasChain('c.resources.requests')} || c.resources.requests.all(k, !k.startsWith('nvidia.com/') || k == ${gpuQ}))`,
      message: `HW-2: request whole GPUs as ${GPU_RESOURCE} only; shared (time-sliced, MPS) or MIG GPU resources are not allowed`,
      admission: true,
    },
    {
      rule: 'HW-2',
      field: 'podSpec.containers[*].args',
      expression: `variables.engineContainers.all(c, !(${hasChain('c.resources.limits')} && ${gpuQ} in c.resources.limits) || !((has(c.image) && c.image.contains('vllm')) || ${joined('c')}.matches(' (--tensor-parallel-size|-tp)[ =]')) || (${tp('c')}.matches('^[0-9]{1,3}$') && ${pp('c')}.matches('^[0-9]{1,3}$') && ${limitOf('c')}.matches('^[0-9]{1,3}$') && int(${tp('c')}) * int(${pp('c')}) == int(${limitOf('c')})))`,
      message: `HW-2: make --tensor-parallel-size x --pipeline-parallel-size equal the container's ${GPU_RESOURCE} count`,
      admission: true,
    },
    // HW-3
    {
      rule: 'HW-3',
      field: 'podSpec.containers[*].resources',
      expression: `variables.allContainers.all(c, ${hasChain('c.resources.limits')} && 'cpu' in c.resources.limits && 'memory' in c.resources.limits && (!${hasChain('c.resources.requests')} || ((!('cpu' in c.resources.requests) || string(c.resources.requests['cpu']) == string(c.resources.limits['cpu'])) && (!('memory' in c.resources.requests) || string(c.resources.requests['memory']) == string(c.resources.limits['memory'])))))`,
      message:
        'HW-3: set cpu and memory limits on every container, with requests equal to limits (Guaranteed QoS)',
      admission: true,
    },
    {
      rule: 'HW-3',
      field: "podSpec.containers[*].resources.limits['ephemeral-storage']",
      expression: `variables.allContainers.all(c, ${hasChain('c.resources.limits')} && 'ephemeral-storage' in c.resources.limits)`,
      message: 'HW-3: bound ephemeral storage: set an ephemeral-storage limit on every container',
      admission: true,
    },
    {
      rule: 'HW-3',
      field: 'podSpec.volumes[*].emptyDir.sizeLimit',
      expression: 'variables.volumes.all(v, !has(v.emptyDir) || has(v.emptyDir.sizeLimit))',
      message: 'HW-3: give every emptyDir volume a sizeLimit',
      admission: true,
    },
    // HW-4
    {
      rule: 'HW-4',
      field: 'podSpec.tolerations',
      expression: `${hasChain('variables.podSpec.tolerations')} && variables.podSpec.tolerations.exists(t, has(t.key) && t.key == ${q(taint.key)} && (!has(t.effect) || t.effect == ${q(taint.effect)}) && ((has(t.operator) && t.operator == 'Exists') || (has(t.value) && t.value == ${q(taint.value)})))`,
      message: `HW-4: tolerate the GPU node taint ${taint.key}=${taint.value}:${taint.effect}`,
      admission: false,
    },
    // MEM-4
    {
      rule: 'MEM-4',
      field: 'podSpec.containers[*].env[PYTORCH_CUDA_ALLOC_CONF]',
      expression: `variables.engineContainers.all(c, ${envOf('c')}.exists(e, e.name == 'PYTORCH_CUDA_ALLOC_CONF' && has(e.value) && e.value.contains(${q(standard.memory.cudaAllocConf)})))`,
      message: `MEM-4: set PYTORCH_CUDA_ALLOC_CONF=${standard.memory.cudaAllocConf} on the engine container`,
      admission: false,
    },
    // W-1
    {
      rule: 'W-1',
      field: 'podSpec.containers[*].args',
      expression: `variables.allContainers.all(c, !${argv('c')}.exists(a, a.matches(${q(URL_SCHEMES)})) && !${envOf('c')}.exists(e, has(e.value) && (e.value.matches(${q(URL_SCHEMES)}) || (e.name.contains('MODEL') && e.value.matches(${q(HUB_ID)})))))`,
      message:
        'W-1: remove remote model locations (s3://, hf://, hub ids) from command, args and env; weights are preloaded on the node',
      admission: true,
    },
    {
      rule: 'W-1',
      field: 'podSpec.volumes[*].hostPath',
      expression: 'variables.volumes.all(v, !has(v.hostPath))',
      message:
        'W-1: replace the hostPath volume with the weights volume of the node (a local PersistentVolume claim)',
      admission: true,
    },
    {
      rule: 'W-1',
      field: 'podSpec.initContainers[*].command',
      expression: `variables.initContainers.all(c, !${joined('c')}.matches(${q(DOWNLOADERS)}))`,
      message:
        'W-1: remove the init container that downloads weights; the node preloads them before it joins',
      admission: true,
    },
    // W-3
    {
      rule: 'W-3',
      field: 'podSpec.containers[*].args[--model]',
      expression: `variables.engineContainers.all(c, !${joined('c')}.matches(' --model(-id)?[ =][^/ ]') && !${joined('c')}.matches(' serve [^/ -]'))`,
      message:
        'W-3: pass the model as a local path of the weights volume (--model /models), never s3://, hf:// or a hub id',
      admission: true,
    },
    {
      rule: 'W-3',
      field: 'podSpec.containers[*].env',
      expression: `variables.engineContainers.all(c, ${envIs('c', 'HF_HUB_OFFLINE', '1')} && ${envIs('c', 'TRANSFORMERS_OFFLINE', '1')})`,
      message: 'W-3: switch hub downloads off: set HF_HUB_OFFLINE=1 and TRANSFORMERS_OFFLINE=1',
      admission: true,
    },
    {
      rule: 'W-3',
      field: 'podSpec.affinity.nodeAffinity',
      expression: `(${hasChain('variables.podSpec.nodeSelector')} && variables.podSpec.nodeSelector.exists(k, k.startsWith(${q(readyPrefix)}))) || (${hasChain(required)} && has(${required}.nodeSelectorTerms) && size(${required}.nodeSelectorTerms) > 0 && ${required}.nodeSelectorTerms.all(t, has(t.matchExpressions) && t.matchExpressions.exists(e, e.key.startsWith(${q(readyPrefix)}) && e.operator == 'In')))`,
      message: `W-3: require nodes whose ${readyPrefix}<model> label says the weights are ready (nodeSelector or required node affinity)`,
      admission: true,
    },
    {
      rule: 'W-3',
      field: 'podSpec.containers[*].volumeMounts[*].readOnly',
      expression:
        'variables.engineContainers.all(c, has(c.volumeMounts) && c.volumeMounts.exists(m, has(m.readOnly) && m.readOnly == true) && c.volumeMounts.all(m, (has(m.readOnly) && m.readOnly == true) || variables.volumes.exists(v, v.name == m.name && has(v.emptyDir))))',
      message:
        'W-3: mount the weights read-only (readOnly: true); only emptyDir scratch volumes may be writable',
      admission: true,
    },
    // SW-2
    {
      rule: 'SW-2',
      field: 'podSpec.containers[*].image',
      expression:
        "variables.allContainers.all(c, has(c.image) && c.image.matches('@sha256:[a-f0-9]{64}$'))",
      message: 'SW-2: pin every image by digest (repository@sha256:<64 hex>), never a moving tag',
      admission: true,
    },
    // Q-1
    {
      rule: 'Q-1',
      field: 'podSpec.containers[*].args[--quantization]',
      expression: `variables.engineContainers.all(c, ${joined('c')}.matches(' (--quantization|--quantize|-q)[ =][A-Za-z0-9]'))`,
      message:
        'Q-1: serve INT8 or 4-bit (AWQ, GPTQ) weights with --quantization; FP16/BF16 needs a waiver annotation',
      admission: false,
    },
    // SEC-1
    {
      rule: 'SEC-1',
      field: 'podSpec.securityContext.runAsNonRoot',
      expression: `variables.allContainers.all(c, ${effective('c', 'runAsNonRoot').set} && ${effective('c', 'runAsNonRoot').value} == true)`,
      message: 'SEC-1: set runAsNonRoot: true (pod or every container)',
      admission: true,
    },
    {
      rule: 'SEC-1',
      field: 'podSpec.securityContext.runAsUser',
      expression: `variables.allContainers.all(c, ${effective('c', 'runAsUser').set} && ${effective('c', 'runAsUser').value} > 0)`,
      message: 'SEC-1: run as a numeric non-root UID: set runAsUser >= 1 (pod or every container)',
      admission: true,
    },
    {
      rule: 'SEC-1',
      field: 'podSpec.containers[*].securityContext.allowPrivilegeEscalation',
      expression:
        'variables.allContainers.all(c, has(c.securityContext) && has(c.securityContext.allowPrivilegeEscalation) && c.securityContext.allowPrivilegeEscalation == false)',
      message: 'SEC-1: set allowPrivilegeEscalation: false on every container',
      admission: true,
    },
    {
      rule: 'SEC-1',
      field: 'podSpec.containers[*].securityContext.capabilities',
      expression:
        "variables.allContainers.all(c, has(c.securityContext) && has(c.securityContext.capabilities) && has(c.securityContext.capabilities.drop) && 'ALL' in c.securityContext.capabilities.drop && (!has(c.securityContext.capabilities.add) || c.securityContext.capabilities.add.all(a, a == 'NET_BIND_SERVICE')))",
      message:
        'SEC-1: drop ALL capabilities on every container (add back NET_BIND_SERVICE at most)',
      admission: true,
    },
    {
      rule: 'SEC-1',
      field: 'podSpec.securityContext.seccompProfile.type',
      expression: `variables.allContainers.all(c, ${effective('c', 'seccompProfile.type').set} && ${effective('c', 'seccompProfile.type').value} in ['RuntimeDefault', 'Localhost'])`,
      message: 'SEC-1: set seccompProfile.type: RuntimeDefault (pod or every container)',
      admission: true,
    },
    {
      rule: 'SEC-1',
      field: 'podSpec.containers[*].securityContext.readOnlyRootFilesystem',
      expression:
        'variables.allContainers.all(c, has(c.securityContext) && has(c.securityContext.readOnlyRootFilesystem) && c.securityContext.readOnlyRootFilesystem == true)',
      message:
        'SEC-1: set readOnlyRootFilesystem: true on every container; give the engine emptyDirs where it writes',
      admission: true,
    },
    {
      rule: 'SEC-1',
      field: 'podSpec.hostNetwork',
      expression:
        '!(has(variables.podSpec.hostNetwork) && variables.podSpec.hostNetwork == true) && !(has(variables.podSpec.hostPID) && variables.podSpec.hostPID == true) && !(has(variables.podSpec.hostIPC) && variables.podSpec.hostIPC == true) && variables.allContainers.all(c, !(has(c.securityContext) && has(c.securityContext.privileged) && c.securityContext.privileged == true) && (!has(c.ports) || c.ports.all(p, !has(p.hostPort) || p.hostPort == 0)))',
      message: 'SEC-1: no privileged containers, host ports, hostNetwork, hostPID or hostIPC',
      admission: true,
    },
    // The rest of the baseline profile, which "restricted" includes: AppArmor, /proc mount,
    // SELinux type and sysctls.
    {
      rule: 'SEC-1',
      field: 'podSpec.securityContext.appArmorProfile',
      expression:
        "!(has(variables.podSpec.securityContext) && has(variables.podSpec.securityContext.appArmorProfile) && has(variables.podSpec.securityContext.appArmorProfile.type) && variables.podSpec.securityContext.appArmorProfile.type == 'Unconfined') && variables.allContainers.all(c, !(has(c.securityContext) && has(c.securityContext.appArmorProfile) && has(c.securityContext.appArmorProfile.type) && c.securityContext.appArmorProfile.type == 'Unconfined'))",
      message: 'SEC-1: do not set an Unconfined AppArmor profile (pod or container)',
      admission: true,
    },
    {
      rule: 'SEC-1',
      field: 'podSpec.containers[*].securityContext.procMount',
      expression:
        "variables.allContainers.all(c, !(has(c.securityContext) && has(c.securityContext.procMount) && c.securityContext.procMount != 'Default'))",
      message: 'SEC-1: keep the default /proc mount (procMount: Default)',
      admission: true,
    },
    {
      rule: 'SEC-1',
      field: 'podSpec.securityContext.seLinuxOptions',
      expression:
        "!(has(variables.podSpec.securityContext) && has(variables.podSpec.securityContext.seLinuxOptions) && ((has(variables.podSpec.securityContext.seLinuxOptions.type) && !(variables.podSpec.securityContext.seLinuxOptions.type in ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'])) || has(variables.podSpec.securityContext.seLinuxOptions.user) || has(variables.podSpec.securityContext.seLinuxOptions.role))) && variables.allContainers.all(c, !(has(c.securityContext) && has(c.securityContext.seLinuxOptions) && ((has(c.securityContext.seLinuxOptions.type) && !(c.securityContext.seLinuxOptions.type in ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'])) || has(c.securityContext.seLinuxOptions.user) || has(c.securityContext.seLinuxOptions.role))))",
      message:
        'SEC-1: SELinux type only container_t (or init, kvm, engine variants); no custom user or role',
      admission: true,
    },
    {
      rule: 'SEC-1',
      field: 'podSpec.securityContext.sysctls',
      expression:
        "!(has(variables.podSpec.securityContext) && has(variables.podSpec.securityContext.sysctls)) || variables.podSpec.securityContext.sysctls.all(x, x.name in ['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes'])",
      message: 'SEC-1: only the safe sysctls of the Pod Security Standard',
      admission: true,
    },
    // SEC-3
    {
      rule: 'SEC-3',
      field: 'podSpec.automountServiceAccountToken',
      expression:
        'has(variables.podSpec.automountServiceAccountToken) && variables.podSpec.automountServiceAccountToken == false',
      message: 'SEC-3: set automountServiceAccountToken: false; inference pods need no API token',
      admission: false,
    },
    // OPS-3
    {
      rule: 'OPS-3',
      field: 'podSpec.containers[*].lifecycle.preStop',
      expression:
        'variables.engineContainers.all(c, has(c.lifecycle) && has(c.lifecycle.preStop) && has(c.readinessProbe) && has(c.livenessProbe))',
      message:
        'OPS-3: give the engine container readiness and liveness probes and a preStop drain, so no request lands on a starting or stopping pod',
      admission: false,
    },
    // OBS-1
    {
      rule: 'OBS-1',
      field: 'podMeta.labels',
      expression: `['app.kubernetes.io/name', 'app.kubernetes.io/instance', ${q(INFERENCE_WORKLOAD_LABEL)}].all(k, k in variables.podLabels)`,
      message: `OBS-1: label the pods with app.kubernetes.io/name, app.kubernetes.io/instance and ${INFERENCE_WORKLOAD_LABEL}, which the metrics scrape selects`,
      admission: true,
    },
  ];
}

/** The rules the CEL list covers, and for each whether admission enforces it. */
export function workloadRuleIds(standard: Standard = DEFAULT_STANDARD): {
  readonly audit: RuleId[];
  readonly admission: RuleId[];
} {
  const checks = workloadChecks(standard);
  const uniq = (xs: RuleId[]) => [...new Set(xs)];
  return {
    audit: uniq(checks.map((c) => c.rule)),
    admission: uniq(checks.filter((c) => c.admission).map((c) => c.rule)),
  };
}
