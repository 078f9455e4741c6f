/** CDK's placeholder for an unresolved token inside a string (`${Token[TOKEN.12]}`). */
const TOKEN_PLACEHOLDER = /\$\{Token\[[^\]]+\]\}/g;

/** The literal text of a string, with CDK token placeholders taken out. */
function literalText(value: string): string {
  return value.replace(TOKEN_PLACEHOLDER, '');
}

/** One section of a systemd unit file: its name and its `Key=value` lines, in order. */
export interface UnitSection {
  readonly name: 'Unit' | 'Service' | 'Install';
  readonly entries: ReadonlyArray<readonly [key: string, value: string]>;
}

const KEY = /^[A-Za-z][A-Za-z0-9]*$/;

/**
 * Renders a systemd unit file. Keys are checked; values must be single-line, since a newline
 * in a value would start a new directive.
 */
export function renderUnit(sections: readonly UnitSection[]): string {
  const out: string[] = [];
  sections.forEach((section, i) => {
    if (i > 0) out.push('');
    out.push(`[${section.name}]`);
    for (const [key, value] of section.entries) {
      if (!KEY.test(key)) throw new Error(`renderUnit: '${key}' is not a unit file key`);
      if (/[\r\n]/.test(literalText(value)))
        throw new Error(`renderUnit: the value of ${key} spans lines`);
      out.push(`${key}=${value}`);
    }
  });
  return `${out.join('\n')}\n`;
}

/**
 * Renders an environment file as systemd's `EnvironmentFile=` reads it: `KEY="value"` lines.
 * Values are restricted to characters that need no escaping there or in a shell.
 */
export function renderEnvironmentFile(vars: Readonly<Record<string, string>>): string {
  const lines = Object.entries(vars).map(([key, value]) => {
    if (!/^[A-Z][A-Z0-9_]*$/.test(key))
      throw new Error(`renderEnvironmentFile: '${key}' is not a variable name`);
    // Token values (bucket name, region) resolve to [a-z0-9.-] at deploy time.
    if (/["\\$`\r\n]/.test(literalText(value))) {
      throw new Error(
        `renderEnvironmentFile: the value of ${key} holds a quote, backslash, dollar or newline`,
      );
    }
    return `${key}="${value}"`;
  });
  return `${lines.join('\n')}\n`;
}
