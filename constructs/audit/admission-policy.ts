import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { DEFAULT_STANDARD, Standard } from '../standard';
import {
  WORKLOAD_KINDS,
  inferenceScopeExpression,
  workloadChecks,
  workloadVariables,
} from './workload-rules';

/** The name of the ValidatingAdmissionPolicy and of its binding. */
export const ADMISSION_POLICY_NAME = 'compliance-inference-workloads';

/** The API version of ValidatingAdmissionPolicy (GA since Kubernetes 1.30). */
export const ADMISSION_API_VERSION = 'admissionregistration.k8s.io/v1';

/** Options of the generated admission policy. */
export interface AdmissionPolicyOptions {
  /** The standard whose numbers the expressions carry. @default DEFAULT_STANDARD */
  readonly standard?: Standard;
  /** The policy and binding name. @default ADMISSION_POLICY_NAME */
  readonly name?: string;
}

/** A Kubernetes object as plain JSON. */
export type PlainObject = Record<string, unknown>;

/**
 * The ValidatingAdmissionPolicy of inference workloads (OPS-4): every check of
 * {@link workloadChecks} marked for admission, with the same CEL expressions and
 * messages `audit` uses, the variables they read, and a match condition that keeps the
 * policy to inference workloads.
 * @see https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/
 */
export function admissionPolicy(options: AdmissionPolicyOptions = {}): PlainObject {
  const standard = options.standard ?? DEFAULT_STANDARD;
  const groups = new Map<string, string[]>();
  for (const k of WORKLOAD_KINDS) {
    groups.set(k.apiGroup, [...(groups.get(k.apiGroup) ?? []), k.resource]);
  }
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'ValidatingAdmissionPolicy',
    metadata: {
      name: options.name ?? ADMISSION_POLICY_NAME,
      labels: { 'app.kubernetes.io/part-of': 'compliant-inference' },
      annotations: { 'compliance.inference/standard': standard.version },
    },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [...groups].map(([group, resources]) => ({
          apiGroups: [group],
          apiVersions: ['v1'],
          operations: ['CREATE', 'UPDATE'],
          resources,
        })),
      },
      matchConditions: [{ name: 'inference-workloads', expression: inferenceScopeExpression() }],
      variables: workloadVariables().map((v) => ({ name: v.name, expression: v.expression })),
      validations: workloadChecks(standard)
        .filter((c) => c.admission)
        .map((c) => ({ expression: c.expression, message: c.message, reason: 'Invalid' })),
    },
  };
}

/**
 * The binding that puts the policy in force, with `Deny`, in every namespace that carries
 * the inference namespace label (which {@link InferenceNamespace} sets).
 */
export function admissionPolicyBinding(options: AdmissionPolicyOptions = {}): PlainObject {
  const name = options.name ?? ADMISSION_POLICY_NAME;
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name, labels: { 'app.kubernetes.io/part-of': 'compliant-inference' } },
    spec: {
      policyName: name,
      validationActions: ['Deny'],
      // Every namespace but kube-system: a GPU workload placed outside the inference
      // namespaces is still an inference workload (the policy's match condition decides that).
      matchResources: {
        namespaceSelector: {
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] },
          ],
        },
      },
    },
  };
}

/** The policy and its binding, in the order they are applied. */
export function admissionManifests(options: AdmissionPolicyOptions = {}): PlainObject[] {
  return [admissionPolicy(options), admissionPolicyBinding(options)];
}

/**
 * The admission policy and binding in a cdk8s chart (OPS-4), for clusters whose manifests
 * are synthesized with cdk8s. The platform stack can apply {@link admissionManifests}
 * directly instead.
 */
export class InferenceAdmissionPolicy extends Construct {
  constructor(scope: Construct, id: string, options: AdmissionPolicyOptions = {}) {
    super(scope, id);
    admissionManifests(options).forEach((manifest, i) => {
      const { apiVersion, kind, ...rest } = manifest as {
        apiVersion: string;
        kind: string;
      } & PlainObject;
      new ApiObject(this, i === 0 ? 'Policy' : 'Binding', { apiVersion, kind, ...rest });
    });
  }
}
