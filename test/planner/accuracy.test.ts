import { MODEL_CATALOGUE, countParameters } from '../../constructs';
import { PUBLISHED_CHECKPOINTS } from '../fixtures/published-checkpoints';
import { accuracyRows } from '../../scripts/readme-blocks';

describe('predicted weight bytes against published checkpoints', () => {
  const rows = accuracyRows();

  test('every catalogue model has a published checkpoint to be held to', () => {
    const covered = new Set(PUBLISHED_CHECKPOINTS.filter((c) => !c.groupSize).map((c) => c.model));
    expect([...covered].sort()).toEqual(Object.keys(MODEL_CATALOGUE).sort());
  });

  test('at least three published AWQ or GPTQ checkpoints are held too', () => {
    expect(
      PUBLISHED_CHECKPOINTS.filter((c) => c.weights === 'awq' || c.weights === 'gptq').length,
    ).toBeGreaterThanOrEqual(3);
  });

  test.each(rows.map((r) => [r.repository, r]))('%s is predicted within 3%%', (_name, row) => {
    expect(Math.abs(row.errorPercent)).toBeLessThanOrEqual(3);
  });

  test('exact published totals of 16-bit checkpoints are matched to within the rotary buffers (< 0.001%)', () => {
    for (const r of rows.filter((x) => x.precision === 'exact')) {
      expect(Math.abs(r.errorPercent)).toBeLessThan(0.001);
    }
  });

  test.each(Object.values(MODEL_CATALOGUE).map((m) => [m.name, m]))(
    '%s: the shapes imply the published parameter count',
    (_name, model) => {
      expect(countParameters(model)).toBe(model.parameters);
    },
  );

  test('every catalogue entry cites its published configuration', () => {
    for (const m of Object.values(MODEL_CATALOGUE)) {
      expect(m.source).toMatch(
        new RegExp(`^https://huggingface\\.co/${m.repository}/blob/main/config\\.json$`),
      );
    }
  });

  test('the catalogue holds the embedding model with 1536-dimensional output (NET-7)', () => {
    const embedding = Object.values(MODEL_CATALOGUE).filter((m) => m.role === 'embedding');
    expect(embedding.map((m) => m.embeddingDimensions)).toContain(1536);
  });
});
