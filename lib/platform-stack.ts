import { Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { InferenceCluster, InferenceClusterProps } from '../constructs/aws';
import { denyGrantsOutsideAwsServices } from '../constructs/aws/private/kms-policy';
import { DEFAULT_STANDARD, Standard, WaiverSet, WeightFormatName } from '../constructs/standard';

/** A model the platform's GPU nodes preload and serve. */
export interface PlatformModel {
  /** The model's name in the planner catalogue (`llama-2-70b`). */
  readonly model: string;
  /** The weight format (Q-1: INT8 or 4-bit without a waiver). */
  readonly weights: WeightFormatName;
}

/** The reference deployment: Llama 2 70B in AWQ 4-bit and a 1536-dimension embedding model. */
export const REFERENCE_MODELS: readonly PlatformModel[] = Object.freeze([
  Object.freeze({ model: 'llama-2-70b', weights: 'awq' as const }),
  Object.freeze({ model: 'gte-qwen2-1.5b-instruct', weights: 'int8' as const }),
]);

/** Properties of a {@link PlatformStack}. */
export interface PlatformStackProps extends StackProps {
  /**
   * Availability zones of the VPC's subnets, given explicitly so that synthesis needs no
   * lookup and no credentials; at least two (EKS requires subnets in two zones).
   */
  readonly availabilityZones: readonly string[];
  /**
   * IPv4 range of the VPC, in CIDR notation.
   * @default '10.0.0.0/16'
   */
  readonly vpcCidr?: string;
  /**
   * NAT gateways, in gateways; one per zone keeps a zone's loss from cutting the others' egress.
   * @default - one per availability zone
   */
  readonly natGateways?: number;
  /**
   * Options passed to the inference cluster (everything but the VPC).
   * @default - the cluster's own defaults: private endpoint, pinned add-ons and device plugin
   */
  readonly cluster?: Omit<InferenceClusterProps, 'vpc' | 'standard'>;
  /**
   * The models the GPU node group serves.
   * @default REFERENCE_MODELS
   */
  readonly models?: readonly PlatformModel[];
  /**
   * The standard whose numbers apply.
   * @default DEFAULT_STANDARD
   */
  readonly standard?: Standard;
  /**
   * Waivers in force for this deployment; written into the template metadata.
   * @default WaiverSet.NONE
   */
  readonly waivers?: WaiverSet;
}

/**
 * The platform the platform team deploys: a VPC with private subnets in explicit zones, the
 * inference cluster, and the GPU node group with its weights bucket for the configured models.
 */
export class PlatformStack extends Stack {
  /** The VPC. */
  public readonly vpc: ec2.Vpc;
  /** The inference cluster. */
  public readonly inferenceCluster: InferenceCluster;
  /** The models served. */
  public readonly models: readonly PlatformModel[];

  private readonly zones: readonly string[];

  constructor(scope: Construct, id: string, props: PlatformStackProps) {
    super(scope, id, props);

    const standard = props.standard ?? DEFAULT_STANDARD;
    const waivers = props.waivers ?? WaiverSet.NONE;
    this.models = props.models ?? REFERENCE_MODELS;

    if (props.availabilityZones.length < 2) {
      throw new Error(
        `props.availabilityZones must list at least two zones (EKS needs subnets in two); received ${JSON.stringify(props.availabilityZones)}`,
      );
    }
    if (this.models.length === 0) {
      throw new Error('props.models must list at least one model for the GPU node group to serve');
    }
    this.zones = Object.freeze([...props.availabilityZones]);

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.vpcCidr ?? '10.0.0.0/16'),
      availabilityZones: [...this.zones],
      natGateways: props.natGateways ?? this.zones.length,
      subnetConfiguration: [
        // Public subnets hold only the NAT gateways; nothing launched there gets a public address.
        {
          name: 'egress',
          subnetType: ec2.SubnetType.PUBLIC,
          cidrMask: 24,
          mapPublicIpOnLaunch: false,
        },
        // p4d nodes take many pod addresses (VPC CNI): /19 per zone.
        { name: 'nodes', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 19 },
      ],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'VpcFlowLogs', {
              retention: logs.RetentionDays.ONE_YEAR,
              encryptionKey: this.newLogsKey(),
            }),
          ),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });

    Validations.of(this.vpc).acknowledge({
      id: 'CloudFormation-Validate::W3010',
      reason:
        'The zones are explicit on purpose: synthesis must run offline with no lookup, and preflight checks that p4d.24xlarge is offered in exactly these zones.',
    });

    this.inferenceCluster = new InferenceCluster(this, 'Inference', {
      ...(props.cluster ?? {}),
      vpc: this.vpc,
      standard,
    });

    // GPU NODE GROUP AND WEIGHTS BUCKET: wired in here once constructs/aws/gpu-node-group.ts and
    // constructs/aws/weights-bucket.ts land (another engineer is writing them). The GPU count per
    // pod of each model comes from the planner's planMemory.

    const waiverAnnotations = waivers.toAnnotations();
    this.templateOptions.metadata = {
      'compliance.inference/standard': `${standard.version} (${standard.source})`,
      'compliance.inference/models': this.models.map((m) => `${m.model}:${m.weights}`),
      ...(Object.keys(waiverAnnotations).length > 0
        ? { 'compliance.inference/waivers': waiverAnnotations }
        : {}),
    };
  }

  /** A key for the platform's log groups, usable by CloudWatch Logs in this region only. */
  private newLogsKey(): kms.Key {
    const key = new kms.Key(this, 'LogsKey', {
      description: 'Encryption of the platform log groups (VPC flow logs)',
      enableKeyRotation: true,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsOfThisAccount',
        principals: [new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`)],
        actions: [
          'kms:Encrypt*',
          'kms:Decrypt*',
          'kms:ReEncrypt*',
          'kms:GenerateDataKey*',
          'kms:Describe*',
        ],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${this.partition}:logs:${this.region}:${this.account}:log-group:*`,
          },
        },
      }),
    );
    denyGrantsOutsideAwsServices(key);
    return key;
  }

  /** The configured zones: the VPC takes its zones from here, so synthesis never looks them up. */
  public override get availabilityZones(): string[] {
    return [...this.zones];
  }
}
