import {
  Obj,
  admit,
  audit,
  brokenRules,
  clone,
  engineOf,
  generationDeployment,
  referenceObjects,
} from './fixture';

describe('findings a review of the audit turned up', () => {
  test('a pod with limits and no requests (still Guaranteed QoS) is neither HW-2 nor HW-3', () => {
    const objects = referenceObjects();
    const deployment = generationDeployment(objects);
    for (const c of [
      ...deployment.spec.template.spec.containers,
      ...deployment.spec.template.spec.initContainers,
    ]) {
      delete c.resources.requests;
    }
    expect(engineOf(deployment).resources.requests).toBeUndefined();
    expect(brokenRules(audit(objects))).toEqual([]);
    expect(admit(deployment).admitted).toBe(true);
  });

  test('the same pod asking for a time-sliced GPU is in scope, and refused by HW-2 in audit and admission', () => {
    const objects = referenceObjects();
    const deployment = generationDeployment(objects);
    const engine = engineOf(deployment);
    for (const kind of ['limits', 'requests']) {
      const gpus = engine.resources[kind]['nvidia.com/gpu'];
      delete engine.resources[kind]['nvidia.com/gpu'];
      engine.resources[kind]['nvidia.com/gpu.shared'] = gpus;
    }
    // A hand-written copy without the project's labels: only the GPU resource puts it in scope.
    const bare = clone(deployment);
    delete bare.spec.template.metadata.labels['compliance.inference/workload'];
    bare.spec.template.spec.containers[0].image = 'myorg/server@sha256:' + 'a'.repeat(64);
    expect(brokenRules(audit([bare]))).toContain('HW-2');
    const answer = admit(bare);
    expect(answer.admitted).toBe(false);
    expect(answer.messages.join('\n')).toMatch(/^HW-2: /m);
  });

  describe('MEM-2 does not take the recorded plan on trust', () => {
    function withArgs(change: (args: string[]) => void) {
      const objects = referenceObjects();
      change(engineOf(generationDeployment(objects)).args);
      return audit(objects)
        .findings.filter((f) => f.rule === 'MEM-2')
        .map((f) => f.message);
    }
    const set = (name: string, value: string) => (args: string[]) => {
      args[args.indexOf(name) + 1] = value;
    };

    test('a memory fraction over the plan (0.99) is MEM-2', () => {
      expect(withArgs(set('--gpu-memory-utilization', '0.99')).join('\n')).toMatch(
        /--gpu-memory-utilization is 0\.99 but the recorded plan allows at most 0\.85/,
      );
    });

    test('a model length or a concurrency over the plan is MEM-2', () => {
      expect(withArgs(set('--max-model-len', '100000')).join('\n')).toMatch(
        /--max-model-len is 100000/,
      );
      expect(withArgs(set('--max-num-seqs', '512')).join('\n')).toMatch(/--max-num-seqs is 512/);
    });

    test('a plan that claims to fit is re-planned with the engine arguments', () => {
      const objects = referenceObjects();
      const deployment = generationDeployment(objects);
      const key = 'compliance.inference/memory-plan';
      for (const meta of [deployment.metadata, deployment.spec.template.metadata]) {
        const plan = JSON.parse(meta.annotations[key]);
        // The claim: fp16 weights, a tiny total. The truth: 128 GiB of weights on 2 GPUs.
        meta.annotations[key] = JSON.stringify({ ...plan, weights: 'fp16', totalBytes: 1 });
      }
      const messages = audit(objects)
        .findings.filter((f) => f.rule === 'MEM-2')
        .map((f) => f.message);
      expect(messages.join('\n')).toMatch(
        /re-planned with its own arguments, llama-2-70b in fp16 needs \d+\.\d GiB per GPU at tensor-parallel 2/,
      );
    });

    test('the reference deployment, re-planned with its own arguments, still fits', () => {
      expect(withArgs(() => undefined)).toEqual([]);
    });
  });

  describe('routes to inference services are bounded (NET-1, NET-2, NET-3)', () => {
    test('removing the traffic policies leaves the routes unbounded: NET-2 and NET-3', () => {
      const objects = referenceObjects().filter((o) => o.kind !== 'BackendTrafficPolicy');
      const broken = brokenRules(audit(objects));
      expect(broken).toEqual(expect.arrayContaining(['NET-2', 'NET-3']));
    });

    test('a route timeout of 60 s, or none, is NET-1', () => {
      const objects = referenceObjects();
      const routes = objects.filter((o) => o.kind === 'HTTPRoute');
      routes[0].spec.rules[0].timeouts.request = '60s';
      delete routes[1].spec.rules[0].timeouts;
      const findings = audit(objects).findings.filter((f) => f.rule === 'NET-1');
      expect(findings.map((f) => f.name).sort()).toEqual(
        routes.map((r) => `${r.metadata.namespace}/${r.metadata.name}`).sort(),
      );
    });

    test('the reference routes, with their policies, are clean', () => {
      expect(brokenRules(audit(referenceObjects()))).toEqual([]);
    });
  });

  describe('SEC-1 covers the baseline controls the restricted profile includes', () => {
    test.each<[string, (d: Obj) => void]>([
      [
        'an Unconfined AppArmor profile',
        (d) => (d.spec.template.spec.securityContext.appArmorProfile = { type: 'Unconfined' }),
      ],
      ['an unmasked /proc', (d) => (engineOf(d).securityContext.procMount = 'Unmasked')],
      [
        'a privileged SELinux type',
        (d) => (d.spec.template.spec.securityContext.seLinuxOptions = { type: 'spc_t' }),
      ],
      [
        'an unsafe sysctl',
        (d) =>
          (d.spec.template.spec.securityContext.sysctls = [
            { name: 'kernel.msgmax', value: '65536' },
          ]),
      ],
    ])('%s is SEC-1 in audit and refused by admission', (_what, mutate) => {
      const objects = referenceObjects();
      const deployment = generationDeployment(objects);
      mutate(deployment);
      expect(brokenRules(audit(objects))).toEqual(['SEC-1']);
      const answer = admit(deployment);
      expect(answer.admitted).toBe(false);
      expect(answer.messages.join('\n')).toMatch(/^SEC-1: /m);
    });
  });
});
