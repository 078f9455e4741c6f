/**
 * The generated blocks of README.md: each sits between `<!-- NAME:begin -->` and
 * `<!-- NAME:end -->` and is produced here from the code, never typed by hand.
 * `npm run readme` rewrites them; test/readme.test.ts fails when one is stale.
 */
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { stringify } from 'yaml';
import { MODEL_CATALOGUE, fixedClock, planMemory, weightBytes } from '../constructs';
import { renderPlan } from '../bin/commands/plan';
import { ReferenceWorkloads } from '../lib/reference-workloads';
import { PUBLISHED_CHECKPOINTS } from '../test/fixtures/published-checkpoints';
import { coverageTable } from './rule-coverage';

export interface AccuracyRow {
  readonly repository: string;
  readonly model: string;
  readonly format: string;
  readonly predictedBytes: number;
  readonly publishedBytes: number;
  readonly errorPercent: number;
  readonly precision: string;
}

/** Predicted weight bytes against every published checkpoint size. */
export function accuracyRows(): AccuracyRow[] {
  return PUBLISHED_CHECKPOINTS.map((c) => {
    const predictedBytes = weightBytes(MODEL_CATALOGUE[c.model], c.weights, {
      groupSize: c.groupSize,
      unquantizedBytesPerElement: c.storedBytesPerElement,
    });
    const format = c.groupSize
      ? `${c.weights} g${c.groupSize === -1 ? 'none' : c.groupSize}`
      : c.storedBytesPerElement === 4
        ? 'fp32'
        : c.weights;
    return {
      repository: c.repository,
      model: c.model,
      format,
      predictedBytes,
      publishedBytes: c.publishedBytes,
      errorPercent: ((predictedBytes - c.publishedBytes) / c.publishedBytes) * 100,
      precision: c.precision,
    };
  });
}

function accuracyTable(): string {
  const rows = accuracyRows();
  const gb = (b: number) => (b / 1e9).toFixed(3);
  const worst = rows.reduce((a, b) =>
    Math.abs(b.errorPercent) > Math.abs(a.errorPercent) ? b : a,
  );
  return [
    '| checkpoint | model | format | predicted GB | published GB | error % |',
    '|---|---|---|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.repository} | ${r.model} | ${r.format} | ${gb(r.predictedBytes)} | ${gb(r.publishedBytes)}${r.precision === 'exact' ? '' : ' (rounded)'} | ${r.errorPercent >= 0 ? '+' : ''}${r.errorPercent.toFixed(3)} |`,
    ),
    '',
    `Worst error: ${Math.abs(worst.errorPercent).toFixed(3)}% (${worst.repository}).`,
  ].join('\n');
}

function incidentPlan(): string {
  const plan = planMemory({
    model: MODEL_CATALOGUE['llama-2-70b'],
    weights: 'fp16',
    tensorParallelSize: 1,
  });
  const fixed = planMemory({ model: MODEL_CATALOGUE['llama-2-70b'], weights: 'awq' });
  return [
    '```console',
    '$ compliant-inference plan --model llama-2-70b --weights fp16 --tensor-parallel 1   # exit 1',
    ...renderPlan(plan),
    '',
    '$ compliant-inference plan --model llama-2-70b --weights awq   # exit 0',
    ...renderPlan(fixed),
    '```',
  ].join('\n');
}

function referenceDeployment(): string {
  const objects = Testing.synth(
    new ReferenceWorkloads(Testing.app(), 'ref', { clock: fixedClock('2026-12-03') }),
  );
  type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const deployment = (objects as Json[]).find(
    (o) => o.kind === 'Deployment' && o.metadata.name === 'llama-2-70b-gen',
  ) as Json;
  const engine = deployment.spec.template.spec.containers[0];
  const excerpt = {
    resources: engine.resources,
    args: engine.args,
    startupProbe: engine.startupProbe,
    readinessProbe: engine.readinessProbe,
    livenessProbe: {
      ...engine.livenessProbe,
      exec: { command: ['python3', '-c', '<constructs/k8s/scripts/liveness.py>'] },
    },
  };
  return [
    '```yaml',
    '# llama-2-70b-gen, container "engine" (excerpt of dist/inference-workloads.yaml)',
    stringify(excerpt).trimEnd(),
    '```',
  ].join('\n');
}

function referenceTraffic(): string {
  const objects = Testing.synth(
    new ReferenceWorkloads(Testing.app(), 'ref', { clock: fixedClock('2026-12-03') }),
  ) as Record<string, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  const mine = objects.filter(
    (o) =>
      (o.kind === 'HTTPRoute' || o.kind === 'BackendTrafficPolicy') &&
      o.metadata.name === 'llama-2-70b-gen',
  );
  return ['```yaml', ...mine.map((o) => `---\n${stringify(o).trimEnd()}`), '```'].join('\n');
}

/** Every generated block, by marker name. */
export const BLOCKS: Readonly<Record<string, () => string>> = {
  'accuracy-table': accuracyTable,
  'incident-plan': incidentPlan,
  'reference-deployment': referenceDeployment,
  'reference-traffic': referenceTraffic,
  'rule-coverage': () => coverageTable().join('\n'),
};

/** README text with every block regenerated. */
export function renderReadme(text: string): string {
  let out = text;
  for (const [name, render] of Object.entries(BLOCKS)) {
    const begin = `<!-- ${name}:begin -->`;
    const end = `<!-- ${name}:end -->`;
    const start = out.indexOf(begin);
    const stop = out.indexOf(end);
    if (start < 0 || stop < start)
      throw new Error(`README.md lacks the markers ${begin} ... ${end}`);
    out = `${out.slice(0, start + begin.length)}\n${render()}\n${out.slice(stop)}`;
  }
  return out;
}

export const README = join(__dirname, '..', 'README.md');

if (require.main === module) {
  writeFileSync(README, renderReadme(readFileSync(README, 'utf8')));
  console.log('README.md blocks regenerated:', Object.keys(BLOCKS).join(', '));
}
