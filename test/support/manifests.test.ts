import { expectValidManifests, validateManifest } from './manifests';
import { VALID_CUSTOM_RESOURCES } from './fixtures/custom-resources';
import { VALID_K8S_OBJECTS } from './fixtures/k8s-objects';

describe('validateManifest', () => {
  test('routes custom resources to the CRD validator and the rest to the built-in one', () => {
    const route = VALID_CUSTOM_RESOURCES.HTTPRoute();
    route.spec.rules[0].matches[0].path.value = 'relative';
    expect(validateManifest(route).join('\n')).toMatch(/value must be an absolute path/);
    const service = VALID_K8S_OBJECTS.Service();
    service.metadata.name = '1svc';
    expect(validateManifest(service).join('\n')).toMatch(/DNS-1035/);
  });

  test('a kind neither validator knows is an error', () => {
    expect(
      validateManifest({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }),
    ).toEqual([expect.stringMatching(/no schema for kind Widget/)]);
  });
});

describe('expectValidManifests', () => {
  test('passes on a mixed list of valid objects', () => {
    expectValidManifests([
      ...Object.values(VALID_K8S_OBJECTS).map((f) => f()),
      ...Object.values(VALID_CUSTOM_RESOURCES).map((f) => f()),
    ]);
  });

  test('fails listing the problems of both kinds of object, and on an empty list', () => {
    const d = VALID_K8S_OBJECTS.Deployment();
    d.spec.replcas = 1;
    const p = VALID_CUSTOM_RESOURCES.PodMonitor();
    p.spec.selectr = {};
    expect(() => expectValidManifests([d, p])).toThrow(
      /^2 manifest error\(s\) in 2 object\(s\):\n {2}- Deployment\/vllm-llama \/spec\/replcas: unknown field[^\n]*\n {2}- PodMonitor\/dcgm-exporter \/spec\/selectr: unknown field/,
    );
    expect(() => expectValidManifests([])).toThrow(/no objects/);
  });
});
