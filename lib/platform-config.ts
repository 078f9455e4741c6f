import { readFileSync } from 'fs';
import { App } from 'aws-cdk-lib';
import { isDigestPinned } from '../constructs/conventions';

/** The context keys the app reads from cdk.json (or `-c key=value`). */
export const CONTEXT_KEYS = Object.freeze({
  account: 'compliant-inference:account',
  region: 'compliant-inference:region',
  availabilityZones: 'compliant-inference:availabilityZones',
  stackName: 'compliant-inference:stackName',
  gpuAmiId: 'compliant-inference:gpuAmiId',
  servingImage: 'compliant-inference:servingImage',
  redisImage: 'compliant-inference:redisImage',
  cloudWatchAgentImage: 'compliant-inference:cloudWatchAgentImage',
  adminPrincipalArns: 'compliant-inference:adminPrincipalArns',
  alarmEmails: 'compliant-inference:alarmEmails',
  gpuNodes: 'compliant-inference:gpuNodes',
});

/** Where and under what name the platform is deployed, from context: no lookups, no credentials. */
export interface PlatformConfig {
  /** The 12-digit AWS account id. */
  readonly account: string;
  /** The AWS region, such as `us-east-1`. */
  readonly region: string;
  /** The availability zones of the private subnets, all in `region`. */
  readonly availabilityZones: readonly string[];
  /** The CloudFormation stack name. */
  readonly stackName: string;
  /**
   * The custom GPU AMI, built with the standard's NVIDIA driver and tagged with it; the same
   * id that `preflight` checks.
   */
  readonly gpuAmiId: string;
  /** The serving image of the reference workloads, pinned by digest (SW-2). */
  readonly servingImage: string;
  /** The Redis image of the global rate limit, pinned by digest (SW-2). */
  readonly redisImage: string;
  /** The CloudWatch agent image of the Prometheus export, pinned by digest (SW-2). */
  readonly cloudWatchAgentImage: string;
  /** IAM principals (roles, users) granted cluster-admin through EKS access entries. */
  readonly adminPrincipalArns: readonly string[];
  /** Addresses subscribed by e-mail to the alarm topic (ALM, OBS). */
  readonly alarmEmails: readonly string[];
  /**
   * GPU nodes to run. 0 for the first deployment: a GPU node refuses to join until its
   * models' weights are in the bucket the same deployment creates (W-1).
   */
  readonly gpuNodes: number;
}

/** A context value that is a list: a JSON array, or `a,b` from the command line; absent is empty. */
function listValue(app: App, key: string): unknown[] {
  const raw = contextValue(app, key);
  if (raw === undefined || raw === null || raw === '') return [];
  if (typeof raw === 'string') {
    return raw.startsWith('[') ? (JSON.parse(raw) as unknown[]) : raw.split(',');
  }
  if (!Array.isArray(raw)) {
    throw new Error(`context '${key}' must be a list; received ${JSON.stringify(raw)}`);
  }
  return raw;
}

function contextValue(app: App, key: string): unknown {
  return app.node.tryGetContext(key);
}

/**
 * Reads and checks the platform configuration from the app's context.
 * @throws Error naming the context key at fault
 */
