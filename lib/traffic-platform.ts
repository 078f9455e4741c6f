/**
 * The traffic platform: what the per-service routes and policies of `InferenceTraffic` need
 * in the cluster. Two parts, from the same numbers:
 *
 * - {@link TrafficPlatformChart} (cdk8s): the GatewayClass, the inference Gateway behind an
 *   internal AWS Network Load Balancer, the ClientTrafficPolicy of its listener, and the Redis
 *   store of the global rate limit. The main job writes it under `dist/`.
 * - {@link TrafficPlatform} (AWS CDK, aws-eks-v2): installs the pinned Gateway API and Envoy
 *   Gateway CRDs, Envoy Gateway with its global rate-limit service, then applies the chart.
 */
import { Duration, Token } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import { ApiObject, App, Chart, ChartProps, JsonPatch } from 'cdk8s';
import {
  IntOrString,
  KubeDeployment,
  KubeNetworkPolicy,
  KubeService,
  Quantity,
} from 'cdk8s-plus-27/lib/imports/k8s';
import { Construct } from 'constructs';
import { fixedResources } from '../constructs/k8s/private/resources';
import { INFERENCE_NAMESPACE_LABEL, TRAFFIC_SIZING, requestBodyCeilingBytes } from '../constructs';
import { ComplianceError, DEFAULT_STANDARD, Standard, describeValue } from '../constructs/standard';
import {
  ClientTrafficPolicySpec,
  GatewayClassSpec,
  GatewayListener,
  GatewaySpec,
  gatewayDuration,
} from '../constructs/k8s/private/traffic-crds';
import { isDigestPinned } from '../constructs/conventions';

/**
 * The versions the traffic platform pins. They move only by a reviewed change here.
 * The CRD schemas the tests validate against (`shared/crds`) are of the same versions.
 */
export const PINNED_TRAFFIC_VERSIONS = Object.freeze({
  /** Envoy Gateway release (controller, proxy defaults, rate-limit service). */
  envoyGateway: 'v1.9.0',
  /** Gateway API bundle of the standard channel the CRD chart installs (`bundle-version`). */
  gatewayApi: 'v1.6.1',
  /** The Envoy Gateway controller chart: OCI reference and exact version. */
  gatewayChart: { repository: 'oci://docker.io/envoyproxy/gateway-helm', version: 'v1.9.0' },
  /** The CRD chart (Gateway API standard channel + Envoy Gateway CRDs), upgraded by Helm. */
  crdsChart: { repository: 'oci://docker.io/envoyproxy/gateway-crds-helm', version: 'v1.9.0' },
});

/** Names of the traffic platform's objects; `InferenceTraffic` attaches to this Gateway. */
export const TRAFFIC_PLATFORM = Object.freeze({
  /** Namespace of Envoy Gateway, its proxies, the rate-limit service and Redis. */
  namespace: 'envoy-gateway-system',
  /** The controller name Envoy Gateway answers for. */
  controllerName: 'gateway.envoyproxy.io/gatewayclass-controller',
  /** The GatewayClass. */
  gatewayClassName: 'compliant-inference',
  /** The inference Gateway. */
  gatewayName: 'inference',
  /** The Redis Service of the global rate limit. */
  redisName: 'ratelimit-redis',
  /** Redis port. */
  redisPort: 6379,
});

/** TLS termination on the Gateway. */
export interface GatewayTlsOptions {
  /** The Secret (in the Gateway's namespace) holding the listener's certificate and key. */
  readonly certificateSecretName: string;
}

/** Properties of a {@link TrafficPlatformChart}. */
export interface TrafficPlatformChartProps extends ChartProps {
  /**
   * Labels the cluster's Prometheus selects monitors by.
   * @default { release: 'kube-prometheus-stack' }
   */
  readonly monitorSelectorLabels?: Record<string, string>;
  /**
   * The Redis image of the rate-limit store, pinned by digest (SW-2):
   * `registry/repository@sha256:<64 hex>`. No default: a digest is resolved and reviewed, never
   * invented (for example `crane digest public.ecr.aws/docker/library/redis:7.4`).
   */
  readonly redisImage: string;
  /**
   * The standard whose numbers apply (request timeout, token budget).
   * @default DEFAULT_STANDARD
   */
  readonly standard?: Standard;
  /**
   * Terminate TLS on port 443 with this certificate; without it the listener is plain HTTP on
   * port 80, reachable only inside the VPC through the internal load balancer.
   * @default - HTTP on port 80
   */
  readonly tls?: GatewayTlsOptions;
  /**
   * Whether the Network Load Balancer is internal (private subnets only).
   * @default true
   */
  readonly internalLoadBalancer?: boolean;
}

