import {
  DescribeImagesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeInstanceTypesCommand,
  EC2Client,
  EC2ServiceException,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { runCli } from '../../bin/cli';
import { preflight } from '../../bin/commands/preflight';
import { BufferedOutput } from '../../bin/private/output';
import {
  AMI_DRIVER_TAG,
  PreflightError,
  runPreflight,
  withThrottlingRetry,
} from '../../lib/preflight';

const ec2 = mockClient(EC2Client);
const AMI = 'ami-0123456789abcdef0';
const CONFIG = { region: 'us-east-1', availabilityZones: ['us-east-1a'], amiId: AMI };
const FLAGS = { ami: AMI, region: 'us-east-1', availabilityZones: 'us-east-1a' };

function awsError(
  name: string,
  status: number,
  message = `${name} from the mock`,
): EC2ServiceException {
  return new EC2ServiceException({
    name,
    message,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

/** Answers as EC2 does for a good account: a tagged x86_64 AMI, a p4d, offered in us-east-1a. */
function healthyAccount(): void {
  ec2.on(DescribeImagesCommand).resolves({
    Images: [
      {
        ImageId: AMI,
        Name: 'inference-gpu',
        State: 'available',
        Architecture: 'x86_64',
        Tags: [{ Key: AMI_DRIVER_TAG, Value: '535.104.05' }],
      },
    ],
  });
  ec2.on(DescribeInstanceTypesCommand).resolves({
    InstanceTypes: [
      {
        InstanceType: 'p4d.24xlarge',
        GpuInfo: {
          Gpus: [
            { Name: 'A100', Manufacturer: 'NVIDIA', Count: 8, MemoryInfo: { SizeInMiB: 40960 } },
          ],
        },
        InstanceStorageInfo: {
          Disks: [{ Count: 8, SizeInGB: 1000, Type: 'ssd' }],
          NvmeSupport: 'required',
        },
      },
    ],
  });
  ec2.on(DescribeInstanceTypeOfferingsCommand).resolves({
    InstanceTypeOfferings: [{ InstanceType: 'p4d.24xlarge', Location: 'us-east-1a' }],
  });
}

/** No stack trace, no multi-line dump: one sentence on one line. */
function expectOneSentence(lines: readonly string[]): void {
  expect(lines).toHaveLength(1);
  expect(lines[0]).not.toMatch(/\n|\bat .+\(.+:\d+:\d+\)/);
  expect(lines[0]).toMatch(/\.$/);
}

beforeEach(() => {
  ec2.reset();
});

describe('preflight throttling', () => {
  test('retries throttled calls with growing, jittered backoff and then succeeds', async () => {
    healthyAccount();
    ec2
      .on(DescribeInstanceTypesCommand)
      .rejectsOnce(awsError('RequestLimitExceeded', 503))
      .rejectsOnce(awsError('Throttling', 400))
      .resolves({
        InstanceTypes: [
          {
            InstanceType: 'p4d.24xlarge',
            GpuInfo: { Gpus: [{ Count: 8, MemoryInfo: { SizeInMiB: 40960 } }] },
            InstanceStorageInfo: { Disks: [{ Count: 8, SizeInGB: 1000 }], NvmeSupport: 'required' },
          },
        ],
      });
    const sleeps: number[] = [];
    const report = await runPreflight(new EC2Client({ region: 'us-east-1' }), CONFIG, {
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.999,
    });
    expect(report.ok).toBe(true);
    expect(ec2.commandCalls(DescribeInstanceTypesCommand)).toHaveLength(3);
    expect(sleeps).toEqual([199, 399]);
  });

  test('caps the backoff and gives up after the last attempt, in one sentence', async () => {
    healthyAccount();
    ec2.on(DescribeInstanceTypesCommand).rejects(awsError('ThrottlingException', 400));
    const sleeps: number[] = [];
    const run = runPreflight(new EC2Client({ region: 'us-east-1' }), CONFIG, {
      attempts: 6,
      baseDelayMs: 1000,
      maxDelayMs: 4000,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
    });
    await expect(run).rejects.toThrow(PreflightError);
    await expect(run).rejects.toThrow(
      /^EC2 kept throttling ec2:DescribeInstanceTypes in us-east-1 after every retry \(ThrottlingException\)/,
    );
    expect(ec2.commandCalls(DescribeInstanceTypesCommand)).toHaveLength(6);
    expect(sleeps).toEqual([500, 1000, 2000, 2000, 2000]);
  });

  test('does not retry an error that is not throttling', async () => {
    let calls = 0;
    await expect(
      withThrottlingRetry(async () => {
        calls++;
        throw awsError('UnauthorizedOperation', 403);
      }),
    ).rejects.toThrow('UnauthorizedOperation');
    expect(calls).toBe(1);
  });
});

describe('preflight access and credential errors', () => {
  test('access denied is explained in one sentence naming the permissions, exit 2', async () => {
    ec2
      .on(DescribeImagesCommand)
      .rejects(
        awsError('UnauthorizedOperation', 403, 'You are not authorized to perform this operation.'),
      );
    const out = new BufferedOutput();
    const code = await preflight(FLAGS, out, {});
    expect(code).toBe(2);
    expect(out.stdout).toEqual([]);
    expectOneSentence(out.stderr);
    expect(out.stderr[0]).toBe(
      'preflight: Access denied calling ec2:DescribeImages in us-east-1 (UnauthorizedOperation): the credentials in use need ec2:DescribeImages, ec2:DescribeInstanceTypes and ec2:DescribeInstanceTypeOfferings.',
    );
  });

  test('access denied on a later call names that call', async () => {
    healthyAccount();
    ec2.on(DescribeInstanceTypeOfferingsCommand).rejects(awsError('AccessDenied', 403));
    const out = new BufferedOutput();
    expect(await preflight(FLAGS, out, {})).toBe(2);
    expect(out.stderr[0]).toMatch(
      /^preflight: Access denied calling ec2:DescribeInstanceTypeOfferings/,
    );
  });

  test('missing credentials are explained in one sentence, exit 2', async () => {
    const missing = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    ec2.on(DescribeImagesCommand).rejects(missing);
    const out = new BufferedOutput();
    expect(await preflight(FLAGS, out, {})).toBe(2);
    expectOneSentence(out.stderr);
    expect(out.stderr[0]).toBe(
      'preflight: No AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, before running preflight.',
    );
  });

  test('an unreachable endpoint is explained in one sentence, exit 2', async () => {
    ec2
      .on(DescribeImagesCommand)
      .rejects(
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      );
    const out = new BufferedOutput();
    expect(await preflight(FLAGS, out, {})).toBe(2);
    expect(out.stderr).toEqual([
      'preflight: Cannot reach the EC2 endpoint for us-east-1 (ECONNREFUSED).',
    ]);
  });
});

describe('preflight with no such AMI', () => {
  test('EC2 InvalidAMIID.NotFound is a failed NODE-1 check, exit 1', async () => {
    healthyAccount();
    ec2.on(DescribeImagesCommand).rejects(awsError('InvalidAMIID.NotFound', 400));
    const out = new BufferedOutput();
    expect(await preflight(FLAGS, out, {})).toBe(1);
    expect(out.text).toContain(`FAIL  NODE-1  AMI ${AMI} does not exist in us-east-1`);
    expect(out.stdout[out.stdout.length - 1]).toBe('preflight FAILED: 1 of 4 checks');
  });

  test('an empty answer is the same failure', async () => {
    healthyAccount();
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    const out = new BufferedOutput();
    expect(await preflight(FLAGS, out, {})).toBe(1);
    expect(out.text).toContain(`FAIL  NODE-1  AMI ${AMI} does not exist in us-east-1`);
  });

  test('the happy path through the same mock passes every check, exit 0', async () => {
    healthyAccount();
    const out = new BufferedOutput();
    expect(await preflight(FLAGS, out, {})).toBe(0);
    expect(out.stdout[out.stdout.length - 1]).toBe('preflight passed: 6 checks');
  });
});

describe('preflight in EKS-optimized release mode', () => {
  const RELEASE_FLAGS = {
    release: '1.33.5-20251120',
    region: 'us-east-1',
    availabilityZones: 'us-east-1a',
  };
  const IMAGE_NAME = 'amazon-eks-node-al2023-x86_64-nvidia-1.33-v20251120';

  function releaseImage(): void {
    healthyAccount();
    ec2.on(DescribeImagesCommand).resolves({
      Images: [
        {
          ImageId: 'ami-0fedcba9876543210',
          Name: IMAGE_NAME,
          State: 'available',
          Architecture: 'x86_64',
        },
      ],
    });
  }

  test('finds the release image by its name, owned by Amazon', async () => {
    releaseImage();
    const out = new BufferedOutput();
    await preflight({ ...RELEASE_FLAGS, driver: '570.172.08' }, out, {});
    expect(ec2.commandCalls(DescribeImagesCommand)[0].args[0].input).toEqual({
      Owners: ['amazon'],
      Filters: [{ Name: 'name', Values: [IMAGE_NAME] }],
    });
    expect(out.stdout[0]).toContain('with EKS-optimized release 1.33.5-20251120 in us-east-1');
  });

  test('passes only with the waived driver given, which the boot check verifies', async () => {
    releaseImage();
    const waived = new BufferedOutput();
    expect(await preflight({ ...RELEASE_FLAGS, driver: '570.172.08' }, waived, {})).toBe(0);
    expect(waived.text).toContain(
      `PASS  NODE-2  EKS-optimized image ${IMAGE_NAME} carries no driver tag; the waived driver 570.172.08 is verified on the node at boot.`,
    );
    const unwaived = new BufferedOutput();
    expect(await preflight(RELEASE_FLAGS, unwaived, {})).toBe(1);
    expect(unwaived.text).toContain(
      `FAIL  NODE-2  EKS-optimized image ${IMAGE_NAME} does not ship driver 535.104.05`,
    );
  });

  test('fails NODE-1 when the release has no image in the region', async () => {
    healthyAccount();
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    const out = new BufferedOutput();
    expect(await preflight({ ...RELEASE_FLAGS, driver: '570.172.08' }, out, {})).toBe(1);
    expect(out.text).toContain(
      `FAIL  NODE-1  No EKS-optimized AL2023 NVIDIA image ${IMAGE_NAME} exists in us-east-1.`,
    );
  });

  test('refuses a floating release, and --ami with --release, in one sentence', async () => {
    const floating = new BufferedOutput();
    expect(await preflight({ ...RELEASE_FLAGS, release: 'latest' }, floating, {})).toBe(2);
    expect(floating.stderr).toEqual([
      'preflight: The release latest is not an EKS AMI release such as 1.33.5-20251120.',
    ]);
    const both = new BufferedOutput();
    expect(await preflight({ ...RELEASE_FLAGS, ami: AMI }, both, {})).toBe(2);
    expect(both.stderr).toEqual(['preflight: Give either --ami or --release, not both.']);
  });
});

describe('preflight input', () => {
  test('an endpoint that is not a URL is one sentence and exit 2, not a TypeError', async () => {
    const out = new BufferedOutput();
    const code = await runCli(
      [
        'preflight',
        '--endpoint',
        'not a url',
        '--ami',
        'ami-0123456789abcdef0',
        '--region',
        'us-east-1',
        '--availability-zones',
        'us-east-1a,us-east-1b',
      ],
      out,
    );
    expect(code).toBe(2);
    expect(out.stderr.join('\n')).toMatch(
      /^preflight: The EC2 endpoint must be an http\(s\) URL .* received 'not a url'\.$/,
    );
  });
});
