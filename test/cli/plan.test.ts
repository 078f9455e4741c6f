import { mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { spawnSync } from 'child_process';
import { runCli } from '../../bin/cli';
import { BufferedOutput } from '../../bin/private/output';
import { MODEL_CATALOGUE } from '../../constructs';

async function plan(...args: string[]): Promise<{ code: number; out: BufferedOutput }> {
  const out = new BufferedOutput();
  const code = await runCli(['plan', ...args], out);
  return { code, out };
}

describe('compliant-inference plan', () => {
  test('prints a table and a bar per GPU, and exits 0 when the model fits', async () => {
    const { code, out } = await plan('--model', 'llama-2-70b', '--weights', 'awq');
    expect(code).toBe(0);
    expect(out.text).toMatch(/^tensor-parallel\s+2 \(GPUs per pod: 2\)$/m);
    expect(out.text).toMatch(/^budget \(85%\)\s+34\.00 GiB$/m);
    const bars = out.stdout.filter((l) => /^GPU \d+ {2}\[/.test(l));
    expect(bars).toHaveLength(2);
    // The 85% line sits at 85% of the bar's width.
    expect(bars[0].indexOf('|') - bars[0].indexOf('[') - 1).toBe(51);
    expect(out.text).toMatch(/^FITS: llama-2-70b in awq at tensor-parallel 2$/m);
  });

  test('exits 1 with the reason when the model does not fit (the incident case)', async () => {
    const { code, out } = await plan(
      '--model',
      'llama-2-70b',
      '--weights',
      'fp16',
      '--tensor-parallel',
      '1',
    );
    expect(code).toBe(1);
    expect(out.text).toMatch(
      /DOES NOT FIT: MEM-2: llama-2-70b in fp16 needs 128\.5 GiB of weights per GPU/,
    );
    expect(out.text).toMatch(/note: Q-1: fp16 weights need a waiver/);
  });

  test('--json prints the same plan as JSON', async () => {
    const { code, out } = await plan(
      '--model',
      'mistral-7b',
      '--weights',
      'gptq',
      '--json',
      '--concurrency',
      '4',
    );
    expect(code).toBe(0);
    const parsed = JSON.parse(out.text);
    expect(parsed).toMatchObject({
      model: 'mistral-7b',
      weights: 'gptq',
      groupSize: 128,
      concurrency: 4,
      fits: true,
      tensorParallelSize: 1,
    });
    expect(parsed.totalBytes).toBe(parsed.weightBytes + parsed.kvCacheBytes + parsed.overheadBytes);
  });

  test('an unknown model name suggests the close matches and exits 2', async () => {
    const { code, out } = await plan('--model', 'mistral7b');
    expect(code).toBe(2);
    expect(out.stderr.join('\n')).toMatch(
      /MEM-2: unknown model 'mistral7b'; did you mean 'mistral-7b'\?/,
    );
  });

  test.each([
    [['--tensor-parallel', 'two'], /HW-2: .*received NaN/],
    [
      ['--token-budget', '100000'],
      /NET-6: a budget of 100000 tokens is more than llama-2-70b can attend to/,
    ],
    [['--concurrency', '-3'], /MEM-2: .*received -3/],
    [['--tensor-parallel', '3'], /MEM-3: tensor-parallel 3 does not divide the heads/],
  ])('bad input %j exits 2 with the rule id', async (args, pattern) => {
    const { code, out } = await plan('--model', 'llama-2-70b', ...args);
    expect(code).toBe(2);
    expect(out.stderr.join('\n')).toMatch(pattern);
  });

  test('an unknown weight format is refused by the flag parser, exit 2', async () => {
    const { code, out } = await plan('--model', 'llama-2-70b', '--weights', 'fp8');
    expect(code).toBe(2);
    expect(out.stderr.join('\n')).toMatch(/Allowed choices are fp16, bf16, int8, awq, gptq/);
  });

  test('a custom architecture comes from a JSON file, and is validated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arch-'));
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ ...MODEL_CATALOGUE['llama-2-13b'], name: 'my-13b' }));
    const ok = await plan('--architecture', good, '--weights', 'awq');
    expect(ok.code).toBe(0);
    expect(ok.out.text).toMatch(/^model\s+my-13b$/m);

    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({ ...MODEL_CATALOGUE['llama-2-13b'], name: 'my-13b', kvHeads: 7 }),
    );
    const refused = await plan('--architecture', bad);
    expect(refused.code).toBe(2);
    expect(refused.out.stderr.join('\n')).toMatch(
      /MEM-2: my-13b: the KV heads must divide the attention heads .*\[field: model.kvHeads/,
    );

    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "name": ');
    const unparsable = await plan('--architecture', broken);
    expect(unparsable.code).toBe(2);
    expect(unparsable.out.stderr.join('\n')).toMatch(/the architecture file is not JSON/);
  });

  test('--help lists every flag', async () => {
    const { code, out } = await plan('--help');
    expect(code).toBe(0);
    for (const flag of [
      '--model',
      '--architecture',
      '--weights',
      '--group-size',
      '--tensor-parallel',
      '--token-budget',
      '--concurrency',
      '--json',
    ]) {
      expect(out.text).toContain(flag);
    }
  });

  test('the real process exits with the plan status', () => {
    const run = spawnSync(
      process.execPath,
      [
        require.resolve('tsx/cli'),
        'bin/cli.ts',
        'plan',
        '--model',
        'llama-2-70b',
        '--weights',
        'fp16',
        '--tensor-parallel',
        '1',
      ],
      {
        cwd: join(__dirname, '..', '..'),
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/DOES NOT FIT: MEM-2/);
  });

  test('a concurrency far beyond the GPU still renders, as a full bar and a refusal', async () => {
    const { code, out } = await plan('--model', 'llama-2-7b', '--concurrency', '1000000000000');
    expect(code).toBe(1);
    const bar = out.stdout.find((l) => l.startsWith('GPU 0'));
    expect(bar).toMatch(/\]! 100%$/);
    expect(out.text).toMatch(/DOES NOT FIT: MEM-2/);
  });

  test('--model and --architecture together are refused', async () => {
    const { code, out } = await plan('--model', 'llama-2-7b', '--architecture', 'x.json');
    expect(code).toBe(2);
    expect(out.stderr.join('\n')).toMatch(/not both/);
  });

  test('an architecture too large to plan is refused with its field, not a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arch-'));
    const file = join(dir, 'huge.json');
    writeFileSync(
      file,
      JSON.stringify({ ...MODEL_CATALOGUE['llama-2-7b'], name: 'huge', layers: 30000000 }),
    );
    const { code, out } = await plan('--architecture', file);
    expect(code).toBe(2);
    expect(out.stderr.join('\n')).toMatch(
      /^MEM-2: huge: layers must be a whole number from 1 to 4096 \[field: model\.layers/,
    );
  });
});

describe('compliant-inference --version', () => {
  test("prints the package's version and exits 0", async () => {
    const out = new BufferedOutput();
    const code = await runCli(['--version'], out);
    expect(code).toBe(0);
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(out.stdout).toEqual([pkg.version]);
  });
});
