import { App, Lazy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import {
  InferenceCluster,
  InferenceClusterProps,
  PINNED_ADDON_VERSIONS,
  PINNED_NVIDIA_DEVICE_PLUGIN,
  PINNED_SYSTEM_NODE_RELEASE,
} from '../../constructs/aws';
import { ComplianceError, DEFAULT_STANDARD } from '../../constructs/standard';

/** A partial match on one resource's properties, under a name the assertion lint rule knows. */
function assertResource(template: Template, type: string, props: Record<string, unknown>): void {
  template.hasResourceProperties(type, props);
}

function clusterStack(props: Partial<InferenceClusterProps> = {}): {
  stack: Stack;
  cluster: InferenceCluster;
} {
  const app = new App({ builtinCloudFormationValidation: false });
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'us-east-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    availabilityZones: ['us-east-1a', 'us-east-1b'],
    natGateways: 1,
  });
  const cluster = new InferenceCluster(stack, 'Inference', { vpc, ...props });
  return { stack, cluster };
}

/** Builds the cluster and returns the ComplianceError it throws, or fails. */
function refusal(props: Partial<InferenceClusterProps>): ComplianceError {
  try {
    clusterStack(props);
  } catch (e) {
    if (ComplianceError.isComplianceError(e)) return e;
    throw e;
  }
  throw new Error('expected a ComplianceError, but the cluster was built');
}

