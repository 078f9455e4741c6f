import * as fc from 'fast-check';
import { CATALOGUE_NAMES, ComplianceError, MODEL_CATALOGUE } from '../../constructs';
import { CLOCK, Obj, audit, brokenRules, clone, referenceObjects, serviceObjects } from './fixture';
import { compliantTemplate } from './rule-proofs';

/**
 * The rules each field of the synthesized output carries: a mutation of a field may only
 * break these. Patterns are matched against `Kind:dotted.path` (array indices as numbers).
 */
const FIELD_RULES: readonly [RegExp, readonly string[]][] = [
  [/^Deployment:spec\.template\.spec\.nodeSelector\b/, ['HW-1', 'W-3']],
  [
    /^Deployment:spec\.template\.spec\.(init)?[cC]ontainers\.\d+\.resources\b/,
    ['HW-2', 'HW-3', 'MEM-2'],
  ],
  [/^Deployment:spec\.template\.spec\.(init)?[cC]ontainers\.\d+\.image$/, ['SW-2', 'HW-2']],
  [
    // The engine's arguments decide its memory too: audit re-plans with them (MEM-2).
    /^Deployment:spec\.template\.spec\.(init)?[cC]ontainers\.\d+\.(args|command)\b/,
    ['HW-2', 'W-1', 'W-3', 'Q-1', 'MEM-2'],
  ],
  [/^Deployment:spec\.template\.spec\.(init)?[cC]ontainers\.\d+\.env\b/, ['W-1', 'W-3', 'MEM-4']],
  [
    /^Deployment:spec\.template\.spec\.(init)?[cC]ontainers\.\d+\.(securityContext|ports)\b/,
    ['SEC-1'],
  ],
  [/^Deployment:spec\.template\.spec\.securityContext\b/, ['SEC-1']],
  [/^Deployment:spec\.template\.spec\.host(Network|PID|IPC)\b/, ['SEC-1']],
  [/^Deployment:spec\.template\.spec\.tolerations\b/, ['HW-4']],
  [/^Deployment:spec\.template\.spec\.volumes\b/, ['HW-3', 'W-1', 'W-3']],
  [/^Deployment:spec\.template\.spec\.(init)?[cC]ontainers\.\d+\.volumeMounts\b/, ['W-3']],
  [/^Deployment:spec\.template\.spec\.affinity\b/, ['W-3']],
  [/^Deployment:spec\.template\.spec\.automountServiceAccountToken$/, ['SEC-3']],
  [
    /^Deployment:spec\.template\.spec\.containers\.\d+\.(lifecycle|readinessProbe|livenessProbe)\b/,
    ['OPS-3'],
  ],
  [/^Deployment:spec\.template\.metadata\.labels\b/, ['OBS-1', 'OPS-3']],
  [
    /^Deployment:(metadata|spec\.template\.metadata)\.annotations\.compliance\.inference\/memory-plan$/,
    ['MEM-2'],
  ],
  [/^Deployment:metadata\.namespace$/, ['OPS-3', 'OBS-1']],
  [/^PodDisruptionBudget:(spec\.selector|metadata\.namespace)\b/, ['OPS-3']],
  [/^Service:(spec\.selector|metadata\.labels|metadata\.namespace)\b/, ['OBS-1']],
  [/^ServiceMonitor:(spec\.selector|spec\.namespaceSelector|metadata\.namespace)\b/, ['OBS-1']],
  [/^BackendTrafficPolicy:spec\.timeout\b/, ['NET-1']],
  // The policy's target and its place: without them the route to the engines is unbounded.
  [/^BackendTrafficPolicy:(spec\.targetRefs?|metadata\.namespace)\b/, ['NET-2', 'NET-3']],
  [/^HTTPRoute:spec\.rules\.\d+\.timeouts\b/, ['NET-1']],
  [/^HTTPRoute:(metadata\.(name|namespace)|spec\.rules)\b/, ['NET-1', 'NET-2', 'NET-3']],
  [/^BackendTrafficPolicy:spec\.retry\b/, ['NET-2']],
  [/^BackendTrafficPolicy:spec\.circuitBreaker\b/, ['NET-3']],
];

function carried(kind: string, path: string): string[] {
  const key = `${kind}:${path}`;
  return [...new Set(FIELD_RULES.filter(([re]) => re.test(key)).flatMap(([, rules]) => rules))];
}

