import {
  CfnOutput,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  StackProps,
  Validations,
} from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { App as Cdk8sApp } from 'cdk8s';
import { Construct } from 'constructs';
import { ManifestDeployment } from '../constructs/aws/manifest-deployment';
import { Clock } from '../constructs/standard';
import { ClusterServices } from './cluster-services';
import { PrometheusStack } from './prometheus-stack';
import { ReferenceWorkloads } from './reference-workloads';
import { TelemetryPlatform } from './telemetry-platform';
import { TrafficPlatform } from './traffic-platform';
import { weightsName } from '../constructs/conventions';
import { REFERENCE_MODELS, ReferenceModel } from './reference-models';
import {
  GpuNodeGroup,
  GpuNodeGroupProps,
  InferenceCluster,
  InferenceClusterProps,
  NodeImage,
  NodeImageKind,
  PreloadedModel,
  WeightsBucket,
  WeightsBucketProps,
} from '../constructs/aws';
import { newLogsKey } from '../constructs/aws/private/kms-policy';
import { hardenGpuNodes, hardenWeightsBucket } from './platform-hardening';
import { MemoryPlan, catalogueModel, requireFittingPlan } from '../constructs/planner';
import { ComplianceError, DEFAULT_STANDARD, Standard, WaiverSet } from '../constructs/standard';

/** A model the platform's GPU nodes preload and serve. */
export type PlatformModel = ReferenceModel;

/** The reference deployment's models, as the platform preloads them. */
export const REFERENCE_PLATFORM_MODELS: readonly PlatformModel[] = Object.freeze(
  Object.values(REFERENCE_MODELS),
);