/**
 * The cluster side of the traffic layer, as Kubernetes objects: one GatewayClass, the inference
 * Gateway exposed through an AWS Network Load Balancer, its ClientTrafficPolicy, and the Redis
 * store Envoy Gateway's global rate-limit service counts in.
 */
export class TrafficPlatformChart extends Chart {
  /** The GatewayClass. */
  public readonly gatewayClass: ApiObject;
  /** The inference Gateway. */
  public readonly gateway: ApiObject;
  /** The listener-level policy of the Gateway. */
  public readonly clientPolicy: ApiObject;
  /** The rate-limit store's URL, as Envoy Gateway's configuration takes it (`host:port`). */
  public readonly redisUrl: string;
  /** The listener name routes attach to. */
  public readonly listenerName: string;
  /** The PodMonitor of the Gateway's Envoy proxies (the source of ALM-4). */
  public readonly proxyMonitor: ApiObject;

  constructor(scope: Construct, id: string, props: TrafficPlatformChartProps) {
    super(scope, id, { ...props, namespace: TRAFFIC_PLATFORM.namespace });

    // Defaults.
    const standard = props.standard ?? DEFAULT_STANDARD;
    const ns = TRAFFIC_PLATFORM.namespace;
    const internal = props.internalLoadBalancer ?? true;
    const requestMs = standard.traffic.requestTimeoutMs;

    // Single-prop checks.
    // An unresolved CDK token (an image chosen at deploy time) is checked where it resolves.
    const image = props.redisImage;
    if (typeof image !== 'string' || (!Token.isUnresolved(image) && !isDigestPinned(image))) {
      throw new ComplianceError({
        rule: 'SW-2',
        field: 'props.redisImage',
        limit: 'an image pinned by digest: registry/repository@sha256:<64 hex>',
        received: describeValue(props.redisImage),
        message: 'the rate-limit store image must be pinned by digest, never a moving tag',
      });
    }
    if (
      props.tls !== undefined &&
      !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(props.tls.certificateSecretName ?? '')
    ) {
      throw new ComplianceError({
        rule: 'SEC-2',
        field: 'props.tls.certificateSecretName',
        limit: 'a Secret name',
        received: describeValue(props.tls.certificateSecretName),
        message: 'TLS termination needs the Secret that holds the certificate',
      });
    }

    // Derived values.
    this.listenerName = props.tls ? 'https' : 'http';
    this.redisUrl = `${TRAFFIC_PLATFORM.redisName}.${ns}.svc.cluster.local:${TRAFFIC_PLATFORM.redisPort}`;
    const labels = {
      'app.kubernetes.io/part-of': 'compliant-inference',
      'app.kubernetes.io/managed-by': 'cdk8s',
      'app.kubernetes.io/component': 'inference-gateway',
    };

    // Resources: the class and the Gateway.
    const classSpec: GatewayClassSpec = {
      controllerName: TRAFFIC_PLATFORM.controllerName,
      description: `Envoy Gateway ${PINNED_TRAFFIC_VERSIONS.envoyGateway} for inference traffic`,
    };
    this.gatewayClass = new ApiObject(this, 'GatewayClass', {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GatewayClass',
      metadata: { name: TRAFFIC_PLATFORM.gatewayClassName, labels },
      spec: classSpec,
    });
    // A cluster-scoped object: no namespace, whatever the chart's.
    this.gatewayClass.addJsonPatch(JsonPatch.remove('/metadata/namespace'));
    const listener: GatewayListener = {
      name: this.listenerName,
      protocol: props.tls ? 'HTTPS' : 'HTTP',
      port: props.tls ? 443 : 80,
      ...(props.tls
        ? {
            tls: {
              mode: 'Terminate' as const,
              certificateRefs: [
                {
                  kind: 'Secret' as const,
                  group: '' as const,
                  name: props.tls.certificateSecretName,
                },
              ],
            },
          }
        : {}),
      allowedRoutes: {
        namespaces: {
          from: 'Selector',
          selector: { matchLabels: { [INFERENCE_NAMESPACE_LABEL]: 'true' } },
        },
        kinds: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }],
      },
    };
    const gatewaySpec: GatewaySpec = {
      gatewayClassName: TRAFFIC_PLATFORM.gatewayClassName,
      listeners: [listener],
      infrastructure: {
        // Envoy Gateway copies these onto the proxies' LoadBalancer Service. The cluster's AWS
        // cloud provider then builds a Network Load Balancer: its TCP idle timeout is 350 s,
        // far above the 5 s request budget, so the balancer never cuts a request the gateway
        // would still serve (an ALB's 60 s default would also do; a Classic ELB is not used).
        annotations: {
          'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb',
          'service.beta.kubernetes.io/aws-load-balancer-internal': String(internal),
          'service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled': 'true',
        },
        labels,
      },
    };
    this.gateway = new ApiObject(this, 'Gateway', {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: TRAFFIC_PLATFORM.gatewayName, labels },
      spec: gatewaySpec,
    });

    // The listener: a client has the request budget to deliver its request (408 beyond); a stream
    // idles at most twice that; the connection buffer holds the largest body any route admits.
    const clientSpec: ClientTrafficPolicySpec = {
      targetRefs: [
        {
          group: 'gateway.networking.k8s.io',
          kind: 'Gateway',
          name: TRAFFIC_PLATFORM.gatewayName,
        },
      ],
      timeout: {
        http: {
          requestReceivedTimeout: gatewayDuration(requestMs),
          streamIdleTimeout: gatewayDuration(requestMs * TRAFFIC_SIZING.streamIdleTimeoutFactor),
        },
      },
      connection: {
        bufferLimit: String(requestBodyCeilingBytes(standard.traffic.tokenBudget)),
      },
    };
    this.clientPolicy = new ApiObject(this, 'ClientTrafficPolicy', {
      apiVersion: 'gateway.envoyproxy.io/v1alpha1',
      kind: 'ClientTrafficPolicy',
      metadata: { name: TRAFFIC_PLATFORM.gatewayName, labels },
      spec: clientSpec,
    });

    // ALM-4 reads the gateway's own response counters (504s and 503s never reach an engine),
    // so the proxies of this Gateway are scraped like the engines: every 10 s.
    this.proxyMonitor = new ApiObject(this, 'ProxyMonitor', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: {
        name: `${TRAFFIC_PLATFORM.gatewayName}-proxies`,
        labels: {
          ...labels,
          ...(props.monitorSelectorLabels ?? { release: 'kube-prometheus-stack' }),
        },
      },
      spec: {
        selector: {
          matchLabels: {
            'gateway.envoyproxy.io/owning-gateway-name': TRAFFIC_PLATFORM.gatewayName,
            'gateway.envoyproxy.io/owning-gateway-namespace': ns,
          },
        },
        podMetricsEndpoints: [
          {
            port: 'metrics',
            path: '/stats/prometheus',
            interval: `${standard.observability.scrapeIntervalSeconds}s`,
          },
        ],
      },
    });

    // The rate-limit store: counters of one-second windows, nothing worth persisting.
    this.addRedis(props.redisImage, labels);
  }

  private addRedis(image: string, common: Record<string, string>): void {
    const name = TRAFFIC_PLATFORM.redisName;
    const port = TRAFFIC_PLATFORM.redisPort;
    const selector = { 'app.kubernetes.io/name': name };
    const labels = { ...common, ...selector, 'app.kubernetes.io/component': 'ratelimit-store' };
    const uid = 999;
    new KubeDeployment(this, 'Redis', {
      metadata: { name, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: selector },
        strategy: { type: 'Recreate' },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: uid,
              runAsGroup: uid,
              fsGroup: uid,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'redis',
                image,
                // No snapshots, no append-only file: a restart only resets one-second windows.
                args: ['redis-server', '--save', '', '--appendonly', 'no', '--port', String(port)],
                ports: [{ name: 'redis', containerPort: port }],
                resources: fixedResources('500m', '512Mi'),
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  runAsNonRoot: true,
                  capabilities: { drop: ['ALL'] },
                },
                readinessProbe: {
                  tcpSocket: { port: IntOrString.fromNumber(port) },
                  periodSeconds: 5,
                },
                livenessProbe: {
                  tcpSocket: { port: IntOrString.fromNumber(port) },
                  periodSeconds: 10,
                  failureThreshold: 3,
                },
                volumeMounts: [{ name: 'data', mountPath: '/data' }],
              },
            ],
            volumes: [{ name: 'data', emptyDir: { sizeLimit: Quantity.fromString('64Mi') } }],
          },
        },
      },
    });
    new KubeService(this, 'RedisService', {
      metadata: { name, labels },
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [{ name: 'redis', port, targetPort: IntOrString.fromNumber(port) }],
      },
    });
    // Only the rate-limit service of Envoy Gateway talks to Redis.
    new KubeNetworkPolicy(this, 'RedisIngress', {
      metadata: { name: `${name}-ingress`, labels },
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [
              { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'envoy-ratelimit' } } },
            ],
            ports: [{ protocol: 'TCP', port: IntOrString.fromNumber(port) }],
          },
        ],
      },
    });
  }
}

