import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import PostalMime from 'postal-mime';
import { parse } from 'yaml';
import { gunzipSync } from 'zlib';
import {
  GpuNodeGroup,
  GpuNodeGroupProps,
  NodeImage,
  PreloadedModel,
  WeightsBucket,
} from '../../constructs/aws';
import { WaiverSet, fixedClock } from '../../constructs/standard';

/** The clock of every waiver in these tests. */
export const CLOCK = fixedClock('2026-12-03');

/** A pinned custom AMI that carries the standard's driver. */
export const CUSTOM_IMAGE = NodeImage.customAmi({
  amiId: 'ami-0123456789abcdef0',
  driverVersion: '535.104.05',
});

/** An EKS-optimized AL2023 NVIDIA release and the driver it ships. */
export const RELEASE_IMAGE = NodeImage.eksOptimizedRelease({
  releaseVersion: '1.33.5-20251120',
  driverVersion: '580.95.05',
});

/** The NODE-2 waiver the release image needs. */
export const RELEASE_WAIVERS = WaiverSet.of(
  [
    {
      rule: 'NODE-2',
      reason: 'No EKS-optimized AL2023 NVIDIA AMI ships 535.104.05; custom AMI pipeline pending',
      approvedBy: 'platform-review-board',
      expires: '2027-03-31',
      values: { cudaDriver: '580.95.05' },
    },
  ],
  CLOCK,
);

export const MODELS: PreloadedModel[] = [
  { name: 'llama-2-70b-awq', revision: '3f1c2b0', prefix: 'llama-2-70b-awq/3f1c2b0' },
  { name: 'embed-1536', revision: 'v1', prefix: 'embeddings/embed-1536/v1/' },
];

/** A stack with a minimal aws-eks-v2 cluster (managed node groups, no Auto Mode) and a weights bucket. */
export function newScope(): {
  app: App;
  stack: Stack;
  cluster: eks.Cluster;
  bucket: WeightsBucket;
} {
  const app = new App();
  const stack = new Stack(app, 'Platform', {
    env: { account: '111111111111', region: 'us-east-1' },
  });
  const cluster = new eks.Cluster(stack, 'Cluster', {
    version: eks.KubernetesVersion.V1_33,
    defaultCapacityType: eks.DefaultCapacityType.NODEGROUP,
    defaultCapacity: 0,
    serviceIpv4Cidr: '172.20.0.0/16',
  });
  const bucket = new WeightsBucket(stack, 'Weights');
  return { app, stack, cluster, bucket };
}

/** A GPU node group with the given overrides, and its stack's template. */
export function synthGroup(overrides: Partial<GpuNodeGroupProps> = {}): {
  group: GpuNodeGroup;
  stack: Stack;
  template: Template;
} {
  const { stack, cluster, bucket } = newScope();
  const group = new GpuNodeGroup(stack, 'Gpu', {
    cluster,
    image: CUSTOM_IMAGE,
    weightsBucket: bucket,
    models: MODELS,
    ...overrides,
  });
  return { group, stack, template: Template.fromStack(stack) };
}

/** Fake values for the intrinsic functions inside the user data. */
export const FAKE_VALUES = {
  clusterName: 'inference-cluster',
  endpoint: 'https://0123456789ABCDEF0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com',
  certificateAuthority:
    'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKY201bGRHVnpNQjRYRFRJek1EVXlOVEU1TURJd05Gb1hEVE16TURVeU1qRTVNREl3TkZvd0ZURVRNQkVHQTFVRQpBeE1LYTNWaVpYSnVaWFJsY3pDQ0FTSXdEUVlKS29aSWh2Y05BUUVCQlFBRGdnRVBBRENDQVFvQ2dnRUJBTUN6Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K',
  bucketName: 'platform-weightsbucket-1a2b3c4d5e6f',
  region: 'us-east-1',
};

/**
 * Resolves the launch template's user data: `Fn::Base64` of a string or of an `Fn::Join`
 * whose tokens are replaced by fake values, then base64-decoded as EC2 would.
 */
export function resolveUserData(template: Template): string {
  const lts = template.findResources('AWS::EC2::LaunchTemplate');
  const lt = Object.values(lts)[0] as { Properties: { LaunchTemplateData: { UserData: unknown } } };
  const b64 = lt.Properties.LaunchTemplateData.UserData as { 'Fn::Base64': unknown };
  const inner = b64['Fn::Base64'];
  const text = typeof inner === 'string' ? inner : joinWithFakes(inner);
  return text;
}

