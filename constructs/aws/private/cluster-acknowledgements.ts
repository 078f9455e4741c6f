import { CfnCondition, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import { IConstruct } from 'constructs';

/**
 * The cdk-nag (AwsSolutions) and Control Tower findings on the resources that aws-eks-v2
 * creates for the cluster, each acknowledged where it arises with its reason (SEC-4). The
 * ids are those the validation report prints: `<plugin>::<rule>[<finding>]`.
 */

const MANAGED = (name: string) => `arn:<AWS::Partition>:iam::aws:policy/${name}`;
const IAM4 = (policy: string) => `AwsSolutions::AwsSolutions-IAM4[Policy::${MANAGED(policy)}]`;

function logicalId(element: IConstruct): string {
  return Stack.of(element).resolve((element as CfnElement).logicalId) as string;
}

function ack(scope: IConstruct | undefined, id: string, reason: string): void {
  if (scope) Validations.of(scope).acknowledge({ id, reason });
}

/** Acknowledges the findings on the cluster role, the node role and the kubectl provider. */
export function acknowledgeClusterFindings(cluster: eks.Cluster, systemNodes: eks.Nodegroup): void {
  ack(
    cluster.role,
    IAM4('AmazonEKSClusterPolicy'),
    'EKS requires its AWS-maintained cluster policy on the control-plane role; a hand-copied policy would drift from what the service needs.',
  );
  for (const policy of [
    'AmazonEKSWorkerNodePolicy',
    'AmazonEKS_CNI_Policy',
    'AmazonEC2ContainerRegistryReadOnly',
  ]) {
    ack(
      systemNodes.role,
      IAM4(policy),
      `${policy} is the AWS-maintained policy EKS documents for managed node roles; it tracks the API calls the kubelet and VPC CNI make.`,
    );
  }

  const provider = cluster.node.tryFindChild('KubectlProvider');
  if (!provider) return;
  const handler = provider.node.tryFindChild('Handler');
  const framework = provider.node.tryFindChild('Provider');
  const lambdaPolicies = [
    'service-role/AWSLambdaBasicExecutionRole',
    'service-role/AWSLambdaVPCAccessExecutionRole',
  ];
  for (const policy of lambdaPolicies) {
    ack(
      provider,
      IAM4(policy),
      'The kubectl handler and its custom-resource framework are aws-eks-v2 Lambda functions in the VPC; these AWS policies grant only logging and ENI management.',
    );
  }
  ack(
    handler,
    IAM4('AmazonEC2ContainerRegistryReadOnly'),
    'The kubectl handler pulls Helm charts published as OCI images from ECR; read-only access is what aws-eks-v2 grants it.',
  );
  const ecrPublicCondition = handler?.node.findAll().find((c) => c instanceof CfnCondition);
  if (ecrPublicCondition) {
    const condition = logicalId(ecrPublicCondition);
    ack(
      handler,
      `AwsSolutions::AwsSolutions-IAM4[Policy::{"Fn::If":["${condition}",{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly"]]},{"Ref":"AWS::NoValue"}]}]`,
      'aws-eks-v2 attaches ECR Public read-only access only in partitions that have ECR Public, for charts pulled from public.ecr.aws.',
    );
  }
  ack(
    handler,
    'AwsSolutions::AwsSolutions-L1',
    'aws-eks-v2 picks the Python runtime of the kubectl handler (the newest its bundled layer supports); it moves with aws-cdk-lib upgrades.',
  );
  const handlerFunction = handler?.node.defaultChild;
  ack(
    framework,
    `AwsSolutions::AwsSolutions-IAM5[Resource::<${handlerFunction ? logicalId(handlerFunction) : '?'}.Arn>:*]`,
    'The custom-resource framework may invoke any version of the kubectl handler function and nothing else.',
  );
}
