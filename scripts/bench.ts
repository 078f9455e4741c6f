/**
 * Benchmark of the main job: `npm run synth` timed as a whole process (npm, node, tsx, the CDK
 * app, writing cdk.out) over several runs, after one warm-up run. Prints every run, the median
 * and the machine, then one in-process breakdown of where the time goes.
 *
 *   npm run bench              # 7 runs
 *   npm run bench -- --runs 11
 *
 * Not part of the tests: the budget is 5 s median on a 2-core machine.
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, rmSync } from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const BUDGET_MS = 5000;

function argRuns(): number {
  const i = process.argv.indexOf('--runs');
  const n = i >= 0 ? Number(process.argv[i + 1]) : 7;
  if (!Number.isInteger(n) || n < 1) throw new Error(`--runs must be a whole number >= 1`);
  return n;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** One whole-process run of the main job, in milliseconds. */
function timeOnce(command: string, args: string[], outdir: string): number {
  const start = process.hrtime.bigint();
  const run = spawnSync(command, args, {
    cwd: ROOT,
    env: { ...process.env, CDK_OUTDIR: outdir, DIST_OUTDIR: path.join(outdir, 'dist') },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (run.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  }
  return ms;
}

/** Where the time of one run goes, measured in this process (modules load once, so run last). */
function breakdown(outdir: string): Record<string, number> {
  const t0 = performance.now();
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { cdkJsonContext } =
    require('../lib/platform-config') as typeof import('../lib/platform-config');
  const { buildPlatformApp } =
    require('../lib/platform-app') as typeof import('../lib/platform-app');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const t1 = performance.now();
  const { app } = buildPlatformApp({
    outdir,
    context: cdkJsonContext(path.join(ROOT, 'cdk.json')),
    builtinCloudFormationValidation: false,
  });
  const t2 = performance.now();
  app.synth();
  const t3 = performance.now();
  return {
    'load the app modules (transpile + require)': t1 - t0,
    'build the construct tree': t2 - t1,
    'synthesize (prepare, templates, asset staging, cdk.out)': t3 - t2,
  };
}

function main(): void {
  const runs = argRuns();
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'bench-synth-'));
  try {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const synth = [npm, ['run', '--silent', 'synth']] as const;
    const startup = [process.execPath, [require.resolve('tsx/cli'), '--eval', '0']] as const;

    timeOnce(synth[0], [...synth[1]], outdir); // warm-up: file cache, tsx cache
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const ms = timeOnce(synth[0], [...synth[1]], outdir);
      times.push(ms);
      console.log(`run ${i + 1}/${runs}: ${(ms / 1000).toFixed(2)} s`);
    }
    const startupTimes = [1, 2, 3].map(() => timeOnce(startup[0], [...startup[1]], outdir));
    const med = median(times);
    const cpus = os.cpus();
    console.log('');
    console.log(
      `main job: npm run synth (tsx bin/synth.ts: cdk.out and dist), ${runs} runs after one warm-up`,
    );
    console.log(
      `median ${(med / 1000).toFixed(2)} s (min ${(Math.min(...times) / 1000).toFixed(2)} s, max ${(Math.max(...times) / 1000).toFixed(2)} s); budget ${BUDGET_MS / 1000} s`,
    );
    console.log(
      `machine: ${cpus.length} x ${cpus[0]?.model ?? 'unknown CPU'}, node ${process.version}, load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log('');
    console.log('where the time goes (one run, in this process):');
    console.log(
      `  node + tsx start-up, empty script: ${(median(startupTimes) / 1000).toFixed(2)} s`,
    );
    for (const [phase, ms] of Object.entries(breakdown(path.join(outdir, 'breakdown')))) {
      console.log(`  ${phase}: ${(ms / 1000).toFixed(2)} s`);
    }
    if (med > BUDGET_MS) {
      console.log(`OVER BUDGET: median ${(med / 1000).toFixed(2)} s > ${BUDGET_MS / 1000} s`);
      process.exitCode = 1;
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

main();