function joinWithFakes(value: unknown): string {
  const join = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`unexpected user data shape: ${JSON.stringify(value).slice(0, 200)}`);
  const [sep, items] = join;
  return items.map((item) => (typeof item === 'string' ? item : fakeFor(item))).join(sep);
}

function fakeFor(intrinsic: unknown): string {
  const json = JSON.stringify(intrinsic);
  if ('Ref' in (intrinsic as object)) {
    const ref = (intrinsic as { Ref: string }).Ref;
    if (ref === 'AWS::Region') return FAKE_VALUES.region;
    if (/Cluster/.test(ref)) return FAKE_VALUES.clusterName;
    if (/Weights.*Bucket/.test(ref)) return FAKE_VALUES.bucketName;
  }
  const getAtt = (intrinsic as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
  if (getAtt) {
    if (getAtt[1] === 'Endpoint') return FAKE_VALUES.endpoint;
    if (getAtt[1] === 'CertificateAuthorityData') return FAKE_VALUES.certificateAuthority;
  }
  throw new Error(`no fake value for ${json}`);
}

/** One parsed MIME part. */
export interface ParsedPart {
  readonly mimeType: string;
  readonly filename: string | null;
  /** The decoded body as text (latin1 for binary parts, so no byte is lost). */
  readonly content: string;
  /** The decoded body. */
  readonly bytes: Buffer;
}

/** Parses the user data as MIME with postal-mime (every part comes back as an attachment). */
export async function parseUserData(text: string): Promise<ParsedPart[]> {
  const email = await PostalMime.parse(text);
  return email.attachments.map((a) => {
    const bytes = Buffer.from(a.content as ArrayBuffer);
    const binary = a.mimeType === 'application/x-gzip';
    return {
      mimeType: a.mimeType,
      filename: a.filename,
      bytes,
      content: bytes.toString(binary ? 'latin1' : 'utf8'),
    };
  });
}

/**
 * The parts as cloud-init sees them: a gzip part is decompressed and typed by its first line
 * (`#!` is a shell script, `#cloud-config` a cloud-config), keeping its file name, as
 * cloudinit/user_data.py does.
 */
export function cloudInitView(parts: readonly ParsedPart[]): ParsedPart[] {
  return parts.map((p) => {
    if (p.mimeType !== 'application/x-gzip') return p;
    const bytes = gunzipSync(p.bytes);
    const content = bytes.toString('utf8');
    const mimeType = content.startsWith('#!')
      ? 'text/x-shellscript'
      : content.startsWith('#cloud-config')
        ? 'text/cloud-config'
        : 'text/plain';
    return { mimeType, filename: p.filename, bytes, content };
  });
}

/** The NodeConfig fields these tests read. */
export interface NodeConfigDoc {
  apiVersion: string;
  kind: string;
  spec: {
    cluster?: Record<string, string>;
    instance: { localStorage: { strategy: string } };
    kubelet: { config: { registerWithTaints: unknown[] }; flags: string[] };
  };
}

/** The cloud-config fields these tests read. */
export interface CloudConfigDoc {
  write_files: { path: string; content: string; owner: string; permissions: string }[];
}

/** The NodeConfig and cloud-config parts, parsed as YAML. */
export function documents(parts: readonly ParsedPart[]): {
  nodeConfig: NodeConfigDoc;
  cloudConfig: CloudConfigDoc;
} {
  const nodeConfig = parts.find((p) => p.mimeType === 'application/node.eks.aws');
  const cloudConfig = parts.find((p) => p.mimeType === 'text/cloud-config');
  if (!nodeConfig || !cloudConfig)
    throw new Error('user data lacks a NodeConfig or cloud-config part');
  return { nodeConfig: parse(nodeConfig.content), cloudConfig: parse(cloudConfig.content) };
}

/** Asserts a resource of the type with the (partially matched) properties exists. */
export function assertResource(
  template: Template,
  type: string,
  props: Record<string, unknown>,
): void {
  template.hasResourceProperties(type, props);
}

/** Asserts a resource of the type with the (partially matched) definition exists (metadata). */
export function assertResourceDefinition(
  template: Template,
  type: string,
  definition: Record<string, unknown>,
): void {
  template.hasResource(type, definition);
}

/** Asserts the stack carries a warning whose text matches the pattern. */
export function assertWarning(stack: Stack, pattern: string): void {
  Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp(pattern));
}

/** Asserts the stack carries an error whose text matches the pattern. */
export function assertError(stack: Stack, pattern: string): void {
  Annotations.fromStack(stack).hasError('*', Match.stringLikeRegexp(pattern));
}
