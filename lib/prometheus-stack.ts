/**
 * The cluster's Prometheus: the prometheus-operator (whose ServiceMonitor, PodMonitor and
 * PrometheusRule definitions every chart of this platform applies objects of), Prometheus,
 * Alertmanager and Grafana with its dashboard sidecar, from the kube-prometheus-stack chart.
 * It runs in `monitoring`, the namespace every inference NetworkPolicy admits scrapers from,
 * and selects rules and monitors by `release: kube-prometheus-stack`, the default selector
 * labels of `InferenceMonitoring` and the traffic platform's PodMonitor.
 */
import { Duration } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import { Construct } from 'constructs';
import { DEFAULT_STANDARD, Standard } from '../constructs/standard';

/**
 * The chart the platform pins. Chart 88.x ships prometheus-operator v0.93.0, the version of
 * the CRD schemas the tests validate against (`shared/crds/prometheus-operator-v0.93.0`).
 * It moves only by a reviewed change here.
 *
 * @see https://github.com/prometheus-community/helm-charts/tree/main/charts/kube-prometheus-stack
 */
export const PINNED_PROMETHEUS_STACK = Object.freeze({
  repository: 'https://prometheus-community.github.io/helm-charts',
  chart: 'kube-prometheus-stack',
  chartVersion: '88.2.0',
  operatorVersion: 'v0.93.0',
  /** Release name: the value of the `release` label the chart's selectors match. */
  release: 'kube-prometheus-stack',
  namespace: 'monitoring',
});

/** Properties of a {@link PrometheusStack}. */
export interface PrometheusStackProps {
  /** The cluster (aws-eks-v2). */
  readonly cluster: eks.ICluster;
  /** The standard whose scrape interval Prometheus uses. @default DEFAULT_STANDARD */
  readonly standard?: Standard;
  /**
   * How long Helm waits for the release to become ready.
   * @default Duration.minutes(15)
   */
  readonly timeout?: Duration;
}

/**
 * kube-prometheus-stack, pinned, installed before anything that applies monitoring objects:
 * those objects' kinds exist only once the chart's CRDs do.
 */
export class PrometheusStack extends Construct {
  /** The Helm release; make whatever applies ServiceMonitors or PrometheusRules depend on it. */
  public readonly release: eks.HelmChart;

  constructor(scope: Construct, id: string, props: PrometheusStackProps) {
    super(scope, id);
    const standard = props.standard ?? DEFAULT_STANDARD;
    const interval = `${standard.observability.scrapeIntervalSeconds}s`;
    const p = PINNED_PROMETHEUS_STACK;
    this.release = props.cluster.addHelmChart('KubePrometheusStack', {
      repository: p.repository,
      chart: p.chart,
      version: p.chartVersion,
      release: p.release,
      namespace: p.namespace,
      createNamespace: true,
      wait: true,
      timeout: props.timeout ?? Duration.minutes(15),
      values: {
        prometheus: {
          prometheusSpec: {
            // The default for monitors that set no interval of their own (OBS-1: 10 s).
            scrapeInterval: interval,
            // Rules and monitors of every namespace, selected by the release label.
            ruleSelectorNilUsesHelmValues: true,
            serviceMonitorSelectorNilUsesHelmValues: true,
            podMonitorSelectorNilUsesHelmValues: true,
          },
        },
        grafana: {
          // Empty: the Grafana chart generates a random admin password into its Secret,
          // instead of the stack's well-known default.
          adminPassword: '',
          // The dashboards of the inference namespaces are ConfigMaps there (ALM-5).
          sidecar: {
            dashboards: {
              enabled: true,
              label: 'grafana_dashboard',
              labelValue: '1',
              searchNamespace: 'ALL',
            },
          },
        },
      },
    });
  }
}
