import {
  CRD_DIRECTORY,
  HANDLED_KEYWORDS,
  escapePropertyName,
  expectValidCustomResources,
  loadCrds,
  validateCustomResource,
} from './crd-schema';
import { compileRule } from './k8s-cel';
import { VALID_CUSTOM_RESOURCES as VALID } from './fixtures/custom-resources';

type Obj = ReturnType<(typeof VALID)['HTTPRoute']>;

/** Every x-kubernetes-validations rule of a schema, with its location. */
function rulesOf(
  schema: unknown,
  path = '',
): Array<{ path: string; rule: string; message?: string }> {
  if (schema === null || typeof schema !== 'object') return [];
  if (Array.isArray(schema)) return schema.flatMap((s) => rulesOf(s, path));
  const s = schema as Record<string, unknown>;
  const own = Array.isArray(s['x-kubernetes-validations'])
    ? (s['x-kubernetes-validations'] as Array<{ rule: string; message?: string }>).map((r) => ({
        path,
        ...r,
      }))
    : [];
  return [...own, ...Object.entries(s).flatMap(([k, v]) => rulesOf(v, `${path}/${k}`))];
}

/** Every schema keyword used anywhere below a schema node. */
function keywordsOf(schema: Record<string, unknown>, out = new Set<string>()): Set<string> {
  for (const [k, v] of Object.entries(schema)) {
    out.add(k);
    if (k === 'properties' && v && typeof v === 'object') {
      for (const p of Object.values(v)) keywordsOf(p as Record<string, unknown>, out);
    } else if (['items', 'additionalProperties', 'not'].includes(k) && v && typeof v === 'object') {
      keywordsOf(v as Record<string, unknown>, out);
    } else if (['allOf', 'anyOf', 'oneOf'].includes(k) && Array.isArray(v)) {
      for (const b of v) keywordsOf(b as Record<string, unknown>, out);
    }
  }
  return out;
}

function broken(kind: string, change: (o: Obj) => void): string[] {
  const o = VALID[kind]();
  change(o);
  return validateCustomResource(o);
}

describe('the CRDs', () => {
  test('all eleven kinds load from shared/crds, in their served versions', () => {
    const crds = loadCrds();
    expect(CRD_DIRECTORY).toMatch(/shared[\\/]crds$/);
    const served = [...crds.entries()].filter(([, c]) => c.served).map(([k]) => k);
    for (const kind of Object.keys(VALID)) {
      const o = VALID[kind]();
      expect(served).toContain(`${String(o.apiVersion)}/${kind}`);
    }
  });

  test('every schema keyword the CRDs use is one the validator handles', () => {
    const used = new Set<string>();
    for (const crd of loadCrds().values()) keywordsOf(crd.schema, used);
    expect([...used].filter((k) => !HANDLED_KEYWORDS.includes(k))).toEqual([]);
  });

  test('every CEL rule of every CRD compiles, so no rule can pass by not running', () => {
    const failures: string[] = [];
    let count = 0;
    for (const [key, crd] of loadCrds()) {
      for (const r of rulesOf(crd.schema)) {
        count++;
        try {
          compileRule(r.rule);
        } catch (e) {
          failures.push(`${key} ${r.path}: ${(e as Error).message}: ${r.rule}`);
        }
      }
    }
    expect(count).toBeGreaterThan(500);
    expect(failures).toEqual([]);
  });

  test('GatewayClass, ReferenceGrant and the three monitoring kinds have no rule that runs on create', () => {
    for (const kind of [
      'GatewayClass',
      'ReferenceGrant',
      'PrometheusRule',
      'ServiceMonitor',
      'PodMonitor',
    ]) {
      const o = VALID[kind]();
      const crd = loadCrds().get(`${String(o.apiVersion)}/${kind}`);
      const onCreate = rulesOf(crd?.schema).filter((r) => !/\boldSelf\b/.test(r.rule));
      expect([kind, onCreate]).toEqual([kind, []]);
    }
  });
});

