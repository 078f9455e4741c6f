import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { CfnParameter, Duration, Size, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import {
  CapacityReservationTarget,
  GpuNodeGroup,
  GpuNodeGroupProps,
  NodeImage,
} from '../../constructs/aws';
import { bootScriptDir, shippedBootScript } from '../../constructs/aws/private/boot-scripts';
import {
  CHECKSUM_MANIFEST,
  READY_MARKER,
  WEIGHTS_PV_ROOT,
  WEIGHTS_ROOT,
} from '../../constructs/conventions';
import { ComplianceError, WaiverSet } from '../../constructs/standard';
import {
  CLOCK,
  CloudConfigDoc,
  ParsedPart,
  cloudInitView,
  CUSTOM_IMAGE,
  NodeConfigDoc,
  assertResource,
  assertError,
  assertResourceDefinition,
  assertWarning,
  FAKE_VALUES,
  MODELS,
  RELEASE_IMAGE,
  RELEASE_WAIVERS,
  documents,
  newScope,
  parseUserData,
  resolveUserData,
  synthGroup,
} from './gpu-node-fixture';

const SHELLCHECK = '/usr/bin/shellcheck';

/** Builds a node group in a fresh scope and returns the error it throws. */
function refusal(overrides: Partial<GpuNodeGroupProps>): ComplianceError {
  const { stack, cluster, bucket } = newScope();
  try {
    new GpuNodeGroup(stack, 'Gpu', {
      cluster,
      image: CUSTOM_IMAGE,
      weightsBucket: bucket,
      models: MODELS,
      ...overrides,
    });
  } catch (e) {
    if (ComplianceError.isComplianceError(e)) return e;
    throw e;
  }
  throw new Error('expected a ComplianceError, the node group was built');
}

describe('GpuNodeGroup with a custom AMI', () => {
  const { template } = synthGroup();

  test('HW-1: the node group runs p4d.24xlarge only', () => {
    assertResource(template, 'AWS::EKS::Nodegroup', { InstanceTypes: ['p4d.24xlarge'] });
  });

  test('HW-4: the node group carries the nvidia.com/gpu=true:NoSchedule taint', () => {
    assertResource(template, 'AWS::EKS::Nodegroup', {
      Taints: [{ Key: 'nvidia.com/gpu', Value: 'true', Effect: 'NO_SCHEDULE' }],
    });
  });

  test('NODE-1: the launch template carries the pinned image id and the node group sets no AMI type, release or disk size', () => {
    assertResource(template, 'AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ ImageId: 'ami-0123456789abcdef0' }),
    });
    assertResource(template, 'AWS::EKS::Nodegroup', {
      AmiType: Match.absent(),
      ReleaseVersion: Match.absent(),
      DiskSize: Match.absent(),
      LaunchTemplate: {
        Id: { Ref: Match.anyValue() },
        Version: { 'Fn::GetAtt': [Match.anyValue(), 'LatestVersionNumber'] },
      },
    });
  });

  test('NODE-4: IMDSv2 is required with a hop limit of 1 and the root volume is encrypted gp3', () => {
    assertResource(template, 'AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        MetadataOptions: {
          HttpEndpoint: 'enabled',
          HttpTokens: 'required',
          HttpPutResponseHopLimit: 1,
        },
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: Match.objectLike({
              Encrypted: true,
              VolumeType: 'gp3',
              VolumeSize: 200,
              DeleteOnTermination: true,
            }),
          },
        ],
      }),
    });
  });

  test('W-1: the node registers with one weights-ready label per model', () => {
    assertResource(template, 'AWS::EKS::Nodegroup', {
      Labels: Match.objectLike({
        'weights.compliance.inference/llama-2-70b-awq': '3f1c2b0',
        'weights.compliance.inference/embed-1536': 'v1',
      }),
    });
  });

  test("W-4: the node role reads only its models' prefixes, lists only under them and decrypts only through S3", () => {
    const objectArn = (prefix: string) => ({
      'Fn::Join': [
        '',
        [{ 'Fn::GetAtt': [Match.stringLikeRegexp('WeightsBucket'), 'Arn'] }, `/${prefix}/*`],
      ],
    });
    assertResource(template, 'AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('GpuNodeRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 's3:GetObject',
            Effect: 'Allow',
            Resource: [objectArn('llama-2-70b-awq/3f1c2b0'), objectArn('embeddings/embed-1536/v1')],
          }),
          Match.objectLike({
            Action: 's3:ListBucket',
            Condition: {
              StringLike: {
                's3:prefix': [
                  'llama-2-70b-awq/3f1c2b0/',
                  'llama-2-70b-awq/3f1c2b0/*',
                  'embeddings/embed-1536/v1/',
                  'embeddings/embed-1536/v1/*',
                ],
              },
            },
          }),
          Match.objectLike({
            Action: 'kms:Decrypt',
            Condition: {
              StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' },
              StringLike: {
                'kms:EncryptionContext:aws:s3:arn': [
                  objectArn('llama-2-70b-awq/3f1c2b0'),
                  objectArn('embeddings/embed-1536/v1'),
                ],
              },
            },
          }),
        ]),
      },
    });
  });

  test('the node role has no wildcard action on data', () => {
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: Match.stringLikeRegexp('GpuNodeRole') }] },
    });
    const actions = Object.values(policies).flatMap((p) =>
      (
        p as { Properties: { PolicyDocument: { Statement: { Action: string | string[] }[] } } }
      ).Properties.PolicyDocument.Statement.flatMap((s) => ([] as string[]).concat(s.Action)),
    );
    expect(actions.sort()).toEqual(['kms:Decrypt', 's3:GetObject', 's3:ListBucket']);
  });

  test('the standard version and the expected driver are recorded as template metadata', () => {
    assertResourceDefinition(template, 'AWS::EKS::Nodegroup', {
      Metadata: {
        'compliance.inference': Match.objectLike({
          standard: '2023-11-14',
          expectedDriver: '535.104.05',
        }),
      },
    });
  });
});

