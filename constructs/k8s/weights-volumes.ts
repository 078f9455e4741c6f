import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import {
  INSTANCE_TYPE_LABEL,
  LABEL_PREFIX,
  WEIGHTS_PV_ROOT,
  weightsPvDirectory,
  weightsStorageClass,
} from '../conventions';
import { DEFAULT_STANDARD, Standard } from '../standard';

/** The local volume provisioner image, pinned to a release. */
export const LOCAL_VOLUME_PROVISIONER_IMAGE =
  'registry.k8s.io/sig-storage/local-volume-provisioner:v2.7.0';

/**
 * The image of the released-volume recycler, pinned to a release: Kubernetes' own kubectl
 * image, which carries bash and jq since 1.28.
 */
export const KUBECTL_IMAGE = 'registry.k8s.io/kubectl:v1.33.4';

/** One model revision preloaded on the GPU nodes. */
export interface PreloadedWeights {
  /** The weights name on the node (the model's name). */
  readonly name: string;
  /** The revision on the node. */
  readonly revision: string;
}

/** Properties of {@link WeightsVolumes}. */
export interface WeightsVolumesProps {
  /** The model revisions the GPU nodes preload. */
  readonly weights: readonly PreloadedWeights[];
  /** Namespace of the provisioner and the recycler. @default 'kube-system' */
  readonly namespace?: string;
  /** The standard (instance type and GPU taint). @default DEFAULT_STANDARD */
  readonly standard?: Standard;
}

/** Label on every object of the weights volume machinery. */
const COMPONENT = {
  'app.kubernetes.io/part-of': 'compliant-inference',
  'app.kubernetes.io/component': 'weights-volumes',
};

/**
 * The cluster side of W-3's node-local weights: one StorageClass per preloaded model
 * revision, the local volume provisioner that publishes the node's read-only bind mounts
 * (`/mnt/weights-pv/<class>/gpu<N>`) as PersistentVolumes of that class, and a recycler.
 *
 * The provisioner would try to wipe a released volume, which the read-only bind mount
 * (rightly) refuses; so the classes retain released volumes, and the recycler deletes the
 * released PersistentVolume objects of these classes every minute. The provisioner then
 * rediscovers the mount point and publishes it again: the data on the node is never touched.
 */
export class WeightsVolumes extends Construct {
  /** The storage classes, one per model revision. */
  public readonly storageClasses: readonly string[];