describe('InferenceCluster', () => {
  let template: Template;
  beforeAll(() => {
    template = Template.fromStack(clusterStack().stack);
  });

  test('pins Kubernetes 1.33', () => {
    assertResource(template, 'AWS::EKS::Cluster', { Version: '1.33' });
  });

  test('encrypts Kubernetes secrets with a rotating customer-managed KMS key', () => {
    const keys = template.findResources('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true },
    });
    const [keyId] = Object.keys(keys);
    expect(keyId).toBeDefined();
    assertResource(template, 'AWS::EKS::Cluster', {
      EncryptionConfig: [
        { Provider: { KeyArn: { 'Fn::GetAtt': [keyId, 'Arn'] } }, Resources: ['secrets'] },
      ],
    });
  });

  test('turns on every control-plane log type', () => {
    assertResource(template, 'AWS::EKS::Cluster', {
      Logging: {
        ClusterLogging: {
          EnabledTypes: Match.arrayWith(
            ['api', 'audit', 'authenticator', 'controllerManager', 'scheduler'].map((type) => ({
              Type: type,
            })),
          ),
        },
      },
    });
  });

  test('keeps the API endpoint private by default', () => {
    assertResource(template, 'AWS::EKS::Cluster', {
      ResourcesVpcConfig: { EndpointPrivateAccess: true, EndpointPublicAccess: false },
    });
  });

  test('uses managed node groups, not Auto Mode', () => {
    const clusters = template.findResources('AWS::EKS::Cluster');
    const props = Object.values(clusters)[0].Properties;
    expect(props.ComputeConfig?.Enabled ?? false).toBe(false);
    expect(props.StorageConfig?.BlockStorage?.Enabled ?? false).toBe(false);
    expect(props.BootstrapSelfManagedAddons ?? true).toBe(true);
    template.resourceCountIs('AWS::EKS::Nodegroup', 1);
  });

  test('runs cluster services on a non-GPU system node group at a pinned AL2023 release', () => {
    assertResource(template, 'AWS::EKS::Nodegroup', {
      AmiType: 'AL2023_x86_64_STANDARD',
      ReleaseVersion: PINNED_SYSTEM_NODE_RELEASE,
      InstanceTypes: ['m6i.large'],
      ScalingConfig: { MinSize: 2, DesiredSize: 2, MaxSize: 3 },
      Labels: { 'compliance.inference/node-role': 'system' },
    });
  });

  test('system nodes require IMDSv2 and boot from an encrypted disk (NODE-4)', () => {
    assertResource(template, 'AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: Match.objectLike({ Encrypted: true, VolumeType: 'gp3' }),
          },
        ],
      }),
    });
  });

  test.each(Object.entries(PINNED_ADDON_VERSIONS))(
    'installs the %s add-on at its pinned build',
    (name, version) => {
      assertResource(template, 'AWS::EKS::Addon', {
        AddonName: name,
        AddonVersion: version,
        ResolveConflicts: 'OVERWRITE',
      });
    },
  );

  test('every add-on in the template carries an exact eksbuild version', () => {
    const addons = Object.values(template.findResources('AWS::EKS::Addon'));
    expect(addons).toHaveLength(5);
    for (const a of addons) {
      expect(a.Properties.AddonVersion).toMatch(/^v\d+\.\d+\.\d+-eksbuild\.\d+$/);
    }
  });

  test('gives the CloudWatch agent its own Pod Identity role, without the managed policy', () => {
    const roles = template.findResources('AWS::IAM::Role', {
      Properties: {
        AssumeRolePolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Principal: { Service: 'pods.eks.amazonaws.com' } }),
          ]),
        },
      },
    });
    const [roleId] = Object.keys(roles);
    expect(roleId).toBeDefined();
    expect(JSON.stringify(roles[roleId])).not.toContain('CloudWatchAgentServerPolicy');
    assertResource(template, 'AWS::EKS::Addon', {
      AddonName: 'amazon-cloudwatch-observability',
      PodIdentityAssociations: [
        { ServiceAccount: 'cloudwatch-agent', RoleArn: { 'Fn::GetAtt': [roleId, 'Arn'] } },
      ],
    });
    assertResource(template, 'AWS::IAM::Policy', {
      Roles: [{ Ref: roleId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'cloudwatch:PutMetricData',
            Condition: { StringLike: { 'cloudwatch:namespace': Match.anyValue() } },
          }),
        ]),
      },
    });
  });

  test('installs the NVIDIA device plugin at a pinned chart and image, on GPU nodes only', () => {
    const charts = Object.values(template.findResources('Custom::AWSCDK-EKS-HelmChart'));
    expect(charts).toHaveLength(1);
    const props = charts[0].Properties;
    expect(props).toMatchObject({
      Chart: 'nvidia-device-plugin',
      Repository: PINNED_NVIDIA_DEVICE_PLUGIN.repository,
      Version: PINNED_NVIDIA_DEVICE_PLUGIN.chartVersion,
      Namespace: 'kube-system',
    });
    const values = JSON.parse(resolveJoin(props.Values));
    const taint = DEFAULT_STANDARD.hardware.gpuTaint;
    expect(values.image).toEqual({
      repository: 'nvcr.io/nvidia/k8s-device-plugin',
      tag: PINNED_NVIDIA_DEVICE_PLUGIN.imageTag,
    });
    expect(values.tolerations).toEqual([
      { key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect },
    ]);
    expect(values.nodeSelector).toEqual({ 'node.kubernetes.io/instance-type': 'p4d.24xlarge' });
    expect(
      values.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms,
    ).toEqual([
      {
        matchExpressions: [
          { key: 'node.kubernetes.io/instance-type', operator: 'In', values: ['p4d.24xlarge'] },
        ],
      },
    ]);
  });

  test('gives kubectl a kubectl 1.33 layer and its own security group into the API', () => {
    assertResource(template, 'AWS::Lambda::LayerVersion', {
      Description: Match.stringLikeRegexp('kubectl 1\\.33'),
    });
    assertResource(template, 'AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      SourceSecurityGroupId: Match.anyValue(),
    });
  });
});

/** The device plugin's values are a JSON string, possibly split around tokens by Fn::Join. */
function resolveJoin(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`unexpected values: ${JSON.stringify(value)}`);
  return join[1].map((part) => (typeof part === 'string' ? part : '"token"')).join(join[0]);
}