describe('GpuNodeGroup user data', () => {
  const { template } = synthGroup();
  const text = resolveUserData(template);
  let wire: ParsedPart[];
  let parts: ParsedPart[];
  let nodeConfig: NodeConfigDoc;
  let cloudConfig: CloudConfigDoc;

  beforeAll(async () => {
    wire = await parseUserData(text);
    parts = cloudInitView(wire);
    ({ nodeConfig, cloudConfig } = documents(parts));
  });

  test('is MIME multipart with one boundary, a closing delimiter and a content type on every part', () => {
    const boundary = /boundary="([^"]+)"/.exec(text.split('\n')[1])?.[1] ?? '';
    expect(text.startsWith('MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="')).toBe(
      true,
    );
    const lines = text.split('\n');
    expect(lines.filter((l) => l === `--${boundary}`)).toHaveLength(6);
    expect(lines.filter((l) => l === `--${boundary}--`)).toHaveLength(1);
    expect(text.trimEnd().endsWith(`--${boundary}--`)).toBe(true);
    // On the wire the scripts are gzip parts; cloud-init decompresses them into shell parts.
    expect(wire.map((p) => [p.mimeType, p.filename])).toEqual([
      ['application/node.eks.aws', null],
      ['text/cloud-config', null],
      ['application/x-gzip', '00-install-boot-gate.sh'],
      ['application/x-gzip', '10-check-driver.sh'],
      ['application/x-gzip', '20-check-fabric-manager.sh'],
      ['application/x-gzip', '30-preload-weights.sh'],
    ]);
    expect(parts.map((p) => p.mimeType)).toEqual([
      'application/node.eks.aws',
      'text/cloud-config',
      'text/x-shellscript',
      'text/x-shellscript',
      'text/x-shellscript',
      'text/x-shellscript',
    ]);
  });

  test("fits EC2's 16 KB user-data limit, and in release mode leaves room for the part EKS merges in", () => {
    // The synth-time bound counts the CA token at 2048 bytes and other tokens at 256.
    const custom = synthGroup().group;
    expect(custom.userDataBytes).toBeGreaterThanOrEqual(Buffer.byteLength(text));
    expect(custom.userDataBytes).toBeLessThanOrEqual(16384);
    const release = synthGroup({ image: RELEASE_IMAGE, waivers: RELEASE_WAIVERS }).group;
    expect(release.userDataBytes).toBeLessThanOrEqual(16384 - 3072);
  });

  test('a node group whose user data would pass 16 KB fails synthesis with the reason', () => {
    const models = Array.from({ length: 40 }, (_, i) => ({
      name: `model-with-a-long-name-${i}`,
      revision: `0123456789abcdef0123456789abcdef0123${i}`,
      prefix: `models/model-with-a-long-name-${i}/0123456789abcdef0123456789abcdef0123${i}`,
    }));
    const { group, stack } = synthGroup({ models });
    expect(group.userDataBytes).toBeGreaterThan(16384);
    assertError(stack, 'over the 16384 bytes EC2 and EKS leave it');
  });

  test('every variable of the checks environment is read by a boot script', () => {
    const env = cloudConfig.write_files.find(
      (f) => f.path === '/etc/compliant-inference/boot-checks.env',
    )!;
    const names = env.content
      .trim()
      .split('\n')
      .map((l) => l.slice(0, l.indexOf('=')));
    const scripts = parts
      .filter((p) => p.mimeType === 'text/x-shellscript')
      .map((p) => p.content)
      .join('\n');
    expect(names.filter((n) => !scripts.includes(`\${${n}`))).toEqual([]);
  });

  test('each shipped script is its source file without comment lines, the shebang kept', () => {
    for (const p of parts.filter((x) => x.mimeType === 'text/x-shellscript')) {
      const source = readFileSync(path.join(bootScriptDir(), p.filename!), 'utf8');
      expect(p.content).toBe(
        shippedBootScript(p.filename as Parameters<typeof shippedBootScript>[0]),
      );
      expect(p.content.startsWith('#!/usr/bin/env bash\n')).toBe(true);
      expect(
        p.content
          .split('\n')
          .slice(1)
          .some((l) => /^\s*#/.test(l)),
      ).toBe(false);
      expect(source.length).toBeGreaterThan(p.content.length);
    }
  });

  test('NODE-1: the NodeConfig is complete for a custom AMI (name, endpoint, CA, service CIDR)', () => {
    expect(nodeConfig.apiVersion).toBe('node.eks.aws/v1alpha1');
    expect(nodeConfig.kind).toBe('NodeConfig');
    expect(nodeConfig.spec.cluster).toEqual({
      name: FAKE_VALUES.clusterName,
      apiServerEndpoint: FAKE_VALUES.endpoint,
      certificateAuthority: FAKE_VALUES.certificateAuthority,
      cidr: '172.20.0.0/16',
    });
  });

  test('W-1: the NodeConfig has nodeadm build RAID0 over the NVMe instance store', () => {
    expect(nodeConfig.spec.instance).toEqual({ localStorage: { strategy: 'RAID0' } });
  });

  test('HW-4: the kubelet registers with the GPU taint and the node labels', () => {
    expect(nodeConfig.spec.kubelet.config.registerWithTaints).toEqual([
      { key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' },
    ]);
    expect(nodeConfig.spec.kubelet.flags).toEqual([
      '--node-labels=compliance.inference/gpu-node-group=Gpu,weights.compliance.inference/llama-2-70b-awq=3f1c2b0,weights.compliance.inference/embed-1536=v1',
    ]);
  });

  test('the boot order is pinned: kubelet.service requires the checks unit, which runs after nodeadm-config and cloud-final and before the kubelet', () => {
    const files = Object.fromEntries(cloudConfig.write_files.map((f) => [f.path, f.content]));
    expect(files['/etc/systemd/system/kubelet.service.d/90-compliant-inference-gate.conf']).toBe(
      '[Unit]\nRequires=compliant-inference-boot-checks.service\nAfter=compliant-inference-boot-checks.service\n',
    );
    const unit = files['/etc/systemd/system/compliant-inference-boot-checks.service'].split('\n');
    expect(unit).toEqual(
      expect.arrayContaining([
        'After=nodeadm-config.service cloud-final.service network-online.target',
        'Before=kubelet.service',
        'Type=oneshot',
        'RemainAfterExit=yes',
        'Environment=COMPLIANT_INFERENCE_GATE=1',
        'EnvironmentFile=/etc/compliant-inference/boot-checks.env',
        'TimeoutStartSec=7200',
      ]),
    );
    // The three checks run in this order, from where cloud-init stores the shell parts.
    expect(unit.filter((l) => l.startsWith('ExecStart='))).toEqual([
      'ExecStart=/var/lib/cloud/instance/scripts/10-check-driver.sh',
      'ExecStart=/var/lib/cloud/instance/scripts/20-check-fabric-manager.sh',
      'ExecStart=/var/lib/cloud/instance/scripts/30-preload-weights.sh',
    ]);
    const scriptNames = parts
      .filter((p) => p.mimeType === 'text/x-shellscript')
      .map((p) => p.filename);
    expect(scriptNames).toEqual([
      '00-install-boot-gate.sh',
      '10-check-driver.sh',
      '20-check-fabric-manager.sh',
      '30-preload-weights.sh',
    ]);
  });

  test('the checks environment carries the pin, the GPU count, the bucket, the models and the transfer settings', () => {
    const env = cloudConfig.write_files.find(
      (f) => f.path === '/etc/compliant-inference/boot-checks.env',
    )!.content;
    const vars = Object.fromEntries(
      env
        .trim()
        .split('\n')
        .map((l) => /^([A-Z_0-9]+)="(.*)"$/.exec(l)!.slice(1, 3)),
    );
    expect(vars).toEqual({
      CI_DRIVER_PIN: '535.104.05',
      CI_EXPECTED_GPUS: '8',
      CI_WEIGHTS_BUCKET: FAKE_VALUES.bucketName,
      CI_AWS_REGION: 'us-east-1',
      CI_MODELS:
        'llama-2-70b-awq:3f1c2b0:llama-2-70b-awq/3f1c2b0 embed-1536:v1:embeddings/embed-1536/v1',
      CI_WEIGHTS_DIR: WEIGHTS_ROOT,
      CI_RAID_MOUNT: '/mnt/k8s-disks/0',
      CI_MANIFEST_NAME: CHECKSUM_MANIFEST,
      CI_READY_MARKER: READY_MARKER,
      CI_WEIGHTS_PV_ROOT: WEIGHTS_PV_ROOT,
      CI_WEIGHTS_PV_COUNT: '8',
      CI_MAX_ATTEMPTS: '5',
      CI_S3_MAX_CONCURRENT_REQUESTS: '64',
      CI_S3_MULTIPART_CHUNKSIZE: '64MB',
    });
  });

  test('every shell part passes shellcheck with no finding', () => {
    if (!existsSync(SHELLCHECK)) {
      throw new Error(
        `shellcheck is required for this test and is missing at ${SHELLCHECK} (apt-get install shellcheck)`,
      );
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'shellcheck-'));
    try {
      const scripts = parts.filter((p) => p.mimeType === 'text/x-shellscript');
      expect(scripts).toHaveLength(4);
      for (const script of scripts) {
        const file = path.join(dir, script.filename!);
        writeFileSync(file, script.content);
        const run = spawnSync(SHELLCHECK, ['--severity=style', file], { encoding: 'utf8' });
        expect({ file: script.filename, status: run.status, findings: run.stdout }).toEqual({
          file: script.filename,
          status: 0,
          findings: '',
        });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('GpuNodeGroup with an EKS-optimized release', () => {
  const { template, group } = synthGroup({ image: RELEASE_IMAGE, waivers: RELEASE_WAIVERS });

  test('NODE-1: the node group pins the AL2023 NVIDIA release version and the launch template sets no image', () => {
    assertResource(template, 'AWS::EKS::Nodegroup', {
      AmiType: 'AL2023_x86_64_NVIDIA',
      ReleaseVersion: '1.33.5-20251120',
      DiskSize: Match.absent(),
    });
    assertResource(template, 'AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ ImageId: Match.absent() }),
    });
  });

  test('NODE-2: the boot check expects the driver the waiver records, and the waiver is in the template', () => {
    expect(group.expectedDriver).toBe('580.95.05');
    assertResourceDefinition(template, 'AWS::EKS::Nodegroup', {
      Metadata: {
        'compliance.inference': Match.objectLike({
          expectedDriver: '580.95.05',
          waivers: {
            'compliance.inference/waiver.NODE-2': Match.stringLikeRegexp(
              '"cudaDriver":"580.95.05"',
            ),
          },
        }),
      },
    });
    assertWarning(Stack.of(group), 'NODE-2 waived');
  });

  test('the NodeConfig leaves the cluster details to EKS and still builds RAID0 with the taint', async () => {
    const { nodeConfig } = documents(cloudInitView(await parseUserData(resolveUserData(template))));
    expect(nodeConfig.spec.cluster).toBeUndefined();
    expect(nodeConfig.spec.instance.localStorage.strategy).toBe('RAID0');
    expect(nodeConfig.spec.kubelet.config.registerWithTaints).toHaveLength(1);
  });
});

describe('GpuNodeGroup capacity reservations', () => {
  test('an On-Demand Capacity Reservation is targeted by the launch template', () => {
    const { template } = synthGroup({
      capacityReservation: CapacityReservationTarget.onDemand('cr-0123456789abcdef0'),
    });
    assertResource(template, 'AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        CapacityReservationSpecification: {
          CapacityReservationTarget: { CapacityReservationId: 'cr-0123456789abcdef0' },
        },
        InstanceMarketOptions: Match.absent(),
      }),
    });
    assertResource(template, 'AWS::EKS::Nodegroup', { CapacityType: 'ON_DEMAND' });
  });

  test('a Capacity Block sets the capacity-block market type and the CAPACITY_BLOCK capacity type', () => {
    const { template } = synthGroup({
      capacityReservation: CapacityReservationTarget.capacityBlock('cr-0fedcba9876543210'),
    });
    assertResource(template, 'AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        CapacityReservationSpecification: {
          CapacityReservationTarget: { CapacityReservationId: 'cr-0fedcba9876543210' },
        },
        InstanceMarketOptions: { MarketType: 'capacity-block' },
      }),
    });
    assertResource(template, 'AWS::EKS::Nodegroup', { CapacityType: 'CAPACITY_BLOCK' });
  });
});

