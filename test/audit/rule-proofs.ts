/**
 * The proof of every rule with an audit or admission point: a compliant input and a mutant
 * of it that breaks only that rule. rules.test.ts runs each case through `audit` and,
 * where the rule has an admission point, through the generated admission policy;
 * scripts/rule-coverage.ts writes the coverage table from this same list.
 */
import { PLAN_ANNOTATION } from '../../constructs';
import { RuleId } from '../../constructs/standard';
import { Obj, engineOf, generationDeployment } from './fixture';

/** One mutant that breaks exactly one rule. */
export interface RuleProof {
  /** The rule the mutant breaks. */
  readonly rule: RuleId;
  /** What the mutant changes, as a test title. */
  readonly change: string;
  /** Which compliant input it starts from. */
  readonly base: 'manifests' | 'template';
  /** Changes a deep copy of the base in place. */
  readonly mutate: (objects: Obj[]) => void;
  /** True when the generated admission policy must refuse the mutated workload. */
  readonly admission: boolean;
}

const deployment = (objects: Obj[]): Obj => generationDeployment(objects);
const pod = (objects: Obj[]): Obj => deployment(objects).spec.template.spec;
const engine = (objects: Obj[]): Obj => engineOf(deployment(objects));
const byKind = (objects: Obj[], kind: string): Obj => {
  const o = objects.find((x) => x.kind === kind && /-gen/.test(x.metadata.name));
  if (!o) throw new Error(`no ${kind}`);
  return o;
};
const remove = (objects: Obj[], o: Obj): void => {
  objects.splice(objects.indexOf(o), 1);
};
const argSet = (c: Obj, flag: string, value: string): void => {
  c.args[c.args.indexOf(flag) + 1] = value;
};
const resource = (objects: Obj[], type: string): Obj => {
  const found = Object.values(objects[0].Resources as Obj).find((r: Obj) => r.Type === type);
  if (!found) throw new Error(`no ${type}`);
  return found as Obj;
};

