/** How a GPU node group pins its image (NODE-1). */
export enum NodeImageKind {
  /** A fixed custom AMI id; the node group's AMI type is CUSTOM. */
  CUSTOM_AMI = 'custom-ami',
  /** A fixed release version of the EKS-optimized AL2023 NVIDIA AMI. */
  EKS_OPTIMIZED_RELEASE = 'eks-optimized-release',
}

/**
 * The tag a custom AMI carries to say which NVIDIA driver it holds, such as
 * `compliance.inference/nvidia-driver = 535.104.05`. The `preflight` command reads it.
 */
export const CUSTOM_AMI_DRIVER_TAG = 'compliance.inference/nvidia-driver';

/** Options of {@link NodeImage.customAmi}. */
export interface CustomAmiOptions {
  /**
   * The EC2 image id, such as `ami-0123456789abcdef0`: a fixed id, never an SSM parameter or
   * an alias (NODE-1). The image must run nodeadm (AL2023-based) with the NVIDIA driver.
   * @see https://github.com/awslabs/amazon-eks-ami/tree/main/nodeadm
   */
  readonly amiId: string;
  /**
   * The NVIDIA driver version baked into the image, as `nvidia-smi` reports it (`535.104.05`).
   * It should also be in the image's `compliance.inference/nvidia-driver` tag. When it differs
   * from the standard's pin, a waiver of NODE-2 recording it in `values.cudaDriver` is required.
   */
  readonly driverVersion: string;
}

/** Options of {@link NodeImage.eksOptimizedRelease}. */
export interface EksOptimizedReleaseOptions {
  /**
   * The EKS-optimized AL2023 AMI release version, such as `1.33.5-20251120`: fixed, never
   * `latest` or an SSM path (NODE-1).
   * @see https://github.com/awslabs/amazon-eks-ami/releases
   */
  readonly releaseVersion: string;
  /**
   * The NVIDIA driver that release ships, as its release notes state (`570.172.08`). AL2023
   * NVIDIA releases never shipped the standard's pin, so a waiver of NODE-2 recording this
   * driver in `values.cudaDriver` is required.
   * @see https://github.com/awslabs/amazon-eks-ami/releases
   */
  readonly driverVersion: string;
}

/**
 * The pinned image of a GPU node group (NODE-1), with the NVIDIA driver it carries (NODE-2).
 * Two modes, both first-class: a custom AMI id, or an EKS-optimized AL2023 NVIDIA release.
 * The values are checked by the node group that uses the image, where the construct path and
 * the waivers are known.
 */
export class NodeImage {
  /** A fixed custom AMI id: AMI type CUSTOM, full NodeConfig and root disk in the launch template. */
  public static customAmi(options: CustomAmiOptions): NodeImage {
    return new NodeImage(NodeImageKind.CUSTOM_AMI, options.driverVersion, options.amiId, undefined);
  }

  /** A fixed EKS-optimized AL2023 NVIDIA release version (AMI type AL2023_x86_64_NVIDIA). */
  public static eksOptimizedRelease(options: EksOptimizedReleaseOptions): NodeImage {
    return new NodeImage(
      NodeImageKind.EKS_OPTIMIZED_RELEASE,
      options.driverVersion,
      undefined,
      options.releaseVersion,
    );
  }

  private constructor(
    /** Which of the two modes. */
    public readonly kind: NodeImageKind,
    /** The NVIDIA driver the image carries. */
    public readonly driverVersion: string,
    /** The AMI id, in custom-AMI mode. */
    public readonly amiId: string | undefined,
    /** The release version, in EKS-optimized mode. */
    public readonly releaseVersion: string | undefined,
  ) {}
}
