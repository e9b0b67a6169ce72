import { envVars } from '../../service/contract.js';
import { capacityTypeLabelsOf } from '../clusters/capacity-type.js';
import { describePoolNodes } from '../clusters/pools.js';
import { httpScaledObjectOf } from './scale-to-zero.js';
import { topologyKeys } from '../constructs/scheduling.js';
import { cpuMillis, parseQuantity } from '../lib/quantity.js';
import { addRequests, freePerNode, noRequests, poolsCapacity, scale, unfitReason } from '../placement/index.js';
import { describeLeftover, worstPacking, type PackingLeftover, type PackingResult } from '../placement/packing.js';
import { formatCores as cores, formatGiB as gib } from '../sizing/units.js';
import { envValue, fittingPools } from './lib.js';
import type { EnvironmentContext, Rule } from './types.js';

/** One packing per environment (every service's rule check reads the same one). */
const packings = new WeakMap<EnvironmentContext, PackingResult>();
function packingOf(env: EnvironmentContext): PackingResult {
  let result = packings.get(env);
  if (result === undefined) {
    result = worstPacking(
      env.cluster.nodePools,
      env.services
        .filter((s) => fittingPools(s, env).length > 0)
        .map((s) => ({ name: s.name, pod: s.pod, requests: s.requests, initialReplicas: s.deployment.spec.replicas ?? 1, replicas: s.replicas })),
    );
    packings.set(env, result);
  }
  return result;
}

/** The pod left over, what the scheduler would say, the roomiest node it may use, and the three ways out. */
function packingMessage(left: PackingLeftover, who: string, where: string, env: EnvironmentContext): string {
  const { service } = left.pod;
  const r = service.requests;
  const room = left.roomiest
    ? `; the roomiest node it may use, ${left.roomiest.node}, has ${cores(left.roomiest.free.cpuMillis)} and ${gib(left.roomiest.free.memoryBytes)} free`
    : '';
  const pools = fittingPools(
    env.services.find((s) => s.name === service.name)!,
    env,
  );
  const perNode = pools.map((p) => `${p.name} ${cores(freePerNode(p).cpuMillis)} / ${gib(freePerNode(p).memoryBytes)}`).join(', ');
  return (
    `${who} fit ${where} of cluster ${env.cluster.name} in total but not node by node: placed one at a time as kube-scheduler scores nodes ` +
    `(${left.order}), ${service.name}'s pod ${left.pod.ordinal} of ${service.replicas} (cpu ${cores(r.cpuMillis)}, memory ${gib(r.memoryBytes)}) stays Pending: ` +
    `${describeLeftover(left)}${room}. Fix: a bigger pool (more nodes: autoscaling.maxCount, or a larger instance type), fewer replicas ` +
    `(autoscaling.maxReplicas), or requests that pack whole into a node's free allocatable (${perNode} per node)`
  );
}