/** Every mutant, grouped by rule in the order of the standard. */
export const RULE_PROOFS: readonly RuleProof[] = [
  {
    rule: 'HW-1',
    change: 'the pod selects g5.12xlarge nodes',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      pod(o).nodeSelector['node.kubernetes.io/instance-type'] = 'g5.12xlarge';
    },
  },
  {
    rule: 'HW-1',
    change: 'the GPU node group runs g5.48xlarge',
    base: 'template',
    admission: false,
    mutate: (o) => {
      resource(o, 'AWS::EKS::Nodegroup').Properties.InstanceTypes = ['g5.48xlarge'];
    },
  },
  {
    rule: 'HW-2',
    change: 'the engine requests 1 GPU but is limited to 2',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      engine(o).resources.requests['nvidia.com/gpu'] = '1';
    },
  },
  {
    rule: 'HW-2',
    change: 'tensor-parallel size 1 on a pod holding 2 GPUs',
    base: 'manifests',
    admission: true,
    mutate: (o) => argSet(engine(o), '--tensor-parallel-size', '1'),
  },
  {
    rule: 'HW-2',
    change: 'a time-sliced shared GPU resource',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      engine(o).resources.limits['nvidia.com/gpu.shared'] = '1';
      engine(o).resources.requests['nvidia.com/gpu.shared'] = '1';
    },
  },
  {
    rule: 'HW-3',
    change: 'the engine requests less CPU than its limit (Burstable QoS)',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      engine(o).resources.requests.cpu = '1';
    },
  },
  {
    rule: 'HW-3',
    change: 'an emptyDir without a sizeLimit',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      delete pod(o).volumes.find((v: Obj) => v.emptyDir).emptyDir.sizeLimit;
    },
  },
  {
    rule: 'HW-3',
    change: 'no ephemeral-storage limit on the init container',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      const init = pod(o).initContainers[0];
      delete init.resources.limits['ephemeral-storage'];
      delete init.resources.requests['ephemeral-storage'];
    },
  },
  {
    rule: 'HW-4',
    change: 'the pod does not tolerate the GPU taint',
    base: 'manifests',
    admission: false,
    mutate: (o) => {
      delete pod(o).tolerations;
    },
  },
  {
    rule: 'HW-4',
    change: 'the GPU node group has no GPU taint',
    base: 'template',
    admission: false,
    mutate: (o) => {
      delete resource(o, 'AWS::EKS::Nodegroup').Properties.Taints;
    },
  },
  {
    rule: 'MEM-2',
    change: 'the recorded plan needs more than its budget',
    base: 'manifests',
    admission: false,
    mutate: (o) => {
      for (const meta of [deployment(o).metadata, deployment(o).spec.template.metadata]) {
        const plan = JSON.parse(meta.annotations[PLAN_ANNOTATION]);
        plan.totalBytes = plan.budgetBytes + 1024 ** 3;
        meta.annotations[PLAN_ANNOTATION] = JSON.stringify(plan);
      }
    },
  },
  {
    rule: 'MEM-2',
    change: 'no memory plan recorded',
    base: 'manifests',
    admission: false,
    mutate: (o) => {
      delete deployment(o).metadata.annotations[PLAN_ANNOTATION];
      delete deployment(o).spec.template.metadata.annotations[PLAN_ANNOTATION];
    },
  },
  {
    rule: 'MEM-4',
    change: 'PYTORCH_CUDA_ALLOC_CONF unset',
    base: 'manifests',
    admission: false,
    mutate: (o) => {
      engine(o).env = engine(o).env.filter((e: Obj) => e.name !== 'PYTORCH_CUDA_ALLOC_CONF');
    },
  },
  {
    rule: 'W-1',
    change: 'an init container syncs the weights from s3://',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      const init = JSON.parse(JSON.stringify(pod(o).initContainers[0]));
      init.name = 'fetch-weights';
      init.command = ['sh', '-c', 'aws s3 sync s3://models-bucket/llama-2-70b /tmp/models'];
      delete init.env;
      pod(o).initContainers.push(init);
    },
  },
  {
    rule: 'W-1',
    change: 'a hostPath volume',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      pod(o).volumes.push({ name: 'host-models', hostPath: { path: '/models' } });
    },
  },
  {
    rule: 'W-3',
    change: 'the model argument is a hub id',
    base: 'manifests',
    admission: true,
    mutate: (o) => argSet(engine(o), '--model', 'meta-llama/Llama-2-70b-hf'),
  },
  {
    rule: 'W-3',
    change: 'hub downloads switched on (HF_HUB_OFFLINE=0)',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      engine(o).env.find((e: Obj) => e.name === 'HF_HUB_OFFLINE').value = '0';
    },
  },
  {
    rule: 'W-3',
    change: 'the weights are mounted writable',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      engine(o).volumeMounts.find((m: Obj) => m.name === 'weights').readOnly = false;
    },
  },
  {
    rule: 'W-3',
    change: 'no placement on weights-ready nodes',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      delete pod(o).affinity;
    },
  },
  {
    rule: 'W-4',
    change: 'the node role may read every object of the weights bucket',
    base: 'template',
    admission: false,
    mutate: (o) => {
      resource(o, 'AWS::IAM::Role').Properties.Policies[0].PolicyDocument.Statement[0].Resource = {
        'Fn::Join': ['', [{ 'Fn::GetAtt': ['WeightsBucket', 'Arn'] }, '/*']],
      };
    },
  },
  {
    rule: 'W-4',
    change: 'the weights bucket is not versioned',
    base: 'template',
    admission: false,
    mutate: (o) => {
      resource(o, 'AWS::S3::Bucket').Properties.VersioningConfiguration.Status = 'Suspended';
    },
  },
  {
    rule: 'W-4',
    change: 'the weights bucket is encrypted with S3-managed keys',
    base: 'template',
    admission: false,
    mutate: (o) => {
      resource(o, 'AWS::S3::Bucket').Properties.BucketEncryption = {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
        ],
      };
    },
  },
  {
    rule: 'W-4',
    change: 'the weights bucket accepts requests without TLS',
    base: 'template',
    admission: false,
    mutate: (o) => {
      delete o[0].Resources.WeightsBucketPolicy;
    },
  },
  {
    rule: 'W-4',
    change: 'public bucket policies allowed on the weights bucket',
    base: 'template',
    admission: false,
    mutate: (o) => {
      resource(o, 'AWS::S3::Bucket').Properties.PublicAccessBlockConfiguration.BlockPublicPolicy =
        false;
    },
  },
  {
    rule: 'SW-2',
    change: 'the engine image is a tag',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      engine(o).image = 'docker.io/vllm/vllm-openai:v0.6.3';
    },
  },
  {
    rule: 'Q-1',
    change: 'FP16 weights without quantization and without a waiver',
    base: 'manifests',
    admission: false,
    mutate: (o) => {
      const args: string[] = engine(o).args;
      args.splice(args.indexOf('--quantization'), 2);
    },
  },
  {
    rule: 'NET-1',
    change: 'a 10 s request timeout',
    base: 'manifests',
    admission: false,
    mutate: (o) => {
      byKind(o, 'BackendTrafficPolicy').spec.timeout.http.requestTimeout = '10s';
    },
  },
  {
    rule: 'NET-2',
    change: '5 retries',
    base: 'manifests',
    admission: false,
    mutate: (o) => {
      byKind(o, 'BackendTrafficPolicy').spec.retry.numRetries = 5;
    },
  },
  {
    rule: 'NET-2',
    change: 'retries on 5xx',
    base: 'manifests',
    admission: false,
    mutate: (o) => {
      byKind(o, 'BackendTrafficPolicy').spec.retry.retryOn.triggers.push('5xx');
    },
  },
  {
    rule: 'NET-3',
    change: 'no bound on pending requests',
    base: 'manifests',
    admission: false,
    mutate: (o) => {
      delete byKind(o, 'BackendTrafficPolicy').spec.circuitBreaker;
    },
  },
  {
    rule: 'NODE-1',
    change: 'the launch template resolves the AMI from SSM',
    base: 'template',
    admission: false,
    mutate: (o) => {
      resource(o, 'AWS::EC2::LaunchTemplate').Properties.LaunchTemplateData.ImageId =
        '{{resolve:ssm:/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/nvidia/recommended/image_id}}';
    },
  },
  {
    rule: 'NODE-1',
    change: 'the AMI is an SSM parameter-typed template parameter',
    base: 'template',
    admission: false,
    mutate: (o) => {
      o[0].Parameters = {
        GpuAmi: {
          Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
          Default:
            '/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/nvidia/recommended/image_id',
        },
      };
      resource(o, 'AWS::EC2::LaunchTemplate').Properties.LaunchTemplateData.ImageId = {
        Ref: 'GpuAmi',
      };
    },
  },
  {
    rule: 'NODE-4',
    change: 'IMDSv1 allowed',
    base: 'template',
    admission: false,
    mutate: (o) => {
      resource(
        o,
        'AWS::EC2::LaunchTemplate',
      ).Properties.LaunchTemplateData.MetadataOptions.HttpTokens = 'optional';
    },
  },
  {
    rule: 'NODE-4',
    change: 'an unencrypted root volume',
    base: 'template',
    admission: false,
    mutate: (o) => {
      resource(
        o,
        'AWS::EC2::LaunchTemplate',
      ).Properties.LaunchTemplateData.BlockDeviceMappings[0].Ebs.Encrypted = false;
    },
  },
  {
    rule: 'OBS-1',
    change: 'no ServiceMonitor selects the service',
    base: 'manifests',
    admission: false,
    mutate: (o) => remove(o, byKind(o, 'ServiceMonitor')),
  },
  {
    rule: 'OBS-1',
    change: 'the pods lack the inference workload label',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      delete deployment(o).spec.template.metadata.labels['compliance.inference/workload'];
    },
  },
  {
    rule: 'OPS-3',
    change: 'no PodDisruptionBudget',
    base: 'manifests',
    admission: false,
    mutate: (o) => remove(o, byKind(o, 'PodDisruptionBudget')),
  },
  {
    rule: 'OPS-3',
    change: 'no preStop drain',
    base: 'manifests',
    admission: false,
    mutate: (o) => {
      delete engine(o).lifecycle;
    },
  },
  {
    rule: 'SEC-1',
    change: 'a writable root filesystem',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      engine(o).securityContext.readOnlyRootFilesystem = false;
    },
  },
  {
    rule: 'SEC-1',
    change: 'capabilities not dropped',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      delete engine(o).securityContext.capabilities;
    },
  },
  {
    rule: 'SEC-1',
    change: 'runs as root (runAsUser 0)',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      pod(o).securityContext.runAsUser = 0;
      for (const c of [...pod(o).containers, ...pod(o).initContainers]) {
        delete c.securityContext.runAsUser;
      }
    },
  },
  {
    rule: 'SEC-1',
    change: 'no seccomp profile',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      delete pod(o).securityContext.seccompProfile;
      for (const c of [...pod(o).containers, ...pod(o).initContainers]) {
        delete c.securityContext.seccompProfile;
      }
    },
  },
  {
    rule: 'SEC-1',
    change: 'privilege escalation allowed',
    base: 'manifests',
    admission: true,
    mutate: (o) => {
      engine(o).securityContext.allowPrivilegeEscalation = true;
    },
  },
  {
    rule: 'SEC-3',
    change: 'the service-account token is mounted',
    base: 'manifests',
    admission: false,
    mutate: (o) => {
      pod(o).automountServiceAccountToken = true;
    },
  },
  {
    rule: 'SEC-3',
    change: 'the node role may do s3:* on the weights',
    base: 'template',
    admission: false,
    mutate: (o) => {
      resource(o, 'AWS::IAM::Role').Properties.Policies[0].PolicyDocument.Statement[0].Action =
        's3:*';
    },
  },
];

