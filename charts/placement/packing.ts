import type { IPodSpec, ITopologySpreadConstraint } from 'kubernetes-models/v1';
import { poolNodeCount } from '../clusters/pools.js';
import type { NodePool } from '../clusters/types.js';
import { selects, termHolds } from './node-affinity.js';
import { addRequests, noRequests, type PodRequests } from './requests.js';
import { toleratesTaint, untoleratedTaints } from './tolerations.js';

/**
 * Pods placed one at a time on the nodes of a cluster profile, as kube-scheduler places them: each pod in turn is
 * filtered against every node with what the pods before it already hold there, the feasible nodes are scored by
 * the default score plugins at their default weights, and the pod goes to the best one. Summing a pool's CPU
 * misses what this catches: the default scoring spreads pods (LeastAllocated), so that after many small pods no
 * node keeps room for a large one although the pool has it in total.
 *
 * Modelled on kubernetes/kubernetes:
 * - pkg/scheduler/schedule_one.go: `findNodesThatFitPod` (every filter on every node; with fewer than 100 nodes
 *   the scheduler looks at all of them, `minFeasibleNodesToFind`), `prioritizeNodes` (the weighted sum of the
 *   normalized scores), `selectHost` (the highest total; ties are broken at random, so both ends of a tie are tried);
 * - pkg/scheduler/apis/config/v1/default_plugins.go: the score weights, TaintToleration 3, NodeAffinity 2,
 *   NodeResourcesFit 1, PodTopologySpread 2, InterPodAffinity 2, NodeResourcesBalancedAllocation 1, ImageLocality 1;
 * - pkg/scheduler/framework/plugins/noderesources/fit.go (the Fit filter: requests plus what the node holds within
 *   its allocatable, and its pod count) and least_allocated.go (`leastRequestedScore`: (allocatable − requested) ×
 *   100 / allocatable per resource, cpu and memory at weight 1, integer arithmetic);
 * - pkg/scheduler/framework/plugins/noderesources/balanced_allocation.go (`balancedResourceScorer`: 100 × (1 −
 *   |cpu fraction − memory fraction| / 2), fractions capped at 1);
 * - pkg/scheduler/framework/plugins/nodeaffinity/node_affinity.go (the preferred terms' weights, normalized to 100
 *   by the best node, `helper.DefaultNormalizeScore`);
 * - pkg/scheduler/framework/plugins/tainttoleration/taint_toleration.go (untolerated PreferNoSchedule taints
 *   counted, normalized in reverse);
 * - pkg/scheduler/framework/plugins/podtopologyspread/filtering.go and scoring.go (DoNotSchedule constraints as a
 *   filter on the skew; ScheduleAnyway ones scored by the matching pods in the node's domain times ln(domains + 2),
 *   nodes without every topology key left out, normalized as 100 × (max + min − score) / max).
 *
 * Left out, because the charts set none of it: inter-pod (anti-)affinity, host ports, volume limits and zones
 * (InterPodAffinity, NodePorts, the volume plugins); ImageLocality scores no node here (a profile records no
 * images); preemption (the pods of one environment share a priority per pool). Pods count what they request;
 * the non-zero defaults the scheduler scores a container without requests at (100m, 200 MB) do not arise, since
 * every inference container states its requests.
 */

/** One service's pods, as the packing sees them. */
export interface PackedService {
  /** The service's name; its pods are counted together by topology spread (one ReplicaSet). */
  readonly name: string;
  /** The pod spec's scheduling fields: tolerations, node selector, node affinity, topology spread constraints. */
  readonly pod: Pick<IPodSpec, 'tolerations' | 'nodeSelector' | 'affinity' | 'topologySpreadConstraints'>;
  /** One pod's requests as the scheduler counts them (podRequests). */
  readonly requests: PodRequests;
  /** Pods the Deployment asks for when Argo CD applies it (spec.replicas; 1 when omitted, the API default). */
  readonly initialReplicas: number;
  /** Pods at full scale: the autoscaler's maximum, or spec.replicas without one. */
  readonly replicas: number;
}

