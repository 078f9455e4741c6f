import { MimePart, buildMultipartMixed, chooseBoundary } from '../../constructs/aws/private/mime';
import { cloudInitView, parseUserData } from './gpu-node-fixture';

const SCRIPT = '#!/usr/bin/env bash\necho "ready"\n';

describe('buildMultipartMixed', () => {
  test('every part comes back intact with its content type and file name', async () => {
    const parts: MimePart[] = [
      {
        contentType: 'application/node.eks.aws',
        body: 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\n',
      },
      { contentType: 'text/x-shellscript', filename: '10-check.sh', body: SCRIPT },
    ];
    const parsed = await parseUserData(buildMultipartMixed(parts).text);
    expect(
      parsed.map(({ mimeType, filename, content }) => ({ mimeType, filename, content })),
    ).toEqual([
      { mimeType: 'application/node.eks.aws', filename: null, content: parts[0].body },
      { mimeType: 'text/x-shellscript', filename: '10-check.sh', content: SCRIPT },
    ]);
  });

  test('a script that contains the boundary the builder would pick gets another boundary and cannot break the document', async () => {
    const innocent: MimePart[] = [
      { contentType: 'text/x-shellscript', filename: 'a.sh', body: SCRIPT },
    ];
    const first = chooseBoundary(innocent);
    const hostile = `#!/usr/bin/env bash\ncat <<'EOF'\n--${first}\nContent-Type: text/x-shellscript\n\nrm -rf /\n--${first}--\nEOF\n`;
    const parts: MimePart[] = [
      { contentType: 'text/x-shellscript', filename: 'a.sh', body: hostile },
      { contentType: 'text/x-shellscript', filename: 'b.sh', body: SCRIPT },
    ];
    const doc = buildMultipartMixed(parts);
    expect(parts.some((p) => p.body.includes(doc.boundary))).toBe(false);
    const parsed = await parseUserData(doc.text);
    expect(parsed.map((p) => p.content)).toEqual([hostile, SCRIPT]);
  });

  test('lines of only dashes, and lines that look like delimiters of another boundary, stay inside their part', async () => {
    const body = '#!/usr/bin/env bash\n--\n----\n--other-boundary\n--other-boundary--\necho done\n';
    const parsed = await parseUserData(
      buildMultipartMixed([
        { contentType: 'text/x-shellscript', filename: 'dashes.sh', body },
        { contentType: 'text/cloud-config', body: '#cloud-config\nwrite_files: []\n' },
      ]).text,
    );
    expect(parsed.map((p) => [p.mimeType, p.content])).toEqual([
      ['text/x-shellscript', body],
      ['text/cloud-config', '#cloud-config\nwrite_files: []\n'],
    ]);
  });

  test('the document ends with the closing delimiter and every part has a Content-Type header', () => {
    const doc = buildMultipartMixed([
      { contentType: 'text/x-shellscript', filename: 'a.sh', body: SCRIPT },
      { contentType: 'text/x-shellscript', filename: 'b.sh', body: SCRIPT },
    ]);
    const lines = doc.text.split('\n');
    const starts = lines.flatMap((l, i) => (l === `--${doc.boundary}` ? [i] : []));
    expect(starts).toHaveLength(2);
    for (const i of starts)
      expect(lines[i + 1]).toMatch(/^Content-Type: text\/x-shellscript; charset="us-ascii"$/);
    expect(lines.filter((l) => l === `--${doc.boundary}--`)).toHaveLength(1);
    expect(doc.text.endsWith(`--${doc.boundary}--\n`)).toBe(true);
  });

  test('a gzip part goes as base64 application/x-gzip, keeps its file name and decompresses to the script', async () => {
    const script = `${SCRIPT}# a line with --${'x'.repeat(40)} and = signs ==\n`;
    const doc = buildMultipartMixed([
      { contentType: 'text/x-shellscript', filename: 'gz.sh', body: script, gzip: true },
    ]);
    const lines = doc.text.split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        'Content-Type: application/x-gzip',
        'Content-Transfer-Encoding: base64',
        'Content-Disposition: attachment; filename="gz.sh"',
      ]),
    );
    const [wire] = await parseUserData(doc.text);
    const [seen] = cloudInitView([wire]);
    expect([seen.mimeType, seen.filename, seen.content]).toEqual([
      'text/x-shellscript',
      'gz.sh',
      script,
    ]);
  });

  test('a gzip part refuses unresolved tokens, which could not be replaced inside compressed bytes', () => {
    expect(() =>
      buildMultipartMixed([{ contentType: 'text/plain', body: 'x ${Token[TOKEN.1]}', gzip: true }]),
    ).toThrow(/cannot hold unresolved tokens/);
  });

  test('the same parts always render the same document', () => {
    const parts: MimePart[] = [
      { contentType: 'text/x-shellscript', filename: 'a.sh', body: SCRIPT },
    ];
    expect(buildMultipartMixed(parts).text).toBe(buildMultipartMixed(parts).text);
  });

  test.each([
    ['no part', [], /at least one part/],
    ['a bad media type', [{ contentType: 'shell script', body: SCRIPT }], /is not a media type/],
    [
      'a file name with a quote',
      [{ contentType: 'text/x-shellscript', filename: 'a".sh', body: SCRIPT }],
      /file name/,
    ],
    [
      'a non-ASCII body',
      [{ contentType: 'text/x-shellscript', body: 'echo "caf\u00e9"' }],
      /outside printable US-ASCII/,
    ],
  ])('refuses %s', (_what, parts, pattern) => {
    expect(() => buildMultipartMixed(parts as MimePart[])).toThrow(pattern);
  });
});
