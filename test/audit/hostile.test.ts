import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  symlinkSync,
  writeFileSync,
} from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { stringify } from 'yaml';
import { auditExitCode, auditPaths, loadPaths, parseText } from '../../constructs';
import { CLOCK, clone, generationDeployment, referenceObjects } from './fixture';

const good = stringify(generationDeployment(referenceObjects()));

function workdir(): string {
  return mkdtempSync(join(tmpdir(), 'audit-hostile-'));
}

/** Runs `fn` and fails when it takes longer than `ms`. */
function within<T>(ms: number, fn: () => T): T {
  const start = Date.now();
  const out = fn();
  expect(Date.now() - start).toBeLessThan(ms);
  return out;
}

describe('hostile and broken input', () => {
  test('broken YAML: that document is an error, the documents around it are audited', () => {
    const text = `${good}---\nkind: [unclosed\n  : : :\n---\n${good}`;
    const parsed = parseText(text, 'mixed.yaml');
    expect(parsed.documents.map((d) => d.index)).toEqual([0, 2]);
    expect(parsed.problems).toEqual([
      { file: 'mixed.yaml', document: 1, message: expect.stringMatching(/^not YAML: /) },
    ]);
  });

  test('an alias bomb is refused within bounded time, and the next document still parses', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const bomb = `${levels.join('\n')}\n`;
    const parsed = within(2000, () => parseText(`${bomb}---\n${good}`, 'bomb.yaml'));
    expect(parsed.problems).toEqual([
      { file: 'bomb.yaml', document: 0, message: expect.stringMatching(/alias/i) },
    ]);
    expect(parsed.documents).toHaveLength(1);
  });

  test('a 100 MB file gets a size error without being read; the other files are audited', () => {
    const dir = workdir();
    const big = join(dir, 'big.yaml');
    const fd = openSync(big, 'w');
    ftruncateSync(fd, 100 * 1024 * 1024);
    closeSync(fd);
    writeFileSync(join(dir, 'ok.yaml'), good);
    const report = within(5000, () => auditPaths([dir], { clock: CLOCK }));
    expect(report.problems).toEqual([
      { file: big, message: '100.0 MiB, larger than the 16.0 MiB limit; not audited' },
    ]);
    expect(report.audited).toBe(1);
    expect(auditExitCode(report)).toBe(2);
  });

  test('binary data is refused as binary', () => {
    const dir = workdir();
    const bytes = Buffer.alloc(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 256;
    writeFileSync(join(dir, 'model.json'), bytes);
    const result = loadPaths([join(dir, 'model.json')]);
    expect(result.problems).toEqual([
      { file: join(dir, 'model.json'), message: 'binary data, not YAML or JSON; not audited' },
    ]);
  });

  test('unknown kinds, scalars and objects without a kind are errors per document; custom resources are not', () => {
    const text = [
      'apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: typo}',
      '42',
      'just: a map',
      'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}',
      good,
    ].join('\n---\n');
    const report = auditPaths(['-'], { clock: CLOCK }, () => Buffer.from(text));
    expect(report.problems.map((p) => [p.document, p.message])).toEqual([
      [0, 'unknown kind Deploymnet in apps/v1'],
      [1, expect.stringMatching(/neither a Kubernetes object/)],
      [2, expect.stringMatching(/neither a Kubernetes object/)],
    ]);
    expect(report.audited).toBe(2);
  });

  test('deeply nested JSON is an error, not a crash', () => {
    const deep = `${'['.repeat(200000)}${']'.repeat(200000)}`;
    const report = within(5000, () => auditPaths(['-'], { clock: CLOCK }, () => Buffer.from(deep)));
    expect(report.problems.length).toBeGreaterThan(0);
  });

  test('a workload whose pod spec is of the wrong shape is an error for that document', () => {
    const broken = clone(generationDeployment(referenceObjects()));
    broken.spec.template = 'not a template';
    const text = `${stringify(broken)}---\n${good}`;
    const report = auditPaths(['-'], { clock: CLOCK }, () => Buffer.from(text));
    expect(report.problems).toEqual([
      {
        file: '-',
        document: 0,
        message: expect.stringMatching(
          /^Deployment\/inference\/llama-2-70b-gen: cannot read the pod spec/,
        ),
      },
    ]);
    expect(report.audited).toBe(2);
  });

  test('folders: recursive, symlink loops not followed, cdk.out bookkeeping skipped', () => {
    const dir = workdir();
    mkdirSync(join(dir, 'cdk.out', 'asset.abc'), { recursive: true });
    writeFileSync(join(dir, 'cdk.out', 'manifest.json'), '{"version":"40.0.0"}');
    writeFileSync(join(dir, 'cdk.out', 'tree.json'), '{"tree":{}}');
    writeFileSync(join(dir, 'cdk.out', 'App.assets.json'), '{"files":{}}');
    writeFileSync(join(dir, 'cdk.out', 'asset.abc', 'package.json'), '{"name":"x"}');
    writeFileSync(join(dir, 'cdk.out', 'App.template.json'), '{"Resources":{}}');
    writeFileSync(join(dir, 'notes.txt'), 'not a manifest');
    symlinkSync(dir, join(dir, 'loop'));
    const result = within(2000, () => loadPaths([dir]));
    expect(result.files).toEqual([join(dir, 'cdk.out', 'App.template.json')]);
    expect(result.skipped.sort()).toEqual(
      ['App.assets.json', 'manifest.json', 'tree.json'].map((f) => join(dir, 'cdk.out', f)),
    );
    expect(result.problems).toEqual([]);
  });

  test('a missing path is an error and the rest is audited', () => {
    const dir = workdir();
    writeFileSync(join(dir, 'ok.yaml'), good);
    const report = auditPaths([join(dir, 'nope.yaml'), join(dir, 'ok.yaml')], { clock: CLOCK });
    expect(report.problems).toEqual([
      { file: join(dir, 'nope.yaml'), message: expect.stringMatching(/^cannot read: ENOENT/) },
    ]);
    expect(report.audited).toBe(1);
  });

  test('ten thousand small documents are audited in bounded time', () => {
    const text = Array(10000)
      .fill('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}')
      .join('\n---\n');
    const report = within(20000, () =>
      auditPaths(['-'], { clock: CLOCK }, () => Buffer.from(text)),
    );
    expect(report.audited).toBe(10000);
    expect(report.problems).toEqual([]);
  });
});
