import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';

/**
 * Denies `kms:CreateGrant` on a key unless the grant is for an AWS resource or the caller is
 * an AWS service (Control Tower CT.KMS.PR.2). EKS, EBS and CloudWatch Logs create their
 * grants through the service, so they keep working; a person cannot hand the key out.
 */
export function denyGrantsOutsideAwsServices(key: kms.Key): void {
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'DenyCreateGrantOutsideAwsServices',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['kms:CreateGrant'],
      resources: ['*'],
      conditions: {
        BoolIfExists: {
          'kms:GrantIsForAWSResource': 'false',
          'aws:PrincipalIsAWSService': 'false',
        },
      },
    }),
  );
}
