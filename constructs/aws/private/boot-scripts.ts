import { existsSync, readFileSync } from 'fs';
import * as path from 'path';

/** The boot scripts, in the order cloud-init stores and the gate unit runs them. */
export const BOOT_SCRIPT_NAMES = Object.freeze({
  installGate: '00-install-boot-gate.sh',
  checkDriver: '10-check-driver.sh',
  checkFabricManager: '20-check-fabric-manager.sh',
  preloadWeights: '30-preload-weights.sh',
});

/** A boot script's file name. */
export type BootScriptName = (typeof BOOT_SCRIPT_NAMES)[keyof typeof BOOT_SCRIPT_NAMES];

/**
 * The directory holding the boot scripts. In the source tree they sit beside the constructs;
 * `tsc` does not copy them into `dist-lib/`, so a compiled build reads them from the source tree
 * it was built from.
 */
export function bootScriptDir(): string {
  const candidates = [
    path.resolve(__dirname, '..', 'boot'),
    path.resolve(__dirname, '..', '..', '..', '..', 'constructs', 'aws', 'boot'),
  ];
  const found = candidates.find((dir) => existsSync(path.join(dir, BOOT_SCRIPT_NAMES.installGate)));
  if (!found) {
    throw new Error(`boot scripts not found; looked in ${candidates.join(', ')}`);
  }
  return found;
}

const cache = new Map<string, string>();

/** The text of one boot script, read once per process. */
export function readBootScript(name: BootScriptName): string {
  const file = path.join(bootScriptDir(), name);
  let text = cache.get(file);
  if (text === undefined) {
    text = readFileSync(file, 'utf8');
    cache.set(file, text);
  }
  return text;
}

/**
 * A boot script as it ships in the user data: full-line comments and blank lines removed
 * (the shebang stays), everything else byte for byte. EC2 limits user data to 16 KB, and the
 * comments of the source files are their documentation, not something the node needs. A
 * script must therefore not hold a here-document line that starts with `#`; the tests run
 * and shellcheck this shipped form, not the source file.
 */
export function shippedBootScript(name: BootScriptName): string {
  const lines = readBootScript(name).split('\n');
  const kept = lines.filter((line, i) => i === 0 || !(/^\s*#/.test(line) || /^\s*$/.test(line)));
  return `${kept.join('\n')}\n`;
}