/** A node of a pool: its name, labels as the scheduler sees them, and what is already requested on it. */
export interface PoolNode {
  readonly name: string;
  readonly pool: NodePool;
  /** The pool's labels plus the ones each node carries: `kubernetes.io/hostname` and its zone when known. */
  readonly labels: Readonly<Record<string, string>>;
}

/** The kubelet's default `maxPods`: the Fit filter counts pods too. */
const maxPodsPerNode = 110;

/**
 * The nodes of a pool at its largest (`poolNodeCount`: an autoscaled pool at its maxCount), named `<pool>-<i>`, each in
 * the pool's zones in turn (`zones`, else the pool's zone label). The control-plane tests register these same nodes.
 */
export function poolNodes(pool: NodePool): PoolNode[] {
  return Array.from({ length: poolNodeCount(pool) }, (_, i) => {
    const name = `${pool.name}-${i}`;
    const zone = pool.zones && pool.zones.length > 0 ? pool.zones[i % pool.zones.length] : pool.labels['topology.kubernetes.io/zone'];
    return { name, pool, labels: { ...pool.labels, 'kubernetes.io/hostname': name, ...(zone !== undefined ? { 'topology.kubernetes.io/zone': zone } : {}) } };
  });
}

/** One pod to place: the n-th of its service. */
export interface PendingPod {
  readonly service: PackedService;
  /** 1-based, counting the service's pods at full scale. */
  readonly ordinal: number;
}

/** An order in which the pods can arrive at the scheduler (ties between nodes are tried both ways by worstPacking). */
export interface PackingOrder {
  /** Said in findings. */
  readonly name: string;
  /** Every pod of the services at full scale, in the order they reach the scheduler's queue. */
  readonly pods: (services: readonly PackedService[]) => PendingPod[];
}

const podsOf = (s: PackedService, from: number, to: number): PendingPod[] =>
  Array.from({ length: Math.max(0, to - from) }, (_, i) => ({ service: s, ordinal: from + i + 1 }));
const allPods = (services: readonly PackedService[]) => services.flatMap((s) => podsOf(s, 0, s.replicas));
const size = (r: PodRequests) => [r.gpus, r.cpuMillis, r.memoryBytes, r.ephemeralStorageBytes];
const bySize = (a: PendingPod, b: PendingPod) => {
  const x = size(a.service.requests);
  const y = size(b.service.requests);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return a.service.name.localeCompare(b.service.name) || a.ordinal - b.ordinal;
};

/**
 * The orders a real sync can produce. The scheduler's queue takes pods by priority, then by when they arrived
 * (PrioritySort); when they arrive depends on Argo CD (Deployments applied in sync order: wave, kind, name, each
 * with spec.replicas pods), on the autoscalers (which raise each Deployment to its maximum at their own pace) and on
 * the ReplicaSet controllers running side by side. So no single order is fixed: these are the two ends (smallest pods
 * first, which fragments the nodes most under spreading, and largest first) and the two a sync most often gives.
 */
export const packingOrders: readonly PackingOrder[] = [
  {
    name: "Argo CD's sync order, then each autoscaler to its maximum",
    pods: (services) => {
      const sorted = [...services].sort((a, b) => a.name.localeCompare(b.name));
      const initial = sorted.flatMap((s) => podsOf(s, 0, Math.min(s.initialReplicas, s.replicas)));
      return [...initial, ...sorted.flatMap((s) => podsOf(s, Math.min(s.initialReplicas, s.replicas), s.replicas))];
    },
  },
  {
    name: 'one pod of each service in turn',
    pods: (services) => {
      const sorted = [...services].sort((a, b) => a.name.localeCompare(b.name));
      const most = Math.max(0, ...sorted.map((s) => s.replicas));
      return Array.from({ length: most }, (_, i) => sorted.flatMap((s) => (i < s.replicas ? [{ service: s, ordinal: i + 1 }] : []))).flat();
    },
  },
  { name: 'smallest pods first', pods: (services) => allPods(services).sort(bySize) },
  { name: 'largest pods first', pods: (services) => allPods(services).sort((a, b) => bySize(b, a)) },
];

