import { stringify } from 'yaml';
import { BOOT_SCRIPT_NAMES, shippedBootScript } from './boot-scripts';
import { MimePart, MultipartDocument, buildMultipartMixed } from './mime';
import { UnitSection, renderEnvironmentFile, renderUnit } from './systemd';

/** Where cloud-init stores the user-data shell parts, under the names the parts carry. */
export const CLOUD_INIT_SCRIPTS_DIR = '/var/lib/cloud/instance/scripts';

/** The unit that runs the boot checks; kubelet.service requires it. */
export const GATE_UNIT_NAME = 'compliant-inference-boot-checks.service';

/** The unit file of the gate. */
export const GATE_UNIT_PATH = `/etc/systemd/system/${GATE_UNIT_NAME}`;

/** The kubelet drop-in that makes the kubelet require the gate. */
export const KUBELET_GATE_DROPIN_PATH =
  '/etc/systemd/system/kubelet.service.d/90-compliant-inference-gate.conf';

/** The environment file the boot checks read. */
export const GATE_ENV_PATH = '/etc/compliant-inference/boot-checks.env';

/** EC2's limit on user data, in bytes, before base64 encoding. */
export const USER_DATA_LIMIT_BYTES = 16384;

/**
 * What EKS adds to the user data of a node group on an EKS-optimized AMI (its own NodeConfig
 * part with the cluster's CA), in bytes; kept free in that mode.
 */
export const EKS_MERGE_RESERVE_BYTES = 3072;

/** The size assumed for a token without a known bound, in bytes (names, endpoints, regions). */
const DEFAULT_TOKEN_BYTES = 256;

/** CDK's placeholder for an unresolved token inside a string. */
const TOKEN_PLACEHOLDER = /\$\{Token\[[^\]]+\]\}/g;

/**
 * An upper bound of the user data's size once deployed: its literal text plus, for each token,
 * its bound from `tokenBytes` (the cluster CA is about 1.5 KB) or 256 bytes.
 */
export function estimateUserDataBytes(
  text: string,
  tokenBytes: Readonly<Record<string, number>> = {},
): number {
  const tokens = text.match(TOKEN_PLACEHOLDER) ?? [];
  const literal = Buffer.byteLength(text.replace(TOKEN_PLACEHOLDER, ''), 'ascii');
  return tokens.reduce((n, t) => n + (tokenBytes[t] ?? DEFAULT_TOKEN_BYTES), literal);
}

/** The cluster coordinates a custom-AMI node needs in its NodeConfig. */
export interface NodeClusterDetails {
  readonly name: string;
  readonly apiServerEndpoint: string;
  readonly certificateAuthority: string;
  readonly cidr: string;
}

/** What the GPU node's user data is made of. */
export interface GpuNodeUserDataOptions {
  /** Cluster details, for a custom AMI; EKS supplies them for its own AMIs. */
  readonly cluster?: NodeClusterDetails;
  /** Labels the kubelet registers the node with. */
  readonly nodeLabels: Readonly<Record<string, string>>;
  /** The isolating taint (HW-4). */
  readonly taint: { readonly key: string; readonly value: string; readonly effect: string };
  /** Environment of the boot checks. */
  readonly gateEnvironment: Readonly<Record<string, string>>;
  /** Bound of the whole gate (driver, fabric manager, preload), in seconds. */
  readonly gateTimeoutSeconds: number;
}

/** The user data and the documents inside it, for inspection. */
export interface GpuNodeUserData {
  readonly document: MultipartDocument;
  readonly nodeConfig: Record<string, unknown>;
  readonly cloudConfig: Record<string, unknown>;
  readonly parts: readonly MimePart[];
}

/**
 * The nodeadm NodeConfig of a GPU node: RAID0 over the NVMe instance store, the kubelet's
 * labels and the isolating taint, and, for a custom AMI, the cluster coordinates.
 * @see https://github.com/awslabs/amazon-eks-ami/blob/main/nodeadm/doc/api.md
 */
