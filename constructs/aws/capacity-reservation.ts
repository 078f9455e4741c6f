/** The kind of reserved capacity a GPU node group launches into. */
export enum CapacityReservationKind {
  /** An EC2 On-Demand Capacity Reservation (ODCR). */
  ON_DEMAND = 'on-demand',
  /** An EC2 Capacity Block for ML: market type `capacity-block`, node group capacity type CAPACITY_BLOCK. */
  CAPACITY_BLOCK = 'capacity-block',
}

/**
 * Reserved capacity the node group's launch template targets. p4d.24xlarge capacity is scarce;
 * a reservation makes a scale-out or a node replacement find an instance.
 * @see https://docs.aws.amazon.com/eks/latest/userguide/capacity-blocks-mng.html
 */
export class CapacityReservationTarget {
  /**
   * An On-Demand Capacity Reservation, by id (`cr-0123456789abcdef0`).
   * @see https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-capacity-reservations.html
   */
  public static onDemand(reservationId: string): CapacityReservationTarget {
    return new CapacityReservationTarget(CapacityReservationKind.ON_DEMAND, reservationId);
  }

  /**
   * A Capacity Block for ML, by its reservation id. The node group should be scaled to 0 before
   * the block ends and when it is upgraded.
   * @see https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-capacity-blocks.html
   */
  public static capacityBlock(reservationId: string): CapacityReservationTarget {
    return new CapacityReservationTarget(CapacityReservationKind.CAPACITY_BLOCK, reservationId);
  }

  private constructor(
    /** ODCR or Capacity Block. */
    public readonly kind: CapacityReservationKind,
    /** The reservation id. */
    public readonly reservationId: string,
  ) {}
}
