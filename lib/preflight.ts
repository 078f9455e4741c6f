import {
  DescribeImagesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeInstanceTypesCommand,
  EC2Client,
  Image,
  InstanceTypeInfo,
} from '@aws-sdk/client-ec2';
import { CUSTOM_AMI_DRIVER_TAG } from '../constructs/aws/node-image';
import { DEFAULT_STANDARD, RuleId, Standard } from '../constructs/standard';

/** The tag a custom GPU AMI carries to say which NVIDIA driver it holds (`535.104.05`). */
export const AMI_DRIVER_TAG = CUSTOM_AMI_DRIVER_TAG;

/** What preflight checks, for one account and region. */
export interface PreflightConfig {
  /** The AWS region, such as `us-east-1`. */
  readonly region: string;
  /** The availability zones the GPU node group uses; p4d must be offered in each. */
  readonly availabilityZones: readonly string[];
  /**
   * The pinned GPU AMI id, such as `ami-0123456789abcdef0` (custom-AMI mode). One of `amiId`
   * and `releaseVersion` is required.
   */
  readonly amiId?: string;
  /**
   * The pinned EKS-optimized AL2023 NVIDIA release, such as `1.33.5-20251120`; preflight finds
   * its image (`amazon-eks-node-al2023-x86_64-nvidia-1.33-v20251120`, owned by Amazon).
   */
  readonly releaseVersion?: string;
  /**
   * The NVIDIA driver the AMI must carry.
   * @default the standard's pin (`software.cudaDriver`, 535.104.05)
   */
  readonly expectedDriver?: string;
  /**
   * The standard whose hardware numbers are checked.
   * @default DEFAULT_STANDARD
   */
  readonly standard?: Standard;
}

/** One line of the report. */
export interface PreflightCheck {
  /** The rule the check serves. */
  readonly rule: RuleId;
  /** Whether it passed. */
  readonly ok: boolean;
  /** What was checked and what was found, in one sentence. */
  readonly detail: string;
}

/** The outcome of a preflight run. */
export interface PreflightReport {
  /** The checks, in order. */
  readonly checks: readonly PreflightCheck[];
  /** True when every check passed. */
  readonly ok: boolean;
}

/** An AWS call that could not be made or answered; its message is one sentence for a person. */
export class PreflightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PreflightError';
  }
}

/** How throttled calls are retried: exponential backoff with full jitter. */
export interface RetryOptions {
  /**
   * Attempts in all, the first included.
   * @default 5
   */
  readonly attempts?: number;
  /**
   * First backoff interval, in milliseconds.
   * @default 200
   */
  readonly baseDelayMs?: number;
  /**
   * Longest backoff interval, in milliseconds.
   * @default 5000
   */
  readonly maxDelayMs?: number;
  /**
   * Waits, in milliseconds; injectable for tests.
   * @default setTimeout
   */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * A number in [0, 1) for the jitter; injectable for tests.
   * @default Math.random
   */
  readonly random?: () => number;
}

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
]);
const ACCESS_DENIED = new Set([
  'UnauthorizedOperation',
  'AccessDenied',
  'AccessDeniedException',
  'AuthFailure',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'RequestExpired',
]);
const NETWORK = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN']);

interface AwsErrorShape {
  readonly name?: string;
  readonly code?: string;
  readonly Code?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

function errorName(e: unknown): string {
  const err = e as AwsErrorShape;
  return err?.name ?? err?.code ?? err?.Code ?? '';
}

function isThrottling(e: unknown): boolean {
  const err = e as AwsErrorShape;
  return THROTTLING.has(errorName(e)) || err?.$metadata?.httpStatusCode === 429;
}

/**
 * Runs `call`, retrying throttled attempts with exponential backoff and full jitter.
 * @throws the last error when it is not throttling or the attempts run out
 */
export async function withThrottlingRetry<T>(
  call: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 5;
  const base = options.baseDelayMs ?? 200;
  const max = options.maxDelayMs ?? 5000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (!isThrottling(e) || attempt >= attempts) throw e;
      await sleep(Math.floor(random() * Math.min(max, base * 2 ** (attempt - 1))));
    }
  }
}