export function readPlatformConfig(app: App): PlatformConfig {
  const account = String(contextValue(app, CONTEXT_KEYS.account) ?? '');
  if (!/^\d{12}$/.test(account)) {
    throw new Error(
      `context '${CONTEXT_KEYS.account}' must be a 12-digit AWS account id; received '${account}'`,
    );
  }
  const region = String(contextValue(app, CONTEXT_KEYS.region) ?? '');
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) {
    throw new Error(
      `context '${CONTEXT_KEYS.region}' must be an AWS region such as us-east-1; received '${region}'`,
    );
  }
  let azs = contextValue(app, CONTEXT_KEYS.availabilityZones);
  if (typeof azs === 'string') {
    // `-c key=a,b` on the command line arrives as one string.
    azs = azs.startsWith('[') ? JSON.parse(azs) : azs.split(',');
  }
  if (
    !Array.isArray(azs) ||
    azs.length < 2 ||
    !azs.every((az) => typeof az === 'string' && az.startsWith(region) && /[a-z]$/.test(az))
  ) {
    throw new Error(
      `context '${CONTEXT_KEYS.availabilityZones}' must list at least two availability zones of ${region} ` +
        `(EKS needs subnets in two); received ${JSON.stringify(azs)}`,
    );
  }
  const stackName = String(
    contextValue(app, CONTEXT_KEYS.stackName) ?? 'CompliantInferencePlatform',
  );
  const gpuAmiId = String(contextValue(app, CONTEXT_KEYS.gpuAmiId) ?? '');
  if (!/^ami-([0-9a-f]{8}|[0-9a-f]{17})$/.test(gpuAmiId)) {
    throw new Error(
      `context '${CONTEXT_KEYS.gpuAmiId}' must be a fixed AMI id such as ami-0123456789abcdef0 (NODE-1); received '${gpuAmiId}'`,
    );
  }
  const imageKeys = ['servingImage', 'redisImage', 'cloudWatchAgentImage'] as const;
  const images: Record<(typeof imageKeys)[number], string> = {
    servingImage: '',
    redisImage: '',
    cloudWatchAgentImage: '',
  };
  for (const key of imageKeys) {
    const image = String(contextValue(app, CONTEXT_KEYS[key]) ?? '');
    if (!isDigestPinned(image)) {
      throw new Error(
        `SW-2: context '${CONTEXT_KEYS[key]}' must be an image pinned by digest (registry/repository@sha256:<64 hex>); received '${image}'`,
      );
    }
    images[key] = image;
  }
  const adminPrincipalArns = listValue(app, CONTEXT_KEYS.adminPrincipalArns);
  for (const arn of adminPrincipalArns) {
    if (
      typeof arn !== 'string' ||
      !/^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@\/-]+$/.test(arn)
    ) {
      throw new Error(
        `context '${CONTEXT_KEYS.adminPrincipalArns}' must list IAM role or user ARNs (arn:aws:iam::<account>:role/<name>); received ${JSON.stringify(arn)}`,
      );
    }
  }
  const alarmEmails = listValue(app, CONTEXT_KEYS.alarmEmails);
  for (const email of alarmEmails) {
    if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
      throw new Error(
        `context '${CONTEXT_KEYS.alarmEmails}' must list e-mail addresses; received ${JSON.stringify(email)}`,
      );
    }
  }
  const gpuNodesRaw = contextValue(app, CONTEXT_KEYS.gpuNodes) ?? 1;
  const gpuNodes = typeof gpuNodesRaw === 'string' ? Number(gpuNodesRaw) : gpuNodesRaw;
  if (
    typeof gpuNodes !== 'number' ||
    !Number.isInteger(gpuNodes) ||
    gpuNodes < 0 ||
    gpuNodes > 100
  ) {
    throw new Error(
      `context '${CONTEXT_KEYS.gpuNodes}' must be a whole number of GPU nodes from 0 to 100 (0 until the weights are uploaded); received ${JSON.stringify(gpuNodesRaw)}`,
    );
  }
  return Object.freeze({
    ...images,
    gpuNodes,
    adminPrincipalArns: Object.freeze([...(adminPrincipalArns as string[])]),
    alarmEmails: Object.freeze([...(alarmEmails as string[])]),
    gpuAmiId,
    account,
    region,
    availabilityZones: Object.freeze([...(azs as string[])]),
    stackName,
  });
}

/**
 * The `context` of cdk.json, for runs without the cdk CLI (which otherwise passes it through
 * CDK_CONTEXT_JSON). Feature flags and the platform keys then apply either way.
 * @param cdkJsonPath path of cdk.json
 */
export function cdkJsonContext(cdkJsonPath: string): Record<string, unknown> {
  if (process.env.CDK_CONTEXT_JSON) return {};
  const parsed = JSON.parse(readFileSync(cdkJsonPath, 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return parsed.context ?? {};
}
