/**
 * A CEL environment with the semantics the Kubernetes API server gives the
 * `x-kubernetes-validations` rules of CustomResourceDefinitions, on top of the CEL
 * library `@marcbachmann/cel-js`.
 *
 * What the base library already gives with Kubernetes' semantics, checked against every
 * rule of the CRDs in `shared/crds` (see crd-schema.test.ts): `has`, `size` (code points),
 * the macros `all`, `exists`, `exists_one`, `filter`, `map`, `in` on lists and maps,
 * `contains`, `startsWith`, `endsWith`, `split` (Go strings.Split semantics), `duration`
 * (Go time.ParseDuration syntax), comparisons between int and double.
 *
 * What this module changes, because the base library differs from Kubernetes:
 * - `upperAscii()` / `lowerAscii()`: Kubernetes (cel-go ext strings) changes the case of
 *   ASCII letters only; the base library uses Unicode case mapping (`'ſ'.upperAscii()`
 *   would become `'S'`). Rules are compiled with `k8sUpperAscii` / `k8sLowerAscii`.
 * - `matches(re)`: Kubernetes uses RE2. RE2's leading inline flags `(?i)`, `(?s)`, `(?m)`
 *   become JavaScript flags; constructs RE2 does not have (look-around, back-references)
 *   are an evaluation error, as they would be a compile error in the API server. Patterns
 *   are matched by code point (the `u` flag) like RE2 on UTF-8, when they compile so.
 * - `has(e.f)` where `e` is not a plain chain of fields (`has(self.matches[0].path)`):
 *   valid CEL that cel-js refuses at parse time; it is compiled as `("f" in e)`, which on
 *   a map (every Kubernetes object is one to CEL) is exactly `has`.
 *
 * cel-js is an ES module; jest runs CommonJS in its own module registry, which cannot load
 * it. So it is loaded with Node's own require (Node >= 20.19 loads ES modules that way),
 * and values handed to it are built in Node's main realm, because the library checks
 * values with `instanceof` against its own realm's Array and Object.
 */

/** The parts of cel-js this module uses. */
interface CelEnvironment {
  registerVariable(name: string, type: string): CelEnvironment;
  registerFunction(signature: string, handler: (...args: never[]) => unknown): CelEnvironment;
  parse(expression: string): (context: Record<string, unknown>) => unknown;
  check(expression: string): { valid: boolean; error?: { message: string } };
}

interface NodeInternals {
  getBuiltinModule(name: 'module'): typeof import('module');
  getBuiltinModule(name: 'vm'): typeof import('vm');
}

const internals = process as unknown as NodeInternals;
const nativeRequire = internals.getBuiltinModule('module').createRequire(__filename);

/** Constructors of Node's main realm, where cel-js lives. */
const realm = internals
  .getBuiltinModule('vm')
  .runInThisContext('({ object: () => ({}), array: () => [], date: (s) => new Date(s) })') as {
  object(): Record<string, unknown>;
  array(): unknown[];
  date(s: string): Date;
};

/** Builds a CEL map (a plain object of the main realm). */
export function celMap(): Record<string, unknown> {
  return realm.object();
}

/** Builds a CEL list (an array of the main realm). */
export function celList(items: unknown[]): unknown[] {
  const out = realm.array();
  for (const item of items) out.push(item);
  return out;
}

/** Builds a CEL timestamp. */
export function celTimestamp(value: string): Date {
  return realm.date(value);
}