/**
 * Turns an SDK error into one sentence: access denied, missing credentials, an endpoint out of
 * reach, throttling that outlasted the retries, or the service's own message.
 */
export function explainAwsError(e: unknown, action: string, region: string): PreflightError {
  const name = errorName(e);
  const message = (e as AwsErrorShape)?.message ?? String(e);
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return new PreflightError(
      `No AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, before running preflight.`,
    );
  }
  if (ACCESS_DENIED.has(name)) {
    return new PreflightError(
      `Access denied calling ${action} in ${region} (${name}): the credentials in use need ec2:DescribeImages, ec2:DescribeInstanceTypes and ec2:DescribeInstanceTypeOfferings.`,
    );
  }
  if (isThrottling(e)) {
    return new PreflightError(
      `EC2 kept throttling ${action} in ${region} after every retry (${name}); try again in a minute.`,
    );
  }
  const code = (e as NodeJS.ErrnoException)?.code ?? '';
  if (NETWORK.has(code) || NETWORK.has(name)) {
    return new PreflightError(`Cannot reach the EC2 endpoint for ${region} (${code || name}).`);
  }
  return new PreflightError(`${action} failed in ${region}: ${name ? `${name}: ` : ''}${message}`);
}

async function call<T>(
  action: string,
  region: string,
  fn: () => Promise<T>,
  retry: RetryOptions,
): Promise<T> {
  try {
    return await withThrottlingRetry(fn, retry);
  } catch (e) {
    throw explainAwsError(e, action, region);
  }
}

/** The name EKS gives the AL2023 NVIDIA image of a release: `1.33.5-20251120` -> `...-1.33-v20251120`. */
export function eksNvidiaImageName(releaseVersion: string): string {
  const m = /^(\d+\.\d+)\.\d+-(\d{8})$/.exec(releaseVersion);
  if (!m)
    throw new PreflightError(
      `The release ${releaseVersion} is not an EKS AMI release such as 1.33.5-20251120.`,
    );
  return `amazon-eks-node-al2023-x86_64-nvidia-${m[1]}-v${m[2]}`;
}

const EKS_NVIDIA_IMAGE = /^amazon-eks-node-al2023-x86_64-nvidia-/;

/** What is being checked, for messages: the AMI id or the release. */
function imageLabel(config: PreflightConfig): string {
  return config.amiId ?? `EKS-optimized release ${config.releaseVersion}`;
}

function tagValue(image: Image, key: string): string | undefined {
  return image.Tags?.find((t) => t.Key === key)?.Value;
}

