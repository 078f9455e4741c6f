import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ComplianceError } from '../standard';
import { normalizeWeightsPrefix } from './private/prefix';

/** Properties of a {@link WeightsBucket}. */
export interface WeightsBucketProps {
  /**
   * Physical bucket name.
   * @default - a name CloudFormation generates
   */
  readonly bucketName?: string;
  /**
   * Bucket that receives the weights bucket's server access logs. It must accept S3 log
   * delivery (SSE-S3 encryption; SSE-KMS targets are not supported for access logs).
   * @default - a new private, TLS-only, versioned, SSE-S3 bucket
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html
   */
  readonly accessLogsBucket?: s3.IBucket;
  /**
   * Key prefix of the access log objects in the log bucket.
   * @default 'weights-bucket/'
   */
  readonly accessLogsPrefix?: string;
  /**
   * What happens to the buckets and the key when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * How long a replaced or deleted weights object version is kept, in days.
   * @default Duration.days(90)
   */
  readonly noncurrentVersionRetention?: Duration;
}

/**
 * The bucket that holds model weights (W-4): private (every public access blocked, objects
 * owned by the bucket owner), encrypted with its own KMS key (yearly rotation on), reachable
 * over TLS only, versioned, and access logged. Nodes get read access to their models'
 * prefixes only, through {@link WeightsBucket.grantReadPrefixes}.
 *
 * Each model's prefix holds its files and a `SHA256SUMS` manifest in `sha256sum` format,
 * which the node's preload step checks every file against (W-2).
 */
export class WeightsBucket extends Construct {
  /** The weights bucket. */
  public readonly bucket: s3.Bucket;
  /** The customer managed key that encrypts the weights. */
  public readonly encryptionKey: kms.Key;
  /** The bucket that receives the access logs. */
  public readonly accessLogsBucket: s3.IBucket;

  constructor(scope: Construct, id: string, props: WeightsBucketProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    // Log delivery through a bucket policy, not an ACL, so both buckets can enforce bucket
    // ownership (ACLs off). The app sets this flag in cdk.json; set here too, so the bucket is
    // the same in any app.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);

    this.encryptionKey = new kms.Key(this, 'Key', {
      description: 'Encrypts the model weights bucket (W-4)',
      enableKeyRotation: true,
      removalPolicy,
    });

    this.accessLogsBucket =
      props.accessLogsBucket ??
      new s3.Bucket(this, 'AccessLogs', {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        versioned: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removalPolicy,
      });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: props.bucketName,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.encryptionKey,
      // Without bucket keys, S3 passes each object's ARN as encryption context, which lets a
      // node's kms:Decrypt be limited to its own prefixes.
      bucketKeyEnabled: false,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: props.accessLogsPrefix ?? 'weights-bucket/',
      lifecycleRules: [
        {
          id: 'expire-noncurrent-weights',
          noncurrentVersionExpiration: props.noncurrentVersionRetention ?? Duration.days(90),
        },
      ],
      removalPolicy,
    });
  }

  /** The bucket's name. */
  public get bucketName(): string {
    return this.bucket.bucketName;
  }

  /**
   * Grants read access to the given prefixes only: `s3:GetObject` on `<prefix>/*`,
   * `s3:ListBucket` only with an `s3:prefix` under them, and `kms:Decrypt` only through S3
   * in this region and only for objects under them (encryption context).
   * @param grantee the role or principal that reads (a GPU node role)
   * @param prefixes key prefixes such as `llama-2-70b-awq/3f1c2b0`; no `..`, no leading `/`
   * @throws ComplianceError (W-4) for an empty list or a prefix that could reach further
   */
  public grantReadPrefixes(grantee: iam.IGrantable, prefixes: readonly string[]): iam.Grant {
    if (prefixes.length === 0) {
      throw new ComplianceError({
        rule: 'W-4',
        field: `${this.node.path}.grantReadPrefixes.prefixes`,
        limit: 'at least one prefix',
        received: '[]',
        message: 'a read grant on the weights bucket needs the prefixes it is limited to',
      });
    }
    const clean = [
      ...new Set(
        prefixes.map((p, i) =>
          normalizeWeightsPrefix(p, `${this.node.path}.grantReadPrefixes.prefixes[${i}]`),
        ),
      ),
    ];
    const region = Stack.of(this).region;

    const objects = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: clean.map((p) => this.bucket.arnForObjects(`${p}/*`)),
    });
    const listing = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': clean.flatMap((p) => [`${p}/`, `${p}/*`]) } },
    });
    const decrypt = iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt'],
      resourceArns: [this.encryptionKey.keyArn],
      conditions: {
        StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com` },
        StringLike: {
          'kms:EncryptionContext:aws:s3:arn': clean.map((p) => this.bucket.arnForObjects(`${p}/*`)),
        },
      },
    });
    return objects.combine(listing).combine(decrypt);
  }
}
