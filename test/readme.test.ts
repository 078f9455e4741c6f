import { readFileSync } from 'fs';
import { ModelArchitecture, planMemory, validateArchitecture } from '../constructs';
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

  test('the custom architecture example is one the planner accepts, and it fits in AWQ', () => {
    const json = /A custom architecture is[\s\S]*?```json\n([\s\S]*?)```/.exec(text)?.[1];
    expect(json).toBeDefined();
    const model = validateArchitecture(JSON.parse(json!) as ModelArchitecture);
    expect(planMemory({ model, weights: 'awq' }).fits).toBe(true);
  });

  test('.ci/run calls exactly the README test command', () => {
    const ci = readFileSync(`${__dirname}/../.ci/run`, 'utf8');
    expect(ci).toContain('bash scripts/install-tools.sh && npm test');
  });
});
