import {
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
});