/** A served model with its memory plan and where its weights live. */
export interface PlannedModel extends PlatformModel {
  /** The planner's numbers: tensor-parallel size, GPUs per pod, memory per GPU (MEM-2). */
  readonly plan: MemoryPlan;
  /** The preloaded copy: node directory name, revision and bucket prefix. */
  readonly preload: PreloadedModel;
}

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
   * The pinned image of the GPU nodes and the driver it carries (NODE-1, NODE-2): a custom AMI
   * id, or an EKS-optimized AL2023 NVIDIA release under a waiver of NODE-2.
   */
  readonly gpuImage: NodeImage;
  /**
   * The models the GPU node group serves; each must fit its GPUs (MEM-2).
   * @default REFERENCE_PLATFORM_MODELS
   */
  readonly models?: readonly PlatformModel[];
  /**
   * Options of the GPU node group beyond the cluster, image, bucket, models and standard.
   * @default - the node group's defaults: one p4d.24xlarge, up to two
   */
  readonly gpuNodeGroup?: Omit<
    GpuNodeGroupProps,
    'cluster' | 'image' | 'weightsBucket' | 'models' | 'standard' | 'waivers'
  >;
  /**
   * Options of the weights bucket.
   * @default - the bucket's defaults: retained, access logged, 90 days of old versions
   */
  readonly weightsBucket?: WeightsBucketProps;
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
  /**
   * The Redis image of the gateway's global rate limit, pinned by digest (SW-2).
   * @default - no traffic platform (Gateway API, Envoy Gateway) is installed
   */
  readonly redisImage?: string;
  /**
   * The serving image of the reference workloads, pinned by digest (SW-2). With the reference
   * models (no `models` given) and a `redisImage`, the stack also applies the reference
   * workloads, their routes, policies and monitoring through the cluster.
   * @default - the reference workloads are not applied
   */
  readonly servingImage?: string;
  /**
   * The CloudWatch agent image, pinned by digest (SW-2), that exports the KV-cache gauge and
   * the gateway's route counters to CloudWatch for the reference workloads' ALM-1 and ALM-4.
   * @default - no export: those two alarms stay with the PrometheusRules
   */
  readonly cloudWatchAgentImage?: string;
  /**
   * Addresses subscribed by e-mail to the alarm topic.
   * @default - none (subscribe outside the stack, for example a chat or paging integration)
   */
  readonly alarmEmails?: readonly string[];
  /**
   * The clock that waivers and review records are checked against.
   * @default the system clock
   */
  readonly clock?: Clock;
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
  /** The models served, with their plans. */
  public readonly models: readonly PlannedModel[];
  /** The bucket the GPU nodes preload weights from. */
  public readonly weightsBucket: WeightsBucket;
  /** The GPU node group. */
  public readonly gpuNodes: GpuNodeGroup;
  /** Cluster services of the inference workloads (node-local weight volumes), applied through the cluster. */
  public readonly clusterServices: ManifestDeployment;
  /** Gateway API, Envoy Gateway and the inference Gateway, when a Redis image is given. */
  public readonly traffic?: TrafficPlatform;
  /** The cluster's Prometheus (operator, Prometheus, Alertmanager, Grafana). */
  public readonly prometheus: PrometheusStack;
  /** The reference workloads applied through the cluster, when configured. */
  public readonly workloads?: ManifestDeployment;
  /** DCGM exporter, CloudWatch alarms and dashboard of the reference workloads, when applied. */
  public readonly telemetry?: TelemetryPlatform;

  private readonly zones: readonly string[];

  constructor(scope: Construct, id: string, props: PlatformStackProps) {
    super(scope, id, props);
    // S3 access logs delivered through a bucket policy rather than an ACL, so every bucket
    // keeps ACLs off (as cdk.json sets it; set here so any app builds the same stack).
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);

    const standard = props.standard ?? DEFAULT_STANDARD;
    const waivers = props.waivers ?? WaiverSet.NONE;
    const models = props.models ?? REFERENCE_PLATFORM_MODELS;

    if (props.availabilityZones.length < 2) {
      throw new Error(
        `props.availabilityZones must list at least two zones (EKS needs subnets in two); received ${JSON.stringify(props.availabilityZones)}`,
      );
    }
    if (models.length === 0) {
      throw new ComplianceError({
        rule: 'W-1',
        field: 'props.models',
        limit: 'at least one model',
        received: '[]',
        message:
          'a GPU node group preloads the weights of its models before it joins; give it at least one',
      });
    }
    this.models = Object.freeze(
      models.map((m, i) => planModel(m, standard, waivers, `props.models[${i}]`)),
    );
    this.zones = Object.freeze([...props.availabilityZones]);

    const logsKey = newLogsKey(this, 'LogsKey', 'Encryption of the platform log groups');
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
              encryptionKey: logsKey,
            }),
          ),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });

    const restrictDefaultSg = this.node.tryFindChild(
      'Custom::VpcRestrictDefaultSGCustomResourceProvider',
    );
    if (restrictDefaultSg) {
      Validations.of(restrictDefaultSg).acknowledge({
        id: 'cdk-validator-cfnguard::lambda_inside_vpc_check',
        reason:
          "aws-cdk-lib's one-shot provider that strips every rule from the VPC's default security group calls only the EC2 API at deploy time; it is shared by the stack and configures the VPC it would have to run in.",
      });
    }
    Validations.of(this.vpc).acknowledge({
      id: 'CloudFormation-Validate::W3010',
      reason:
        'The zones are explicit on purpose: synthesis must run offline with no lookup, and preflight checks that p4d.24xlarge is offered in exactly these zones.',
    });

    this.inferenceCluster = new InferenceCluster(this, 'Inference', {
      ...(props.cluster ?? {}),
      // The system nodes also run the Prometheus stack, the gateway and the metrics agents.
      systemNodes: props.cluster?.systemNodes ?? {
        instanceType: new ec2.InstanceType('m6i.xlarge'),
      },
      vpc: this.vpc,
      logsEncryptionKey: props.cluster?.logsEncryptionKey ?? logsKey,
      standard,
    });

    this.weightsBucket = new WeightsBucket(this, 'Weights', {
      accessLogsBucket: props.weightsBucket?.accessLogsBucket ?? this.newAccessLogsBucket(),
      ...(props.weightsBucket ?? {}),
    });
    hardenWeightsBucket(this.weightsBucket);
    this.gpuNodes = new GpuNodeGroup(this, 'GpuNodes', {
      ...(props.gpuNodeGroup ?? {}),
      cluster: this.inferenceCluster.cluster,
      image: props.gpuImage,
      weightsBucket: this.weightsBucket,
      models: this.models.map((m) => m.preload),
      standard,
      waivers,
    });
    hardenGpuNodes(
      this.gpuNodes,
      this.weightsBucket,
      this.models.map((m) => m.preload.prefix),
    );
    if (props.gpuImage.kind === NodeImageKind.CUSTOM_AMI) {
      Validations.of(this.gpuNodes).acknowledge({
        id: 'Annotation::@aws-cdk/aws-eks:gpuInstancesUseAL2',
        reason:
          'The GPU nodes boot a custom AMI from their launch template (AMI type CUSTOM); the AL2 default this warning describes never applies.',
      });
    }

    // Kubernetes side: the same cdk8s charts the main job writes to dist/, applied in parts
    // that fit the kubectl provider (ManifestDeployment).
    const cluster = this.inferenceCluster.cluster;
    const charts = new Cdk8sApp();
    const services = new ClusterServices(charts, 'cluster-services', {
      weights: this.models.map((m) => ({ name: m.preload.name, revision: m.revision })),
      standard,
    });
    this.clusterServices = new ManifestDeployment(this, 'ClusterServices', {
      cluster,
      objects: services.toJson(),
    });
    // Everything below that applies a ServiceMonitor, PodMonitor or PrometheusRule waits for
    // the Prometheus stack, whose chart brings those kinds.
    this.prometheus = new PrometheusStack(this, 'Prometheus', { cluster, standard });
    this.prometheus.release.node.addDependency(this.inferenceCluster.systemNodeGroup);
    if (props.redisImage) {
      this.traffic = new TrafficPlatform(this, 'Traffic', {
        cluster,
        redisImage: props.redisImage,
        standard,
      });
      // Its gateway PodMonitor needs the Prometheus stack's definitions.
      this.traffic.manifest.node.addDependency(this.prometheus.release);
      if (props.servingImage && !props.models) {
        const workloads = new ReferenceWorkloads(charts, 'inference-workloads', {
          image: props.servingImage,
          clock: props.clock,
        });
        this.workloads = new ManifestDeployment(this, 'Workloads', {
          cluster,
          objects: workloads.toJson(),
        });
        this.workloads.node.addDependency(
          this.clusterServices,
          this.traffic,
          this.prometheus.release,
        );
        this.telemetry = new TelemetryPlatform(this, 'Telemetry', {
          cluster,
          services: [workloads.generation, workloads.embedding].map((s) =>
            TelemetryPlatform.serviceOf(s),
          ),
          standard,
          prometheusExport: props.cloudWatchAgentImage
            ? { image: props.cloudWatchAgentImage }
            : undefined,
          subscriptions: (props.alarmEmails ?? []).map(
            (email) => new subscriptions.EmailSubscription(email),
          ),
        });
        this.telemetry.dcgmExporter.node.addDependency(this.prometheus.release);
        // The agent's credentials come from the Pod Identity agent.
        this.telemetry.prometheusExport?.podIdentity.node.addDependency(
          this.inferenceCluster.addons['eks-pod-identity-agent'],
        );
        if (!this.telemetry.prometheusExport) {
          for (const s of [workloads.generation, workloads.embedding]) {
            Validations.of(this.telemetry).acknowledge({
              id: `Annotation::compliant-inference:telemetry:no-effective-memory:${s.namespace}-${s.name}`,
              reason:
                'No CloudWatch agent image is configured (cloudWatchAgentImage): ALM-1 is carried by the PrometheusRule of each service.',
            });
          }
        }
        // Known and by design: the gateway's NLB is created by Kubernetes after this stack and
        // sees no HTTP, so ALM-3 stays with the PrometheusRules; ALM-1 and ALM-4 come from the
        // Prometheus export.
        Validations.of(this.telemetry).acknowledge({
          id: 'Annotation::compliant-inference:telemetry:no-load-balancer',
          reason:
            'The gateway is an NLB created by Kubernetes after this stack, with no HTTP metrics: ALM-3 is carried by the PrometheusRule of each service; ALM-4 is alarmed in CloudWatch from the exported gateway counters.',
        });
      }
    }

    // What the platform team needs after `cdk deploy`: where the cluster and the weights are.
    const clusterName = this.inferenceCluster.cluster.clusterName;
    new CfnOutput(this, 'ClusterName', { value: clusterName });
    new CfnOutput(this, 'KubeconfigCommand', {
      description: 'Run as one of the adminPrincipalArns (an EKS access entry) to use kubectl',
      value: Fn.join('', [
        'aws eks update-kubeconfig --name ',
        clusterName,
        ' --region ',
        this.region,
      ]),
    });
    new CfnOutput(this, 'WeightsBucketName', {
      description:
        'Upload each model revision with its SHA256SUMS before GPU nodes start (W-1, W-2)',
      value: this.weightsBucket.bucket.bucketName,
    });
    if (this.telemetry) {
      new CfnOutput(this, 'AlarmTopicArn', { value: this.telemetry.topic.topicArn });
    }

    const waiverAnnotations = waivers.toAnnotations();
    this.templateOptions.metadata = {
      'compliance.inference/standard': `${standard.version} (${standard.source})`,
      'compliance.inference/models': this.models.map((m) => ({
        model: m.model,
        weights: m.weights,
        revision: m.revision,
        tensorParallelSize: m.plan.tensorParallelSize,
        gpusPerPod: m.plan.gpusPerPod,
      })),
      ...(Object.keys(waiverAnnotations).length > 0
        ? { 'compliance.inference/waivers': waiverAnnotations }
        : {}),
    };
  }

  /**
   * The bucket that receives the weights bucket's access logs: private, TLS-only, versioned,
   * SSE-S3 (the only encryption S3 log delivery supports), logs kept one year.
   */
  private newAccessLogsBucket(): s3.Bucket {
    return new s3.Bucket(this, 'WeightsAccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: Duration.days(365),
          noncurrentVersionExpiration: Duration.days(30),
        },
      ],
    });
  }

  /** The configured zones: the VPC takes its zones from here, so synthesis never looks them up. */
  public override get availabilityZones(): string[] {
    return [...this.zones];
  }
}

/**
 * Plans one model (MEM-2, MEM-3 through the planner) and checks its format.
 * @throws ComplianceError naming the model's field
 */
function planModel(
  m: PlatformModel,
  standard: Standard,
  waivers: WaiverSet,
  field: string,
): PlannedModel {
  if (!standard.quantization.approvedFormats.includes(m.weights) && !waivers.covers('Q-1')) {
    throw new ComplianceError({
      rule: 'Q-1',
      field: `${field}.weights`,
      limit: standard.quantization.approvedFormats.join(', '),
      received: `'${m.weights}'`,
      message: `${m.model} in ${m.weights} is not quantized; production models run in INT8 or 4-bit unless Q-1 is waived`,
    });
  }
  const plan = requireFittingPlan(
    { model: catalogueModel(m.model, `${field}.model`), weights: m.weights },
    standard,
    field,
  );
  const name = weightsName(m.model, m.weights);
  return Object.freeze({
    ...m,
    plan,
    preload: Object.freeze({ name, revision: m.revision, prefix: `${name}/${m.revision}` }),
  });
}
