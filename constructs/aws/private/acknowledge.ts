import { CfnResource } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** One finding of cdk-nag that a resource acknowledges, with the reason. */
export interface NagAcknowledgement {
  /** The cdk-nag rule id, such as `AwsSolutions-IAM5`. */
  readonly id: string;
  /** Why the finding is acceptable here; at least ten characters, as cdk-nag demands. */
  readonly reason: string;
  /** The finding granularity (`Resource::*`, `Action::ec2:Describe*`), when the rule reports one. */
  readonly appliesTo?: readonly string[];
}

/** One Control Tower guard rule that a resource acknowledges, with the reason. */
export interface GuardAcknowledgement {
  /** The guard rule name, such as `lambda_inside_vpc_check`. */
  readonly rule: string;
  /** The Control Tower control id, such as `CT.LAMBDA.PR.3`. */
  readonly control: string;
  /** Why the finding is acceptable here. */
  readonly reason: string;
}

/** Metadata key under which the reasons of guard acknowledgements are kept beside the suppression. */
export const GUARD_REASONS_KEY = 'compliance.inference/guard-acknowledgements';

/**
 * Records acknowledgements on the CloudFormation resource of `scope` (or `scope` itself) as
 * template metadata: `cdk_nag.rules_to_suppress` (read by cdk-nag) and `guard.SuppressedRules`
 * (read by cfn-guard), with each guard reason beside it. Library code stays free of cdk-nag,
 * which is a test-time tool.
 */
export function acknowledge(
  scope: IConstruct,
  findings: { nag?: readonly NagAcknowledgement[]; guard?: readonly GuardAcknowledgement[] },
): void {
  const resource =
    scope instanceof CfnResource ? scope : (scope.node.defaultChild as CfnResource | undefined);
  if (!(resource instanceof CfnResource)) {
    throw new Error(`acknowledge: ${scope.node.path} has no CloudFormation resource`);
  }
  if (findings.nag && findings.nag.length > 0) {
    const existing = (resource.getMetadata('cdk_nag') as { rules_to_suppress?: unknown[] }) ?? {};
    const rules = [...(existing.rules_to_suppress ?? [])];
    for (const f of findings.nag) {
      rules.push({
        id: f.id,
        reason: f.reason,
        ...(f.appliesTo ? { applies_to: [...f.appliesTo] } : {}),
      });
    }
    resource.addMetadata('cdk_nag', { rules_to_suppress: rules });
  }
  if (findings.guard && findings.guard.length > 0) {
    const existing = (resource.getMetadata('guard') as { SuppressedRules?: string[] }) ?? {};
    const reasons = (resource.getMetadata(GUARD_REASONS_KEY) as Record<string, string>) ?? {};
    const suppressed = new Set(existing.SuppressedRules ?? []);
    for (const f of findings.guard) {
      suppressed.add(f.rule);
      reasons[`${f.control} ${f.rule}`] = f.reason;
    }
    resource.addMetadata('guard', { SuppressedRules: [...suppressed] });
    resource.addMetadata(GUARD_REASONS_KEY, reasons);
  }
}
