/**
 * The CEL evaluator the audit uses: `@marcbachmann/cel-js`, with the same expressions the
 * admission policy hands the API server. cel-js is an ES module; it is loaded with Node's
 * own require (Node >= 20.19 loads ES modules that way), which also works where a test
 * runner keeps its own module registry. Values are copied into Node's main realm before
 * evaluation, because the library checks values with `instanceof` against that realm.
 */

/** The parts of a cel-js Environment used here. */
interface CelEnvironment {
  registerVariable(name: string, type: string): CelEnvironment;
  check(expression: string): { valid: boolean; error?: { message: string } };
  parse(expression: string): (context: Record<string, unknown>) => unknown;
}

interface NodeInternals {
  getBuiltinModule(name: 'module'): typeof import('module');
  getBuiltinModule(name: 'vm'): typeof import('vm');
}

const internals = process as unknown as NodeInternals;

let environment: CelEnvironment | undefined;
let mainRealmParse: ((text: string) => unknown) | undefined;

function env(): CelEnvironment {
  if (environment) return environment;
  const load = internals.getBuiltinModule('module').createRequire(__filename);
  const cel = load('@marcbachmann/cel-js') as {
    Environment: new (options: Record<string, unknown>) => CelEnvironment;
  };
  environment = new cel.Environment({
    // As the API server: its base CEL environment requires homogeneous list and map literals.
    homogeneousAggregateLiterals: true,
    limits: { maxAstNodes: 20000, maxDepth: 200 },
  })
    .registerVariable('object', 'dyn')
    .registerVariable('variables', 'dyn');
  return environment;
}

/** Copies plain JSON data into Node's main realm, where cel-js checks its types. */
export function toCelValue(value: unknown): unknown {
  if (!mainRealmParse) {
    mainRealmParse = internals.getBuiltinModule('vm').runInThisContext('JSON.parse') as (
      text: string,
    ) => unknown;
  }
  return mainRealmParse(JSON.stringify(value ?? null));
}

type Compiled = (context: Record<string, unknown>) => unknown;
const cache = new Map<string, Compiled>();

/**
 * Compiles a CEL expression over `object` and `variables` (cached).
 * @throws Error with the library's message when the expression does not parse or check
 */
export function compileCel(expression: string): Compiled {
  let fn = cache.get(expression);
  if (!fn) {
    const check = env().check(expression);
    if (!check.valid) {
      throw new Error(`CEL expression does not check: ${check.error?.message ?? ''}`);
    }
    fn = env().parse(expression);
    cache.set(expression, fn);
  }
  return fn;
}

/**
 * Evaluates a compiled expression; the context values must already be CEL values
 * ({@link toCelValue}). An evaluation error (a missing field, a type mismatch) is
 * returned as an Error, as the API server would report it, never thrown.
 */
export function evaluateCel(expression: string, context: Record<string, unknown>): unknown {
  try {
    return compileCel(expression)(context);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}
