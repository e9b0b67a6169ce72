import type { NodePool } from './types.js';

/**
 * The most nodes a pool can hold: `autoscaling.maxCount` when it autoscales (the cluster-autoscaler adds
 * nodes up to it for pods that do not fit), otherwise its fixed `count`. Rules that ask whether pods fit
 * the cluster at full scale size against this.
 */
export function poolNodeCount(pool: NodePool): number {
  return pool.autoscaling?.maxCount ?? pool.count;
}

/** How a pool's node count reads in a finding: `2 nodes`, or `2-6 nodes (autoscaled)`. */
export function describePoolNodes(pool: NodePool): string {
  if (pool.autoscaling) return `${pool.autoscaling.minCount}-${pool.autoscaling.maxCount} nodes (autoscaled)`;
  return `${pool.count} node${pool.count === 1 ? '' : 's'}`;
}
