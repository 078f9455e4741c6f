import { Chart, Duration, Testing } from 'cdk8s';
import {
  DEFAULT_STANDARD,
  InferenceMonitoring,
  InferenceService,
  deriveStandard,
} from '../../constructs';
import { expectValidCustomResources, validateCustomResource } from '../support/crd-schema';
import { validateK8sObject } from '../support/k8s-schema';
import { CLOCK, K8sObject, generationProps } from '../k8s/fixture';
import { synthMonitoring } from './fixture';
import { complianceErrorOf } from '../support/compliance';

const kinds = ['ServiceMonitor', 'PrometheusRule', 'ConfigMap'];
const ofKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);

describe('InferenceMonitoring objects', () => {
  const { service, objects } = synthMonitoring();

  it('emits one ServiceMonitor, one PrometheusRule and the dashboard ConfigMap', () => {
    for (const kind of kinds) expect(ofKind(objects, kind)).toHaveLength(1);
  });

  it('validate against the prometheus-operator v0.93.0 CRDs, CEL rules included', () => {
    const custom = objects.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1');
    expect(custom).toHaveLength(2);
    expectValidCustomResources(custom);
  });

  it('give a schema error for a rule without expr (the validator is not vacuous)', () => {
    const rule = JSON.parse(JSON.stringify(ofKind(objects, 'PrometheusRule')[0]));
    delete rule.spec.groups[0].rules[0].expr;
    expect(validateCustomResource(rule).join('\n')).toMatch(/expr/);
  });

  it('ship the dashboard ConfigMap as a valid Kubernetes 1.33 object', () => {
    expect(validateK8sObject(ofKind(objects, 'ConfigMap')[0])).toEqual([]);
  });

  it('scrape the engine metrics endpoint every 10 s, selecting exactly the service labels', () => {
    const sm = ofKind(objects, 'ServiceMonitor')[0];
    expect(sm.metadata.namespace).toBe('inference');
    expect(sm.spec.selector).toEqual({ matchLabels: service.labels.selector });
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: ['inference'] });
    expect(sm.spec.endpoints).toEqual([
      expect.objectContaining({
        port: 'http',
        path: service.engine.metricsPath,
        interval: `${DEFAULT_STANDARD.observability.scrapeIntervalSeconds}s`,
      }),
    ]);
    // The Service carries the selected labels and names the port the monitor scrapes.
    const svc = objects.find((o) => o.kind === 'Service')!;
    expect(svc.metadata.labels).toMatchObject(service.labels.selector);
    expect(svc.spec.ports.map((p: K8sObject) => p.name)).toContain('http');
  });
});

describe('the Grafana dashboard (ALM-5)', () => {
  function twoServices() {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'inference' });
    const gen = new InferenceService(chart, 'Gen', generationProps());
    const emb = new InferenceService(
      chart,
      'Emb',
      generationProps({
        model: 'gte-qwen2-1.5b-instruct',
        weights: 'int8',
        weightsRevision: '5e3e4d1',
        role: 'embedding',
        concurrency: 32,
      }),
    );
    new InferenceMonitoring(chart, 'GenMon', { service: gen });
    new InferenceMonitoring(chart, 'EmbMon', { service: emb });
    return { gen, emb, objects: Testing.synth(chart) as K8sObject[] };
  }

  it('is one ConfigMap labelled for the Grafana sidecar, with one row per service', () => {
    const { gen, emb, objects } = twoServices();
    const maps = ofKind(objects, 'ConfigMap');
    expect(maps).toHaveLength(1);
    expect(maps[0].metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    const [json] = Object.values(maps[0].data) as string[];
    const dashboard = JSON.parse(json);
    const rows = dashboard.panels.filter((p: K8sObject) => p.type === 'row');
    expect(rows.map((r: K8sObject) => r.title)).toEqual([gen.name, emb.name]);
    expect(new Set(dashboard.panels.map((p: K8sObject) => p.id)).size).toBe(
      dashboard.panels.length,
    );
  });

  it('shows the five metrics and the alerts of each service', () => {
    const { gen, emb, objects } = twoServices();
    const [json] = Object.values(ofKind(objects, 'ConfigMap')[0].data) as string[];
    const exprs: string[] = JSON.parse(json).panels.flatMap((p: K8sObject) =>
      (p.targets ?? []).map((t: K8sObject) => t.expr),
    );
    for (const s of [gen, emb]) {
      const mine = exprs.filter((e) => e.includes(`service="${s.name}"`));
      for (const m of DEFAULT_STANDARD.observability.requiredMetrics) {
        expect(mine.some((e) => e.startsWith(`${m}{`))).toBe(true);
      }
      expect(mine.some((e) => e.startsWith('ALERTS{'))).toBe(true);
    }
  });

  it('draws the thresholds of the standard on the alert panels', () => {
    const { objects } = synthMonitoring();
    const [json] = Object.values(ofKind(objects, 'ConfigMap')[0].data) as string[];
    const steps = JSON.parse(json).panels.flatMap((p: K8sObject) =>
      (p.fieldConfig?.defaults?.thresholds?.steps ?? []).map((s: K8sObject) => s.value),
    );
    const a = DEFAULT_STANDARD.alarms;
    expect(steps).toEqual(
      expect.arrayContaining([a.memoryWarningPercent, a.latencyP99Ms, a.serverErrorPercent]),
    );
  });

  it('is left out when dashboard is false', () => {
    expect(ofKind(synthMonitoring({ dashboard: false }).objects, 'ConfigMap')).toHaveLength(0);
  });
});

describe('bad input', () => {
  it('refuses empty or invalid rule selector labels (OBS-1)', () => {
    expect(complianceErrorOf(() => synthMonitoring({ ruleSelectorLabels: {} }))).toMatchObject({
      rule: 'OBS-1',
      field: 'props.ruleSelectorLabels',
    });
    expect(
      complianceErrorOf(() => synthMonitoring({ ruleSelectorLabels: { 'a b': 'x' } })).rule,
    ).toBe('OBS-1');
  });

  it('refuses a rate window shorter than two scrapes (OBS-1)', () => {
    expect(
      complianceErrorOf(() => synthMonitoring({ rateWindow: Duration.seconds(10) })),
    ).toMatchObject({
      rule: 'OBS-1',
      field: 'props.rateWindow',
    });
  });

  it('refuses a scrape interval too long for the 30 s rule (ALM-2)', () => {
    const standard = deriveStandard(DEFAULT_STANDARD, {
      version: 'slow-scrape',
      reason: 'test: a 30 s scrape cannot see a 30 s condition',
      observability: { scrapeIntervalSeconds: 30 },
    });
    const e = complianceErrorOf(() =>
      synthMonitoring({}, generationProps({ standard, clock: CLOCK })),
    );
    expect(e).toMatchObject({
      rule: 'ALM-2',
      field: 'standard.observability.scrapeIntervalSeconds',
    });
  });

  it('refuses a standard that asks for a metric no rule produces (OBS-1)', () => {
    const standard = deriveStandard(DEFAULT_STANDARD, {
      version: 'extra-metric',
      reason: 'test: an unknown required metric',
      observability: {
        requiredMetrics: [...DEFAULT_STANDARD.observability.requiredMetrics, 'gpu_power_watts'],
      },
    });
    const e = complianceErrorOf(() => synthMonitoring({}, generationProps({ standard })));
    expect(e.rule).toBe('OBS-1');
    expect(e.received).toBe("'gpu_power_watts'");
  });
});