export function buildNodeConfig(options: GpuNodeUserDataOptions): Record<string, unknown> {
  const labels = Object.entries(options.nodeLabels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const spec: Record<string, unknown> = {};
  if (options.cluster) {
    spec.cluster = {
      name: options.cluster.name,
      apiServerEndpoint: options.cluster.apiServerEndpoint,
      certificateAuthority: options.cluster.certificateAuthority,
      cidr: options.cluster.cidr,
    };
  }
  spec.instance = { localStorage: { strategy: 'RAID0' } };
  spec.kubelet = {
    config: {
      registerWithTaints: [
        { key: options.taint.key, value: options.taint.value, effect: options.taint.effect },
      ],
    },
    flags: labels ? [`--node-labels=${labels}`] : [],
  };
  return { apiVersion: 'node.eks.aws/v1alpha1', kind: 'NodeConfig', spec };
}

/** The systemd unit that runs the boot checks, ordered before the kubelet. */
export function buildGateUnit(timeoutSeconds: number): string {
  const script = (name: string): string => `${CLOUD_INIT_SCRIPTS_DIR}/${name}`;
  const sections: UnitSection[] = [
    {
      name: 'Unit',
      entries: [
        [
          'Description',
          'compliant-inference boot checks (NODE-2, NODE-3, W-1, W-2); the kubelet starts only after they pass',
        ],
        [
          'Documentation',
          'https://github.com/awslabs/amazon-eks-ami/tree/main/templates/al2023/runtime/rootfs/etc/systemd/system',
        ],
        ['After', 'nodeadm-config.service cloud-final.service network-online.target'],
        ['Wants', 'network-online.target'],
        ['Before', 'kubelet.service'],
      ],
    },
    {
      name: 'Service',
      entries: [
        ['Type', 'oneshot'],
        ['RemainAfterExit', 'yes'],
        ['Environment', 'COMPLIANT_INFERENCE_GATE=1'],
        ['EnvironmentFile', GATE_ENV_PATH],
        ['ExecStart', script(BOOT_SCRIPT_NAMES.checkDriver)],
        ['ExecStart', script(BOOT_SCRIPT_NAMES.checkFabricManager)],
        ['ExecStart', script(BOOT_SCRIPT_NAMES.preloadWeights)],
        ['TimeoutStartSec', String(timeoutSeconds)],
        ['StandardOutput', 'journal'],
        ['StandardError', 'journal'],
      ],
    },
  ];
  return renderUnit(sections);
}

/** The kubelet drop-in: the kubelet's start job pulls in the gate and waits for it to pass. */
export function buildKubeletGateDropin(): string {
  return renderUnit([
    {
      name: 'Unit',
      entries: [
        ['Requires', GATE_UNIT_NAME],
        ['After', GATE_UNIT_NAME],
      ],
    },
  ]);
}

/**
 * The GPU node's user data, MIME multipart, parts in this order:
 * 1. `application/node.eks.aws`: the NodeConfig (read by nodeadm, ignored by cloud-init);
 * 2. `text/cloud-config`: `write_files` for the gate unit, the kubelet drop-in and the
 *    checks' environment (cloud-init.service writes them, before cloud-final);
 * 3. shell scripts, gzip-compressed (`application/x-gzip`, which cloud-init decompresses
 *    and treats as `text/x-shellscript`, keeping the file name): the gate installer, which
 *    cloud-init runs in cloud-final, and the boot checks, which cloud-init stores (and runs as
 *    no-ops) and the gate runs. Compression keeps the user data under EC2's 16 KB.
 */
export function buildGpuNodeUserData(options: GpuNodeUserDataOptions): GpuNodeUserData {
  const nodeConfig = buildNodeConfig(options);
  const cloudConfig = {
    write_files: [
      {
        path: GATE_ENV_PATH,
        owner: 'root:root',
        permissions: '0644',
        content: renderEnvironmentFile(options.gateEnvironment),
      },
      {
        path: GATE_UNIT_PATH,
        owner: 'root:root',
        permissions: '0644',
        content: buildGateUnit(options.gateTimeoutSeconds),
      },
      {
        path: KUBELET_GATE_DROPIN_PATH,
        owner: 'root:root',
        permissions: '0644',
        content: buildKubeletGateDropin(),
      },
    ],
  };
  const yamlOptions = { lineWidth: 0 } as const;
  const parts: MimePart[] = [
    { contentType: 'application/node.eks.aws', body: stringify(nodeConfig, yamlOptions) },
    {
      contentType: 'text/cloud-config',
      body: `#cloud-config\n${stringify(cloudConfig, yamlOptions)}`,
    },
    ...[
      BOOT_SCRIPT_NAMES.installGate,
      BOOT_SCRIPT_NAMES.checkDriver,
      BOOT_SCRIPT_NAMES.checkFabricManager,
      BOOT_SCRIPT_NAMES.preloadWeights,
    ].map((name) => ({
      contentType: 'text/x-shellscript',
      filename: name,
      body: shippedBootScript(name),
      gzip: true,
    })),
  ];
  return { document: buildMultipartMixed(parts), nodeConfig, cloudConfig, parts };
}