const asciiUpper = (s: string): string => s.replace(/[a-z]/g, (c) => c.toUpperCase());
const asciiLower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** Translates an RE2 pattern to a JavaScript RegExp, or throws saying what RE2 would not accept. */
export function re2ToRegExp(pattern: string): RegExp {
  let source = pattern;
  let flags = '';
  // RE2 flags for the whole pattern: `(?i)` at the start, or right after the `^` anchor.
  const inline = /^(\^?)\(\?([imsU]+)\)/.exec(source);
  if (inline) {
    if (inline[2].includes('U')) throw new Error(`RE2 flag U is not supported here: ${pattern}`);
    flags = inline[2];
    source = inline[1] + source.slice(inline[0].length);
  }
  if (/\(\?[imsU-]+[:)]/.test(source)) {
    throw new Error(`RE2 inline flags inside the pattern are not supported here: ${pattern}`);
  }
  if (/\(\?<?[=!]/.test(source) || /\\[1-9]/.test(source)) {
    throw new Error(`not an RE2 regular expression (look-around or back-reference): ${pattern}`);
  }
  try {
    return new RegExp(source, `${flags}u`);
  } catch {
    return new RegExp(source, flags);
  }
}

/** The functions this module registers, with their Kubernetes semantics, for the docs. */
export const KUBERNETES_CEL_OVERRIDES: Readonly<Record<string, string>> = {
  upperAscii: 'string.upperAscii(): string, upper-cases ASCII a-z only (cel-go ext strings)',
  lowerAscii: 'string.lowerAscii(): string, lower-cases ASCII A-Z only (cel-go ext strings)',
  matches: 'string.matches(string): bool, RE2 search (unanchored), leading (?i)(?s)(?m) flags',
};

const RENAMED: Readonly<Record<string, string>> = {
  upperAscii: 'k8sUpperAscii',
  lowerAscii: 'k8sLowerAscii',
  matches: 'k8sMatches',
};

/** The index just past the string literal that starts at `i`, or `i` when none starts there. */
function skipString(expression: string, i: number, before: string): number {
  const c = expression[i];
  if (c !== '"' && c !== "'") return i;
  const raw = /(^|[^A-Za-z0-9_])[rR]$/.test(before);
  const quote = expression.startsWith(c.repeat(3), i) ? c.repeat(3) : c;
  let j = i + quote.length;
  while (j < expression.length && !expression.startsWith(quote, j)) {
    j += !raw && expression[j] === '\\' ? 2 : 1;
  }
  return j + quote.length;
}

/** The index of the parenthesis that closes the one opened just before `start`. */
function closingParen(expression: string, start: number): number {
  let depth = 1;
  let i = start;
  while (i < expression.length) {
    const end = skipString(expression, i, expression.slice(0, i));
    if (end !== i) {
      i = end;
      continue;
    }
    if (expression[i] === '(') depth++;
    if (expression[i] === ')' && --depth === 0) return i;
    i++;
  }
  throw new Error(`unbalanced parentheses in: ${expression}`);
}

/**
 * Rewrites what this module's semantics replace, leaving string literals untouched (a
 * scanner skips '...', "...", triple-quoted and raw strings):
 * - method calls `.upperAscii(`, `.lowerAscii(`, `.matches(` become `.k8sUpperAscii(`...;
 * - `has(e.f)` where `e` is not a plain chain of fields (`has(self.matches[0].path)`, valid
 *   CEL that cel-js refuses) becomes `("f" in e)`: on a map, which every Kubernetes object
 *   is to CEL, that is exactly `has`.
 */
export function rewriteKubernetesCalls(expression: string): string {
  let out = '';
  let i = 0;
  while (i < expression.length) {
    const end = skipString(expression, i, out);
    if (end !== i) {
      out += expression.slice(i, end);
      i = end;
      continue;
    }
    const rest = expression.slice(i);
    const method = /^\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(/.exec(rest);
    if (method && RENAMED[method[1]]) {
      out += method[0].replace(method[1], RENAMED[method[1]]);
      i += method[0].length;
      continue;
    }
    const has = /^has\s*\(/.exec(rest);
    if (has && !/[A-Za-z0-9_.]$/.test(out)) {
      const close = closingParen(expression, i + has[0].length);
      const arg = expression.slice(i + has[0].length, close);
      const field = /^([\s\S]*)\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(arg);
      if (field && /[[(]/.test(field[1])) {
        out += `(${JSON.stringify(field[2])} in (${rewriteKubernetesCalls(field[1])}))`;
      } else {
        out += `has(${rewriteKubernetesCalls(arg)})`;
      }
      i = close + 1;
      continue;
    }
    out += expression[i];
    i++;
  }
  return out;
}

let environment: CelEnvironment | undefined;

function env(): CelEnvironment {
  if (environment) return environment;
  const cel = nativeRequire('@marcbachmann/cel-js') as {
    Environment: new (options: Record<string, unknown>) => CelEnvironment;
  };
  environment = new cel.Environment({ homogeneousAggregateLiterals: false })
    .registerVariable('self', 'dyn')
    // Declared so that transition rules compile; they are not evaluated on create.
    .registerVariable('oldSelf', 'dyn')
    .registerFunction('string.k8sUpperAscii(): string', asciiUpper as (...a: never[]) => unknown)
    .registerFunction('string.k8sLowerAscii(): string', asciiLower as (...a: never[]) => unknown)
    .registerFunction('string.k8sMatches(string): bool', ((s: string, re: string) =>
      re2ToRegExp(re).test(s)) as (...a: never[]) => unknown);
  return environment;
}

const compiled = new Map<string, (context: Record<string, unknown>) => unknown>();

/**
 * Compiles a rule (cached). Throws the library's parse error for a rule it cannot read,
 * including a call to a function it does not know.
 */
export function compileRule(rule: string): (self: unknown) => unknown {
  let fn = compiled.get(rule);
  if (!fn) {
    const source = rewriteKubernetesCalls(rule);
    const check = env().check(source);
    if (!check.valid) throw new Error(check.error?.message ?? 'type check failed');
    fn = env().parse(source);
    compiled.set(rule, fn);
  }
  const evaluate = fn;
  return (self: unknown) => {
    const context = celMap();
    context.self = self;
    return evaluate(context);
  };
}

/** Evaluates an expression on a value already converted to CEL (see crd-schema.ts). */
export function evaluateCel(expression: string, self: unknown): unknown {
  return compileRule(expression)(self);
}
