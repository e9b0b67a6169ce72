import { poolNodeCount } from '../clusters/pools.js';
import { clusterMinor, pdbUnhealthyPodEvictionPolicyMinor } from '../clusters/versions.js';
import { addRequests, noRequests, scale } from '../placement/index.js';
import { formatCores as cores, formatGiB as gib } from '../sizing/units.js';
import { fittingPools, loadProtectionSeconds } from './lib.js';
import type { Rule, ServiceContext } from './types.js';

/** Rules on rollouts and disruptions: the surge pod, the disruption budget, revision history, the progress deadline. */
export const rolloutRules: readonly Rule[] = [
  {
    id: 'rollout-surge-fits',
    severity: 'error',
    checks:
      'A RollingUpdate surge pod fits beside every running pod of the environment on the pools it can use (GPUs above all), an autoscaled pool counted at its maxCount; otherwise the strategy must be Recreate.',
    why: 'Rolling updates of GPU services stuck Pending: the surge pod waits for a GPU the old pod holds, and the rollout never finishes.',
    fix: 'Roll without a surge (the default with GPUs: RollingUpdate maxSurge 0, maxUnavailable 1; Recreate with a ReadWriteOnce cache), or add capacity for one extra pod.',
    check: (svc, env) => {
      if (svc.surgePods === 0) return [];
      const pools = fittingPools(svc, env);
      if (pools.length === 0) return []; // pod-fits-node-pool reports it
      const inPools = (other: ServiceContext) => fittingPools(other, env).some((p) => pools.includes(p));
      const demand = env.services.filter(inPools).reduce((acc, s) => addRequests(acc, scale(s.requests, s.replicas)), noRequests);
      const withSurge = addRequests(demand, scale(svc.requests, svc.surgePods));
      // An autoscaled pool grows to its maxCount for the surge pod (poolNodeCount).
      const capacity = pools.reduce(
        (acc, p) => ({
          cpuMillis: acc.cpuMillis + poolNodeCount(p) * (p.allocatable.cpuMillis - (p.reservedPerNode?.cpuMillis ?? 0)),
          memoryBytes: acc.memoryBytes + poolNodeCount(p) * (p.allocatable.memoryBytes - (p.reservedPerNode?.memoryBytes ?? 0)),
          ephemeralStorageBytes: acc.ephemeralStorageBytes + poolNodeCount(p) * p.allocatable.ephemeralStorageBytes,
          gpus: acc.gpus + poolNodeCount(p) * (p.gpus?.count ?? 0),
        }),
        noRequests,
      );
      const short: string[] = [];
      if (withSurge.gpus > capacity.gpus) short.push(`GPUs ${withSurge.gpus} needed, ${capacity.gpus} in ${pools.map((p) => p.name).join(', ')}`);
      if (withSurge.cpuMillis > capacity.cpuMillis) short.push(`CPU ${cores(withSurge.cpuMillis)} needed, ${cores(capacity.cpuMillis)} available`);
      if (withSurge.memoryBytes > capacity.memoryBytes) short.push(`memory ${gib(withSurge.memoryBytes)} needed, ${gib(capacity.memoryBytes)} available`);
      return short.length > 0 ? [{ message: `RollingUpdate needs room for ${svc.surgePods} surge pod(s) beside the running ones: ${short.join('; ')}` }] : [];
    },
  },
  {
    id: 'pdb-allows-drain',
    severity: 'error',
    checks:
      'The PodDisruptionBudget lets at least one pod go (no minAvailable >= replicas, no maxUnavailable 0); without unhealthyPodEvictionPolicy AlwaysAllow it is a warning.',
    why: 'Node drains blocked for hours by a PDB with minAvailable 1 on a single replica, or by a pod stuck loading.',
    fix: 'Remove overrides.disruptionBudget: the default never blocks a drain.',
    check: (svc, env) => {
      if (!svc.pdb) return [{ message: 'no PodDisruptionBudget: a drain may take every replica at once', severity: 'warning' }];
      const spec = svc.pdb.spec;
      // Unset bounds at their defaults: HPA minReplicas 1 (autoscaling/v2), ScaledObject 0 and 100 (KEDA scaledobject_types.go).
      const minReplicas = svc.hpa
        ? (svc.hpa.spec.minReplicas ?? 1)
        : svc.scaledObject
          ? (svc.scaledObject.spec.minReplicaCount ?? 0)
          : (svc.deployment.spec.replicas ?? 1);
      const maxReplicas = svc.hpa ? svc.hpa.spec.maxReplicas : svc.scaledObject ? (svc.scaledObject.spec.maxReplicaCount ?? 100) : minReplicas;
      const out: { message: string; severity?: 'warning'; fix?: string }[] = [];
      // Disruptions allowed with n healthy pods, as kubernetes pkg/controller/disruption/disruption.go computes
      // them: percentages scale against the expected pod count, rounded up, for minAvailable and maxUnavailable alike.
      const scaled = (v: unknown, n: number): number => (typeof v === 'string' && v.endsWith('%') ? Math.ceil((Number(v.slice(0, -1)) * n) / 100) : Number(v));
      const allowed = (n: number): number =>
        spec.minAvailable !== undefined
          ? n - scaled(spec.minAvailable, n)
          : spec.maxUnavailable !== undefined
            ? Math.min(n, scaled(spec.maxUnavailable, n))
            : n;
      // The autoscaler moves the replica count between its bounds: the budget must let a pod go at both.
      const counts = [...new Set([minReplicas, maxReplicas])].filter((n) => n >= 1);
      for (const n of counts) {
        if (allowed(n) >= 1) continue;
        const at = counts.length > 1 ? ` at ${n === minReplicas ? 'minReplicas' : 'maxReplicas'} ${n}` : '';
        if (spec.minAvailable !== undefined)
          out.push({ message: `minAvailable ${spec.minAvailable} >= replicas ${n}${at}: no voluntary disruption is ever allowed` });
        else out.push({ message: `maxUnavailable ${spec.maxUnavailable}${at}: no voluntary disruption is ever allowed` });
      }
      const minor = clusterMinor(env.cluster);
      if (spec.unhealthyPodEvictionPolicy === undefined && minor < pdbUnhealthyPodEvictionPolicyMinor)
        out.push({
          message: `cluster ${env.cluster.name} runs Kubernetes 1.${minor}, which does not serve unhealthyPodEvictionPolicy (1.${pdbUnhealthyPodEvictionPolicyMinor}+), so it is left out: a pod stuck loading blocks drains`,
          severity: 'warning',
          fix: `Upgrade the cluster to 1.${pdbUnhealthyPodEvictionPolicyMinor} or later, or delete a stuck pod by hand before draining its node.`,
        });
      else if (spec.unhealthyPodEvictionPolicy !== 'AlwaysAllow')
        out.push({
          message: `unhealthyPodEvictionPolicy ${spec.unhealthyPodEvictionPolicy ?? 'unset'}: a pod stuck loading blocks drains`,
          severity: 'warning',
        });
      return out;
    },
  },
  {
    id: 'revision-history-bounded',
    severity: 'error',
    checks: 'revisionHistoryLimit is set and <= 5.',
    why: '20+ old ReplicaSets per Deployment cluttering every rollout and `kubectl get rs`.',
    fix: 'Keep revisionHistoryLimit between 1 and 5 (default 3).',
    check: (svc) => {
      const n = svc.deployment.spec.revisionHistoryLimit;
      return n === undefined || n > 5 ? [{ message: `revisionHistoryLimit ${n ?? 'unset (Kubernetes keeps 10)'}` }] : [];
    },
  },
  {
    id: 'progress-deadline-covers-startup',
    severity: 'error',
    checks: 'progressDeadlineSeconds > the startup window (plus the model download), so a slow first load is not reported as a failed rollout.',
    why: "The 600 s default marks a large model's first rollout as failed while it is still loading; Argo CD then reports Degraded.",
    fix: 'Remove overrides.progressDeadlineSeconds (derived from the download and startup budget).',
    check: (svc) => {
      const deadline = svc.deployment.spec.progressDeadlineSeconds ?? 600;
      const { seconds } = loadProtectionSeconds(svc.server);
      // No startup or liveness probe: nothing can kill a slow load; liveness-cheap reports the missing probe.
      if (!Number.isFinite(seconds)) return [];
      return deadline <= seconds ? [{ message: `progressDeadlineSeconds ${deadline} <= startup window ${seconds}s` }] : [];
    },
  },
];
