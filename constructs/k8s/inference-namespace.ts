import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { LABEL_PREFIX } from '../conventions';

/** The label that marks a namespace as holding inference workloads. */
export const INFERENCE_NAMESPACE_LABEL = `${LABEL_PREFIX}/inference-namespace`;

/** Properties of an {@link InferenceNamespace}. */
export interface InferenceNamespaceProps {
  /** The namespace name (DNS-1123 label). */
  readonly name: string;
  /**
   * The Kubernetes minor version the Pod Security Standard is pinned to, such as `v1.33`.
   * @default 'latest'
   */
  readonly podSecurityVersion?: string;
}

/**
 * A namespace for inference workloads: the restricted Pod Security Standard enforced by the
 * API server (SEC-1), a default-deny NetworkPolicy for every pod in it (SEC-2), and the
 * label that marks it as an inference namespace.
 */
export class InferenceNamespace extends Construct {
  /** The namespace's name. */
  public readonly name: string;

  constructor(scope: Construct, id: string, props: InferenceNamespaceProps) {
    super(scope, id);
    this.name = props.name;
    const version = props.podSecurityVersion ?? 'latest';
    new kplus.Namespace(this, 'Namespace', {
      metadata: {
        name: props.name,
        labels: {
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': version,
          'pod-security.kubernetes.io/audit': 'restricted',
          'pod-security.kubernetes.io/warn': 'restricted',
          [INFERENCE_NAMESPACE_LABEL]: 'true',
        },
      },
    });
    new kplus.NetworkPolicy(this, 'DefaultDeny', {
      metadata: { name: 'default-deny', namespace: props.name },
      selector: kplus.Pods.all(this, 'AllPods', {
        namespaces: kplus.Namespaces.select(this, 'Self', { names: [props.name] }),
      }),
      ingress: { default: kplus.NetworkPolicyTrafficDefault.DENY },
      egress: { default: kplus.NetworkPolicyTrafficDefault.DENY },
    });
  }
}
