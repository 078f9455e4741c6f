// Copies the non-TypeScript files the constructs read at synthesis (probe and boot scripts)
// next to the compiled JavaScript, so the published package finds them where the source does.
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ASSET = /\.(sh|py)$/;
const root = new URL('..', import.meta.url).pathname;

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (ASSET.test(name)) cpSync(path, join(root, 'dist-lib', relative(root, path)));
  }
}
walk(join(root, 'constructs'));