/** Every path of an object: leaves to replace, and keys to delete. */
function paths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const entries = Array.isArray(value)
    ? value.map((v, i) => [String(i), v] as const)
    : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => paths(v, [...prefix, k]))].filter(
    (p) => p.length > 0,
  );
}

const REPLACEMENTS: readonly unknown[] = [
  '',
  'latest',
  '0',
  'true',
  's3://bucket/model',
  'org/model',
  0,
  7,
  -1,
  true,
  false,
  null,
  'x',
];

type Mutation = { object: number; path: number; op: number };

/** The rules a mutated field carries: its own, and those of every field under it. */
function carriedUnder(target: Obj, path: string[]): string[] {
  let node: unknown = target;
  for (const k of path) node = (node as Obj)[k];
  const below = paths(node, path).map((p) => p.join('.'));
  return [...new Set([path.join('.'), ...below].flatMap((p) => carried(target.kind, p)))];
}

function mutate(
  objects: Obj[],
  m: Mutation,
): { kind: string; path: string; removed: boolean; allowed: string[] } | undefined {
  const target = objects[m.object % objects.length];
  const candidates = paths(target).filter(
    (p) => !(p.length === 1 && (p[0] === 'apiVersion' || p[0] === 'kind')),
  );
  if (candidates.length === 0) return undefined;
  const path = candidates[m.path % candidates.length];
  let parent: Obj = target;
  for (const k of path.slice(0, -1)) parent = parent[k];
  const last = path[path.length - 1];
  const allowed = carriedUnder(target, path);
  const removed = m.op % (REPLACEMENTS.length + 1) === REPLACEMENTS.length;
  if (removed) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else {
    if (typeof parent[last] === 'object' && parent[last] !== null) return undefined; // leaves only
    const value = REPLACEMENTS[m.op % REPLACEMENTS.length];
    if (parent[last] === value) return undefined;
    parent[last] = value;
  }
  return { kind: target.kind, path: path.join('.'), removed, allowed };
}