/** Rules on where the pods run and whether they fit: node pools, the cluster at full scale, memory and CPU, zones and capacity types. */
export const placementRules: readonly Rule[] = [
  {
    id: 'pod-fits-node-pool',
    severity: 'error',
    checks:
      'Pod requests (CPU, memory, ephemeral storage, GPUs; init containers counted as the scheduler does) fit the free allocatable of some node pool whose taints the pod tolerates and whose labels match its node selector and required node affinity.',
    why: 'A pod that fits no node stays Pending forever (e.g. a 9 GiB request on 14.6 GiB nodes already running other services, or a pod that tolerates none of the tainted pools that have room).',
    fix: 'Lower the requests (contextSize, parallel, cpu), add the toleration the message names (scheduling.tolerations) or relax scheduling.nodeSelector / nodeAffinity, or add a node pool that fits.',
    check: (svc, env) => {
      if (fittingPools(svc, env).length > 0) return [];
      const r = svc.requests;
      const reasons = env.cluster.nodePools.map((p) => unfitReason(svc.pod, r, p)).join('; ');
      return [
        {
          message: `requests cpu ${cores(r.cpuMillis)}, memory ${gib(r.memoryBytes)}, ephemeral ${gib(r.ephemeralStorageBytes)}, gpus ${r.gpus} fit no node pool of cluster ${env.cluster.name}: ${reasons}`,
        },
      ];
    },
  },
  {
    id: 'cluster-fits-all-pods',
    severity: 'error',
    checks:
      "All pods of all services at full scale (HPA maxReplicas) fit at once in the node pools they can use: GPUs, CPU and memory summed per pool over every service confined to those pools; then node by node, every pod placed one at a time as kube-scheduler places it (its filters, and its default scores at their weights: LeastAllocated, balanced allocation, preferred node affinity, topology spread), in Argo CD's sync order and the other orders the autoscalers and ReplicaSet controllers can produce, ties broken both ways (charts/placement/packing.ts). An autoscaled pool counts at its autoscaling.maxCount (the most nodes it can reach), a fixed one at its count.",
    why: 'Two GPU services on a cluster with one GPU passed, because only the surge pod was checked; the second service stayed Pending for good. Later, 112 CPU of pods on 158.9 CPU of nodes passed the sum, but the scheduler spread the 4-CPU pods two to a node, leaving each 7.89 CPU free, and an 8-CPU pod stayed Pending with "Insufficient cpu".',
    fix: 'Add nodes (or GPUs) to the pool, lower replicas or requests, or move a service to another pool; when the sum fits but the packing does not, pick requests that fit a node together (e.g. 7 + 4 + 4 CPU on a 15.89-CPU node) or larger nodes.',
    check: (svc, env) => {
      const pools = fittingPools(svc, env);
      if (pools.length === 0) return []; // pod-fits-node-pool reports it
      // Every service that can only go to these pools competes for them.
      const confined = env.services.filter((s) => {
        const own = fittingPools(s, env);
        return own.length > 0 && own.every((p) => pools.includes(p));
      });
      const demand = confined.reduce((acc, s) => addRequests(acc, scale(s.requests, s.replicas)), noRequests);
      const capacity = poolsCapacity(pools);
      const who = confined.map((s) => `${s.name} x${s.replicas}`).join(', ');
      const where = pools.map((p) => `${p.name} (${describePoolNodes(p)})`).join(', ');
      const short: string[] = [];
      if (demand.gpus > capacity.gpus) short.push(`GPUs ${demand.gpus} > ${capacity.gpus}`);
      if (demand.cpuMillis > capacity.cpuMillis) short.push(`CPU ${cores(demand.cpuMillis)} > ${cores(capacity.cpuMillis)}`);
      if (demand.memoryBytes > capacity.memoryBytes) short.push(`memory ${gib(demand.memoryBytes)} > ${gib(capacity.memoryBytes)}`);
      if (demand.ephemeralStorageBytes > capacity.ephemeralStorageBytes)
        short.push(`ephemeral ${gib(demand.ephemeralStorageBytes)} > ${gib(capacity.ephemeralStorageBytes)}`);
      if (short.length === 0) {
        // Fits in total; now node by node, as the scheduler places the pods one at a time.
        const left = packingOf(env).leftover;
        // Reported on every service that shares a pool with the pod left over: which of them the scheduler leaves
        // Pending depends on the order their pods arrive in.
        const leftService = left && env.services.find((s) => s.name === left.pod.service.name);
        if (left && leftService && fittingPools(leftService, env).some((p) => pools.includes(p))) return [{ message: packingMessage(left, who, where, env) }];
      }
      return short.length > 0 ? [{ message: `${who} do not fit at once in ${where} of cluster ${env.cluster.name}: ${short.join('; ')}` }] : [];
    },
  },
  {
    id: 'memory-covers-model',
    severity: 'error',
    checks: "Memory request >= the model's estimated need (weights + KV cache for context x parallel + logits + runtime) and memory limit == request.",
    why: 'OOM kills at the first long prompt, and evictions of pods that borrowed memory above their request.',
    fix: 'Remove overrides.memoryRequestMiB / memoryLimitMiB (derived from the model), or lower contextSize or parallel.',
    check: (svc) => {
      const req = parseQuantity(svc.server.resources?.requests?.memory) ?? 0;
      const lim = parseQuantity(svc.server.resources?.limits?.memory);
      const need = svc.plan.memory.requestBytes;
      const out: { message: string }[] = [];
      if (req < need)
        out.push({
          message: `memory request ${gib(req)} < estimated need ${gib(need)} (weights ${gib(svc.plan.memory.weightsBytes)}, KV ${gib(svc.plan.memory.kvCacheBytes)}, logits ${gib(svc.plan.memory.logitsBytes)}, runtime ${gib(svc.plan.memory.runtimeBytes)})`,
        });
      if (lim !== req) out.push({ message: `memory limit ${lim === undefined ? 'unset' : gib(lim)} != request ${gib(req)}` });
      return out;
    },
  },
  {
    id: 'cpu-not-throttled',
    severity: 'error',
    checks: 'No CPU limit below the CPU request rounded up to whole cores, and THREADS never above the CPU request.',
    why: 'Inference 7x slower in the cloud than on a laptop: more threads than the CPU quota allows, throttled every period.',
    fix: 'Remove overrides.cpuLimit and overrides.threads: threads follow the CPU request through the downward API.',
    check: (svc) => {
      const request = cpuMillis(svc.server.resources?.requests?.cpu);
      const limit = svc.server.resources?.limits?.cpu;
      const out: { message: string }[] = [];
      if (limit !== undefined && cpuMillis(limit) < Math.ceil(request / 1000) * 1000)
        out.push({ message: `CPU limit ${cores(cpuMillis(limit))} < request ${cores(request)} rounded up` });
      const threads = envValue(svc.server, envVars.threads);
      if (threads !== undefined && Number(threads) * 1000 > request) out.push({ message: `THREADS ${threads} > CPU request ${cores(request)}` });
      return out;
    },
  },
  {
    id: 'topology-spread-zones-exist',
    severity: 'warning',
    checks: `A topology spread across zones (${topologyKeys.zones}) only where the pools the pod can use span more than one zone: a warning when all of them are in the same single zone, by the zones a capture recorded for each pool (its nodes' ${topologyKeys.zones} labels) or else by the pool's own zone label.`,
    why: 'Replicas declared as zone-redundant all ran in one availability zone, because the only pool that fitted them was single-zone; the spread constraint was satisfied trivially and the zone outage took every pod.',
    fix: "Add a pool in another zone (or make the pool multi-zone), or set scheduling.topologySpread.zones 'off' to say the service is single-zone.",
    check: (svc, env) => {
      const spread = svc.pod.topologySpreadConstraints ?? [];
      if (!spread.some((c) => c.topologyKey === topologyKeys.zones)) return [];
      const pools = fittingPools(svc, env);
      if (pools.length === 0) return []; // pod-fits-node-pool reports it
      // The zones a capture saw the pool's nodes in; else the zone label the profile gives the whole pool.
      const zonesOf = (p: (typeof pools)[number]): readonly string[] | undefined => {
        if (p.zones !== undefined && p.zones.length > 0) return p.zones;
        const label = p.labels[topologyKeys.zones];
        return label === undefined ? undefined : [label];
      };
      const perPool = pools.map(zonesOf);
      if (perPool.some((z) => z === undefined)) return []; // a pool whose zones are unknown may span several
      const distinct = [...new Set(perPool.flatMap((z) => z ?? []))];
      if (distinct.length > 1) return [];
      return [
        {
          message: `${svc.name} spreads up to ${svc.replicas} pods across zones, but every pool it can use (${pools.map((p) => p.name).join(', ')}) is in zone ${distinct[0]}: all of them share one zone's failures`,
        },
      ];
    },
  },
  {
    id: 'capacity-type-available',
    severity: 'warning',
    checks:
      "A capacity-type preference (scheduling.capacityType) has pools of that type on the cluster, labelled with a capacity-type label the preference can match, that the pod can use; and a spot preference leaves more than one pod, since a spot node can be reclaimed at two minutes' notice.",
    why: "A service declared to run on spot ran entirely on on-demand nodes for months because the preferred label was another cloud's; another ran its only replica on spot and went dark at every reclaim, for a whole model load each time.",
    fix: "Record the pools' capacityType and capacity-type labels in the profile (capture it), drop the preference, or keep at least two pods (autoscaling.minReplicas 2) on spot.",
    check: (svc, env) => {
      const wanted = svc.plan.props.scheduling?.capacityType;
      if (wanted === undefined) return [];
      const out: { message: string }[] = [];
      const labels = capacityTypeLabelsOf(env.cluster.nodePools, wanted);
      const usable = fittingPools(svc, env).filter((p) => p.capacityType === wanted);
      if (labels.length === 0)
        out.push({
          message: `prefers ${wanted} capacity, but no node pool of cluster ${env.cluster.name} has capacityType '${wanted}' with a capacity-type label (charts/clusters/capacity-type.ts): the preference matches nothing`,
        });
      else if (usable.length === 0)
        out.push({
          message: `prefers ${wanted} capacity, but none of the ${wanted} pools (${env.cluster.nodePools
            .filter((p) => p.capacityType === wanted)
            .map((p) => p.name)
            .join(', ')}) can take the pod: it always runs on the fallback`,
        });
      const minPods = svc.scaledObject?.spec.minReplicaCount ?? svc.hpa?.spec.minReplicas ?? svc.deployment.spec.replicas ?? 1;
      // A service that scales to zero accepted a held model load on the first request after idling; a reclaimed
      // node costs the same wait, held by the interceptor (charts/rules/scale-to-zero.ts), not refused.
      if (wanted === 'spot' && minPods < 2 && !httpScaledObjectOf(svc))
        out.push({
          message: `prefers spot with at most ${minPods} pod at the low end: one reclaimed node takes the whole service down for a model load (startup window ${svc.plan.startup.windowSeconds} s)`,
        });
      return out;
    },
  },
];
