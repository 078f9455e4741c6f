/**
 * The planner's accuracy table: predicted weight bytes against published checkpoint sizes.
 * `npm run accuracy` prints it as Markdown and rewrites the table in README.md between its
 * markers; the test suite holds every row to 3%.
 */
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { MODEL_CATALOGUE, weightBytes } from '../constructs';
import { PUBLISHED_CHECKPOINTS } from '../test/fixtures/published-checkpoints';

export interface AccuracyRow {
  readonly repository: string;
  readonly model: string;
  readonly format: string;
  readonly predictedBytes: number;
  readonly publishedBytes: number;
  readonly errorPercent: number;
  readonly precision: string;
}

export function accuracyRows(): AccuracyRow[] {
  return PUBLISHED_CHECKPOINTS.map((c) => {
    const predictedBytes = weightBytes(MODEL_CATALOGUE[c.model], c.weights, {
      groupSize: c.groupSize,
      unquantizedBytesPerElement: c.storedBytesPerElement,
    });
    return {
      repository: c.repository,
      model: c.model,
      format: c.groupSize
        ? `${c.weights} g${c.groupSize === -1 ? 'none' : c.groupSize}`
        : c.storedBytesPerElement === 4
          ? 'fp32'
          : c.weights,
      predictedBytes,
      publishedBytes: c.publishedBytes,
      errorPercent: ((predictedBytes - c.publishedBytes) / c.publishedBytes) * 100,
      precision: c.precision,
    };
  });
}

export function accuracyMarkdown(rows: AccuracyRow[] = accuracyRows()): string {
  const gb = (b: number) => (b / 1e9).toFixed(3);
  const lines = [
    '| checkpoint | model | format | predicted GB | published GB | error % |',
    '|---|---|---|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.repository} | ${r.model} | ${r.format} | ${gb(r.predictedBytes)} | ${gb(r.publishedBytes)}${r.precision === 'exact' ? '' : ' (rounded)'} | ${r.errorPercent >= 0 ? '+' : ''}${r.errorPercent.toFixed(3)} |`,
    ),
  ];
  const worst = rows.reduce((a, b) =>
    Math.abs(b.errorPercent) > Math.abs(a.errorPercent) ? b : a,
  );
  lines.push('', `Worst error: ${worst.errorPercent.toFixed(3)}% (${worst.repository}).`);
  return lines.join('\n');
}

const BEGIN = '<!-- accuracy-table:begin -->';
const END = '<!-- accuracy-table:end -->';

if (require.main === module) {
  const table = accuracyMarkdown();
  console.log(table);
  if (process.argv.includes('--write')) {
    const readme = join(__dirname, '..', 'README.md');
    const text = readFileSync(readme, 'utf8');
    const start = text.indexOf(BEGIN);
    const end = text.indexOf(END);
    if (start < 0 || end < start) throw new Error(`README.md has no ${BEGIN} ... ${END} markers`);
    writeFileSync(readme, `${text.slice(0, start + BEGIN.length)}\n${table}\n${text.slice(end)}`);
  }
}