describe('properties of audit', () => {
  const generationModels = CATALOGUE_NAMES.filter((n) => MODEL_CATALOGUE[n].role !== 'embedding');
  const embeddingModels = CATALOGUE_NAMES.filter((n) => MODEL_CATALOGUE[n].role === 'embedding');

  test('for random valid InferenceService props, the synthesized output audits clean', () => {
    let synthesized = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.record({
            role: fc.constant('generation' as const),
            model: fc.constantFrom(...generationModels),
          }),
          fc.record({
            role: fc.constant('embedding' as const),
            model: fc.constantFrom(...embeddingModels),
          }),
        ),
        fc.constantFrom('awq' as const, 'gptq' as const, 'int8' as const),
        fc.stringMatching(/^[a-z0-9]([a-z0-9._-]{0,38}[a-z0-9])?$/),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 32 }),
        fc.integer({ min: 256, max: 4096 }),
        fc.integer({ min: 1, max: 65535 }),
        fc.stringMatching(/^[a-f0-9]{64}$/),
        (
          { role, model },
          weights,
          weightsRevision,
          replicas,
          concurrency,
          tokenBudget,
          runAsUser,
          digest,
        ) => {
          let objects: Obj[];
          try {
            objects = serviceObjects({
              model,
              role,
              weights,
              weightsRevision,
              replicas,
              concurrency,
              tokenBudget,
              runAsUser,
              image: `registry.example.com/serving/vllm@sha256:${digest}`,
              gpuLossPlan: { kind: 'fail-fast', retryAfterSeconds: 30 },
              review: { reviewer: 'sre-oncall-lead', date: '2026-11-20' },
              clock: CLOCK,
            });
          } catch (e) {
            // Props the constructs refuse (a model that does not fit) are not valid inputs.
            if (ComplianceError.isComplianceError(e)) return;
            throw e;
          }
          synthesized++;
          const report = audit(objects);
          expect(report.problems).toEqual([]);
          expect(report.findings).toEqual([]);
        },
      ),
      { numRuns: 30, seed: 20261203 },
    );
    expect(synthesized).toBeGreaterThan(10);
  });

  test('a random single-field mutation of the output stays clean or names a rule the field carries', () => {
    const reference = referenceObjects();
    const subjects = reference.filter((o) =>
      [
        'Deployment',
        'PodDisruptionBudget',
        'Service',
        'ServiceMonitor',
        'BackendTrafficPolicy',
      ].includes(o.kind),
    );
    let broken = 0;
    fc.assert(
      fc.property(fc.record({ object: fc.nat(), path: fc.nat(), op: fc.nat() }), (m: Mutation) => {
        const objects = clone(reference);
        const mine = objects.filter((o) => subjects.some((s) => s.kind === o.kind));
        const done = mutate(mine, m);
        if (!done) return;
        const report = audit(objects);
        const rules = brokenRules(report);
        const allowed = done.allowed;
        // Only a deletion of the pod template or spec itself may make the object unreadable.
        const unreadable = report.problems.length > 0;
        const structural = done.removed && /^spec\.template(\.spec)?$/.test(done.path);
        if (rules.length > 0) broken++;
        expect({
          field: `${done.kind}:${done.path}`,
          unexplainedProblem: unreadable && !structural,
          rules: rules.filter((r) => !allowed.includes(r)),
        }).toEqual({
          field: `${done.kind}:${done.path}`,
          unexplainedProblem: false,
          rules: [],
        });
      }),
      { numRuns: 400, seed: 42 },
    );
    expect(broken).toBeGreaterThan(20);
  });

  /**
   * The rules each property of a template's resources carries, by resource type. A property
   * that decides whether a resource is in scope (a bucket's name and tags make it the weights
   * bucket; a node group's labels mark it as GPU) carries the rules of that scope.
   */
  const TEMPLATE_FIELD_RULES: readonly [string, RegExp, readonly string[]][] = [
    ['AWS::EC2::LaunchTemplate', /^LaunchTemplateData\.ImageId\b/, ['NODE-1']],
    [
      'AWS::EC2::LaunchTemplate',
      /^LaunchTemplateData\.(MetadataOptions|BlockDeviceMappings)\b/,
      ['NODE-4'],
    ],
    ['AWS::EC2::LaunchTemplate', /^LaunchTemplateData\.InstanceType\b/, ['HW-1']],
    ['AWS::EC2::LaunchTemplate', /^LaunchTemplateData$/, ['NODE-1', 'NODE-4', 'HW-1']],
    ['AWS::EKS::Nodegroup', /^(InstanceTypes|AmiType)\b/, ['HW-1', 'HW-4', 'NODE-1']],
    ['AWS::EKS::Nodegroup', /^(ReleaseVersion)\b/, ['NODE-1']],
    ['AWS::EKS::Nodegroup', /^(Taints|Labels)\b/, ['HW-1', 'HW-4']],
    ['AWS::EKS::Nodegroup', /^LaunchTemplate\b/, ['NODE-1', 'NODE-4', 'HW-1', 'HW-4']],
    ['AWS::S3::Bucket', /.*/, ['W-4']],
    ['AWS::S3::BucketPolicy', /.*/, ['W-4']],
    ['AWS::IAM::Role', /^Policies\b/, ['SEC-3', 'W-4']],
  ];

  test('a random single-field mutation of a template stays clean or names a rule the field carries', () => {
    const base = compliantTemplate();
    expect(brokenRules(audit([base], 'template.json'))).toEqual([]);
    let broken = 0;
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.nat(), (r, p, op) => {
        const template = clone(base);
        const ids = Object.keys(template.Resources);
        const id = ids[r % ids.length];
        const resource = template.Resources[id];
        const candidates = paths(resource.Properties ?? {});
        if (candidates.length === 0) return;
        const path = candidates[p % candidates.length];
        let parent: Obj = resource.Properties;
        for (const k of path.slice(0, -1)) parent = parent[k];
        const last = path[path.length - 1];
        const removed = op % (REPLACEMENTS.length + 1) === REPLACEMENTS.length;
        if (removed) {
          if (Array.isArray(parent)) parent.splice(Number(last), 1);
          else delete parent[last];
        } else {
          if (typeof parent[last] === 'object' && parent[last] !== null) return;
          parent[last] = REPLACEMENTS[op % REPLACEMENTS.length];
        }
        const dotted = path.join('.');
        const allowed = TEMPLATE_FIELD_RULES.filter(
          ([type, re]) => type === resource.Type && re.test(dotted),
        ).flatMap(([, , rules]) => rules);
        const rules = brokenRules(audit([template], 'template.json'));
        if (rules.length > 0) broken++;
        expect({
          field: `${resource.Type}:${dotted}`,
          rules: rules.filter((x) => !allowed.includes(x)),
        }).toEqual({
          field: `${resource.Type}:${dotted}`,
          rules: [],
        });
      }),
      { numRuns: 300, seed: 7 },
    );
    expect(broken).toBeGreaterThan(10);
  });
});