/** Properties of a {@link TrafficPlatform}. */
export interface TrafficPlatformProps extends Omit<TrafficPlatformChartProps, keyof ChartProps> {
  /** The cluster (aws-eks-v2) the charts and manifests are applied to. */
  readonly cluster: eks.Cluster;
  /**
   * How long Helm waits for each release to become ready.
   * @default Duration.minutes(10)
   */
  readonly helmTimeout?: Duration;
}

/**
 * Installs the traffic layer on the inference cluster: the pinned CRDs (Gateway API standard
 * channel and Envoy Gateway, through Envoy Gateway's CRD chart so that Helm upgrades them),
 * Envoy Gateway with its global rate-limit service backed by the in-cluster Redis, then the
 * {@link TrafficPlatformChart}. The kubectl handler pulls the OCI charts from Docker Hub
 * through the VPC's NAT gateways.
 */
export class TrafficPlatform extends Construct {
  /** The CRD release. */
  public readonly crds: eks.HelmChart;
  /** The Envoy Gateway release. */
  public readonly envoyGateway: eks.HelmChart;
  /** The cluster objects (GatewayClass, Gateway, ClientTrafficPolicy, Redis). */
  public readonly manifest: eks.KubernetesManifest;
  /** The chart behind {@link manifest}. */
  public readonly chart: TrafficPlatformChart;

