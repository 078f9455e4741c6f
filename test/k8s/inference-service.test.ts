import {
  DEFAULT_STANDARD,
  PLAN_ANNOTATION,
  RESOURCE_SIZING,
  STARTUP_SIZING,
  deriveStandard,
} from '../../constructs';
import {
  IMAGE,
  K8sObject,
  argValue,
  engine,
  generationProps,
  only,
  podSpec,
  synthService,
} from './fixture';
import { Chart, Testing } from 'cdk8s';
import { InferenceService } from '../../constructs';
import { complianceErrorOf } from '../support/compliance';
import { expectValidManifests } from '../support/manifests';

/** Kubernetes quantity to bytes (binary and decimal suffixes). */
function bytesOf(quantity: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  if (!m) throw new Error(`not a canonical byte quantity: ${quantity}`);
  const unit: Record<string, number> = {
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Number(m[1]) * (m[2] ? unit[m[2]] : 1);
}

describe('InferenceService: the reference generation service', () => {
  const { service, objects } = synthService();
  const pod = podSpec(objects);
  const container = engine(objects);
  const args: string[] = container.args;

  test('HW-1: pods are placed only on p4d.24xlarge', () => {
    expect(pod.nodeSelector).toEqual({ 'node.kubernetes.io/instance-type': 'p4d.24xlarge' });
  });

  test('HW-2: the GPU count is whole, request equals limit, and equals tensor-parallel x pipeline-parallel', () => {
    const { requests, limits } = container.resources;
    expect(requests['nvidia.com/gpu']).toBe('2');
    expect(limits['nvidia.com/gpu']).toBe('2');
    expect(
      Number(argValue(args, '--tensor-parallel-size')) *
        Number(argValue(args, '--pipeline-parallel-size')),
    ).toBe(2);
    expect(service.plan.gpusPerPod).toBe(2);
  });

  test('HW-3: CPU, memory and ephemeral storage requests equal limits, for every container (Guaranteed QoS)', () => {
    for (const c of [...pod.containers, ...pod.initContainers]) {
      expect(c.resources.requests).toEqual(c.resources.limits);
      for (const r of ['cpu', 'memory', 'ephemeral-storage'])
        expect(c.resources.limits[r]).toBeDefined();
    }
  });

  test('HW-3: every emptyDir has a sizeLimit, and the disk-backed ones fit the ephemeral-storage limit', () => {
    const emptyDirs = pod.volumes.filter((v: K8sObject) => v.emptyDir);
    expect(emptyDirs.length).toBeGreaterThan(0);
    for (const v of emptyDirs) expect(v.emptyDir.sizeLimit).toMatch(/^\d+(Mi|Gi)$/);
    const disk = emptyDirs
      .filter((v: K8sObject) => v.emptyDir.medium !== 'Memory')
      .reduce((n: number, v: K8sObject) => n + bytesOf(v.emptyDir.sizeLimit), 0);
    expect(disk).toBeLessThanOrEqual(bytesOf(container.resources.limits['ephemeral-storage']));
  });

  test('HW-4: pods tolerate the GPU taint, and only that one', () => {
    expect(pod.tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Equal', value: 'true', effect: 'NoSchedule' },
    ]);
  });

  test('MEM-1: --gpu-memory-utilization is always set to the standard fraction', () => {
    expect(argValue(args, '--gpu-memory-utilization')).toBe('0.85');
  });

  test('MEM-2: the plan is recorded on the Deployment and fits the budget', () => {
    const recorded = JSON.parse(only(objects, 'Deployment').metadata.annotations[PLAN_ANNOTATION]);
    expect(recorded.totalBytes).toBeLessThanOrEqual(recorded.budgetBytes);
    expect(recorded).toMatchObject({
      model: 'llama-2-70b',
      weights: 'awq',
      gpusPerPod: 2,
      tokenBudget: 4096,
      concurrency: 8,
    });
    expect(argValue(args, '--max-num-seqs')).toBe(String(recorded.concurrency));
  });

  test('MEM-4: the allocator is set against fragmentation', () => {
    expect(container.env).toContainEqual({
      name: 'PYTORCH_CUDA_ALLOC_CONF',
      value: 'expandable_segments:True',
    });
  });

  test('MEM-5: /dev/shm is a memory-backed emptyDir with a sizeLimit, covered by the memory limit', () => {
    const shm = pod.volumes.find((v: K8sObject) => v.name === 'dshm');
    expect(shm.emptyDir).toEqual({
      medium: 'Memory',
      sizeLimit: `${(2 * RESOURCE_SIZING.shmBytesPerGpu) / 2 ** 20}Mi`,
    });
    expect(container.volumeMounts).toContainEqual({ mountPath: '/dev/shm', name: 'dshm' });
    const memory = bytesOf(container.resources.limits.memory);
    const shmBytes = bytesOf(shm.emptyDir.sizeLimit);
    const loadingPeak = 2 * service.plan.weightBytes;
    expect(memory).toBeGreaterThanOrEqual(shmBytes + loadingPeak);
  });

  test('W-3: weights are mounted read-only from the node-local volume, and the model argument is that path', () => {
    const weights = pod.volumes.find((v: K8sObject) => v.name === 'weights');
    expect(weights.ephemeral.volumeClaimTemplate.spec).toEqual({
      accessModes: ['ReadOnlyMany'],
      storageClassName: 'weights-llama-2-70b-awq-8d5c0a5',
      resources: { requests: { storage: '1Mi' } },
    });
    expect(container.volumeMounts).toContainEqual({
      name: 'weights',
      mountPath: '/models',
      readOnly: true,
    });
    expect(argValue(args, '--model')).toBe('/models');
    expect(pod.volumes.some((v: K8sObject) => v.hostPath)).toBe(false);
  });

  test('W-3: pods are placed only on nodes whose label says these weights are ready', () => {
    expect(
      pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms,
    ).toEqual([
      {
        matchExpressions: [
          {
            key: 'weights.compliance.inference/llama-2-70b-awq',
            operator: 'In',
            values: ['8d5c0a5'],
          },
        ],
      },
    ]);
  });

  test('W-3: hub downloads are switched off', () => {
    expect(container.env).toEqual(
      expect.arrayContaining([
        { name: 'HF_HUB_OFFLINE', value: '1' },
        { name: 'TRANSFORMERS_OFFLINE', value: '1' },
      ]),
    );
  });

  test('SW-1: an init container running the same image checks the version lock', () => {
    const check = pod.initContainers.find((c: K8sObject) => c.name === 'version-check');
    expect(check.image).toBe(IMAGE);
    const lock = JSON.parse(check.env.find((e: K8sObject) => e.name === 'VERSION_LOCK').value);
    expect(lock).toEqual({
      python: '3.11.4',
      pytorch: '2.1.0',
      cudaToolkit: '12.2',
      nccl: '2.18.3',
      triton: '2.1.0',
      transformers: '4.34.0',
    });
    expect(check.command.slice(0, 2)).toEqual(['python3', '-c']);
  });

  test('SW-2: every container image is pinned by digest', () => {
    for (const c of [...pod.containers, ...pod.initContainers])
      expect(c.image).toMatch(/@sha256:[a-f0-9]{64}$/);
  });

  test('Q-1: the quantization is passed to the engine', () => {
    expect(argValue(args, '--quantization')).toBe('awq');
  });

  test('NET-6: the engine limit equals the token budget', () => {
    expect(argValue(args, '--max-model-len')).toBe('4096');
  });

  test('SEC-1: the pod meets the restricted Pod Security Standard', () => {
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.hostNetwork).toBe(false);
    for (const c of [...pod.containers, ...pod.initContainers]) {
      expect(c.securityContext).toMatchObject({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(Number.isInteger(c.securityContext.runAsUser)).toBe(true);
    }
    const allowed = [
      'configMap',
      'csi',
      'downwardAPI',
      'emptyDir',
      'ephemeral',
      'persistentVolumeClaim',
      'projected',
      'secret',
    ];
    for (const v of pod.volumes) {
      const type = Object.keys(v).filter((k) => k !== 'name');
      expect(allowed).toEqual(expect.arrayContaining(type));
    }
  });

  test('SEC-3: no service-account token is mounted', () => {
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  test('SEC-2: the NetworkPolicy lets in only the gateway and the scraper, on the serving port, and no egress', () => {
    const policy = only(objects, 'NetworkPolicy');
    expect(policy.spec.policyTypes.sort()).toEqual(['Egress', 'Ingress']);
    expect(policy.spec.egress ?? []).toEqual([]);
    const sources = policy.spec.ingress.map(
      (r: K8sObject) => r.from[0].namespaceSelector.matchLabels['kubernetes.io/metadata.name'],
    );
    expect(sources.sort()).toEqual(['envoy-gateway-system', 'monitoring']);
    for (const r of policy.spec.ingress) expect(r.ports).toEqual([{ port: 8000, protocol: 'TCP' }]);
  });

  test('OPS-3: a PodDisruptionBudget bounds disruptions, and shutdown drains before SIGTERM', () => {
    const pdb = only(objects, 'PodDisruptionBudget');
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(container.lifecycle.preStop.exec.command).toEqual(['sleep', '10']);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(
      10 + DEFAULT_STANDARD.traffic.requestTimeoutMs / 1000,
    );
  });

  test('the startup window covers reading the weights at the NVMe rate plus engine start, with the safety factor', () => {
    const probe = container.startupProbe;
    const window = probe.periodSeconds * probe.failureThreshold;
    const expected =
      service.plan.totalWeightBytes / STARTUP_SIZING.nvmeReadBytesPerSecond +
      STARTUP_SIZING.engineInitSeconds;
    expect(window).toBeGreaterThanOrEqual(expected * STARTUP_SIZING.safetyFactor);
    expect(window).toBeLessThan(expected * STARTUP_SIZING.safetyFactor + probe.periodSeconds);
    expect(probe.httpGet).toMatchObject({ path: '/health', port: 8000 });
  });

  test('ALM-2: the liveness probe restarts after about 30 s of failures', () => {
    const probe = container.livenessProbe;
    expect(probe.periodSeconds * probe.failureThreshold).toBe(
      DEFAULT_STANDARD.alarms.memoryCriticalForSeconds,
    );
    expect(probe.exec.command.slice(0, 2)).toEqual(['python3', '-c']);
    expect(container.env).toContainEqual({
      name: 'LIVENESS_GPU_MEMORY_LIMIT_PERCENT',
      value: '90',
    });
    expect(probe.timeoutSeconds).toBeLessThan(probe.periodSeconds);
  });

  test('readiness is on the engine health path', () => {
    expect(container.readinessProbe.httpGet).toMatchObject({ path: '/health', port: 8000 });
  });

  test('labels carry the recommended app.kubernetes.io set on every object', () => {
    for (const o of objects) {
      expect(o.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'llama-2-70b',
        'app.kubernetes.io/instance': 'llama-2-70b-gen',
        'app.kubernetes.io/part-of': 'compliant-inference',
        'app.kubernetes.io/managed-by': 'cdk8s',
      });
    }
  });
});

describe('InferenceService: variants', () => {
  test('MEM-5: a one-GPU pod has no /dev/shm volume', () => {
    const { objects } = synthService(generationProps({ model: 'llama-2-7b' }));
    expect(engine(objects).resources.limits['nvidia.com/gpu']).toBe('1');
    expect(podSpec(objects).volumes.find((v: K8sObject) => v.name === 'dshm')).toBeUndefined();
  });

  test('an embedding service passes the embed task and its own budget', () => {
    const { objects } = synthService(
      generationProps({
        model: 'gte-qwen2-1.5b-instruct',
        weights: 'int8',
        role: 'embedding',
        tokenBudget: 2048,
      }),
    );
    const args: string[] = engine(objects).args;
    expect(argValue(args, '--task')).toBe('embed');
    expect(argValue(args, '--max-model-len')).toBe('2048');
  });

  test('HW-2: an explicit GPU count is honoured when it fits', () => {
    const { service } = synthService(generationProps({ gpus: 4 }));
    expect(service.plan.gpusPerPod).toBe(4);
  });

  test('Q-1: FP16 is accepted under a waiver, and the waiver is written on the pod', () => {
    const waiver = {
      rule: 'Q-1' as const,
      reason: 'regression baseline',
      approvedBy: 'sre-board',
      expires: '2027-01-31',
    };
    const { objects } = synthService(
      generationProps({ model: 'llama-2-13b', weights: 'fp16', waivers: [waiver] }),
    );
    const template = only(objects, 'Deployment').spec.template.metadata;
    expect(JSON.parse(template.annotations['compliance.inference/waiver.Q-1'])).toMatchObject({
      approvedBy: 'sre-board',
    });
    expect(argValue(engine(objects).args, '--dtype')).toBe('float16');
  });

  test('SW-1: a waiver of SW-1 with values changes the checked lock', () => {
    const waiver = {
      rule: 'SW-1' as const,
      reason: 'vLLM image built on PyTorch 2.1.2',
      approvedBy: 'sre-board',
      expires: '2027-01-31',
      values: { pytorch: '2.1.2' },
    };
    const { objects } = synthService(generationProps({ waivers: [waiver] }));
    const check = podSpec(objects).initContainers[0];
    expect(JSON.parse(check.env[0].value).pytorch).toBe('2.1.2');
  });
});

describe('InferenceService: bad input is refused with the rule id', () => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['an unpinned image tag', { image: 'vllm/vllm-openai:latest' }, 'SW-2', /pinned by digest/],
    [
      'a digest that is not sha256 hex',
      { image: 'vllm/vllm-openai@sha256:abc' },
      'SW-2',
      /pinned by digest/,
    ],
    [
      'a hub model id as weights',
      { weightsName: 'meta-llama/Llama-2-70b-hf' },
      'W-3',
      /never downloaded/,
    ],
    ['an s3:// weights reference', { weightsName: 's3://bucket/llama' }, 'W-3', /never downloaded/],
    [
      'an hf:// weights reference',
      { weightsName: 'hf://meta-llama/Llama-2-70b-hf' },
      'W-3',
      /never downloaded/,
    ],
    ['a revision with a slash', { weightsRevision: 'refs/main' }, 'W-3', /revision/],
    [
      'a budget over the model context',
      {
        tokenBudget: 4097,
        waivers: [{ rule: 'NET-6', reason: 'r', approvedBy: 'a', expires: '2027-01-01' }],
      },
      'NET-6',
      /more than llama-2-70b can attend to/,
    ],
    [
      'a budget over the standard',
      { tokenBudget: 8192, model: 'llama-3.1-8b' },
      'NET-6',
      /at most 4096 tokens/,
    ],
    ['a GPU count the planner refuses', { gpus: 1 }, 'MEM-2', /needs .* per GPU|weights per GPU/],
    [
      'a tensor-parallel size that does not divide the heads',
      { gpus: 3 },
      'MEM-3',
      /does not divide the heads/,
    ],
    ['a fractional GPU count', { gpus: 1.5 }, 'HW-2', /whole number/],
    [
      'FP16 without a waiver',
      { weights: 'fp16', model: 'llama-2-7b' },
      'Q-1',
      /needs a waiver of Q-1/,
    ],
    ['zero replicas', { replicas: 0 }, 'OPS-3', /at least 1/],
    ['a root user', { runAsUser: 0 }, 'SEC-1', /non-root/],
    ['no GPU-loss plan', { gpuLossPlan: undefined }, 'OPS-1', /GPU cluster is lost/],
    [
      'a review dated in the future',
      { review: { reviewer: 'x', date: '2027-06-01' } },
      'OPS-2',
      /future/,
    ],
    [
      'an embedding role for a generation model',
      { role: 'embedding' },
      'NET-7',
      /llama-2-70b is a generation model/,
    ],
    [
      'a generation role for an embedding model',
      { model: 'gte-qwen2-1.5b-instruct', weights: 'int8' },
      'NET-7',
      /is an embedding model/,
    ],
    ['a hub id as the model', { model: 'meta-llama/Llama-2-70b-hf' }, 'W-3', /hub id or URL/],
    ['an unknown weight format', { weights: 'fp8' }, 'Q-1', /unknown weight format/],
    ['a service name that is not a DNS label', { name: 'My_Service' }, 'OPS-3', /DNS-1035/],
    [
      'a gateway namespace that is not a namespace name',
      { gatewayNamespace: 'Not_Valid' },
      'SEC-2',
      /admits traffic from this namespace only/,
    ],
    ['an unknown model', { model: 'llama-2-71b' }, 'MEM-2', /did you mean .*'llama-2-70b'/],
    [
      'an expired waiver',
      { waivers: [{ rule: 'Q-1', reason: 'r', approvedBy: 'a', expires: '2026-12-01' }] },
      'Q-1',
      /expired/,
    ],
  ];
  // Titles start with the rule id, so a failing case reads as the rule it guards.
  test.each(
    cases.map(
      ([what, change, rule, pattern]) => [`${rule}: ${what}`, change, rule, pattern] as const,
    ),
  )('%s', (_what, change, rule, pattern) => {
    const e = complianceErrorOf(() => synthService(generationProps(change as never)));
    expect(e.rule).toBe(rule);
    expect(e.message).toMatch(pattern);
    expect(e.field).toMatch(/^props\./);
  });

  test('the incident: Llama 2 70B in FP16 on one GPU, even under a Q-1 waiver, is refused by MEM-2 with the numbers', () => {
    const waiver = { rule: 'Q-1' as const, reason: 'r', approvedBy: 'a', expires: '2027-01-01' };
    const e = complianceErrorOf(() =>
      synthService(generationProps({ weights: 'fp16', gpus: 1, waivers: [waiver] })),
    );
    expect(e.message).toMatch(
      /^MEM-2: llama-2-70b in fp16 needs 128\.5 GiB of weights per GPU at tensor-parallel 1; the budget is 34\.0 GiB/,
    );
  });

  test('HW-3: a pod that needs more host memory than its GPUs share of the node is refused', () => {
    // A variant standard on a host with 64 GiB for 8 GPUs: 8 GiB per GPU cannot hold a 17 GiB shard.
    const small = deriveStandard(DEFAULT_STANDARD, {
      version: 't',
      reason: 'small host',
      hardware: { hostMemoryGiB: 64 },
    });
    const e = complianceErrorOf(() => synthService(generationProps({ standard: small })));
    expect(e.rule).toBe('HW-3');
    expect(e.limit).toBe('<= 16 GiB (the host memory of 2 of 8 GPUs)');
    expect(e.received).toBe("'55 GiB'");
  });

  test('null props are refused, not a TypeError', () => {
    expect(complianceErrorOf(() => synthService(null as never)).rule).toBe('OPS-4');
  });
});

describe('InferenceService: two services of one model', () => {
  test('with their own names, the awq and the gptq copy get distinct objects and selectors', () => {
    const chart = new Chart(Testing.app(), 'two', { namespace: 'inference' });
    const a = new InferenceService(chart, 'A', generationProps({ name: 'llama-awq' }));
    const b = new InferenceService(
      chart,
      'B',
      generationProps({ name: 'llama-gptq', weights: 'gptq' }),
    );
    const objects = Testing.synth(chart) as K8sObject[];
    const deployments = objects.filter((o) => o.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['llama-awq', 'llama-gptq']);
    expect(a.labels.selector).not.toEqual(b.labels.selector);
    expectValidManifests(objects);
  });
});