describe('GpuNodeGroup bad input', () => {
  test.each(['g5.48xlarge', 'p4de.24xlarge', 'p5.48xlarge', 'm6i.large'])(
    'HW-1: instance type %s is refused',
    (type) => {
      const e = refusal({ instanceType: type });
      expect(e.message).toMatch(/^HW-1:/);
      expect(e.field).toBe('Platform/Gpu.props.instanceType');
      expect(e.received).toBe(`'${type}'`);
    },
  );

  test('HW-1: another instance type is accepted under a waiver, with a warning', () => {
    const waivers = WaiverSet.of(
      [
        {
          rule: 'HW-1',
          reason: 'capacity test in a sandbox account',
          approvedBy: 'platform-review-board',
          expires: '2027-01-31',
        },
      ],
      CLOCK,
    );
    const { template, group } = synthGroup({ instanceType: 'p4de.24xlarge', waivers });
    assertResource(template, 'AWS::EKS::Nodegroup', { InstanceTypes: ['p4de.24xlarge'] });
    assertWarning(Stack.of(group), 'HW-1 waived');
  });

  test.each([
    ['latest', 'latest'],
    ['recommended', 'recommended'],
    [
      'an SSM parameter path',
      '/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/nvidia/recommended/image_id',
    ],
    [
      'a resolve:ssm reference',
      'resolve:ssm:/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/nvidia/recommended/image_id',
    ],
    ['a malformed id', 'ami-12345'],
  ])('NODE-1: a custom AMI given as %s is refused', (_what, amiId) => {
    const e = refusal({ image: NodeImage.customAmi({ amiId, driverVersion: '535.104.05' }) });
    expect(e.message).toMatch(/^NODE-1:/);
    expect(e.field).toBe('Platform/Gpu.props.image.amiId');
  });

  test.each([
    'latest',
    'recommended',
    '/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/nvidia/recommended/release_version',
    '1.33',
  ])('NODE-1: release version %s is refused', (releaseVersion) => {
    const e = refusal({
      image: NodeImage.eksOptimizedRelease({ releaseVersion, driverVersion: '580.95.05' }),
      waivers: RELEASE_WAIVERS,
    });
    expect(e.message).toMatch(/^NODE-1:/);
    expect(e.field).toBe('Platform/Gpu.props.image.releaseVersion');
  });

  test('NODE-1: an AMI id taken from an SSM parameter is refused even though it is a token', () => {
    const { stack, cluster, bucket } = newScope();
    const amiId = ssm.StringParameter.valueForStringParameter(
      stack,
      '/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/nvidia/recommended/image_id',
    );
    expect(
      () =>
        new GpuNodeGroup(stack, 'Gpu', {
          cluster,
          weightsBucket: bucket,
          models: MODELS,
          image: NodeImage.customAmi({ amiId, driverVersion: '535.104.05' }),
        }),
    ).toThrow(/^NODE-1: an SSM parameter moves/);
  });

  test('NODE-1: an AMI id that is another unresolved token skips the format check, with a warning', () => {
    const { stack, cluster, bucket } = newScope();
    const amiId = new CfnParameter(stack, 'GpuAmi', { type: 'AWS::EC2::Image::Id' }).valueAsString;
    const group = new GpuNodeGroup(stack, 'Gpu', {
      cluster,
      weightsBucket: bucket,
      models: MODELS,
      image: NodeImage.customAmi({ amiId, driverVersion: '535.104.05' }),
    });
    assertResource(Template.fromStack(stack), 'AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ ImageId: { Ref: 'GpuAmi' } }),
    });
    assertWarning(Stack.of(group), 'NODE-1 not checked at synth');
  });

  test.each([
    'AL2023_x86_64_STANDARD',
    'AL2_x86_64_GPU',
    'BOTTLEROCKET_x86_64_NVIDIA',
    'AL2023_ARM_64_NVIDIA',
  ])('NODE-1: AMI type %s does not match a nodeadm GPU node and is refused', (amiType) => {
    const e = refusal({ image: RELEASE_IMAGE, waivers: RELEASE_WAIVERS, amiType });
    expect(e.message).toMatch(/^NODE-1:/);
    expect(e.field).toBe('Platform/Gpu.props.amiType');
  });

  test('NODE-1: any AMI type next to a custom AMI is refused', () => {
    expect(refusal({ amiType: 'AL2023_x86_64_NVIDIA' }).message).toMatch(
      /^NODE-1: a node group with a custom AMI must not set an AMI type/,
    );
  });

  test('NODE-4: a disk size next to a custom image is refused', () => {
    const e = refusal({ diskSizeGiB: 100 });
    expect(e.message).toMatch(/^NODE-4: a node group with a custom AMI must not set a disk size/);
    expect(e.received).toBe('100 GiB');
  });

  test('NODE-1: a custom AMI on a cluster without a pinned service CIDR is refused', () => {
    const { stack, bucket } = newScope();
    const cluster = new eks.Cluster(stack, 'Other', {
      version: eks.KubernetesVersion.V1_33,
      defaultCapacityType: eks.DefaultCapacityType.NODEGROUP,
      defaultCapacity: 0,
    });
    expect(
      () =>
        new GpuNodeGroup(stack, 'Gpu', {
          cluster,
          image: CUSTOM_IMAGE,
          weightsBucket: bucket,
          models: MODELS,
        }),
    ).toThrow(/^NODE-1: a custom-AMI node needs a complete NodeConfig/);
  });

  test('NODE-2: a driver other than the pin is refused without a waiver', () => {
    const e = refusal({ image: RELEASE_IMAGE });
    expect(e.message).toMatch(/^NODE-2:/);
    expect(e.limit).toBe('535.104.05');
    expect(e.received).toBe("'580.95.05'");
  });

  test('NODE-2: a waiver that records another driver than the image carries is refused', () => {
    const waivers = WaiverSet.of(
      [
        {
          rule: 'NODE-2',
          reason: 'release driver',
          approvedBy: 'platform-review-board',
          expires: '2027-01-31',
          values: { cudaDriver: '570.172.08' },
        },
      ],
      CLOCK,
    );
    expect(refusal({ image: RELEASE_IMAGE, waivers }).message).toMatch(
      /^NODE-2: the NODE-2 waiver records driver '570.172.08'/,
    );
  });

  test('W-1: an empty model list is refused', () => {
    const e = refusal({ models: [] });
    expect(e.message).toMatch(/^W-1:/);
    expect(e.field).toBe('Platform/Gpu.props.models');
  });

  test.each([
    ['a name with a slash', { name: 'meta/llama', revision: 'r1', prefix: 'p' }, 'name'],
    ['an empty revision', { name: 'llama', revision: '', prefix: 'p' }, 'revision'],
    [
      'an underscore, invalid in a storage class name',
      { name: 'llama_2', revision: 'r1', prefix: 'p' },
      'name',
    ],
  ])('W-1: a model with %s is refused', (_what, model, key) => {
    const e = refusal({ models: [model] });
    expect(e.message).toMatch(/^W-1:/);
    expect(e.field).toBe(`Platform/Gpu.props.models[0].${key}`);
  });

  test.each([
    ['a .. segment', 'llama/../other-team'],
    ['a leading slash', '/llama/r1'],
    ['only ..', '..'],
    ['a wildcard', 'llama/*'],
    ['an empty string', ''],
    ['an empty segment', 'llama//r1'],
  ])('W-4: a prefix with %s is refused', (_what, prefix) => {
    const e = refusal({ models: [{ name: 'llama', revision: 'r1', prefix }] });
    expect(e.message).toMatch(/^W-4:/);
    expect(e.field).toBe('Platform/Gpu.props.models[0].prefix');
  });
});

describe('GpuNodeGroup options', () => {
  test('the root volume size, gate timeout and transfer settings come from the props', async () => {
    const { template } = synthGroup({
      rootVolumeSize: Size.gibibytes(500),
      bootGateTimeout: Duration.minutes(90),
      s3MaxConcurrentRequests: 32,
      s3MultipartChunkSize: Size.mebibytes(128),
    });
    assertResource(template, 'AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        BlockDeviceMappings: [Match.objectLike({ Ebs: Match.objectLike({ VolumeSize: 500 }) })],
      }),
    });
    const { cloudConfig } = documents(
      cloudInitView(await parseUserData(resolveUserData(template))),
    );
    const text = cloudConfig.write_files.map((f) => f.content).join('\n');
    expect(text).toContain('TimeoutStartSec=5400');
    expect(text).toContain('CI_S3_MAX_CONCURRENT_REQUESTS="32"');
    expect(text).toContain('CI_S3_MULTIPART_CHUNKSIZE="128MB"');
  });
});
