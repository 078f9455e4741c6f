import { Template } from 'aws-cdk-lib/assertions';
import {
  ComplianceError,
  DEFAULT_STANDARD,
  WaiverSet,
  deriveStandard,
  fixedClock,
} from '../../constructs/standard';
import { PlatformStack, REFERENCE_PLATFORM_MODELS } from '../../lib/platform-stack';
import { PINNED_PROMETHEUS_STACK } from '../../lib/prometheus-stack';
import { platformStack } from './platform-fixture';

function refusal(build: () => unknown): ComplianceError {
  try {
    build();
  } catch (e) {
    if (ComplianceError.isComplianceError(e)) return e;
    throw e;
  }
  throw new Error('expected a ComplianceError');
}

describe('PlatformStack (reference deployment)', () => {
  let stack: PlatformStack;
  let template: Template;
  beforeAll(() => {
    stack = platformStack().stack;
    template = Template.fromStack(stack);
  });

  test('plans each reference model with the planner: Llama 2 70B AWQ on 2 GPUs, the embedder on 1', () => {
    expect(stack.models.map((m) => [m.model, m.weights, m.plan.gpusPerPod, m.plan.fits])).toEqual([
      ['llama-2-70b', 'awq', 2, true],
      ['gte-qwen2-1.5b-instruct', 'int8', 1, true],
    ]);
    expect(template.toJSON().Metadata['compliance.inference/models']).toEqual([
      {
        model: 'llama-2-70b',
        weights: 'awq',
        revision: 'r1',
        tensorParallelSize: 2,
        gpusPerPod: 2,
      },
      {
        model: 'gte-qwen2-1.5b-instruct',
        weights: 'int8',
        revision: 'r1',
        tensorParallelSize: 1,
        gpusPerPod: 1,
      },
    ]);
  });

  test('puts one p4d.24xlarge GPU node group and one system node group in the cluster', () => {
    const groups = Object.values(template.findResources('AWS::EKS::Nodegroup')).map(
      (g) => g.Properties.InstanceTypes,
    );
    // The platform's system nodes are a size up from the cluster construct's default: they
    // also run the Prometheus stack, the gateway and the metrics agents.
    expect(groups.sort()).toEqual([['m6i.xlarge'], ['p4d.24xlarge']]);
  });

  test('GPU nodes preload each model from its own prefix of the weights bucket', () => {
    expect(stack.models.map((m) => m.preload)).toEqual([
      { name: 'llama-2-70b-awq', revision: 'r1', prefix: 'llama-2-70b-awq/r1' },
      {
        name: 'gte-qwen2-1.5b-instruct-int8',
        revision: 'r1',
        prefix: 'gte-qwen2-1.5b-instruct-int8/r1',
      },
    ]);
  });

  test('places private subnets for nodes in the given zones only', () => {
    const zones = Object.values(template.findResources('AWS::EC2::Subnet')).map(
      (s) => s.Properties.AvailabilityZone,
    );
    expect(new Set(zones)).toEqual(new Set(['us-east-1a', 'us-east-1b']));
  });

  test('alarms in CloudWatch on ALM-1, ALM-2, ALM-4 and OBS-2 for each reference service, ALM-1 and ALM-4 from the Prometheus export', () => {
    const names = Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .map((r) => String(r.Properties.AlarmName).split(' ').slice(0, 2).join(' '))
      .sort();
    const services = Object.keys(stack.telemetry?.serviceAlarms ?? {});
    expect(services.sort()).toEqual([
      'inference/gte-qwen2-1-5b-instruct-embed',
      'inference/llama-2-70b-gen',
    ]);
    expect(names).toEqual(
      services.flatMap((s) => ['ALM-1', 'ALM-2', 'ALM-4', 'OBS-2'].map((r) => `${r} ${s}`)).sort(),
    );
    const exp = stack.telemetry!.prometheusExport!;
    expect(exp.chart.objects.length).toBeGreaterThan(0);
    // The agent's credentials need the Pod Identity agent add-on first.
    const association = template.findResources('AWS::EKS::PodIdentityAssociation');
    const [, agentAssociation] = Object.entries(association).find(
      ([, r]) => r.Properties.ServiceAccount === exp.chart.serviceAccountName,
    )!;
    const addon = stack.inferenceCluster.addons['eks-pod-identity-agent'];
    expect(agentAssociation.DependsOn).toContain(stack.resolve(addon.logicalId));
  });

  test('installs the pinned Prometheus stack before anything that applies monitoring objects', () => {
    const charts = template.findResources('Custom::AWSCDK-EKS-HelmChart');
    const [[releaseId, release]] = Object.entries(charts).filter(
      ([, r]) => r.Properties.Chart === 'kube-prometheus-stack',
    );
    expect(release.Properties).toMatchObject({
      Release: 'kube-prometheus-stack',
      Version: PINNED_PROMETHEUS_STACK.chartVersion,
      Namespace: 'monitoring',
      Repository: 'https://prometheus-community.github.io/helm-charts',
      Wait: true,
    });
    const values = JSON.parse(stack.resolve(release.Properties.Values));
    expect(values.prometheus.prometheusSpec.scrapeInterval).toBe(
      `${DEFAULT_STANDARD.observability.scrapeIntervalSeconds}s`,
    );
    // Never the chart's well-known Grafana password; dashboards from every namespace.
    expect(values.grafana.adminPassword).toBe('');
    expect(values.grafana.sidecar.dashboards).toMatchObject({
      label: 'grafana_dashboard',
      labelValue: '1',
      searchNamespace: 'ALL',
    });
    // The release label the chart selects by is the default selector label of every monitor
    // and rule the platform applies.
    const manifests = JSON.stringify(
      stack.resolve(
        Object.values(template.findResources('Custom::AWSCDK-EKS-KubernetesResource')).map(
          (r) => r.Properties.Manifest,
        ),
      ),
    );
    for (const kind of ['ServiceMonitor', 'PodMonitor', 'PrometheusRule']) {
      expect(manifests).toContain(`\\"kind\\":\\"${kind}\\"`);
    }
    expect(manifests).toContain(`\\"release\\":\\"${PINNED_PROMETHEUS_STACK.release}\\"`);
    // Every resource that applies those kinds (or a chart that creates one) waits for it.
    const appliers = Object.entries({
      ...template.findResources('Custom::AWSCDK-EKS-KubernetesResource'),
      ...charts,
    }).filter(([id, r]) => {
      const body = JSON.stringify(stack.resolve(r.Properties));
      return (
        id !== releaseId &&
        (/ServiceMonitor|PodMonitor|PrometheusRule/.test(body) ||
          r.Properties.Chart === 'dcgm-exporter')
      );
    });
    expect(appliers.length).toBeGreaterThanOrEqual(3);
    for (const [id, r] of appliers) {
      expect([id, r.DependsOn ?? []]).toEqual([id, expect.arrayContaining([releaseId])]);
    }
  });

  test('writes the waivers in force into the template metadata', () => {
    const waivers = WaiverSet.of(
      [
        {
          rule: 'Q-1',
          reason: 'embedding model evaluated in BF16 for the pilot',
          approvedBy: 'platform review board',
          expires: '2027-01-31',
        },
      ],
      fixedClock('2026-12-03'),
    );
    const { stack: waived } = platformStack({
      waivers,
      models: [
        ...REFERENCE_PLATFORM_MODELS.slice(0, 1),
        { model: 'gte-qwen2-1.5b-instruct', weights: 'bf16', revision: 'r1' },
      ],
    });
    const metadata = Template.fromStack(waived).toJSON().Metadata;
    expect(Object.keys(metadata['compliance.inference/waivers'])).toEqual([
      'compliance.inference/waiver.Q-1',
    ]);
  });
});