  constructor(scope: Construct, id: string, props: TrafficPlatformProps) {
    super(scope, id);
    const timeout = props.helmTimeout ?? Duration.minutes(10);
    const ns = TRAFFIC_PLATFORM.namespace;

    this.chart = new TrafficPlatformChart(new App(), 'traffic-platform', {
      redisImage: props.redisImage,
      standard: props.standard,
      tls: props.tls,
      internalLoadBalancer: props.internalLoadBalancer,
    });

    this.crds = props.cluster.addHelmChart('GatewayCrds', {
      repository: PINNED_TRAFFIC_VERSIONS.crdsChart.repository,
      chart: 'gateway-crds-helm',
      version: PINNED_TRAFFIC_VERSIONS.crdsChart.version,
      release: 'gateway-crds',
      namespace: ns,
      createNamespace: true,
      wait: true,
      timeout,
      values: {
        crds: {
          gatewayAPI: { enabled: true, channel: 'standard' },
          envoyGateway: { enabled: true },
        },
      },
    });

    this.envoyGateway = props.cluster.addHelmChart('EnvoyGateway', {
      repository: PINNED_TRAFFIC_VERSIONS.gatewayChart.repository,
      chart: 'gateway-helm',
      version: PINNED_TRAFFIC_VERSIONS.gatewayChart.version,
      release: 'envoy-gateway',
      namespace: ns,
      createNamespace: true,
      // The CRDs come from the CRD release above, which Helm upgrades; a chart's crds/ folder
      // is installed once and never upgraded.
      skipCrds: true,
      wait: true,
      timeout,
      values: {
        config: {
          envoyGateway: {
            rateLimit: {
              backend: { type: 'Redis', redis: { url: this.chart.redisUrl } },
            },
          },
        },
      },
    });
    this.envoyGateway.node.addDependency(this.crds);

    this.manifest = props.cluster.addCdk8sChart('TrafficPlatformObjects', this.chart);
    this.manifest.node.addDependency(this.envoyGateway);
  }
}