describe('validateCustomResource', () => {
  test.each(Object.keys(VALID))('a valid hand-written %s passes', (kind) => {
    expect(validateCustomResource(VALID[kind]())).toEqual([]);
  });

  // One schema constraint per kind: a type, a pattern, a bound, an enum, a required field.
  const schemaBreaks: Array<[string, (o: Obj) => void, RegExp]> = [
    [
      'GatewayClass',
      (o) => (o.spec.controllerName = 'not a controller'),
      /\/spec\/controllerName: must match pattern/,
    ],
    ['Gateway', (o) => (o.spec.listeners[0].port = 0), /\/spec\/listeners\/0\/port: must be >= 1/],
    [
      'HTTPRoute',
      (o) => (o.spec.hostnames = ['LLM.example.com']),
      /\/spec\/hostnames\/0: must match pattern/,
    ],
    ['ReferenceGrant', (o) => (o.spec.from = []), /\/spec\/from: must NOT have fewer than 1 items/],
    [
      'BackendTrafficPolicy',
      (o) => (o.spec.timeout.http.requestTimeout = '5 seconds'),
      /\/spec\/timeout\/http\/requestTimeout: must match pattern/,
    ],
    [
      'ClientTrafficPolicy',
      (o) => (o.spec.clientIPDetection.xForwardedFor.numTrustedHops = 'one'),
      /\/spec\/clientIPDetection\/xForwardedFor\/numTrustedHops: must be integer/,
    ],
    [
      'SecurityPolicy',
      (o) => (o.spec.apiKeyAuth.extractFrom[0].headers = 'x-api-key'),
      /\/spec\/apiKeyAuth\/extractFrom\/0\/headers: must be array/,
    ],
    [
      'EnvoyExtensionPolicy',
      (o) => (o.spec.extProc[0].processingMode.request.body = 'Everything'),
      /\/spec\/extProc\/0\/processingMode\/request\/body: Unsupported value: "Everything": supported values: "Streamed", "Buffered"/,
    ],
    [
      'PrometheusRule',
      (o) => (o.spec.groups[0].rules[1].for = '30 seconds'),
      /\/spec\/groups\/0\/rules\/1\/for: must match pattern/,
    ],
    [
      'ServiceMonitor',
      (o) => (o.spec.endpoints[0].interval = 10),
      /\/spec\/endpoints\/0\/interval: must be string/,
    ],
    ['PodMonitor', (o) => delete o.spec.selector, /\/spec: must have required property 'selector'/],
  ];
  test.each(schemaBreaks)(
    'a %s that breaks a schema constraint fails',
    (kind, change, expected) => {
      expect(broken(kind, change).join('\n')).toMatch(expected);
    },
  );

  test.each(Object.keys(VALID))('a typo in a field name of a %s is an unknown field', (kind) => {
    const errors = broken(kind, (o) => (o.spec.specc = true));
    expect(errors).toContain(
      `${kind}/${String(VALID[kind]().metadata.name)} /spec/specc: unknown field "specc": not in the schema, the API server would drop it`,
    );
  });

  test('unknown fields deep inside a spec are errors, fields the schema preserves are not', () => {
    expect(broken('HTTPRoute', (o) => (o.spec.rules[0].backendRefs[0].prot = 80))).toContain(
      'HTTPRoute/vllm-llama /spec/rules/0/backendRefs/0/prot: unknown field "prot": not in the schema, the API server would drop it',
    );
    expect(
      broken('PrometheusRule', (o) => (o.spec.groups[0].rules[1].severity = 'critical')),
    ).toContain(
      'PrometheusRule/inference-alarms /spec/groups/0/rules/1/severity: unknown field "severity": not in the schema, the API server would drop it',
    );
  });

  // One real CEL rule per kind that has rules on create, broken on purpose.
  const celBreaks: Array<[string, string, (o: Obj) => void, string]> = [
    [
      'BackendTrafficPolicy',
      'targetRef and targetRefs together',
      (o) =>
        (o.spec.targetRef = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'x' }),
      'BackendTrafficPolicy/vllm-llama /spec: either targetRef or targetRefs must be used',
    ],
    [
      'BackendTrafficPolicy',
      'a Service as target',
      (o) =>
        (o.spec.targetRefs[0] = { group: 'gateway.networking.k8s.io', kind: 'Service', name: 'x' }),
      'BackendTrafficPolicy/vllm-llama /spec: this policy can only have a targetRefs[*].kind of Gateway/ListenerSet/HTTPRoute/GRPCRoute/TCPRoute/UDPRoute/TLSRoute',
    ],
    [
      'HTTPRoute',
      'a relative path',
      (o) => (o.spec.rules[0].matches[0].path.value = 'v1/completions'),
      "HTTPRoute/vllm-llama /spec/rules/0/matches/0/path: value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
    ],
    [
      'HTTPRoute',
      'a backend timeout longer than the request timeout',
      (o) => (o.spec.rules[0].timeouts = { request: '5s', backendRequest: '6s' }),
      'HTTPRoute/vllm-llama /spec/rules/0/timeouts: backendRequest timeout cannot be longer than request timeout',
    ],
    [
      'HTTPRoute',
      'a prefix rewrite with an Exact match (has() on an indexed field)',
      (o) => {
        o.spec.rules[0].matches[0].path.type = 'Exact';
        o.spec.rules[0].filters = [
          {
            type: 'URLRewrite',
            urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } },
          },
        ];
      },
      'HTTPRoute/vllm-llama /spec/rules/0: When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified',
    ],
    [
      'Gateway',
      'two listeners with one name',
      (o) => (o.spec.listeners[1].name = 'http'),
      'Gateway/inference /spec/listeners: Listener name must be unique within the Gateway',
    ],
    [
      'Gateway',
      'TLS on an HTTP listener',
      (o) => (o.spec.listeners[0].tls = { mode: 'Terminate', certificateRefs: [{ name: 'x' }] }),
      "Gateway/inference /spec/listeners: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']",
    ],
    [
      'ClientTrafficPolicy',
      'two client IP sources',
      (o) => (o.spec.clientIPDetection.customHeader = { name: 'x-real-ip' }),
      'ClientTrafficPolicy/inference /spec/clientIPDetection: exactly one of xForwardedFor, customHeader, or directSourceIP must be set',
    ],
    [
      'SecurityPolicy',
      'an API key read from a header and a parameter',
      (o) => (o.spec.apiKeyAuth.extractFrom[0].params = ['key']),
      'SecurityPolicy/vllm-llama /spec/apiKeyAuth/extractFrom/0: exactly one of headers, params, or cookies must be specified',
    ],
    [
      'EnvoyExtensionPolicy',
      'a singular backendRef',
      (o) => (o.spec.extProc[0].backendRef = { name: 'token-counter', port: 9002 }),
      'EnvoyExtensionPolicy/token-budget /spec/extProc/0: BackendRefs must be used, backendRef is not supported.',
    ],
  ];
  test.each(celBreaks)(
    'a %s with %s fails with the rule message',
    (kind, _what, change, expected) => {
      const errors = broken(kind, change);
      expect(errors.map((e) => e.replace(/ \(rule: [\s\S]*\)$/, ''))).toContain(expected);
    },
  );

  test('each CEL failure names the rule that failed', () => {
    const errors = broken(
      'BackendTrafficPolicy',
      (o) => (o.spec.targetRef = { ...o.spec.targetRefs[0] }),
    );
    expect(errors.join('\n')).toMatch(
      /either targetRef or targetRefs must be used \(rule: \(has\(self\.targetRef\)/,
    );
  });

  test('defaults are applied before the rules run, as in the API server', () => {
    // path.type defaults to PathPrefix, so the absolute-path rule applies to a bare value.
    expect(
      broken('HTTPRoute', (o) => (o.spec.rules[0].matches[0].path = { value: 'v1' })).join('\n'),
    ).toMatch(/value must be an absolute path/);
  });

  test('fields with CEL-reserved names are escaped (namespace is __namespace__)', () => {
    // Valid only if the rule sees the two namespaces: otherwise the two refs are one parent.
    const two = (o: Obj): void => {
      o.spec.parentRefs = [
        { name: 'inference', namespace: 'a' },
        { name: 'inference', namespace: 'b' },
      ];
    };
    expect(broken('HTTPRoute', two)).toEqual([]);
    expect(
      broken(
        'HTTPRoute',
        (o) => (o.spec.parentRefs = [{ name: 'inference' }, { name: 'inference' }]),
      ).join('\n'),
    ).toMatch(
      /sectionName must be unique when parentRefs includes 2 or more references to the same parent/,
    );
    expect(escapePropertyName('namespace')).toBe('__namespace__');
    expect(escapePropertyName('x-api.key/a__b')).toBe(
      'x__dash__api__dot__key__slash__a__underscores__b',
    );
    expect(escapePropertyName('1abc')).toBeUndefined();
  });

  test('a rule that cannot be evaluated fails with a clear message, never passes', () => {
    const errors = broken('ClientTrafficPolicy', (o) => {
      o.spec.http2 = { connectionKeepalive: { timeout: 'soon', interval: '10s' } };
    });
    expect(errors.join('\n')).toMatch(
      /\/spec\/http2\/connectionKeepalive: x-kubernetes-validations rule could not be evaluated: .*duration.* \(rule: !has\(self.timeout\)/,
    );
  });

  test('transition rules (oldSelf) do not run on create', () => {
    expect(broken('GatewayClass', (o) => (o.spec.controllerName = 'example.com/other'))).toEqual(
      [],
    );
  });

  test('int-or-string fields take an integer or a string, nothing else', () => {
    expect(broken('ServiceMonitor', (o) => (o.spec.endpoints[0] = { targetPort: 8000 }))).toEqual(
      [],
    );
    expect(broken('ServiceMonitor', (o) => (o.spec.endpoints[0] = { targetPort: 'http' }))).toEqual(
      [],
    );
    expect(
      broken('ServiceMonitor', (o) => (o.spec.endpoints[0] = { targetPort: 80.5 })).join('\n'),
    ).toMatch(/\/spec\/endpoints\/0\/targetPort: must be an integer or a string/);
  });

  test('list-type map lists refuse two items with the same key', () => {
    expect(broken('Gateway', (o) => (o.spec.listeners[1].name = 'http')).join('\n')).toMatch(
      /\/spec\/listeners: Duplicate value: \["http"\] \(list-type map keyed by name\)/,
    );
  });

  test('metadata follows the Kubernetes name and label rules', () => {
    const errors = broken('HTTPRoute', (o) => {
      o.metadata.name = 'VLLM';
      o.metadata.labels = { 'compliance.inference/model': 'meta-llama/Llama' };
      o.metadata.finalizer = [];
    });
    expect(errors.map((e) => e.split(':')[0])).toEqual([
      'HTTPRoute/VLLM /metadata/finalizer',
      'HTTPRoute/VLLM /metadata/name',
      'HTTPRoute/VLLM /metadata/labels/compliance.inference/model',
    ]);
  });

  test('an unknown kind or version has no schema, and is an error', () => {
    expect(
      validateCustomResource({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'GRPCRoute',
        metadata: { name: 'g' },
      }),
    ).toEqual([
      expect.stringMatching(
        /^GRPCRoute\/g \/: no schema for kind GRPCRoute in gateway.networking.k8s.io\/v1/,
      ),
    ]);
    expect(
      validateCustomResource({
        ...VALID.HTTPRoute(),
        apiVersion: 'gateway.networking.k8s.io/v2',
      })[0],
    ).toMatch(/no schema for kind/);
    expect(validateCustomResource([])).toEqual([
      '<not an object>: a custom resource must be a JSON object',
    ]);
  });

  test('the v1beta1 versions of the Gateway API are served and validated too', () => {
    expect(
      validateCustomResource({
        ...VALID.HTTPRoute(),
        apiVersion: 'gateway.networking.k8s.io/v1beta1',
      }),
    ).toEqual([]);
  });
});

describe('expectValidCustomResources', () => {
  test('passes on valid custom resources', () => {
    expectValidCustomResources(Object.values(VALID).map((make) => make()));
  });

  test('fails listing every error with kind, name and path', () => {
    const p = VALID.BackendTrafficPolicy();
    p.spec.targetRef = { ...p.spec.targetRefs[0] };
    p.spec.retry.numRetrys = 2;
    expect(() => expectValidCustomResources([VALID.HTTPRoute(), p])).toThrow(
      /^2 custom resource error\(s\) in 2 object\(s\):\n {2}- BackendTrafficPolicy\/vllm-llama \/spec\/retry\/numRetrys: unknown field[^\n]*\n {2}- BackendTrafficPolicy\/vllm-llama \/spec: either targetRef or targetRefs/,
    );
  });

  test('fails on an empty list', () => {
    expect(() => expectValidCustomResources([])).toThrow(/no objects to validate/);
  });
});