describe('InferenceCluster endpoint access', () => {
  test('refuses a public-only endpoint', () => {
    expect(() => clusterStack({ endpointAccess: eks.EndpointAccess.PUBLIC })).toThrow(
      /endpointAccess must keep private access on/,
    );
  });

  test('refuses a public endpoint open to every address', () => {
    expect(() => clusterStack({ endpointAccess: eks.EndpointAccess.PUBLIC_AND_PRIVATE })).toThrow(
      /opens the public API endpoint to every address/,
    );
    expect(() =>
      clusterStack({
        endpointAccess: eks.EndpointAccess.PUBLIC_AND_PRIVATE.onlyFrom('0.0.0.0/0'),
      }),
    ).toThrow(/every address/);
  });

  test('accepts public access limited to CIDR blocks, with a warning', () => {
    const { stack } = clusterStack({
      endpointAccess: eks.EndpointAccess.PUBLIC_AND_PRIVATE.onlyFrom('203.0.113.0/24'),
    });
    const template = Template.fromStack(stack);
    assertResource(template, 'AWS::EKS::Cluster', {
      ResourcesVpcConfig: {
        EndpointPrivateAccess: true,
        EndpointPublicAccess: true,
        PublicAccessCidrs: ['203.0.113.0/24'],
      },
    });
    Annotations.fromStack(stack).hasWarning(
      '/Test/Inference',
      Match.stringLikeRegexp('also public, from 203.0.113.0/24'),
    );
  });
});

describe('InferenceCluster bad input', () => {
  test.each([
    ['latest', 'latest'],
    ['an empty string', ''],
    ['a version without its eksbuild', 'v1.20.5'],
    ['a range', '>=v1.20.0-eksbuild.1'],
  ])('refuses an add-on version that is %s (SW-2)', (_what, version) => {
    const e = refusal({ addonVersions: { 'vpc-cni': version } });
    expect(e.rule).toBe('SW-2');
    expect(e.field).toBe("props.addonVersions['vpc-cni']");
    expect(e.received).toBe(`'${version}'`);
  });

  test('refuses an add-on the cluster does not know', () => {
    expect(() =>
      clusterStack({ addonVersions: { 'aws-ebs-csi-driver': 'v1.0.0-eksbuild.1' } as never }),
    ).toThrow(/'aws-ebs-csi-driver' is not an add-on of the inference cluster/);
  });

  test.each([
    ['chartVersion', { chartVersion: '0.18' }],
    ['chartVersion', { chartVersion: '~0.18.0' }],
    ['chartVersion', { chartVersion: 'latest' }],
    ['imageTag', { imageTag: 'latest' }],
  ])('refuses a floating device plugin %s (SW-2)', (field, devicePlugin) => {
    const e = refusal({ devicePlugin });
    expect(e.rule).toBe('SW-2');
    expect(e.field).toBe(`props.devicePlugin.${field}`);
  });

  test('refuses a device plugin selector that selects every node (HW-4)', () => {
    const e = refusal({ devicePlugin: { gpuNodeSelector: {} } });
    expect(e.rule).toBe('HW-4');
  });

  test.each(['latest', '1.33', '1.32.9-20251120', ''])(
    'refuses a system node release %p that is not a fixed 1.33 release (NODE-1)',
    (releaseVersion) => {
      const e = refusal({ systemNodes: { releaseVersion } });
      expect(e.rule).toBe('NODE-1');
      expect(e.field).toBe('props.systemNodes.releaseVersion');
    },
  );

  test('refuses a GPU instance type for system nodes (HW-4)', () => {
    const e = refusal({ systemNodes: { instanceType: new ec2.InstanceType('p4d.24xlarge') } });
    expect(e.rule).toBe('HW-4');
    expect(e.received).toBe("'p4d.24xlarge'");
  });

  test('refuses system node sizes out of order', () => {
    expect(() => clusterStack({ systemNodes: { minSize: 3, desiredSize: 2, maxSize: 4 } })).toThrow(
      /minSize <= desiredSize <= maxSize/,
    );
    expect(() => clusterStack({ systemNodes: { minSize: 0 } })).toThrow(/whole number of nodes/);
  });

  test('skips the version check for an unresolved token', () => {
    const version = Lazy.string({ produce: () => 'v1.20.5-eksbuild.1' });
    expect(() => clusterStack({ addonVersions: { 'vpc-cni': version } })).not.toThrow();
  });

  test('refuses at synthesis an add-on added later without a pinned build (SW-2)', () => {
    const { stack, cluster } = clusterStack();
    new eks.Addon(cluster.cluster, 'Unpinned', {
      cluster: cluster.cluster,
      addonName: 'aws-ebs-csi-driver',
    });
    expect(() => Template.fromStack(stack)).toThrow(/SW-2: add-on 'aws-ebs-csi-driver'/);
  });
});
