import { readFileSync } from 'fs';
import { join } from 'path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildPlatformApp } from '../../lib/platform-app';
import { CONTEXT_KEYS, readPlatformConfig } from '../../lib/platform-config';

const CDK_JSON_CONTEXT = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8'))
  .context as Record<string, unknown>;

const configOf = (extra: Record<string, unknown> = {}) =>
  readPlatformConfig(new App({ context: { ...CDK_JSON_CONTEXT, ...extra } }));

describe('platform configuration from cdk.json context', () => {
  it("reads the repository's cdk.json: placeholders pinned by digest, one GPU node, no admins or e-mails", () => {
    const c = configOf();
    expect(c.account).toBe('123456789012');
    expect(c.cloudWatchAgentImage).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(c.gpuNodes).toBe(1);
    expect(c.adminPrincipalArns).toEqual([]);
    expect(c.alarmEmails).toEqual([]);
  });

  it('takes lists as JSON arrays or as comma-separated strings from the command line', () => {
    const role = 'arn:aws:iam::123456789012:role/platform-admins';
    expect(configOf({ [CONTEXT_KEYS.adminPrincipalArns]: [role] }).adminPrincipalArns).toEqual([
      role,
    ]);
    expect(
      configOf({ [CONTEXT_KEYS.alarmEmails]: 'a@example.com,b@example.com' }).alarmEmails,
    ).toEqual(['a@example.com', 'b@example.com']);
    expect(configOf({ [CONTEXT_KEYS.gpuNodes]: '0' }).gpuNodes).toBe(0);
  });

  it.each([
    [
      CONTEXT_KEYS.cloudWatchAgentImage,
      'public.ecr.aws/cloudwatch-agent/cloudwatch-agent:latest',
      /^SW-2: context 'compliant-inference:cloudWatchAgentImage' must be an image pinned by digest/,
    ],
    [
      CONTEXT_KEYS.adminPrincipalArns,
      ['admin'],
      /^context 'compliant-inference:adminPrincipalArns' must list IAM role or user ARNs.*received "admin"$/,
    ],
    [
      CONTEXT_KEYS.alarmEmails,
      ['oncall'],
      /^context 'compliant-inference:alarmEmails' must list e-mail addresses; received "oncall"$/,
    ],
    [
      CONTEXT_KEYS.gpuNodes,
      -1,
      /^context 'compliant-inference:gpuNodes' must be a whole number of GPU nodes from 0 to 100.*received -1$/,
    ],
    [CONTEXT_KEYS.gpuNodes, 1.5, /received 1\.5$/],
    [
      CONTEXT_KEYS.alarmEmails,
      { to: 'x' },
      /^context 'compliant-inference:alarmEmails' must be a list/,
    ],
  ])('refuses a bad %s with one sentence naming the key and the value', (key, value, message) => {
    expect(() => configOf({ [key]: value })).toThrow(message);
  });
});

describe('the platform app built from that configuration', () => {
  const role = 'arn:aws:iam::123456789012:role/platform-admins';
  const { stack } = buildPlatformApp({
    context: {
      ...CDK_JSON_CONTEXT,
      [CONTEXT_KEYS.gpuNodes]: 0,
      [CONTEXT_KEYS.adminPrincipalArns]: [role],
      [CONTEXT_KEYS.alarmEmails]: ['gpu-oncall@example.com'],
    },
  });
  const template = Template.fromStack(stack);
  function assertResource(type: string, props: Record<string, unknown>): void {
    template.hasResourceProperties(type, props);
  }

  it('can start with no GPU node, so the weights can be uploaded before any node boots (W-1)', () => {
    const groups = Object.values(template.findResources('AWS::EKS::Nodegroup')).filter((g) =>
      JSON.stringify(g.Properties.InstanceTypes).includes('p4d.24xlarge'),
    );
    expect(groups.map((g) => g.Properties.ScalingConfig)).toEqual([
      { MinSize: 0, DesiredSize: 0, MaxSize: 1 },
    ]);
  });

  it('grants the configured principals cluster-admin through an access entry', () => {
    assertResource('AWS::EKS::AccessEntry', {
      PrincipalArn: role,
      AccessPolicies: [
        {
          PolicyArn: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy',
              ],
            ],
          },
          AccessScope: { Type: 'cluster' },
        },
      ],
    });
  });

  it('subscribes the configured addresses to the alarm topic', () => {
    assertResource('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'gpu-oncall@example.com',
    });
  });

  it('outputs the cluster name, the kubeconfig command, the weights bucket and the alarm topic', () => {
    expect(Object.keys(template.findOutputs('*')).sort()).toEqual([
      'AlarmTopicArn',
      'ClusterName',
      'KubeconfigCommand',
      'WeightsBucketName',
    ]);
    const command = JSON.stringify(template.findOutputs('KubeconfigCommand'));
    expect(command).toContain('aws eks update-kubeconfig --name ');
  });
});
