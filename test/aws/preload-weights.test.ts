import { ChildProcess, spawn, spawnSync } from 'child_process';
import { createHash, randomBytes } from 'crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'fs';
import { createServer } from 'net';
import { tmpdir } from 'os';
import * as path from 'path';
import { bootScriptDir } from '../../constructs/aws/private/boot-scripts';
import { CHECKSUM_MANIFEST, READY_MARKER } from '../../constructs/conventions';

/** Debian's AWS CLI v2; the `aws` on PATH may be v1. */
const AWS_CLI = '/usr/bin/aws';
const BUCKET = 'weights-preload-test';
const SCRIPT = path.join(bootScriptDir(), '30-preload-weights.sh');

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`moto_server did not answer on ${url} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** The objects of one model prefix, and the manifest that lists them. */
interface Fixture {
  readonly prefix: string;
  readonly files: Record<string, Buffer>;
  /** Lines of SHA256SUMS; by default the right sums of every file. */
  readonly manifest?: string;
  /** Files listed in the manifest but not uploaded. */
  readonly notUploaded?: readonly string[];
}

const GOOD: Fixture = {
  prefix: 'llama-2-70b-awq/3f1c2b0',
  files: {
    'model-00001-of-00002.safetensors': randomBytes(3 * 1024 * 1024),
    'model-00002-of-00002.safetensors': randomBytes(1024 * 1024 + 17),
    'config.json': Buffer.from('{"architectures":["LlamaForCausalLM"]}\n'),
    'tokenizer/tokenizer.json': Buffer.from('{"version":"1.0"}\n'),
  },
};
const MISSING: Fixture = {
  prefix: 'missing/r1',
  files: { 'config.json': Buffer.from('{}\n'), 'model.safetensors': Buffer.from('weights') },
  notUploaded: ['model.safetensors'],
};
const CORRUPT: Fixture = {
  prefix: 'corrupt/r1',
  files: {
    'config.json': Buffer.from('{}\n'),
    'model.safetensors': Buffer.from('these are not the weights'),
  },
  manifest: `${sha256('{}\n')}  config.json\n${sha256('the weights the manifest was made from')}  model.safetensors\n`,
};
const BIG: Fixture = {
  prefix: 'big/r1',
  files: { 'model.safetensors': randomBytes(48 * 1024 * 1024) },
};

function manifestOf(f: Fixture): string {
  return (
    f.manifest ??
    Object.entries(f.files)
      .map(([name, data]) => `${sha256(data)}  ${name}\n`)
      .join('')
  );
}

describe('30-preload-weights.sh against moto_server (W-1, W-2)', () => {
  let moto: ChildProcess | undefined;
  let endpoint = '';
  let root = '';
  let baseEnv: Record<string, string> = {};

  beforeAll(async () => {
    for (const tool of [AWS_CLI]) {
      if (!existsSync(tool))
        throw new Error(`${tool} (Debian's AWS CLI v2) is required for this test and is missing`);
    }
    if (spawnSync('moto_server', ['--help'], { encoding: 'utf8' }).status !== 0) {
      throw new Error('moto_server is required on PATH for this test (pip install "moto[server]")');
    }
    root = mkdtempSync(path.join(tmpdir(), 'preload-'));
    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    await waitForHttp(`${endpoint}/moto-api/`, 15000);

    baseEnv = {
      PATH: '/usr/bin:/bin',
      HOME: root,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_MAX_ATTEMPTS: '1',
      COMPLIANT_INFERENCE_GATE: '1',
      CI_AWS_CLI: AWS_CLI,
      CI_S3_ENDPOINT: endpoint,
      CI_WEIGHTS_BUCKET: BUCKET,
      CI_REQUIRE_RAID: '0',
      CI_WEIGHTS_PV_ROOT: '',
      CI_MAX_ATTEMPTS: '2',
      CI_BACKOFF_BASE_MS: '100',
      CI_BACKOFF_MAX_MS: '400',
      CI_PROGRESS_INTERVAL_SECONDS: '0',
      CI_S3_MULTIPART_CHUNKSIZE: '8MB',
    };

    // One local tree, one upload.
    const upload = path.join(root, 'upload');
    for (const f of [GOOD, MISSING, CORRUPT, BIG]) {
      for (const [name, data] of Object.entries(f.files)) {
        if (f.notUploaded?.includes(name)) continue;
        mkdirSync(path.dirname(path.join(upload, f.prefix, name)), { recursive: true });
        writeFileSync(path.join(upload, f.prefix, name), data);
      }
      writeFileSync(path.join(upload, f.prefix, CHECKSUM_MANIFEST), manifestOf(f));
    }
    const aws = (...args: string[]) => {
      const r = spawnSync(AWS_CLI, ['--endpoint-url', endpoint, ...args], {
        env: baseEnv,
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`aws ${args.join(' ')} failed: ${r.stderr}`);
    };
    aws('s3', 'mb', `s3://${BUCKET}`);
    aws('s3', 'sync', '--only-show-errors', upload, `s3://${BUCKET}/`);
  }, 40000);

  afterAll(() => {
    moto?.kill('SIGKILL');
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** A fresh NVMe mount and console for one run. */
  function target(name: string): { weights: string; console: string } {
    const dir = path.join(root, name);
    mkdirSync(path.join(dir, 'nvme'), { recursive: true });
    return { weights: path.join(dir, 'nvme', 'models'), console: path.join(dir, 'console') };
  }

  function preload(
    t: { weights: string; console: string },
    models: string,
    env: Record<string, string> = {},
  ): { status: number | null; lines: string[]; verdicts: string[] } {
    const r = spawnSync('bash', [SCRIPT], {
      encoding: 'utf8',
      timeout: 30000,
      env: {
        ...baseEnv,
        CI_WEIGHTS_DIR: t.weights,
        CI_CONSOLE: t.console,
        CI_MODELS: models,
        ...env,
      },
    });
    return result(r.status, t.console);
  }

  function result(status: number | null, consoleFile: string) {
    const lines = existsSync(consoleFile)
      ? readFileSync(consoleFile, 'utf8').split('\n').filter(Boolean)
      : [];
    return { status, lines, verdicts: lines.filter((l) => /^[A-Z]+-\d+: /.test(l)) };
  }

  /** Every file under a directory, relative, hidden ones included. */
  function tree(dir: string): string[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) =>
        path.relative(
          dir,
          path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name),
        ),
      )
      .sort();
  }

  test('copies every file, verifies it against SHA256SUMS and then writes the ready marker', () => {
    const t = target('success');
    const r = preload(t, `llama-2-70b-awq:3f1c2b0:${GOOD.prefix}`);
    expect(r.status).toBe(0);
    expect(r.verdicts).toEqual([]);
    const dir = path.join(t.weights, 'llama-2-70b-awq', '3f1c2b0');
    expect(tree(dir)).toEqual([CHECKSUM_MANIFEST, READY_MARKER, ...Object.keys(GOOD.files)].sort());
    for (const [name, data] of Object.entries(GOOD.files)) {
      expect(sha256(readFileSync(path.join(dir, name)))).toBe(sha256(data));
    }
    const marker = readFileSync(path.join(dir, READY_MARKER), 'utf8');
    expect(marker).toContain(`manifest_sha256=${sha256(manifestOf(GOOD))}`);
    expect(marker).toContain('files=4');
    // Progress: bytes, rate and time left, then the W-2 verdict of success.
    expect(
      r.lines.some((l) =>
        /^compliant-inference: W-1 llama-2-70b-awq@3f1c2b0: [\d.]+ \w+ of 4\.0 MiB, [\d.]+ \w+\/s, (\d+ s|unknown) left$/.test(
          l,
        ),
      ),
    ).toBe(true);
    expect(r.lines).toContain(
      'compliant-inference: W-2 llama-2-70b-awq@3f1c2b0: 4 files, 4.0 MiB verified against SHA256SUMS; ready',
    );

    // A second boot finds everything verified and fetches nothing.
    const again = preload(t, `llama-2-70b-awq:3f1c2b0:${GOOD.prefix}`);
    expect(again.status).toBe(0);
    expect(again.lines).toContain(
      'compliant-inference: W-1 llama-2-70b-awq@3f1c2b0: 0 of 4 files to fetch, 0 B of 4.0 MiB',
    );
    expect(existsSync(path.join(dir, READY_MARKER))).toBe(true);
  });

  test('a missing object fails with one W-1 line naming it, and no ready marker', () => {
    const t = target('missing');
    const r = preload(t, `broken:r1:${MISSING.prefix}`);
    expect(r.status).not.toBe(0);
    expect(r.verdicts).toEqual([
      `W-1: s3://${BUCKET}/missing/r1/model.safetensors is listed in SHA256SUMS but missing from the bucket`,
    ]);
    expect(existsSync(path.join(t.weights, 'broken', 'r1', READY_MARKER))).toBe(false);
  });

  test('a checksum mismatch fails with one W-2 line naming the object, removes the bad copy, and writes no marker', () => {
    const t = target('corrupt');
    const r = preload(t, `corrupt:r1:${CORRUPT.prefix}`);
    expect(r.status).not.toBe(0);
    expect(r.verdicts).toHaveLength(1);
    expect(r.verdicts[0]).toMatch(
      new RegExp(
        `^W-2: checksum mismatch for s3://${BUCKET}/corrupt/r1/model\\.safetensors: SHA256SUMS says [0-9a-f]{64}, the copy has [0-9a-f]{64}; no ready marker written$`,
      ),
    );
    const dir = path.join(t.weights, 'corrupt', 'r1');
    expect(tree(dir)).toEqual(['config.json']);
  });

  test('an endpoint that is down fails after the bounded retries with one W-1 line naming the object', async () => {
    const t = target('down');
    const closed = `http://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const r = preload(t, `llama-2-70b-awq:3f1c2b0:${GOOD.prefix}`, { CI_S3_ENDPOINT: closed });
    expect(r.status).not.toBe(0);
    expect(r.verdicts).toHaveLength(1);
    expect(r.verdicts[0]).toMatch(
      new RegExp(
        `^W-1: could not fetch s3://${BUCKET}/llama-2-70b-awq/3f1c2b0/SHA256SUMS after 2 attempts: .*Could not connect to the endpoint URL`,
      ),
    );
    expect(r.lines.filter((l) => / attempt 1 of 2 .* retrying in \d+ ms$/.test(l))).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(20000);
    expect(existsSync(path.join(t.weights, 'llama-2-70b-awq', '3f1c2b0', READY_MARKER))).toBe(
      false,
    );
  });

  test('a download killed half-way fails with one W-1 line naming the object, leaves no marker, and a rerun completes', async () => {
    const t = target('killed');
    const models = `big:r1:${BIG.prefix}`;
    const child = spawn('bash', [SCRIPT], {
      stdio: 'ignore',
      env: { ...baseEnv, CI_WEIGHTS_DIR: t.weights, CI_CONSOLE: t.console, CI_MODELS: models },
    });
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    // Wait until the big object is being written, then stop the step as systemd would on timeout.
    const dir = path.join(t.weights, 'big', 'r1');
    const deadline = Date.now() + 20000;
    while (!(existsSync(dir) && readdirSync(dir).some((n) => n.startsWith('model.safetensors')))) {
      if (Date.now() > deadline) throw new Error('the download never started');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGTERM');
    const status = await exited;
    const r = result(status, t.console);
    expect(r.status).not.toBe(0);
    expect(r.verdicts).toEqual([
      `W-1: preload of big@r1 interrupted by SIGTERM while downloading s3://${BUCKET}/big/r1/model.safetensors; no ready marker written`,
    ]);
    expect(existsSync(path.join(dir, READY_MARKER))).toBe(false);

    const rerun = preload(t, models);
    expect(rerun.status).toBe(0);
    expect(sha256(readFileSync(path.join(dir, 'model.safetensors')))).toBe(
      sha256(BIG.files['model.safetensors']),
    );
    expect(existsSync(path.join(dir, READY_MARKER))).toBe(true);
  });

  test('W-1: weights are refused when the NVMe RAID0 is not mounted', () => {
    const t = target('no-raid');
    const r = preload(t, `llama-2-70b-awq:3f1c2b0:${GOOD.prefix}`, {
      CI_REQUIRE_RAID: '1',
      CI_RAID_MOUNT: path.dirname(t.weights),
    });
    expect(r.status).not.toBe(0);
    expect(r.verdicts).toEqual([
      `W-1: ${path.dirname(t.weights)} is not mounted: the NVMe RAID0 that nodeadm builds is missing, and weights must not land on the root volume`,
    ]);
  });
});