/** The checks of the AMI: it exists, is available, is x86_64 and names the driver it carries. */
function checkImage(
  image: Image | undefined,
  config: PreflightConfig,
  expectedDriver: string,
): PreflightCheck[] {
  if (!image) {
    return [
      {
        rule: 'NODE-1',
        ok: false,
        detail: config.amiId
          ? `AMI ${config.amiId} does not exist in ${config.region} (or is not shared with this account).`
          : `No EKS-optimized AL2023 NVIDIA image ${eksNvidiaImageName(config.releaseVersion ?? '')} exists in ${config.region}.`,
      },
    ];
  }
  const checks: PreflightCheck[] = [
    {
      rule: 'NODE-1',
      ok: image.State === 'available',
      detail: `AMI ${image.ImageId} exists (${image.Name ?? 'no name'}), state ${image.State ?? 'unknown'}.`,
    },
    {
      rule: 'HW-1',
      ok: image.Architecture === 'x86_64',
      detail: `AMI architecture is ${image.Architecture ?? 'unknown'}; p4d.24xlarge needs x86_64.`,
    },
  ];
  const driver = tagValue(image, AMI_DRIVER_TAG);
  if (driver === undefined && EKS_NVIDIA_IMAGE.test(image.Name ?? '')) {
    // EKS-optimized images carry no driver tag and never shipped the standard's pin: usable only
    // under a waiver of NODE-2 that records the release's driver, given here with --driver.
    checks.push({
      rule: 'NODE-2',
      ok: config.expectedDriver !== undefined,
      detail:
        config.expectedDriver !== undefined
          ? `EKS-optimized image ${image.Name} carries no driver tag; the waived driver ${config.expectedDriver} is verified on the node at boot.`
          : `EKS-optimized image ${image.Name} does not ship driver ${expectedDriver}; it needs a waiver of NODE-2 and --driver with the driver its release ships.`,
    });
  } else if (driver === undefined) {
    checks.push({
      rule: 'NODE-2',
      ok: false,
      detail: `AMI carries no ${AMI_DRIVER_TAG} tag, so it does not say which NVIDIA driver it holds (expected ${expectedDriver}).`,
    });
  } else {
    checks.push({
      rule: 'NODE-2',
      ok: driver === expectedDriver,
      detail:
        driver === expectedDriver
          ? `AMI carries NVIDIA driver ${driver} (tag ${AMI_DRIVER_TAG}), as pinned.`
          : `AMI carries NVIDIA driver ${driver} (tag ${AMI_DRIVER_TAG}), but ${expectedDriver} is pinned.`,
    });
  }
  return checks;
}

/** The checks of the instance type against the standard's hardware numbers. */
function checkInstanceType(
  info: InstanceTypeInfo | undefined,
  standard: Standard,
  region: string,
): PreflightCheck[] {
  const hw = standard.hardware;
  if (!info) {
    return [
      { rule: 'HW-1', ok: false, detail: `EC2 does not know ${hw.instanceType} in ${region}.` },
    ];
  }
  const gpus = info.GpuInfo?.Gpus ?? [];
  const gpuCount = gpus.reduce((n, g) => n + (g.Count ?? 0), 0);
  const gpuMiB = gpus.map((g) => g.MemoryInfo?.SizeInMiB ?? 0);
  const disks = info.InstanceStorageInfo?.Disks ?? [];
  const diskCount = disks.reduce((n, d) => n + (d.Count ?? 0), 0);
  const nvme = info.InstanceStorageInfo?.NvmeSupport;
  const gpuName =
    gpus.map((g) => `${g.Manufacturer ?? ''} ${g.Name ?? ''}`.trim()).join(', ') || 'no GPU';
  return [
    {
      rule: 'HW-1',
      ok:
        gpuCount === hw.gpusPerInstance &&
        gpuMiB.length > 0 &&
        gpuMiB.every((m) => m === hw.gpuMemoryMiB),
      detail: `${hw.instanceType} reports ${gpuCount} x ${gpuName} of ${gpuMiB.join('/') || 0} MiB (standard: ${hw.gpusPerInstance} x ${hw.gpuMemoryMiB} MiB).`,
    },
    {
      rule: 'W-1',
      ok: diskCount === hw.nvmeDisks && (nvme === 'required' || nvme === 'supported'),
      detail: `${hw.instanceType} reports ${diskCount} instance-store disks (${disks.map((d) => `${d.Count} x ${d.SizeInGB} GB`).join(', ') || 'none'}), NVMe ${nvme ?? 'unsupported'} (standard: ${hw.nvmeDisks} NVMe disks).`,
    },
  ];
}

/**
 * Checks, against the EC2 API of one account and region, what the GPU node group relies on:
 * the pinned AMI, the instance type's GPUs and NVMe disks, and its offering in each zone.
 * Throttled calls are retried; any other AWS error ends the run with a {@link PreflightError}.
 */
