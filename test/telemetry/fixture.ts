import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import * as YAML from 'yaml';
import {
  InferenceMonitoring,
  InferenceMonitoringProps,
  InferenceService,
  InferenceServiceProps,
  PrometheusRuleGroup,
} from '../../constructs';
import { K8sObject, generationProps } from '../k8s/fixture';

/** A service and its monitoring, synthesized in one chart of the `inference` namespace. */
export function synthMonitoring(
  monitoring: Partial<InferenceMonitoringProps> = {},
  service: InferenceServiceProps = generationProps(),
): { service: InferenceService; monitoring: InferenceMonitoring; objects: K8sObject[] } {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'inference' });
  const svc = new InferenceService(chart, 'Svc', service);
  const mon = new InferenceMonitoring(chart, 'Mon', { service: svc, ...monitoring });
  return { service: svc, monitoring: mon, objects: Testing.synth(chart) as K8sObject[] };
}

/** The promtool binary: `$PROMTOOL`, else the Debian package's path, else the PATH. */
export function promtoolPath(): string {
  if (process.env.PROMTOOL) return process.env.PROMTOOL;
  return existsSync('/usr/bin/promtool') ? '/usr/bin/promtool' : 'promtool';
}

/** What one promtool run printed. */
export interface PromtoolResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs promtool with a bounded timeout. A missing binary fails with an error that says how
 * to install it, never as a silent pass.
 */
export function promtool(args: string[], cwd: string): PromtoolResult {
  const bin = promtoolPath();
  const r = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? `promtool not found (${bin}): install Debian's 'prometheus' package or set PROMTOOL`
        : `promtool ${args.join(' ')} failed to run: ${r.error.message}`,
    );
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh temporary directory for rule and test files. */
export function workDir(): string {
  return mkdtempSync(join(tmpdir(), 'telemetry-'));
}

/** Writes rule groups as a Prometheus rule file (the PrometheusRule's spec). */
export function writeRuleFile(dir: string, name: string, groups: readonly PrometheusRuleGroup[]) {
  const path = join(dir, name);
  writeFileSync(path, YAML.stringify({ groups }));
  return path;
}

/** A promtool unit-test file (`promtool test rules`), as its documentation names the fields. */
export interface PromtoolTestFile {
  rule_files: string[];
  evaluation_interval: string;
  tests: PromtoolTest[];
}

/** One promtool test case. */
export interface PromtoolTest {
  name?: string;
  interval: string;
  input_series: { series: string; values: string }[];
  alert_rule_test?: {
    eval_time: string;
    alertname: string;
    exp_alerts: { exp_labels: Record<string, string>; exp_annotations?: Record<string, string> }[];
  }[];
  promql_expr_test?: {
    expr: string;
    eval_time: string;
    exp_samples: { labels: string; value: number }[];
  }[];
}

/** Writes a promtool test file and runs it. */
export function runRuleTests(dir: string, file: PromtoolTestFile): PromtoolResult {
  const path = join(dir, 'tests.yaml');
  writeFileSync(path, YAML.stringify(file));
  return promtool(['test', 'rules', path], dir);
}

/** A series selector as promtool's input format writes it. */
export function series(name: string, labels: Record<string, string>): string {
  const body = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  return `${name}{${body}}`;
}
