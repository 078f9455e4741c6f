import { Quantity, ResourceRequirements } from 'cdk8s-plus-27/lib/imports/k8s';

/**
 * CPU and memory with request == limit (HW-3's shape, and the Guaranteed QoS class), for the
 * platform's own small workloads.
 */
export function fixedResources(cpu: string, memory: string): ResourceRequirements {
  const amounts = { cpu: Quantity.fromString(cpu), memory: Quantity.fromString(memory) };
  return { requests: { ...amounts }, limits: { ...amounts } };
}