export async function runPreflight(
  client: EC2Client,
  config: PreflightConfig,
  retry: RetryOptions = {},
): Promise<PreflightReport> {
  const standard = config.standard ?? DEFAULT_STANDARD;
  const expectedDriver = config.expectedDriver ?? standard.software.cudaDriver;
  const instanceType = standard.hardware.instanceType;
  const region = config.region;

  if (!config.amiId === !config.releaseVersion) {
    throw new PreflightError(
      'Give exactly one of an AMI id (--ami) and an EKS-optimized release (--release).',
    );
  }
  const query = config.amiId
    ? { ImageIds: [config.amiId] }
    : {
        Owners: ['amazon'],
        Filters: [{ Name: 'name', Values: [eksNvidiaImageName(config.releaseVersion!)] }],
      };
  let image: Image | undefined;
  try {
    const images = await withThrottlingRetry(
      () => client.send(new DescribeImagesCommand(query)),
      retry,
    );
    image = config.amiId
      ? images.Images?.find((i) => i.ImageId === config.amiId)
      : images.Images?.find((i) => i.Name === eksNvidiaImageName(config.releaseVersion!));
  } catch (e) {
    const name = errorName(e);
    if (name !== 'InvalidAMIID.NotFound' && name !== 'InvalidAMIID.Malformed') {
      throw explainAwsError(e, 'ec2:DescribeImages', region);
    }
  }

  const types = await call(
    'ec2:DescribeInstanceTypes',
    region,
    () => client.send(new DescribeInstanceTypesCommand({ InstanceTypes: [instanceType as never] })),
    retry,
  );
  const offerings = await call(
    'ec2:DescribeInstanceTypeOfferings',
    region,
    () =>
      client.send(
        new DescribeInstanceTypeOfferingsCommand({
          LocationType: 'availability-zone',
          Filters: [{ Name: 'instance-type', Values: [instanceType] }],
        }),
      ),
    retry,
  );
  const offeredIn = new Set((offerings.InstanceTypeOfferings ?? []).map((o) => o.Location));

  const checks: PreflightCheck[] = [
    ...checkImage(image, config, expectedDriver),
    ...checkInstanceType(
      types.InstanceTypes?.find((t) => t.InstanceType === instanceType),
      standard,
      region,
    ),
    ...config.availabilityZones.map((az) => ({
      rule: 'HW-1' as const,
      ok: offeredIn.has(az),
      detail: offeredIn.has(az)
        ? `${instanceType} is offered in ${az}.`
        : `${instanceType} is not offered in ${az}.`,
    })),
  ];
  return Object.freeze({ checks: Object.freeze(checks), ok: checks.every((c) => c.ok) });
}

/** The report as lines of text: one line per check, then the verdict. */
export function renderPreflight(report: PreflightReport, config: PreflightConfig): string[] {
  const standard = config.standard ?? DEFAULT_STANDARD;
  const lines = [
    `preflight: ${standard.hardware.instanceType} with ${imageLabel(config)} in ${config.region} (${config.availabilityZones.join(', ')})`,
  ];
  for (const c of report.checks) {
    lines.push(`  ${c.ok ? 'PASS' : 'FAIL'}  ${c.rule.padEnd(6)}  ${c.detail}`);
  }
  const failed = report.checks.filter((c) => !c.ok).length;
  lines.push(
    failed === 0
      ? `preflight passed: ${report.checks.length} checks`
      : `preflight FAILED: ${failed} of ${report.checks.length} checks`,
  );
  return lines;
}

/** Command-line flags of `preflight`, as strings. */
export interface PreflightFlags {
  readonly ami?: string;
  readonly release?: string;
  readonly region?: string;
  readonly availabilityZones?: string;
  readonly driver?: string;
  readonly endpoint?: string;
}

/** The preflight configuration and the EC2 endpoint override, resolved. */
export interface ResolvedPreflight {
  readonly config: PreflightConfig;
  /** The EC2 endpoint override, if any (tests, VPC endpoints, emulators). */
  readonly endpoint?: string;
}