describe('PlatformStack bad input', () => {
  test('refuses an empty model list (W-1)', () => {
    const e = refusal(() => platformStack({ models: [] }));
    expect(e.rule).toBe('W-1');
    expect(e.field).toBe('props.models');
  });

  test('refuses an unquantized model without a waiver (Q-1)', () => {
    const e = refusal(() =>
      platformStack({ models: [{ model: 'llama-2-70b', weights: 'fp16', revision: 'r1' }] }),
    );
    expect(e.rule).toBe('Q-1');
    expect(e.field).toBe('props.models[0].weights');
  });

  test('refuses a model that does not fit its GPUs, with the planner numbers (MEM-2)', () => {
    // A variant of the standard with 4 GiB GPUs: Llama 2 70B in AWQ needs about 4.4 GiB per
    // GPU even at tensor-parallel 8.
    const small = deriveStandard(DEFAULT_STANDARD, {
      version: 'test-4gib',
      reason: 'a GPU too small for the reference model',
      hardware: { gpuMemoryMiB: 4096 },
    });
    const e = refusal(() =>
      platformStack({ standard: small, models: REFERENCE_PLATFORM_MODELS.slice(0, 1) }),
    );
    expect(e.rule).toBe('MEM-2');
    expect(e.field).toBe('props.models[0]');
    expect(e.detail).toMatch(/llama-2-70b in awq needs/);
  });

  test('refuses a model the catalogue does not know', () => {
    const e = refusal(() =>
      platformStack({ models: [{ model: 'llama-2-71b', weights: 'awq', revision: 'r1' }] }),
    );
    expect(e.field).toBe('props.models[0].model');
  });

  test('refuses a single availability zone', () => {
    expect(() => platformStack({ availabilityZones: ['us-east-1a'] })).toThrow(
      /at least two zones/,
    );
  });

  test('refuses a model revision that is not a label value, through the GPU node group', () => {
    expect(() =>
      platformStack({ models: [{ model: 'llama-2-70b', weights: 'awq', revision: '../r1' }] }),
    ).toThrow(/W-|revision/);
  });
});