/** A small compliant template: GPU launch template and node group, weights bucket, node role. */
export function compliantTemplate(): Obj {
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Resources: {
      GpuLaunchTemplate: {
        Type: 'AWS::EC2::LaunchTemplate',
        Properties: {
          LaunchTemplateData: {
            ImageId: 'ami-0a1b2c3d4e5f60718',
            MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
            BlockDeviceMappings: [
              {
                DeviceName: '/dev/xvda',
                Ebs: { Encrypted: true, VolumeSize: 200, VolumeType: 'gp3' },
              },
            ],
          },
        },
      },
      GpuNodegroup: {
        Type: 'AWS::EKS::Nodegroup',
        Properties: {
          ClusterName: 'inference',
          AmiType: 'CUSTOM',
          InstanceTypes: ['p4d.24xlarge'],
          LaunchTemplate: { Id: { Ref: 'GpuLaunchTemplate' } },
          NodeRole: { 'Fn::GetAtt': ['NodeRole', 'Arn'] },
          Subnets: ['subnet-0123456789abcdef0'],
          Taints: [{ Key: 'nvidia.com/gpu', Value: 'true', Effect: 'NO_SCHEDULE' }],
        },
      },
      WeightsBucket: {
        Type: 'AWS::S3::Bucket',
        Properties: {
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              {
                ServerSideEncryptionByDefault: {
                  SSEAlgorithm: 'aws:kms',
                  KMSMasterKeyID: 'arn:aws:kms:eu-west-1:111122223333:key/weights',
                },
              },
            ],
          },
          VersioningConfiguration: { Status: 'Enabled' },
        },
      },
      WeightsBucketPolicy: {
        Type: 'AWS::S3::BucketPolicy',
        Properties: {
          Bucket: { Ref: 'WeightsBucket' },
          PolicyDocument: {
            Statement: [
              {
                Effect: 'Deny',
                Principal: { AWS: '*' },
                Action: 's3:*',
                Resource: '*',
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              },
            ],
          },
        },
      },
      NodeRole: {
        Type: 'AWS::IAM::Role',
        Properties: {
          AssumeRolePolicyDocument: {
            Statement: [
              {
                Effect: 'Allow',
                Principal: { Service: 'ec2.amazonaws.com' },
                Action: 'sts:AssumeRole',
              },
            ],
          },
          Policies: [
            {
              PolicyName: 'read-weights',
              PolicyDocument: {
                Statement: [
                  {
                    Effect: 'Allow',
                    Action: 's3:GetObject',
                    Resource: 'arn:aws:s3:::weights/llama-2-70b-awq/*',
                  },
                ],
              },
            },
          ],
        },
      },
    },
  };
}