  constructor(scope: Construct, id: string, props: WeightsVolumesProps) {
    super(scope, id);
    const standard = props.standard ?? DEFAULT_STANDARD;
    const namespace = props.namespace ?? 'kube-system';
    const classes = props.weights.map((w) => weightsStorageClass(w.name, w.revision));
    this.storageClasses = classes;

    classes.forEach((cls) => {
      new ApiObject(this, `Class-${cls}`, {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: {
          name: cls,
          labels: { ...COMPONENT, [`${LABEL_PREFIX}/weights-volume`]: 'true' },
        },
        provisioner: 'kubernetes.io/no-provisioner',
        volumeBindingMode: 'WaitForFirstConsumer',
        reclaimPolicy: 'Retain',
      });
    });

    const storageClassMap = Object.fromEntries(
      props.weights.map((w) => {
        const dir = weightsPvDirectory(w.name, w.revision);
        return [
          weightsStorageClass(w.name, w.revision),
          { hostDir: dir, mountDir: dir, volumeMode: 'Filesystem' },
        ];
      }),
    );
    const name = 'weights-volume-provisioner';
    new ApiObject(this, 'ServiceAccount', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name, namespace, labels: COMPONENT },
    });
    new ApiObject(this, 'Config', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace, labels: COMPONENT },
      data: {
        storageClassMap: JSON.stringify(storageClassMap, null, 2),
        labelsForPV: JSON.stringify({ [`${LABEL_PREFIX}/weights-volume`]: 'true' }),
        useNodeNameOnly: 'true',
      },
    });
    new ApiObject(this, 'NodeRole', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name, labels: COMPONENT },
      rules: [
        { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
        {
          apiGroups: [''],
          resources: ['persistentvolumes'],
          verbs: ['get', 'list', 'watch', 'create', 'delete'],
        },
        {
          apiGroups: ['storage.k8s.io'],
          resources: ['storageclasses'],
          verbs: ['get', 'list', 'watch'],
        },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    });
    new ApiObject(this, 'NodeBinding', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name, labels: COMPONENT },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    });
    const selector = { 'app.kubernetes.io/name': name };
    new ApiObject(this, 'Provisioner', {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name, namespace, labels: { ...COMPONENT, ...selector } },
      spec: {
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: { ...COMPONENT, ...selector } },
          spec: {
            serviceAccountName: name,
            priorityClassName: 'system-node-critical',
            nodeSelector: { [INSTANCE_TYPE_LABEL]: standard.hardware.instanceType },
            tolerations: [
              {
                key: standard.hardware.gpuTaint.key,
                operator: 'Equal',
                value: standard.hardware.gpuTaint.value,
                effect: standard.hardware.gpuTaint.effect,
              },
            ],
            containers: [
              {
                name: 'provisioner',
                image: LOCAL_VOLUME_PROVISIONER_IMAGE,
                // It must see the node's mounts to publish them; it never writes to them.
                securityContext: { privileged: true },
                env: [
                  { name: 'MY_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                ],
                resources: {
                  requests: { cpu: '50m', memory: '64Mi' },
                  limits: { cpu: '200m', memory: '128Mi' },
                },
                volumeMounts: [
                  { name: 'config', mountPath: '/etc/provisioner/config', readOnly: true },
                  // The bind mounts appear after the pod starts: propagate them from the host.
                  {
                    name: 'discovery',
                    mountPath: WEIGHTS_PV_ROOT,
                    mountPropagation: 'HostToContainer',
                  },
                ],
              },
            ],
            volumes: [
              { name: 'config', configMap: { name } },
              { name: 'discovery', hostPath: { path: WEIGHTS_PV_ROOT, type: 'DirectoryOrCreate' } },
            ],
          },
        },
      },
    });

    const recycler = 'weights-volume-recycler';
    new ApiObject(this, 'RecyclerAccount', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: recycler, namespace, labels: COMPONENT },
    });
    new ApiObject(this, 'RecyclerRole', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: recycler, labels: COMPONENT },
      rules: [{ apiGroups: [''], resources: ['persistentvolumes'], verbs: ['list', 'delete'] }],
    });
    new ApiObject(this, 'RecyclerBinding', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: recycler, labels: COMPONENT },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: recycler },
      subjects: [{ kind: 'ServiceAccount', name: recycler, namespace }],
    });
    const script = [
      'set -euo pipefail',
      [
        `kubectl get pv -l ${LABEL_PREFIX}/weights-volume=true -o json`,
        `  | jq -r '.items[] | select(.status.phase == "Released") | .metadata.name'`,
        '  | xargs -r kubectl delete pv',
      ].join(' \\\n'),
    ].join('\n');
    new ApiObject(this, 'Recycler', {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: recycler, namespace, labels: COMPONENT },
      spec: {
        schedule: '* * * * *',
        concurrencyPolicy: 'Forbid',
        successfulJobsHistoryLimit: 1,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          spec: {
            activeDeadlineSeconds: 50,
            backoffLimit: 0,
            template: {
              metadata: { labels: COMPONENT },
              spec: {
                serviceAccountName: recycler,
                restartPolicy: 'Never',
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: 1001,
                  seccompProfile: { type: 'RuntimeDefault' },
                },
                containers: [
                  {
                    name: 'recycle',
                    image: KUBECTL_IMAGE,
                    command: ['/bin/bash', '-c', script],
                    securityContext: {
                      allowPrivilegeEscalation: false,
                      readOnlyRootFilesystem: true,
                      capabilities: { drop: ['ALL'] },
                    },
                    resources: {
                      requests: { cpu: '50m', memory: '64Mi' },
                      limits: { cpu: '200m', memory: '128Mi' },
                    },
                  },
                ],
              },
            },
          },
        },
      },
    });
  }
}
