import type { NodePool } from './types.js';

/**
 * The node labels each provisioner writes to say whether a node is spot or on-demand capacity, with the value
 * it uses for each. A capacity-type preference is built only from labels the cluster profile's own pools carry,
 * so a service never points at a label its cluster does not use.
 * - EKS managed node groups: `eks.amazonaws.com/capacityType` = `SPOT` | `ON_DEMAND`
 * - Karpenter (`karpenter.sh/capacity-type`, a well-known label of its NodePool API) = `spot` | `on-demand`
 * - GKE Spot VMs: `cloud.google.com/gke-spot` = `true` (on-demand nodes do not carry it)
 * - AKS spot node pools: `kubernetes.azure.com/scalesetpriority` = `spot` (regular pools do not carry it)
 */
export const capacityTypeLabels: ReadonlyArray<{ readonly key: string; readonly spot: string; readonly onDemand?: string }> = [
  { key: 'eks.amazonaws.com/capacityType', spot: 'SPOT', onDemand: 'ON_DEMAND' },
  { key: 'karpenter.sh/capacity-type', spot: 'spot', onDemand: 'on-demand' },
  { key: 'cloud.google.com/gke-spot', spot: 'true' },
  { key: 'kubernetes.azure.com/scalesetpriority', spot: 'spot' },
];

export type CapacityType = NonNullable<NodePool['capacityType']>;

/** One label that marks a pool's capacity type, as a node-affinity expression can match it. */
export interface CapacityTypeLabel {
  readonly key: string;
  readonly value: string;
}

/**
 * The capacity-type labels of the pools of one capacity type, one per distinct key/value: what a preferred node
 * affinity term for that type matches. Empty when no pool of the type carries a known capacity-type label.
 */
export function capacityTypeLabelsOf(pools: readonly NodePool[], type: CapacityType): CapacityTypeLabel[] {
  const out = new Map<string, CapacityTypeLabel>();
  for (const pool of pools.filter((p) => p.capacityType === type)) {
    for (const known of capacityTypeLabels) {
      const value = pool.labels[known.key];
      const expected = type === 'spot' ? known.spot : known.onDemand;
      if (value !== undefined && value === expected) out.set(`${known.key}=${value}`, { key: known.key, value });
    }
  }
  return [...out.values()];
}