/** A node during the packing: what its pods request, and how many pods of each service it holds. */
interface NodeState extends PoolNode {
  used: PodRequests;
  pods: number;
  readonly perService: Map<string, number>;
}

/** Why a node cannot take the pod, as the scheduler counts it in "0/N nodes are available: …". */
function filterReason(node: NodeState, pod: PendingPod, nodes: readonly NodeState[]): string | undefined {
  const { pool } = node;
  const spec = pod.service.pod;
  if (untoleratedTaints(spec.tolerations, pool).length > 0) return 'node(s) had untolerated taint(s)';
  if (!selects(spec, pool)) return "node(s) didn't match Pod's node affinity/selector";
  const r = pod.service.requests;
  const free = allocatable(pool);
  const after = addRequests(node.used, r);
  if (node.pods + 1 > maxPodsPerNode) return 'Too many pods';
  // Fit's own order of checks (fitsRequest): cpu, memory, ephemeral storage, then the extended resources.
  if (r.cpuMillis > 0 && after.cpuMillis > free.cpuMillis) return 'Insufficient cpu';
  if (r.memoryBytes > 0 && after.memoryBytes > free.memoryBytes) return 'Insufficient memory';
  if (r.ephemeralStorageBytes > 0 && after.ephemeralStorageBytes > free.ephemeralStorageBytes) return 'Insufficient ephemeral-storage';
  if (r.gpus > 0 && after.gpus > free.gpus) return 'Insufficient nvidia.com/gpu';
  for (const c of spec.topologySpreadConstraints ?? []) {
    if (c.whenUnsatisfiable !== 'DoNotSchedule') continue;
    // A key the profile does not record (a pool typed without its zones) is unknown, not absent: the scheduler would
    // refuse a node without it ("missing required label"), but cloud nodes carry their zone, so it is not judged.
    if (node.labels[c.topologyKey] === undefined) continue;
    const counts = domainCounts(c, pod, nodes);
    const min = Math.min(...counts.values());
    if ((counts.get(node.labels[c.topologyKey]!) ?? 0) + 1 - min > c.maxSkew) return "node(s) didn't match pod topology spread constraints";
  }
  return undefined;
}

/** What a node offers: its allocatable; the pool's reservations are requests already on it (NodeState.used). */
function allocatable(pool: NodePool): PodRequests {
  return {
    cpuMillis: pool.allocatable.cpuMillis,
    memoryBytes: pool.allocatable.memoryBytes,
    ephemeralStorageBytes: pool.allocatable.ephemeralStorageBytes,
    gpus: pool.gpus?.count ?? 0,
  };
}

/**
 * The service's pods per domain of a constraint's topology key, over the nodes the spread counts: those the pod's
 * node selector and required affinity admit and that carry the key (nodeAffinityPolicy Honor, nodeTaintsPolicy
 * Ignore, the defaults). The selector of every constraint the charts write is the service's own pods.
 */
function domainCounts(c: ITopologySpreadConstraint, pod: PendingPod, nodes: readonly NodeState[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of nodes) {
    const value = n.labels[c.topologyKey];
    if (value === undefined || !selects(pod.service.pod, n.pool)) continue;
    counts.set(value, (counts.get(value) ?? 0) + (n.perService.get(pod.service.name) ?? 0));
  }
  return counts;
}

const leastRequested = (requested: number, capacity: number) =>
  capacity === 0 || requested > capacity ? 0 : Math.floor(((capacity - requested) * 100) / capacity);

/** `helper.DefaultNormalizeScore`: scaled so the best node has 100; reversed when fewer is better. */
function normalize(raw: readonly number[], reverse: boolean): number[] {
  const max = Math.max(0, ...raw);
  if (max === 0) return raw.map(() => (reverse ? 100 : 0));
  return raw.map((s) => {
    const scaled = Math.floor((100 * s) / max);
    return reverse ? 100 - scaled : scaled;
  });
}