/**
 * Resolves flags against the environment and the cdk.json context: the region from the flag,
 * then AWS_REGION / AWS_DEFAULT_REGION, then `compliant-inference:region`; the zones from the
 * flag, then `compliant-inference:availabilityZones`; the AMI from the flag, then
 * `compliant-inference:gpuAmiId`; the endpoint from the flag, then AWS_ENDPOINT_URL_EC2, then
 * AWS_ENDPOINT_URL.
 * @throws PreflightError naming the missing or malformed input
 */
export function resolvePreflight(
  flags: PreflightFlags,
  env: NodeJS.ProcessEnv,
  context: Record<string, unknown>,
): ResolvedPreflight {
  const region =
    flags.region ??
    env.AWS_REGION ??
    env.AWS_DEFAULT_REGION ??
    (context['compliant-inference:region'] as string | undefined);
  if (!region || !/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) {
    throw new PreflightError(
      `No usable region (${region ?? 'none'}): pass --region, set AWS_REGION, or set compliant-inference:region in cdk.json.`,
    );
  }
  const zonesRaw = flags.availabilityZones ?? context['compliant-inference:availabilityZones'];
  const zones =
    typeof zonesRaw === 'string'
      ? zonesRaw
          .split(',')
          .map((z) => z.trim())
          .filter(Boolean)
      : zonesRaw;
  if (
    !Array.isArray(zones) ||
    zones.length === 0 ||
    !zones.every((z) => typeof z === 'string' && z.startsWith(region))
  ) {
    throw new PreflightError(
      `The availability zones must be zones of ${region}: pass --availability-zones ${region}a,${region}b or set compliant-inference:availabilityZones; received ${JSON.stringify(zones ?? null)}.`,
    );
  }
  const release = flags.release;
  if (release !== undefined) {
    if (flags.ami !== undefined) {
      throw new PreflightError('Give either --ami or --release, not both.');
    }
    eksNvidiaImageName(release);
  }
  const ami =
    release === undefined
      ? (flags.ami ?? (context['compliant-inference:gpuAmiId'] as string | undefined))
      : undefined;
  if (release === undefined && (!ami || !/^ami-[0-9a-f]{8,17}$/.test(ami))) {
    throw new PreflightError(
      `The pinned GPU AMI must be an image id such as ami-0123456789abcdef0: pass --ami (or --release for an EKS-optimized release) or set compliant-inference:gpuAmiId; received ${ami ?? 'none'}.`,
    );
  }
  const endpoint = flags.endpoint ?? env.AWS_ENDPOINT_URL_EC2 ?? env.AWS_ENDPOINT_URL;
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint)) {
    throw new PreflightError(
      `The EC2 endpoint must be an http(s) URL such as https://ec2.us-east-1.amazonaws.com; received '${endpoint}'.`,
    );
  }
  return Object.freeze({
    config: Object.freeze({
      region,
      availabilityZones: Object.freeze([...(zones as string[])]),
      ...(ami ? { amiId: ami } : { releaseVersion: release }),
      ...(flags.driver ? { expectedDriver: flags.driver } : {}),
    }),
    ...(endpoint ? { endpoint } : {}),
  });
}

/**
 * The EC2 client of a preflight run. The SDK makes one attempt per call: throttling is
 * retried by {@link withThrottlingRetry}, so that the backoff is the project's and is tested.
 */
export function preflightClient(resolved: ResolvedPreflight): EC2Client {
  // The SDK prints a multi-line notice on Node 20 (its support ends in 2026) before the
  // report's first line; the package's Node floor is recorded in package.json instead.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new EC2Client({
    region: resolved.config.region,
    maxAttempts: 1,
    ...(resolved.endpoint ? { endpoint: resolved.endpoint } : {}),
  });
}
