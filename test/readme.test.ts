import { readFileSync } from 'fs';
import { BLOCKS, README, renderReadme } from '../scripts/readme-blocks';

describe('README.md', () => {
  const text = readFileSync(README, 'utf8');

  test('every generated block is current (run `npm run readme` after changing what it shows)', () => {
    expect(Object.keys(BLOCKS).length).toBeGreaterThanOrEqual(3);
    expect(renderReadme(text)).toBe(text);
  });

  test('starts with the two commands: the main job and every test', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(text)?.[1] ?? '';
    expect(firstBlock).toContain('npm ci && npm run synth');
    expect(firstBlock).toContain('bash scripts/install-tools.sh && npm test');
  });

  test('.ci/run calls exactly the README test command', () => {
    const ci = readFileSync(`${__dirname}/../.ci/run`, 'utf8');
    expect(ci).toContain('bash scripts/install-tools.sh && npm test');
  });
});
