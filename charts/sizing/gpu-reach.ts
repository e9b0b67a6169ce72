import { poolNodeCount } from '../clusters/pools.js';
import type { ClusterProfile, NodePool } from '../clusters/types.js';
import type { Environment } from '../environments/types.js';
import type { InferenceServicePlan } from './plan.js';

/** The GPU node label every GPU pool carries when a service names none (GPU feature discovery; charts/constructs/props.ts). */
const defaultGpuNodeSelector: Readonly<Record<string, string>> = { 'nvidia.com/gpu.present': 'true' };

/** How far one GPU service can scale on its cluster, beside the environment's other GPU services at their maxima. */
export interface GpuReach {
  readonly service: string;
  readonly gpusPerPod: number;
  /** Pods the service declares at the most: `autoscaling.maxReplicas`, else `replicas`. */
  readonly declaredPods: number;
  /** Most pods that fit: GPU slots on the pools it can use and the namespace's GPU quota, less its own surge pods. */
  readonly reachablePods: number;
  /** One line for the synth summary (and a refused synth): the figures and, when the declared count does not fit, the bound that does. */
  readonly text: string;
}

/** Most pods of a plan at once: its maximum plus the rollout's surge pods. */
function peakPods(plan: InferenceServicePlan): { pods: number; surge: number } {
  const pods = plan.props.autoscaling?.maxReplicas ?? plan.replicas;
  return { pods, surge: plan.rollout.type === 'RollingUpdate' ? plan.rollout.maxSurge : 0 };
}

/** GPU pools whose labels carry the service's GPU node selector (and any node selector it adds). */
function poolsFor(plan: InferenceServicePlan, pools: readonly NodePool[]): NodePool[] {
  const wanted = { ...(plan.props.gpu?.nodeSelector ?? defaultGpuNodeSelector), ...(plan.props.scheduling?.nodeSelector ?? {}) };
  return pools.filter((p) => p.gpus !== undefined && p.gpus.count >= plan.gpuCount && Object.entries(wanted).every(([k, v]) => p.labels[k] === v));
}

/** Free GPUs per node of those pools after first-fit placement of `pods` pods of `gpusPerPod` each; false when one does not fit. */
function place(free: number[], pods: number, gpusPerPod: number): boolean {
  for (let i = 0; i < pods; i++) {
    const node = free.findIndex((f) => f >= gpusPerPod);
    if (node < 0) return false;
    free[node]! -= gpusPerPod;
  }
  return true;
}

/**
 * For each GPU service of an environment, the largest autoscaler maximum it can reach: its pods need whole GPUs on
 * one node, so the count is of per-node slots (first-fit over every node each pool can grow to), after the other
 * GPU services are placed at their maxima with their surge pods, within the namespace's GPU quota. GPUs only: CPU
 * and memory of the same nodes are the placement rules' concern (charts/rules/placement.ts).
 */
export function gpuReach(cluster: ClusterProfile, quotaGpus: number | undefined, plans: readonly InferenceServicePlan[]): GpuReach[] {
  const gpuPlans = plans.filter((p) => p.gpuCount > 0);
  return gpuPlans.map((plan) => {
    const pools = poolsFor(plan, cluster.nodePools);
    const free = pools.flatMap((p) => Array.from({ length: poolNodeCount(p) }, () => p.gpus!.count));
    const others = gpuPlans.filter((o) => o !== plan);
    let othersGpus = 0;
    // Largest pods first, as a scheduler that packs well would leave the most room.
    for (const o of [...others].sort((a, b) => b.gpuCount - a.gpuCount)) {
      const { pods, surge } = peakPods(o);
      if (poolsFor(o, pools).length > 0) place(free, pods + surge, o.gpuCount);
      othersGpus += (pods + surge) * o.gpuCount;
    }
    let slots = 0;
    while (place(free, 1, plan.gpuCount)) slots++;
    const { pods: declaredPods, surge } = peakPods(plan);
    const byQuota = quotaGpus === undefined ? Number.POSITIVE_INFINITY : Math.floor((quotaGpus - othersGpus) / plan.gpuCount);
    const reachablePods = Math.max(0, Math.min(slots, byQuota) - surge);
    const where =
      pools.length === 0
        ? 'no GPU pool carries its node selector'
        : pools.map((p) => `${p.name} (up to ${poolNodeCount(p)} x ${p.gpus!.count} ${p.gpus!.model})`).join(', ');
    const quota = quotaGpus === undefined ? '' : `, namespace quota ${quotaGpus} GPUs`;
    const field = plan.props.autoscaling ? 'autoscaling.maxReplicas' : 'replicas';
    const verdict =
      declaredPods <= reachablePods
        ? `${field} ${declaredPods} fits; at most ${reachablePods}`
        : `${field} ${declaredPods} does not fit: set ${field} <= ${reachablePods}${reachablePods === 0 ? ' (no room: free GPUs or raise the quota first)' : ''}`;
    return {
      service: plan.name,
      gpusPerPod: plan.gpuCount,
      declaredPods,
      reachablePods,
      text: `${plan.gpuCount} GPU(s) per pod on ${where}${quota}, beside the other GPU services at their maxima (${othersGpus} GPUs): ${verdict}${surge > 0 ? ` (with ${surge} surge pod(s))` : ''}`,
    };
  });
}

/** The GPUs the environment's namespace may request: the quota it declares and the one the cluster's administrators set, whichever is lower. */
export function namespaceGpuQuota(env: Environment): number | undefined {
  const quotas = [env.quota?.gpus, env.cluster.namespaceQuotas[env.namespace]?.gpus].filter((q): q is number => q !== undefined);
  return quotas.length === 0 ? undefined : Math.min(...quotas);
}

/** The reach of every GPU service of an environment build, from its cluster profile and quotas. */
export function environmentGpuReach(env: Environment, plans: readonly InferenceServicePlan[]): GpuReach[] {
  return gpuReach(env.cluster, namespaceGpuQuota(env), plans);
}
