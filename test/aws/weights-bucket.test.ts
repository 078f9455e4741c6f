import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { WeightsBucket } from '../../constructs/aws';
import { ComplianceError } from '../../constructs/standard';
import { assertResource } from './gpu-node-fixture';

function bucketStack(): { stack: Stack; weights: WeightsBucket; role: iam.Role } {
  const stack = new Stack(new App(), 'Weights', {
    env: { account: '111111111111', region: 'eu-west-1' },
  });
  const weights = new WeightsBucket(stack, 'Weights');
  const role = new iam.Role(stack, 'Reader', {
    assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
  });
  return { stack, weights, role };
}

function grantError(prefixes: string[]): ComplianceError {
  const { weights, role } = bucketStack();
  try {
    weights.grantReadPrefixes(role, prefixes);
  } catch (e) {
    if (ComplianceError.isComplianceError(e)) return e;
    throw e;
  }
  throw new Error('expected a ComplianceError');
}

describe('WeightsBucket', () => {
  const { stack } = bucketStack();
  const template = Template.fromStack(stack);
  const weightsBucket = {
    BucketEncryption: Match.objectLike({
      ServerSideEncryptionConfiguration: [
        Match.objectLike({
          ServerSideEncryptionByDefault: {
            SSEAlgorithm: 'aws:kms',
            KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('WeightsKey'), 'Arn'] },
          },
        }),
      ],
    }),
  };

  test('W-4: the bucket is private, owner-enforced, versioned, KMS-encrypted with its own key and access logged', () => {
    assertResource(template, 'AWS::S3::Bucket', {
      ...weightsBucket,
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: {
        DestinationBucketName: { Ref: Match.stringLikeRegexp('WeightsAccessLogs') },
        LogFilePrefix: 'weights-bucket/',
      },
    });
  });

  test('W-4: the key rotates', () => {
    assertResource(template, 'AWS::KMS::Key', { EnableKeyRotation: true });
  });

  test('W-4: the bucket refuses every request that is not TLS', () => {
    assertResource(template, 'AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('WeightsBucket') },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  test('the access log bucket is private, TLS-only and versioned too', () => {
    assertResource(template, 'AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
        ],
      },
      PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicPolicy: true }),
      VersioningConfiguration: { Status: 'Enabled' },
    });
    assertResource(template, 'AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('WeightsAccessLogs') },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
          }),
        ]),
      },
    });
  });
});

describe('WeightsBucket.grantReadPrefixes', () => {
  test('W-4: grants GetObject under the prefixes, ListBucket only for them, and Decrypt only via S3 for their objects', () => {
    const { stack, weights, role } = bucketStack();
    weights.grantReadPrefixes(role, ['models/llama/', 'models/llama', 'embed/v1']);
    const objects = (p: string) => ({
      'Fn::Join': [
        '',
        [{ 'Fn::GetAtt': [Match.stringLikeRegexp('WeightsBucket'), 'Arn'] }, `/${p}/*`],
      ],
    });
    assertResource(Template.fromStack(stack), 'AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          {
            Action: 's3:GetObject',
            Effect: 'Allow',
            Resource: [objects('models/llama'), objects('embed/v1')],
          },
          {
            Action: 's3:ListBucket',
            Effect: 'Allow',
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('WeightsBucket'), 'Arn'] },
            Condition: {
              StringLike: {
                's3:prefix': ['models/llama/', 'models/llama/*', 'embed/v1/', 'embed/v1/*'],
              },
            },
          },
          {
            Action: 'kms:Decrypt',
            Effect: 'Allow',
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('WeightsKey'), 'Arn'] },
            Condition: {
              StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' },
              StringLike: {
                'kms:EncryptionContext:aws:s3:arn': [objects('models/llama'), objects('embed/v1')],
              },
            },
          },
        ],
      },
    });
  });

  test.each([
    ['no prefix', [], /^W-4: a read grant on the weights bucket needs the prefixes/],
    [
      'a .. segment',
      ['models/../secrets'],
      /^W-4: the weights prefix 'models\/\.\.\/secrets' holds a '\.\.' segment/,
    ],
    [
      'a leading slash',
      ['/models/llama'],
      /^W-4: the weights prefix '\/models\/llama' starts with a slash/,
    ],
    ['a wildcard', ['models/*'], /^W-4: the weights prefix 'models\/\*' holds a character outside/],
  ])('refuses %s', (_what, prefixes, pattern) => {
    expect(grantError(prefixes).message).toMatch(pattern);
  });
});
