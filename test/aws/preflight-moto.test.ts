import { ChildProcess, spawn } from 'child_process';
import { createServer } from 'net';
import {
  CopyImageCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  EC2Client,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { runCli } from '../../bin/cli';
import { BufferedOutput } from '../../bin/private/output';
import { AMI_DRIVER_TAG } from '../../lib/preflight';
import { DEFAULT_STANDARD } from '../../constructs/standard';

/**
 * preflight against moto_server's EC2 API, which serves AWS's own instance-type data for
 * p4d.24xlarge. The server runs on loopback for this file only and is killed afterwards.
 */

const REGION = 'us-east-1';
const CREDENTIAL_ENV = {
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_SESSION_TOKEN: 'testing',
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Polls the server until it answers, for at most `timeoutMs`. */
async function waitForServer(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${url}/moto-api/`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`moto_server did not answer at ${url} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('preflight against moto_server EC2', () => {
  let moto: ChildProcess;
  let endpoint: string;
  let ec2: EC2Client;
  const savedEnv: Record<string, string | undefined> = {};

  beforeAll(async () => {
    for (const [k, v] of Object.entries(CREDENTIAL_ENV)) {
      savedEnv[k] = process.env[k];
      process.env[k] = v;
    }
    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    await waitForServer(endpoint, 20_000);
    ec2 = new EC2Client({ region: REGION, endpoint });
  }, 30_000);

  afterAll(() => {
    ec2?.destroy();
    moto?.kill('SIGTERM');
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  /**
   * An AMI of this account, tagged with a driver when given. With an architecture, it is a copy
   * of one of moto's public AL2023 images of that architecture (moto 5.2's RegisterImage keeps
   * only the name and description, so a registered image has no architecture); without one,
   * it is registered through RegisterImage.
   */
  async function ownAmi(
    name: string,
    options: { architecture?: 'x86_64' | 'arm64'; driver?: string },
  ): Promise<string> {
    let id: string;
    if (options.architecture) {
      const found = await ec2.send(
        new DescribeImagesCommand({
          Filters: [
            { Name: 'architecture', Values: [options.architecture] },
            { Name: 'name', Values: ['al2023-ami-*'] },
          ],
        }),
      );
      const source = found.Images?.[0]?.ImageId;
      if (!source) throw new Error(`moto has no public ${options.architecture} AL2023 image`);
      id = (
        await ec2.send(
          new CopyImageCommand({ Name: name, SourceImageId: source, SourceRegion: REGION }),
        )
      ).ImageId!;
    } else {
      id = (
        await ec2.send(
          new RegisterImageCommand({
            Name: name,
            RootDeviceName: '/dev/xvda',
            VirtualizationType: 'hvm',
          }),
        )
      ).ImageId!;
    }
    if (options.driver) {
      await ec2.send(
        new CreateTagsCommand({
          Resources: [id],
          Tags: [{ Key: AMI_DRIVER_TAG, Value: options.driver }],
        }),
      );
    }
    return id;
  }

  async function preflight(...args: string[]): Promise<{ code: number; out: BufferedOutput }> {
    const out = new BufferedOutput();
    const code = await runCli(
      ['preflight', '--region', REGION, '--endpoint', endpoint, ...args],
      out,
    );
    return { code, out };
  }

  test('passes for a tagged x86_64 AMI and zones that offer p4d.24xlarge', async () => {
    const ami = await ownAmi('inference-gpu-535', {
      architecture: 'x86_64',
      driver: DEFAULT_STANDARD.software.cudaDriver,
    });
    const { code, out } = await preflight(
      '--ami',
      ami,
      '--availability-zones',
      'us-east-1a,us-east-1b',
    );
    expect(out.stderr).toEqual([]);
    expect(code).toBe(0);
    expect(out.text).toContain(
      `PASS  NODE-2  AMI carries NVIDIA driver 535.104.05 (tag ${AMI_DRIVER_TAG})`,
    );
    expect(out.text).toContain(
      'PASS  HW-1    p4d.24xlarge reports 8 x NVIDIA A100 of 40960 MiB (standard: 8 x 40960 MiB).',
    );
    expect(out.text).toContain(
      'PASS  W-1     p4d.24xlarge reports 8 instance-store disks (8 x 1000 GB), NVMe required (standard: 8 NVMe disks).',
    );
    expect(out.text).toContain('PASS  HW-1    p4d.24xlarge is offered in us-east-1a.');
    expect(out.text).toContain('PASS  HW-1    p4d.24xlarge is offered in us-east-1b.');
    expect(out.stdout[out.stdout.length - 1]).toMatch(/^preflight passed: \d+ checks$/);
  });

  test('fails when the AMI carries another driver, naming both', async () => {
    const ami = await ownAmi('inference-gpu-570', { architecture: 'x86_64', driver: '570.172.08' });
    const { code, out } = await preflight(
      '--ami',
      ami,
      '--availability-zones',
      'us-east-1a,us-east-1b',
    );
    expect(code).toBe(1);
    expect(out.text).toContain('FAIL  NODE-2  AMI carries NVIDIA driver 570.172.08');
    expect(out.text).toContain('but 535.104.05 is pinned');
    expect(out.stdout[out.stdout.length - 1]).toBe(
      `preflight FAILED: 1 of ${out.stdout.length - 2} checks`,
    );
  });

  test('passes a different driver when it is the one given with --driver (a waiver of NODE-2)', async () => {
    const ami = await ownAmi('inference-gpu-570-waived', {
      architecture: 'x86_64',
      driver: '570.172.08',
    });
    const { code } = await preflight(
      '--ami',
      ami,
      '--availability-zones',
      'us-east-1a,us-east-1b',
      '--driver',
      '570.172.08',
    );
    expect(code).toBe(0);
  });

  test('fails when the AMI does not say which driver it carries', async () => {
    const ami = await ownAmi('inference-gpu-untagged', { architecture: 'x86_64' });
    const { code, out } = await preflight(
      '--ami',
      ami,
      '--availability-zones',
      'us-east-1a,us-east-1b',
    );
    expect(code).toBe(1);
    expect(out.text).toContain(`FAIL  NODE-2  AMI carries no ${AMI_DRIVER_TAG} tag`);
  });

  test('fails for an arm64 AMI', async () => {
    const ami = await ownAmi('inference-gpu-arm', {
      architecture: 'arm64',
      driver: DEFAULT_STANDARD.software.cudaDriver,
    });
    const { code, out } = await preflight(
      '--ami',
      ami,
      '--availability-zones',
      'us-east-1a,us-east-1b',
    );
    expect(code).toBe(1);
    expect(out.text).toContain(
      'FAIL  HW-1    AMI architecture is arm64; p4d.24xlarge needs x86_64.',
    );
  });

  test('fails for an AMI registered through RegisterImage that does not state its architecture', async () => {
    const ami = await ownAmi('inference-gpu-registered', {
      driver: DEFAULT_STANDARD.software.cudaDriver,
    });
    const { code, out } = await preflight('--ami', ami, '--availability-zones', 'us-east-1a');
    expect(code).toBe(1);
    expect(out.text).toContain(
      `PASS  NODE-1  AMI ${ami} exists (inference-gpu-registered), state available.`,
    );
    expect(out.text).toContain(
      'FAIL  HW-1    AMI architecture is unknown; p4d.24xlarge needs x86_64.',
    );
    expect(out.text).toContain('PASS  NODE-2  AMI carries NVIDIA driver 535.104.05');
  });

  test('fails for an AMI that does not exist', async () => {
    const { code, out } = await preflight(
      '--ami',
      'ami-0123456789abcdef0',
      '--availability-zones',
      'us-east-1a',
    );
    expect(code).toBe(1);
    expect(out.text).toContain(
      'FAIL  NODE-1  AMI ami-0123456789abcdef0 does not exist in us-east-1',
    );
  });

  test('fails for a zone where p4d.24xlarge is not offered', async () => {
    const ami = await ownAmi('inference-gpu-zones', {
      architecture: 'x86_64',
      driver: DEFAULT_STANDARD.software.cudaDriver,
    });
    const { code, out } = await preflight(
      '--ami',
      ami,
      '--availability-zones',
      'us-east-1a,us-east-1f',
    );
    expect(code).toBe(1);
    expect(out.text).toContain('PASS  HW-1    p4d.24xlarge is offered in us-east-1a.');
    expect(out.text).toContain('FAIL  HW-1    p4d.24xlarge is not offered in us-east-1f.');
  });

  test('refuses unusable input in one sentence, before calling AWS', async () => {
    const { code, out } = await preflight('--ami', 'latest', '--availability-zones', 'us-east-1a');
    expect(code).toBe(2);
    expect(out.stderr).toEqual([
      'preflight: The pinned GPU AMI must be an image id such as ami-0123456789abcdef0: pass --ami (or --release for an EKS-optimized release) or set compliant-inference:gpuAmiId; received latest.',
    ]);
  });
});