/** The weighted sum of the default score plugins for each feasible node (prioritizeNodes). */
function scores(pod: PendingPod, feasible: readonly NodeState[], nodes: readonly NodeState[]): number[] {
  const spec = pod.service.pod;
  const r = pod.service.requests;
  const fit = feasible.map((n) => {
    const a = allocatable(n.pool);
    const after = addRequests(n.used, r);
    return Math.floor((leastRequested(after.cpuMillis, a.cpuMillis) + leastRequested(after.memoryBytes, a.memoryBytes)) / 2);
  });
  const balanced = feasible.map((n) => {
    if (r.cpuMillis === 0 && r.memoryBytes === 0) return 0; // best-effort pods are skipped
    const a = allocatable(n.pool);
    const after = addRequests(n.used, r);
    const cpu = Math.min(1, after.cpuMillis / a.cpuMillis);
    const memory = Math.min(1, after.memoryBytes / a.memoryBytes);
    return Math.trunc((1 - Math.abs(cpu - memory) / 2) * 100);
  });
  const preferred = spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  const affinity = normalize(
    feasible.map((n) => preferred.reduce((acc, t) => acc + (termHolds(t.preference, n.labels) ? t.weight : 0), 0)),
    false,
  );
  const preferNoSchedule = normalize(
    feasible.map(
      (n) =>
        n.pool.taints.filter(
          (t) =>
            t.effect === 'PreferNoSchedule' &&
            !(spec.tolerations ?? []).some((tol) => (!tol.effect || tol.effect === 'PreferNoSchedule') && toleratesTaint(tol, t)),
        ).length,
    ),
    true,
  );
  const spread = spreadScores(pod, feasible, nodes);
  return feasible.map((_, i) => 3 * preferNoSchedule[i]! + 2 * affinity[i]! + fit[i]! + 2 * spread[i]! + balanced[i]!);
}

/** PodTopologySpread's score for the ScheduleAnyway constraints (scoring.go), normalized; 0 for every node without them. */
function spreadScores(pod: PendingPod, feasible: readonly NodeState[], nodes: readonly NodeState[]): number[] {
  const soft = (pod.service.pod.topologySpreadConstraints ?? []).filter((c) => c.whenUnsatisfiable === 'ScheduleAnyway');
  if (soft.length === 0) return feasible.map(() => 0);
  const ignored = feasible.map((n) => soft.some((c) => n.labels[c.topologyKey] === undefined));
  const kept = feasible.filter((_, i) => !ignored[i]);
  const hostname = 'kubernetes.io/hostname';
  const weights = soft.map((c) => Math.log((c.topologyKey === hostname ? kept.length : new Set(kept.map((n) => n.labels[c.topologyKey])).size) + 2));
  const counts = soft.map((c) => (c.topologyKey === hostname ? undefined : domainCounts(c, pod, nodes)));
  const raw = feasible.map((n, i) => {
    if (ignored[i]) return -1;
    const score = soft.reduce((acc, c, k) => {
      const count = c.topologyKey === hostname ? (n.perService.get(pod.service.name) ?? 0) : (counts[k]!.get(n.labels[c.topologyKey]!) ?? 0);
      return acc + count * weights[k]! + (c.maxSkew - 1);
    }, 0);
    return Math.round(score);
  });
  const valid = raw.filter((s) => s >= 0);
  const min = Math.min(...valid);
  const max = Math.max(0, ...valid);
  return raw.map((s) => (s < 0 ? 0 : max === 0 ? 100 : Math.floor((100 * (max + min - s)) / max)));
}

/** A pod the scheduler leaves Pending, with its reasons as the scheduler words them. */
export interface PackingLeftover {
  readonly pod: PendingPod;
  /** The order and tie-break that left it over. */
  readonly order: string;
  /** Reason -> nodes, as in "0/12 nodes are available: 10 Insufficient cpu, 2 node(s) had untolerated taint(s)". */
  readonly reasons: ReadonlyMap<string, number>;
  readonly nodes: number;
  /** The node (of those the pod's taints and selectors admit) with the most CPU free, and what it has free then. */
  readonly roomiest?: { readonly node: string; readonly free: PodRequests };
}

