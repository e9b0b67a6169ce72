import type { IPodSpec } from 'kubernetes-models/v1';
import { poolNodeCount } from '../clusters/pools.js';
import type { NodePool } from '../clusters/types.js';
import { formatCores, formatGiB } from '../sizing/units.js';
import { selects } from './node-affinity.js';
import { addRequests, noRequests, scale, type PodRequests } from './requests.js';
import { untoleratedTaints } from './tolerations.js';

/**
 * Where a pod can run: the scheduler's filters (taints, node affinity, resources) against the node pools of a
 * cluster profile. One home for them, used by the synth rules (charts/rules/) and the test harnesses
 * (test/sync/cluster.ts), so a rule and the simulated scheduler cannot disagree on where a pod fits.
 */
export { selects } from './node-affinity.js';
export { addRequests, gpuResource, noRequests, podRequests, scale, type PodRequests } from './requests.js';
export { tolerates, toleratesTaint } from './tolerations.js';

/** What the scheduler can still place on one node of the pool: allocatable minus what other workloads hold there. */
export function freePerNode(pool: NodePool): PodRequests {
  return {
    cpuMillis: pool.allocatable.cpuMillis - (pool.reservedPerNode?.cpuMillis ?? 0),
    memoryBytes: pool.allocatable.memoryBytes - (pool.reservedPerNode?.memoryBytes ?? 0),
    ephemeralStorageBytes: pool.allocatable.ephemeralStorageBytes,
    gpus: pool.gpus?.count ?? 0,
  };
}

/** What the pools hold at their largest (an autoscaled pool at its maxCount, poolNodeCount): free allocatable per node times nodes. */
export function poolsCapacity(pools: readonly NodePool[]): PodRequests {
  return pools.reduce((acc, p) => addRequests(acc, scale(freePerNode(p), poolNodeCount(p))), noRequests);
}

const taintText = (t: NodePool['taints'][number]) => `${t.key}${t.value !== undefined ? `=${t.value}` : ''}:${t.effect}`;

/** Why a pod with these requests cannot run on a node of the pool (taints, then labels, then resources), or undefined when it can. */
export function unfitReason(pod: Pick<IPodSpec, 'tolerations' | 'nodeSelector' | 'affinity'>, req: PodRequests, pool: NodePool): string | undefined {
  const untolerated = untoleratedTaints(pod.tolerations, pool);
  if (untolerated.length > 0) {
    const how = untolerated.map(
      (t) =>
        `${taintText(t)} (tolerate with scheduling.tolerations: [{ key: '${t.key}', ${t.value !== undefined ? `value: '${t.value}', ` : ''}effect: '${t.effect}' }])`,
    );
    return `${pool.name}: taint ${how.join(', ')} not tolerated`;
  }
  if (!selects(pod, pool)) return `${pool.name}: labels ${JSON.stringify(pool.labels)} do not match the node selector or required node affinity`;
  const free = freePerNode(pool);
  const over: string[] = [];
  if (req.cpuMillis > free.cpuMillis) over.push(`cpu ${formatCores(req.cpuMillis)} > ${formatCores(free.cpuMillis)} free`);
  if (req.memoryBytes > free.memoryBytes)
    over.push(`memory ${formatGiB(req.memoryBytes)} > ${formatGiB(free.memoryBytes)} free of ${formatGiB(pool.allocatable.memoryBytes)} allocatable`);
  if (req.ephemeralStorageBytes > free.ephemeralStorageBytes)
    over.push(`ephemeral ${formatGiB(req.ephemeralStorageBytes)} > ${formatGiB(free.ephemeralStorageBytes)}`);
  if (req.gpus > free.gpus) over.push(`gpus ${req.gpus} > ${free.gpus}`);
  return over.length > 0 ? `${pool.name} (${pool.instanceType}): ${over.join(', ')}` : undefined;
}

/** The pod can run on a node of the pool: taints tolerated, labels selected, requests within the free allocatable. */
export function fits(pod: Pick<IPodSpec, 'tolerations' | 'nodeSelector' | 'affinity'>, req: PodRequests, pool: NodePool): boolean {
  return unfitReason(pod, req, pool) === undefined;
}
