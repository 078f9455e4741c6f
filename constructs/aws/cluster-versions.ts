/**
 * The versions the inference cluster pins. They move only by a reviewed change to this file,
 * never by EKS or a chart repository choosing "the latest" at deploy time.
 *
 * Sources, checked when pinned (re-check with
 * `aws eks describe-addon-versions --kubernetes-version 1.33 --addon-name <name>`):
 * - add-on builds published for Kubernetes 1.33 as of November 2025;
 * - the EKS-optimized AL2023 release `1.33.5-20251120`;
 * - NVIDIA k8s-device-plugin chart and image 0.18.0 (October 2025),
 *   https://github.com/NVIDIA/k8s-device-plugin/releases.
 */

/** The Kubernetes minor version of the cluster; the kubectl layer must match it (`lambda-layer-kubectl-v33`). */
export const PINNED_KUBERNETES_VERSION = '1.33';

/** The EKS add-ons the cluster installs, by their EKS names. */
export type ClusterAddonName =
  | 'vpc-cni'
  | 'coredns'
  | 'kube-proxy'
  | 'eks-pod-identity-agent'
  | 'amazon-cloudwatch-observability';

/** The pinned build of every add-on, as EKS names it (`v<semver>-eksbuild.<n>`). */
export const PINNED_ADDON_VERSIONS: Readonly<Record<ClusterAddonName, string>> = Object.freeze({
  'vpc-cni': 'v1.20.5-eksbuild.1',
  coredns: 'v1.12.4-eksbuild.1',
  'kube-proxy': 'v1.33.5-eksbuild.2',
  'eks-pod-identity-agent': 'v1.3.10-eksbuild.1',
  'amazon-cloudwatch-observability': 'v4.10.0-eksbuild.1',
});

/** The EKS-optimized AL2023 release of the system node group (NODE-1: a fixed release, never `latest`). */
export const PINNED_SYSTEM_NODE_RELEASE = '1.33.5-20251120';

/** The NVIDIA device plugin: Helm chart coordinates and the image tag the chart version ships. */
export const PINNED_NVIDIA_DEVICE_PLUGIN = Object.freeze({
  repository: 'https://nvidia.github.io/k8s-device-plugin',
  chart: 'nvidia-device-plugin',
  chartVersion: '0.18.0',
  image: 'nvcr.io/nvidia/k8s-device-plugin',
  imageTag: 'v0.18.0',
});

/** An EKS add-on build: `v1.20.5-eksbuild.1`. */
export const ADDON_VERSION_PATTERN = /^v\d+\.\d+\.\d+-eksbuild\.\d+$/;

/** An exact Helm chart version (no ranges, no `latest`). */
export const CHART_VERSION_PATTERN = /^\d+\.\d+\.\d+$/;

/** An exact container image tag of the device plugin (`v0.18.0`). */
export const IMAGE_TAG_PATTERN = /^v\d+\.\d+\.\d+$/;

/** An EKS-optimized AMI release version for the pinned Kubernetes minor: `1.33.5-20251120`. */
export const NODE_RELEASE_PATTERN = /^1\.33\.\d+-\d{8}$/;
