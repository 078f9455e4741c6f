import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import { KubectlV33Layer } from '@aws-cdk/lambda-layer-kubectl-v33';
import { Testing } from 'cdk8s';
import { ComplianceError, ManifestDeployment, fixedClock, splitManifests } from '../../constructs';
import { ReferenceWorkloads } from '../../lib/reference-workloads';

const objects = Testing.synth(
  new ReferenceWorkloads(Testing.app(), 'ref', { clock: fixedClock('2026-12-03') }),
);

describe('splitManifests', () => {
  test('keeps every object, namespaces first, each part under the budget', () => {
    const parts = splitManifests(objects, 20_000);
    expect(parts.flat()).toHaveLength(objects.length);
    expect(parts[0].map((o) => o.kind)).toEqual(['Namespace']);
    for (const part of parts)
      expect(Buffer.byteLength(JSON.stringify(part))).toBeLessThanOrEqual(20_000);
    expect(parts.length).toBeGreaterThan(2);
  });

  test('the reference workloads fit the default budget in two parts: the namespace, then the rest', () => {
    expect(splitManifests(objects).map((p) => p.length)).toEqual([1, objects.length - 1]);
  });

  test('an object larger than the budget is refused, naming it and its size', () => {
    const huge = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'dashboards' },
      data: { x: 'a'.repeat(300_000) },
    };
    let error: unknown;
    try {
      splitManifests([huge]);
    } catch (e) {
      error = e;
    }
    expect(ComplianceError.isComplianceError(error)).toBe(true);
    expect((error as ComplianceError).field).toBe('objects[ConfigMap/dashboards]');
    expect((error as Error).message).toMatch(/larger than the kubectl provider can receive/);
  });
});

describe('ManifestDeployment', () => {
  test('applies the parts in order through the kubectl provider', () => {
    const stack = new Stack(new App(), 'S', {
      env: { account: '123456789012', region: 'us-east-1' },
    });
    const cluster = new eks.Cluster(stack, 'C', {
      version: eks.KubernetesVersion.V1_33,
      defaultCapacityType: eks.DefaultCapacityType.NODEGROUP,
      defaultCapacity: 0,
      kubectlProviderOptions: { kubectlLayer: new KubectlV33Layer(stack, 'Kubectl') },
    });
    const deployment = new ManifestDeployment(stack, 'Workloads', {
      cluster,
      objects,
      maxPayloadBytes: 20_000,
    });
    const template = Template.fromStack(stack);
    const manifests = template.findResources('Custom::AWSCDK-EKS-KubernetesResource');
    expect(Object.keys(manifests)).toHaveLength(deployment.parts.length);
    for (const m of Object.values(manifests)) {
      const json = JSON.stringify(m.Properties.Manifest);
      expect(Buffer.byteLength(json)).toBeLessThan(262_144);
    }
    // Each part after the first depends on the one before it.
    const ids = deployment.parts.map((p) => stack.getLogicalId(p.node.defaultChild as never));
    for (let i = 1; i < ids.length; i++) expect(manifests[ids[i]].DependsOn).toContain(ids[i - 1]);
  });
});
