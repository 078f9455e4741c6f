import { CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { GpuNodeGroup, WeightsBucket } from '../constructs/aws';
import { denyGrantsOutsideAwsServices } from '../constructs/aws/private/kms-policy';

/**
 * SEC-4 for the parts of the platform that other constructs own (the GPU node group and the
 * weights bucket): what the checks flag is fixed here where the fix is one setting, and
 * acknowledged here with its reason otherwise. A construct that later does the same itself
 * makes the matching line here redundant, not wrong.
 */

const MANAGED = (name: string) => `arn:<AWS::Partition>:iam::aws:policy/${name}`;
const GUARD = (rule: string) => `cdk-validator-cfnguard::${rule}`;

function logicalId(element: CfnElement): string {
  return Stack.of(element).resolve(element.logicalId) as string;
}

/** Fixes and acknowledges the findings on the GPU node group. */
export function hardenGpuNodes(
  gpuNodes: GpuNodeGroup,
  weights: WeightsBucket,
  prefixes: readonly string[],
): void {
  // CT.EC2.PR.10 (ec2_launch_template_monitoring_enabled_check): one-minute EC2 metrics for the
  // most expensive nodes of the platform cost little and help with capacity investigations.
  gpuNodes.launchTemplate.addPropertyOverride('LaunchTemplateData.Monitoring.Enabled', true);

  for (const policy of [
    'AmazonEKSWorkerNodePolicy',
    'AmazonEKS_CNI_Policy',
    'AmazonEC2ContainerRegistryPullOnly',
  ]) {
    Validations.of(gpuNodes.role).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM4[Policy::${MANAGED(policy)}]`,
      reason: `${policy} is the AWS-maintained policy EKS documents for managed node roles; it tracks the API calls the kubelet, the VPC CNI and image pulls make.`,
    });
  }
  const bucketId = logicalId(weights.bucket.node.defaultChild as CfnElement);
  for (const prefix of prefixes) {
    Validations.of(gpuNodes.role).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}/*]`,
      reason: `The wildcard is the objects under one model revision's prefix (${prefix}/): W-4 lets a node read only the prefixes of its own models.`,
    });
  }
}

/** Fixes and acknowledges the findings on the weights bucket and its access-log bucket. */
export function hardenWeightsBucket(weights: WeightsBucket): void {
  // CT.KMS.PR.3: no grants on the weights key except those AWS services make for S3.
  denyGrantsOutsideAwsServices(weights.encryptionKey);

  const bucket = weights.bucket;
  const logs = weights.accessLogsBucket;
  Validations.of(bucket).acknowledge(
    {
      id: GUARD('s3_event_notifications_enabled_check'),
      reason:
        'Nothing consumes weights-bucket events: a release process uploads weights and nodes read them at boot; every change is kept by versioning and recorded in the access logs and CloudTrail.',
    },
    {
      id: GUARD('s3_bucket_object_lock_enabled_check'),
      reason:
        'Weights are replaced by new revisions and old versions expire after the retention period; Object Lock would pin every 35-140 GB checkpoint for its lock period. Versioning and the TLS-only, KMS-encrypted policy protect them.',
    },
  );
  Validations.of(logs).acknowledge(
    {
      id: GUARD('s3_bucket_default_encryption_kms_check'),
      reason:
        'S3 server access logging delivers only to buckets encrypted with SSE-S3; an SSE-KMS target bucket is not supported.',
    },
    {
      id: GUARD('s3_bucket_logging_enabled_check'),
      reason:
        'This is the access-log target itself: logging it into itself would loop, and only the S3 log delivery service may write to it.',
    },
    {
      id: GUARD('s3_event_notifications_enabled_check'),
      reason:
        'Access logs are read by people and audits on demand; no process consumes their events.',
    },
    {
      id: GUARD('s3_bucket_object_lock_enabled_check'),
      reason:
        'Access logs expire under a lifecycle rule; write-once retention of logs is the job of the organisation log archive, not of this bucket.',
    },
  );
}
