import { readFileSync } from 'fs';
import { dirname, join } from 'path';
import {
  KUBERNETES_SCHEMA_VERSION,
  expectValidK8sObjects,
  knownK8sKinds,
  validateK8sObject,
} from './k8s-schema';
import { VALID_K8S_OBJECTS, configMap, deployment, service } from './fixtures/k8s-objects';

/** The property names a kubernetes-models .d.ts declares for its interface. */
function declaredProperties(dts: string): string[] {
  return [...readFileSync(dts, 'utf8').matchAll(/^ {4}"([^"]+)"\??:/gm)].map((m) => m[1]);
}

const MODELS = dirname(require.resolve('kubernetes-models/package.json'));
const APIMACHINERY = dirname(require.resolve('@kubernetes-models/apimachinery/package.json'));

describe('validateK8sObject', () => {
  test.each(Object.keys(VALID_K8S_OBJECTS))('a valid hand-written %s passes', (kind) => {
    expect(validateK8sObject(VALID_K8S_OBJECTS[kind]())).toEqual([]);
  });

  test('the kinds the constructs generate all have a schema', () => {
    const kinds = knownK8sKinds();
    for (const k of [
      'apps/v1/Deployment',
      'apps/v1/DaemonSet',
      'v1/Service',
      'v1/ConfigMap',
      'v1/Namespace',
      'v1/ServiceAccount',
      'policy/v1/PodDisruptionBudget',
      'networking.k8s.io/v1/NetworkPolicy',
      'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy',
      'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding',
      'rbac.authorization.k8s.io/v1/Role',
      'rbac.authorization.k8s.io/v1/RoleBinding',
      'rbac.authorization.k8s.io/v1/ClusterRole',
      'rbac.authorization.k8s.io/v1/ClusterRoleBinding',
    ]) {
      expect(kinds).toContain(k);
    }
  });

  test('a wrong type, a missing required field and a bad enum value are schema errors', () => {
    const d = deployment();
    d.spec.replicas = 'two';
    delete d.spec.selector;
    d.spec.template.spec.containers[0].imagePullPolicy = 'Sometimes';
    const errors = validateK8sObject(d);
    expect(errors).toContain('Deployment/vllm-llama /spec/replicas: must be integer');
    expect(errors).toContain('Deployment/vllm-llama /spec: must have required property selector');
    expect(errors.join('\n')).toMatch(
      /\/spec\/template\/spec\/containers\/0\/imagePullPolicy: must be equal to one of the allowed values: Always, IfNotPresent, Never/,
    );
  });

  test('a typo in a field name at any depth is reported as an unknown field', () => {
    const d = deployment();
    d.spec.replcas = 3;
    d.spec.template.spec.containers[0].resources.limit = { cpu: '1' };
    d.spec.template.spec.containers[0].securityContext.capabilities.dorp = ['ALL'];
    d.spec.template.spec.volumes[1].emptyDir.sizelimit = '1Gi';
    d.metadata.lables = {};
    expect(
      validateK8sObject(d)
        .filter((e) => e.includes('unknown field'))
        .sort(),
    ).toEqual([
      'Deployment/vllm-llama /metadata/lables: unknown field "lables": not in the schema, the API server would drop it',
      'Deployment/vllm-llama /spec/replcas: unknown field "replcas": not in the schema, the API server would drop it',
      'Deployment/vllm-llama /spec/template/spec/containers/0/resources/limit: unknown field "limit": not in the schema, the API server would drop it',
      'Deployment/vllm-llama /spec/template/spec/containers/0/securityContext/capabilities/dorp: unknown field "dorp": not in the schema, the API server would drop it',
      'Deployment/vllm-llama /spec/template/spec/volumes/1/emptyDir/sizelimit: unknown field "sizelimit": not in the schema, the API server would drop it',
    ]);
  });

  test('keys of maps (labels, data, resources) are free, unknown fields inside map values are not', () => {
    const c = configMap();
    c.data['any-key.at_all'] = 'x';
    c.metadata.labels = { 'example.com/anything': 'ok' };
    expect(validateK8sObject(c)).toEqual([]);
    c.data = { nested: { not: 'a string' } };
    expect(validateK8sObject(c)).toEqual(['ConfigMap/engine-config /data/nested: must be string']);
  });

  test('every property the 1.33 type definitions declare is known to the unknown-field check', () => {
    // Set every declared property (to a value of the wrong type): none may be called unknown.
    const cases: Array<
      [string, string, (d: ReturnType<typeof deployment>, v: Record<string, unknown>) => void]
    > = [
      [
        join(MODELS, 'v1/PodSpec.d.ts'),
        'PodSpec',
        (d, v) => Object.assign(d.spec.template.spec, v),
      ],
      [
        join(MODELS, 'v1/Container.d.ts'),
        'Container',
        (d, v) => Object.assign(d.spec.template.spec.containers[0], v),
      ],
      [
        join(MODELS, 'apps/v1/DeploymentSpec.d.ts'),
        'DeploymentSpec',
        (d, v) => Object.assign(d.spec, v),
      ],
      [
        join(APIMACHINERY, 'apis/meta/v1/ObjectMeta.d.ts'),
        'ObjectMeta',
        (d, v) => Object.assign(d.metadata, v),
      ],
    ];
    for (const [file, , apply] of cases) {
      const props = declaredProperties(file);
      expect(props.length).toBeGreaterThan(5);
      const d = deployment();
      apply(d, Object.fromEntries(props.map((p) => [p, 'x'])));
      expect(validateK8sObject(d).filter((e) => e.includes('unknown field'))).toEqual([]);
    }
  });

  test(`the schemas are Kubernetes ${KUBERNETES_SCHEMA_VERSION}: a 1.33 field is known, a 1.34 field is not`, () => {
    const d = deployment();
    d.spec.template.spec.containers[0].lifecycle.stopSignal = 'SIGTERM'; // added in 1.33
    expect(validateK8sObject(d)).toEqual([]);
    d.spec.template.spec.hostnameOverride = 'engine'; // added in 1.34
    expect(validateK8sObject(d)).toEqual([
      'Deployment/vllm-llama /spec/template/spec/hostnameOverride: unknown field "hostnameOverride": not in the schema, the API server would drop it',
    ]);
  });

  test('an unknown kind, an unserved version and a custom resource have no schema', () => {
    expect(
      validateK8sObject({ apiVersion: 'v1', kind: 'Deploymnet', metadata: { name: 'x' } })[0],
    ).toMatch(/^Deploymnet\/x \/: no schema for kind Deploymnet in v1/);
    expect(validateK8sObject({ ...deployment(), apiVersion: 'apps/v1beta1' })[0]).toMatch(
      /no schema for kind Deployment in apps\/v1beta1/,
    );
    expect(
      validateK8sObject({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: 'r' },
      })[0],
    ).toMatch(/no schema .* custom resources go through validateCustomResource/);
    expect(validateK8sObject('kind: Deployment')).toEqual([
      '<not an object>: a Kubernetes object must be a JSON object',
    ]);
    expect(validateK8sObject({ metadata: { name: 'x' } })[0]).toMatch(
      /apiVersion and kind are required/,
    );
  });

  test('quantities follow the API server grammar, stricter than the package format', () => {
    const d = deployment();
    const c = d.spec.template.spec.containers[0];
    c.resources.limits.cpu = '1h'; // accepted by kubernetes-models' quantity format
    c.resources.requests.memory = '1 Gi';
    d.spec.template.spec.volumes[1].emptyDir.sizeLimit = '16GB';
    const errors = validateK8sObject(d).join('\n');
    expect(errors).toMatch(/containers\/0\/resources\/limits\/cpu: '1h': quantities must match/);
    expect(errors).toMatch(
      /containers\/0\/resources\/requests\/memory: (must match format "quantity"|'1 Gi')/,
    );
    expect(errors).toMatch(/volumes\/1\/emptyDir\/sizeLimit: /);
  });

  test('a request above its limit and a negative quantity are refused', () => {
    const d = deployment();
    d.spec.template.spec.containers[0].resources.requests.memory = '65Gi';
    d.spec.template.spec.containers[0].resources.limits.cpu = '-1';
    d.spec.template.spec.containers[0].resources.requests.cpu = '-1';
    const errors = validateK8sObject(d);
    expect(errors).toContain(
      'Deployment/vllm-llama /spec/template/spec/containers/0/resources/requests/memory: must be less than or equal to memory limit of 64Gi',
    );
    expect(errors).toContain(
      "Deployment/vllm-llama /spec/template/spec/containers/0/resources/limits/cpu: '-1': must be greater than or equal to 0",
    );
  });

  test('names, label keys and values, and annotation keys follow the Kubernetes rules', () => {
    const d = deployment();
    d.metadata.name = 'vLLM_llama';
    d.metadata.labels['compliance.inference/model'] = 'meta-llama/Llama-2-70b';
    d.metadata.annotations['Example.COM/x'] = 'fine';
    d.metadata.annotations['-bad'] = 'x';
    const errors = validateK8sObject(d);
    expect(errors.map((e) => e.split(':')[0])).toEqual([
      'Deployment/vLLM_llama /metadata/name',
      'Deployment/vLLM_llama /metadata/labels/compliance.inference/model',
      'Deployment/vLLM_llama /metadata/annotations/-bad',
    ]);
    expect(validateK8sObject({ ...service(), metadata: { name: '8080-svc' } })[0]).toMatch(
      /DNS-1035/,
    );
    expect(
      validateK8sObject({ ...VALID_K8S_OBJECTS.Namespace(), metadata: { name: 'a.b' } })[0],
    ).toMatch(/RFC 1123 label/);
    expect(
      validateK8sObject({
        ...VALID_K8S_OBJECTS.ClusterRole(),
        metadata: { name: 'system:a/b' },
      })[0],
    ).toMatch(/may not contain '\/'/);
  });

  test('a selector that does not match the template labels, or is empty, is refused', () => {
    const d = deployment();
    d.spec.selector = { matchLabels: { app: 'other' } };
    expect(validateK8sObject(d)).toEqual([
      'Deployment/vllm-llama /spec/template/metadata/labels: `selector` does not match template `labels`',
    ]);
    d.spec.selector = {};
    expect(validateK8sObject(d)).toEqual([
      'Deployment/vllm-llama /spec/selector: empty selector is invalid for Deployment',
    ]);
  });

  test('container, port and volume names are checked, unique, and mounts refer to volumes', () => {
    const d = deployment();
    const spec = d.spec.template.spec;
    spec.containers.push({
      ...spec.containers[0],
      name: 'engine',
      volumeMounts: [{ name: 'cache', mountPath: '/c' }],
    });
    spec.containers[0].ports[0].name = 'http-metrics-port';
    spec.volumes[1].name = 'DShm';
    const errors = validateK8sObject(d).map((e) =>
      e.replace('Deployment/vllm-llama /spec/template/spec', ''),
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\/volumes\/1\/name: 'DShm'/),
        '/containers/1/name: Duplicate value: "engine"',
        expect.stringMatching(
          /^\/containers\/0\/ports\/0\/name: 'http-metrics-port': must be no more than 15/,
        ),
        '/containers/0/volumeMounts/1/name: Not found: "dshm"',
        '/containers/1/volumeMounts/0/name: Not found: "cache"',
      ]),
    );
  });

  test('Service ports are named when there are several, and named target ports are IANA names', () => {
    const s = service();
    s.spec.ports.push({ port: 9090, targetPort: 'Metrics_Port' });
    const errors = validateK8sObject(s);
    expect(errors).toContain(
      'Service/vllm-llama /spec/ports/1/name: Required value: a Service with more than one port names each port',
    );
    expect(errors.join('\n')).toMatch(/\/spec\/ports\/1\/targetPort: 'Metrics_Port'/);
  });

  test('matchExpressions keys and values are checked wherever a selector is', () => {
    const n = VALID_K8S_OBJECTS.NetworkPolicy();
    n.spec.ingress[0].from[0].podSelector.matchExpressions[0].values = [];
    n.spec.ingress[0].from[0].namespaceSelector.matchLabels = { 'bad key!': 'x' };
    const errors = validateK8sObject(n).join('\n');
    expect(errors).toMatch(
      /matchExpressions\/0\/values: must be specified when `operator` is In or NotIn/,
    );
    expect(errors).toMatch(/namespaceSelector\/matchLabels\/bad key!: key: name part must consist/);
  });
});

describe('expectValidK8sObjects', () => {
  test('passes on valid objects', () => {
    expectValidK8sObjects(Object.values(VALID_K8S_OBJECTS).map((f) => f()));
  });

  test('fails listing every error of every object with kind, name and path', () => {
    const d = deployment();
    d.spec.replcas = 1;
    const c = configMap();
    c.metadata.name = 'Bad';
    expect(() => expectValidK8sObjects([d, c, service()])).toThrow(
      /^2 Kubernetes schema error\(s\) in 3 object\(s\):\n {2}- Deployment\/vllm-llama \/spec\/replcas: unknown field[^\n]*\n {2}- ConfigMap\/Bad \/metadata\/name: /,
    );
  });

  test('fails on an empty list, which is never what a synth should produce', () => {
    expect(() => expectValidK8sObjects([])).toThrow(/no objects to validate/);
  });
});
