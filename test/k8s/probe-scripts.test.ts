import { execFile, spawnSync } from 'child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'fs';
import { AddressInfo } from 'net';
import { createServer, Server } from 'http';
import { tmpdir } from 'os';
import { join } from 'path';
import { readScript } from '../../constructs';

/** A fake nvidia-smi that prints the given CSV rows (index, used MiB, total MiB). */
function fakeNvidiaSmi(dir: string, rows: string[], exitCode = 0): string {
  const path = join(dir, `nvidia-smi-${Math.random().toString(36).slice(2)}`);
  writeFileSync(
    path,
    `#!/bin/sh\nprintf '%s\\n' ${rows.map((r) => `'${r}'`).join(' ')}\nexit ${exitCode}\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

/** Runs a script without blocking the event loop, so the test's own HTTP server can answer it. */
function runPython(
  script: string,
  env: Record<string, string>,
): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(
      'python3',
      ['-c', script],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 },
      (error, stdout, stderr) => {
        const status = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ status, out: `${stdout}${stderr}`.trim() });
      },
    );
  });
}

describe('liveness.py (ALM-2 and engine health)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'liveness-'));
  let server: Server;
  let status = 200;
  let url = '';

  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.statusCode = status;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    status = 200;
  });

  const live = (rows: string[], extra: Record<string, string> = {}) =>
    runPython(readScript('liveness.py'), {
      LIVENESS_NVIDIA_SMI: fakeNvidiaSmi(dir, rows),
      LIVENESS_HEALTH_URL: url,
      LIVENESS_GPU_MEMORY_LIMIT_PERCENT: '90',
      ...extra,
    });

  test('passes at 85% raw memory (the engine reservation) with a healthy engine', async () => {
    expect(await live(['0, 34816, 40960', '1, 34816, 40960'])).toEqual({ status: 0, out: '' });
  });

  test('passes at exactly 90%: the rule is "above 90%"', async () => {
    expect((await live(['0, 36864, 40960'])).status).toBe(0);
  });

  test('fails above 90% on any GPU, naming the GPU and the rule', async () => {
    const r = await live(['0, 34816, 40960', '1, 37300, 40960']);
    expect(r.status).toBe(1);
    expect(r.out).toBe('ALM-2: GPU 1 raw memory 91.1% > 90% (37300 of 40960 MiB)');
  });

  test('fails when the engine health endpoint answers 503', async () => {
    status = 503;
    const r = await live(['0, 30000, 40960']);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(
      /^engine health http:\/\/127\.0\.0\.1:\d+\/health did not answer: HTTP Error 503/,
    );
  });

  test('fails when nothing listens on the health port', async () => {
    const r = await live(['0, 30000, 40960'], { LIVENESS_HEALTH_URL: 'http://127.0.0.1:9/health' });
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/^engine health .* did not answer/);
  });

  test('fails when nvidia-smi is missing or prints nothing', async () => {
    expect((await live([], { LIVENESS_NVIDIA_SMI: join(dir, 'absent') })).out).toMatch(
      /^ALM-2: cannot read GPU memory/,
    );
    expect((await live([''])).out).toBe('ALM-2: nvidia-smi reported no GPU');
  });

  test('fails on an unreadable nvidia-smi line rather than passing', async () => {
    const r = await live(['0, [N/A], 40960']);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/^ALM-2: unreadable nvidia-smi line/);
  });
});

describe('version-check.py (SW-1)', () => {
  const lock = {
    python: '',
    pytorch: '2.1.0',
    cudaToolkit: '12.2',
    nccl: '2.18.3',
    triton: '2.1.0',
    transformers: '4.34.0',
  };
  const python = spawnSync('python3', ['-c', 'import platform; print(platform.python_version())'], {
    encoding: 'utf8',
  }).stdout.trim();

  /** A directory of stub modules that report the given versions, as the serving image would. */
  function stubs(v: {
    torch: string;
    cuda: string;
    nccl: string;
    triton: string;
    transformers: string;
  }): string {
    const dir = mkdtempSync(join(tmpdir(), 'versions-'));
    mkdirSync(join(dir, 'torch'));
    writeFileSync(
      join(dir, 'torch', '__init__.py'),
      [
        `__version__ = "${v.torch}"`,
        'class version:',
        `    cuda = "${v.cuda}"`,
        'class cuda:',
        '    class nccl:',
        '        @staticmethod',
        `        def version(): return (${v.nccl.split('.').join(', ')})`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'triton.py'), `__version__ = "${v.triton}"\n`);
    writeFileSync(join(dir, 'transformers.py'), `__version__ = "${v.transformers}"\n`);
    return dir;
  }

  const good = {
    torch: '2.1.0+cu122',
    cuda: '12.2',
    nccl: '2.18.3',
    triton: '2.1.0',
    transformers: '4.34.0',
  };
  const check = (dir: string) =>
    runPython(readScript('version-check.py'), {
      PYTHONPATH: dir,
      VERSION_LOCK: JSON.stringify({ ...lock, python }),
    });

  test('passes when every version matches the lock', async () => {
    const r = await check(stubs(good));
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^SW-1: runtime versions match the lock/);
  });

  test('fails naming every drifted component', async () => {
    const r = await check(stubs({ ...good, torch: '2.3.1+cu121', transformers: '4.44.2' }));
    expect(r.status).toBe(1);
    expect(r.out).toBe(
      'SW-1: runtime versions differ from the lock: pytorch 2.3.1 != 2.1.0; transformers 4.44.2 != 4.34.0',
    );
  });

  test('fails when a locked module is missing from the image', async () => {
    const dir = stubs(good);
    const r = await runPython(readScript('version-check.py'), {
      PYTHONPATH: dir,
      VERSION_LOCK: JSON.stringify({ ...lock, python, triton: '2.1.0', missing: '1.0' }),
    });
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/missing missing != 1\.0/);
  });

  test('fails on a different Python', async () => {
    const r = await runPython(readScript('version-check.py'), {
      PYTHONPATH: stubs(good),
      VERSION_LOCK: JSON.stringify({ ...lock, python: '3.11.4-x' }),
    });
    expect(r.status).toBe(1);
    expect(r.out).toContain(`python ${python} != 3.11.4-x`);
  });
});