export interface PackingResult {
  /** Where each pod went, `service/ordinal` -> node name. */
  readonly placements: ReadonlyMap<string, string>;
  readonly leftover?: PackingLeftover;
}

/** Places the pods in the given order, ties to the first or last best node; stops at the first pod no node takes. */
export function packPods(pools: readonly NodePool[], pods: readonly PendingPod[], tie: 'first' | 'last', order = 'as given'): PackingResult {
  const nodes: NodeState[] = pools.flatMap(poolNodes).map((n) => ({
    ...n,
    used: { ...noRequests, cpuMillis: n.pool.reservedPerNode?.cpuMillis ?? 0, memoryBytes: n.pool.reservedPerNode?.memoryBytes ?? 0 },
    pods: n.pool.reservedPerNode ? 1 : 0,
    perService: new Map<string, number>(),
  }));
  const placements = new Map<string, string>();
  for (const pod of pods) {
    const reasons = new Map<string, number>();
    const feasible = nodes.filter((n) => {
      const why = filterReason(n, pod, nodes);
      if (why !== undefined) reasons.set(why, (reasons.get(why) ?? 0) + 1);
      return why === undefined;
    });
    if (feasible.length === 0) {
      const admitted = nodes.filter((n) => untoleratedTaints(pod.service.pod.tolerations, n.pool).length === 0 && selects(pod.service.pod, n.pool));
      const roomiest = admitted
        .map((n) => ({ node: n.name, free: freeOn(n) }))
        .sort((a, b) => b.free.cpuMillis - a.free.cpuMillis || b.free.memoryBytes - a.free.memoryBytes)[0];
      return { placements, leftover: { pod, order, reasons, nodes: nodes.length, ...(roomiest ? { roomiest } : {}) } };
    }
    const s = scores(pod, feasible, nodes);
    const best = Math.max(...s);
    const tied = feasible.filter((_, i) => s[i] === best);
    const chosen = tie === 'first' ? tied[0]! : tied[tied.length - 1]!;
    chosen.used = addRequests(chosen.used, pod.service.requests);
    chosen.pods += 1;
    chosen.perService.set(pod.service.name, (chosen.perService.get(pod.service.name) ?? 0) + 1);
    placements.set(`${pod.service.name}/${pod.ordinal}`, chosen.name);
  }
  return { placements };
}

function freeOn(n: NodeState): PodRequests {
  const a = allocatable(n.pool);
  return {
    cpuMillis: a.cpuMillis - n.used.cpuMillis,
    memoryBytes: a.memoryBytes - n.used.memoryBytes,
    ephemeralStorageBytes: a.ephemeralStorageBytes - n.used.ephemeralStorageBytes,
    gpus: a.gpus - n.used.gpus,
  };
}

/**
 * Every pod at full scale packed in each order of `packingOrders`, with ties broken both ways: the first packing
 * that leaves a pod over, or the last packing when every one places them all. Callers pass only services whose pod
 * fits some pool when empty (a pod that fits none is pod-fits-node-pool's finding, not this one's).
 */
export function worstPacking(pools: readonly NodePool[], services: readonly PackedService[], orders: readonly PackingOrder[] = packingOrders): PackingResult {
  let last: PackingResult = { placements: new Map() };
  for (const order of orders) {
    for (const tie of ['first', 'last'] as const) {
      last = packPods(pools, order.pods(services), tie, `${order.name}, ties to the ${tie} node`);
      if (last.leftover) return last;
    }
  }
  return last;
}

/** The scheduler's words for a leftover pod: "0/12 nodes are available: 10 Insufficient cpu, 2 node(s) had untolerated taint(s)". */
export function describeLeftover(l: PackingLeftover): string {
  const reasons = [...l.reasons].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([why, n]) => `${n} ${why}`);
  return `0/${l.nodes} nodes are available: ${reasons.join(', ')}`;
}
