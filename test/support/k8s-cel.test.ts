import {
  KUBERNETES_CEL_OVERRIDES,
  celList,
  celMap,
  compileRule,
  evaluateCel,
  re2ToRegExp,
  rewriteKubernetesCalls,
} from './k8s-cel';

/** A CEL map from plain data, whole numbers as int (as the CRD walk builds them). */
function cel(value: unknown): unknown {
  if (Number.isInteger(value)) return BigInt(value as number);
  if (Array.isArray(value)) return celList(value.map(cel));
  if (value && typeof value === 'object') {
    const out = celMap();
    for (const [k, v] of Object.entries(value)) out[k] = cel(v);
    return out;
  }
  return value;
}

describe('rewriteKubernetesCalls', () => {
  test('renames the overridden methods outside string literals only', () => {
    expect(rewriteKubernetesCalls("self.method.upperAscii() in ['POST']")).toBe(
      "self.method.k8sUpperAscii() in ['POST']",
    );
    expect(rewriteKubernetesCalls(`"a.upperAscii()" + r'.matches(' + '''.lowerAscii(''' `)).toBe(
      `"a.upperAscii()" + r'.matches(' + '''.lowerAscii(''' `,
    );
    expect(rewriteKubernetesCalls(`self.value.matches(r"""^a\\.(b)$""")`)).toBe(
      `self.value.k8sMatches(r"""^a\\.(b)$""")`,
    );
  });

  test('turns has() on an indexed field into a key test, and leaves plain has() alone', () => {
    expect(rewriteKubernetesCalls('has(self.matches[0].path)')).toBe(
      '("path" in (self.matches[0]))',
    );
    expect(rewriteKubernetesCalls('has(self.a.b) && !has(x.y)')).toBe('has(self.a.b) && !has(x.y)');
    expect(rewriteKubernetesCalls('has(self.f(has(a[0].b)).c)')).toBe(
      '("c" in (self.f(("b" in (a[0])))))',
    );
  });
});

describe('the Kubernetes CEL environment', () => {
  test('upperAscii and lowerAscii change ASCII letters only, as cel-go does', () => {
    expect(evaluateCel('self.upperAscii()', 'poſt-straße')).toBe('POſT-STRAßE');
    expect(evaluateCel('self.lowerAscii()', 'ÀB')).toBe('Àb');
    expect(evaluateCel("self.upperAscii() in ['POST', 'PUT']", 'poſt')).toBe(false);
    expect(Object.keys(KUBERNETES_CEL_OVERRIDES)).toEqual(['upperAscii', 'lowerAscii', 'matches']);
  });

  test('matches is an unanchored RE2 search with leading inline flags', () => {
    expect(evaluateCel("self.matches('b+')", 'abbc')).toBe(true);
    expect(evaluateCel("self.matches('(?i)^ABORT$')", 'abort')).toBe(true);
    expect(evaluateCel("self.matches('^.$')", '€')).toBe(true);
    expect(() => evaluateCel("self.matches('a(?=b)')", 'ab')).toThrow(
      /not an RE2 regular expression/,
    );
    expect(re2ToRegExp('^(?i)(abort|warn)?$').test('WARN')).toBe(true);
  });

  test('has() works on fields of indexed elements, which cel-js refuses by itself', () => {
    const self = cel({ matches: [{ path: { type: 'PathPrefix' } }, {}] });
    expect(evaluateCel('has(self.matches[0].path)', self)).toBe(true);
    expect(evaluateCel('has(self.matches[1].path)', self)).toBe(false);
  });

  test('the functions the CRD rules call behave as in Kubernetes', () => {
    const self = cel({ l: ['a', '*'], s: 'a/b', n: 3, d: 0.5, m: {} });
    expect(evaluateCel("'*' in self.l && self.l.size() > 1", self)).toBe(true);
    expect(evaluateCel("self.s.split('/')[0].size() < 253", self)).toBe(true);
    expect(evaluateCel('[has(self.n), has(self.x)].filter(x, x).size() == 1', self)).toBe(true);
    expect(
      evaluateCel('self.l.exists_one(x, x == "a") && self.l.all(x, x.size() == 1)', self),
    ).toBe(true);
    expect(
      evaluateCel("duration('1h30m') > duration('5s') && duration('100ms') < duration('1s')", self),
    ).toBe(true);
    expect(evaluateCel('self.n >= 1 && self.d < 1', self)).toBe(true);
    expect(
      evaluateCel("self.s.startsWith('a') && self.s.endsWith('b') && self.s.contains('/')", self),
    ).toBe(true);
  });

  test('an unknown function, a missing key and a bad argument are errors, not false', () => {
    expect(() => compileRule('isURL(self)')).toThrow(/isURL/);
    expect(() => evaluateCel('self.missing == 1', cel({}))).toThrow(/No such key: missing/);
    expect(() => evaluateCel("duration('soon') > duration('0s')", cel({}))).toThrow(/duration/);
  });
});
