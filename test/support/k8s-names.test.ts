import {
  dns1035Label,
  dns1123Label,
  dns1123Subdomain,
  labelValue,
  nameValidatorFor,
  pathSegmentName,
  portName,
  qualifiedName,
  quantity,
  quantityValue,
  validateAnnotations,
  validateObjectMeta,
} from './k8s-names';

const ok = (errors: string[]): boolean => errors.length === 0;

describe('dns1123Label', () => {
  test('accepts lower-case alphanumerics and inner dashes up to 63 characters', () => {
    for (const v of ['a', '0', 'vllm-llama-70b', 'a'.repeat(63), '9abc'])
      expect(dns1123Label(v)).toEqual([]);
  });

  test('rejects upper case, dots, underscores, edge dashes, empty and 64 characters', () => {
    for (const v of ['A', 'a.b', 'a_b', '-a', 'a-', '', 'a'.repeat(64)])
      expect(ok(dns1123Label(v))).toBe(false);
    expect(dns1123Label('a'.repeat(64))).toContain('must be no more than 63 characters');
  });
});

describe('dns1123Subdomain', () => {
  test('accepts dotted labels up to 253 characters', () => {
    expect(dns1123Subdomain('gateway.networking.k8s.io')).toEqual([]);
    const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    expect(long).toHaveLength(253);
    expect(dns1123Subdomain(long)).toEqual([]);
  });

  test('rejects 254 characters, empty labels and upper case', () => {
    expect(
      dns1123Subdomain(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`),
    ).toContain('must be no more than 253 characters');
    for (const v of ['a..b', '.a', 'a.', 'Bad_Name', 'a.B'])
      expect(ok(dns1123Subdomain(v))).toBe(false);
  });
});

describe('dns1035Label', () => {
  test('requires a leading letter, as Service names do', () => {
    expect(dns1035Label('vllm')).toEqual([]);
    expect(ok(dns1035Label('1vllm'))).toBe(false);
    expect(ok(dns1123Label('1vllm'))).toBe(true);
    expect(ok(dns1035Label('a'.repeat(64)))).toBe(false);
  });
});

describe('qualifiedName', () => {
  test('accepts plain names and names with a DNS subdomain prefix', () => {
    for (const v of [
      'app',
      'app.kubernetes.io/name',
      'node.kubernetes.io/instance-type',
      'A_b.c-D',
      'weights.compliance.inference/llama-2-70b',
    ]) {
      expect(qualifiedName(v)).toEqual([]);
    }
  });

  test('caps the name part at 63 and the prefix at 253 characters', () => {
    expect(qualifiedName(`p/${'n'.repeat(63)}`)).toEqual([]);
    expect(qualifiedName(`p/${'n'.repeat(64)}`)).toContain(
      'name part must be no more than 63 characters',
    );
    expect(qualifiedName(`${'p'.repeat(254)}/n`).join()).toMatch(
      /prefix part must be no more than 253/,
    );
  });

  test('rejects an empty prefix or name, two slashes, an upper-case prefix and bad edges', () => {
    expect(qualifiedName('/n')).toContain('prefix part must be non-empty');
    expect(qualifiedName('p/')).toContain('name part must be non-empty');
    for (const v of ['a/b/c', 'Example.com/n', '-app', 'app_', 'a b'])
      expect(ok(qualifiedName(v))).toBe(false);
  });
});

describe('labelValue', () => {
  test('accepts empty values and up to 63 characters of the label alphabet', () => {
    for (const v of ['', 'v1', 'A.b_c-D', 'x'.repeat(63)]) expect(labelValue(v)).toEqual([]);
  });

  test('rejects 64 characters, slashes, colons and bad edges', () => {
    expect(labelValue('x'.repeat(64))).toContain('must be no more than 63 characters');
    for (const v of ['a/b', 'sha256:abc', '-a', 'a.', '_a']) expect(ok(labelValue(v))).toBe(false);
  });
});

describe('portName', () => {
  test('follows IANA_SVC_NAME: 15 characters, a letter, no double or edge dashes', () => {
    for (const v of ['http', 'metrics', 'h2c-grpc', 'a1']) expect(portName(v)).toEqual([]);
    expect(portName('a'.repeat(16))).toContain('must be no more than 15 characters');
    expect(portName('8080')).toContain('must contain at least one letter (a-z)');
    expect(portName('a--b')).toContain('must not contain consecutive hyphens');
    expect(portName('-http')).toContain('must not begin or end with a hyphen');
    expect(ok(portName('HTTP'))).toBe(false);
  });
});

describe('pathSegmentName', () => {
  test('refuses only dot names, slashes and percent signs, as RBAC names do', () => {
    expect(pathSegmentName('system:controller:Foo_bar')).toEqual([]);
    for (const v of ['.', '..', 'a/b', 'a%b']) expect(ok(pathSegmentName(v))).toBe(false);
  });
});

describe('nameValidatorFor', () => {
  test('picks the name rule the API server registers for each kind', () => {
    expect(nameValidatorFor('v1', 'Namespace')).toBe(dns1123Label);
    expect(nameValidatorFor('v1', 'Service')).toBe(dns1035Label);
    expect(nameValidatorFor('rbac.authorization.k8s.io/v1', 'ClusterRole')).toBe(pathSegmentName);
    expect(nameValidatorFor('apps/v1', 'Deployment')).toBe(dns1123Subdomain);
    expect(nameValidatorFor('gateway.networking.k8s.io/v1', 'HTTPRoute')).toBe(dns1123Subdomain);
  });
});

describe('validateObjectMeta', () => {
  test('checks name, generateName as a prefix, namespace, label keys and values and annotation keys', () => {
    expect(
      validateObjectMeta(
        { name: 'x', namespace: 'inference', labels: { app: 'x' } },
        dns1123Subdomain,
      ),
    ).toEqual([]);
    expect(validateObjectMeta({ generateName: 'job-' }, dns1123Subdomain)).toEqual([]);
    const problems = validateObjectMeta(
      {
        name: 'X',
        namespace: 'a.b',
        labels: { 'a/b/c': 'v', ok: 'bad value' },
        annotations: { 'Bad Key': '' },
      },
      dns1123Subdomain,
    );
    expect(problems.map((p) => p.path)).toEqual([
      '/metadata/name',
      '/metadata/namespace',
      '/metadata/labels/a/b/c',
      '/metadata/labels/ok',
      '/metadata/annotations/Bad Key',
    ]);
  });

  test('requires a name or a generateName', () => {
    expect(validateObjectMeta({}, dns1123Subdomain)).toEqual([
      { path: '/metadata/name', message: 'name or generateName is required' },
    ]);
  });

  test('caps all annotations together at 256 KiB', () => {
    expect(validateAnnotations({ a: 'x'.repeat(256 * 1024 - 1) }, '/a')).toEqual([]);
    expect(validateAnnotations({ a: 'x'.repeat(256 * 1024) }, '/a')[0].message).toMatch(/Too long/);
  });
});

describe('quantity', () => {
  test('accepts the grammar of resource.ParseQuantity', () => {
    for (const q of [
      '1',
      '0',
      '500m',
      '1.5',
      '.5',
      '1.',
      '+1',
      '-1',
      '1Ki',
      '40Gi',
      '1Ei',
      '100n',
      '2u',
      '1k',
      '1M',
      '1E',
      '1e3',
      '1E-3',
      '1e+9',
      8,
      0.5,
    ]) {
      expect([q, quantity(q)]).toEqual([q, []]);
    }
  });

  test('rejects suffixes and forms that kubernetes-models lets through', () => {
    for (const q of [
      '1h',
      '1Y',
      '1da',
      '1e1.5',
      '1e',
      '1 Gi',
      'Gi',
      '1gi',
      '1KI',
      '',
      '1.5.5',
      '1mi',
    ]) {
      expect([q, ok(quantity(q))]).toEqual([q, false]);
    }
  });

  test('values compare across suffixes', () => {
    expect(quantityValue('1Gi')).toBe(2 ** 30);
    expect(quantityValue('500m')).toBe(0.5);
    expect(quantityValue('1e3')).toBe(1000);
    expect(quantityValue('2G')).toBeGreaterThan(quantityValue('1Gi'));
  });
});
