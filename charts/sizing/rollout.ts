/**
 * How a service's pods are replaced when its pod template changes, and what that costs while it happens.
 *
 * The strategy follows from what the old and the new pod would compete for:
 * - a ReadWriteOnce cache: only the node that holds the volume may mount it, so a second pod on another node
 *   waits on Multi-Attach for ever. Recreate: every old pod is gone before a new one is created (Kubernetes
 *   pkg/controller/deployment/recreate.go waits for `oldPodsRunning` to be false). The rule rwo-cache-shared keeps
 *   such a service at one replica.
 * - GPUs (and no ReadWriteOnce cache): a surge pod would wait for a GPU an old pod holds. RollingUpdate with
 *   maxSurge 0 and maxUnavailable 1: one old pod goes, its replacement takes the GPU it freed, the others keep
 *   serving (pkg/controller/deployment/rolling.go scales the old ReplicaSet down by at most maxUnavailable
 *   before the new one scales up, and never above replicas + maxSurge pods).
 * - neither: one surge pod starts beside the old ones (maxSurge 1, maxUnavailable 0): nothing stops serving.
 */
export type RolloutStrategy = { readonly type: 'Recreate' } | { readonly type: 'RollingUpdate'; readonly maxSurge: number; readonly maxUnavailable: number };

/** What one rollout costs a service, worst case, in seconds and serving capacity. */
export interface RolloutCost {
  /** `downtime`: no pod serves for a while; `capacity`: some pods serve, others are being replaced; `none`: a surge pod takes the load first. */
  readonly kind: 'downtime' | 'capacity' | 'none';
  /** Pods replaced at the same time (every one for Recreate). */
  readonly podsAtOnce: number;
  /** Fewest pods the rollout replaces (replicas, or the autoscaler's minimum). */
  readonly pods: number;
  /**
   * Worst-case seconds one replacement step takes, from the old pod's termination to the new pod Ready:
   * termination grace (the old pod drains, stopped serving at once) for Recreate and maxSurge 0, then pod
   * start (scheduling, image pull), then the whole startup window.
   */
  readonly stepSeconds: number;
  /** Worst-case seconds of the whole rollout: `stepSeconds` times the number of steps. */
  readonly totalSeconds: number;
  /** Extra seconds per step when the model changes: its download into the cache before the load. */
  readonly downloadSeconds: number;
  /** One line for the summary and the review: what is lost, for how long at most. */
  readonly text: string;
}

export interface RolloutInputs {
  readonly strategy: RolloutStrategy;
  /** Pods to replace: the replica count, or the autoscaler's minimum (the fewest pods that can be serving). */
  readonly pods: number;
  readonly terminationGracePeriodSeconds: number;
  /** Scheduling, image pull and container start before the model load (plan.ts podStartAllowanceSeconds). */
  readonly podStartSeconds: number;
  readonly startupWindowSeconds: number;
  readonly downloadSeconds: number;
}

/** The strategy of a service: see the module comment. `override` is the service's `overrides.strategy`. */
export function rolloutStrategy(o: { gpuCount: number; readWriteOnceCache: boolean; override?: 'Recreate' | 'RollingUpdate' }): {
  strategy: RolloutStrategy;
  reason: string;
} {
  if (o.override === 'Recreate') return { strategy: { type: 'Recreate' }, reason: 'set by overrides.strategy' };
  // The escape hatch asks for a surge pod whatever the service needs; rollout-surge-fits checks that it fits.
  if (o.override === 'RollingUpdate')
    return { strategy: { type: 'RollingUpdate', maxSurge: 1, maxUnavailable: 0 }, reason: 'set by overrides.strategy (a surge pod)' };
  if (o.readWriteOnceCache) {
    return { strategy: { type: 'Recreate' }, reason: 'mounts a ReadWriteOnce cache: only one pod may mount it, so the old pod goes before the new one starts' };
  }
  if (o.gpuCount > 0) {
    return {
      strategy: { type: 'RollingUpdate', maxSurge: 0, maxUnavailable: 1 },
      reason: `requests ${o.gpuCount} GPU(s): no surge pod (it would wait for a GPU an old pod holds); one pod at a time, the others keep serving`,
    };
  }
  return {
    strategy: { type: 'RollingUpdate', maxSurge: 1, maxUnavailable: 0 },
    reason: 'no GPU and no ReadWriteOnce volume: a surge pod starts beside the old ones',
  };
}

/** Worst-case cost of one rollout (see RolloutCost). */
export function rolloutCost(i: RolloutInputs): RolloutCost {
  const pods = Math.max(1, i.pods);
  const start = i.podStartSeconds + i.startupWindowSeconds;
  const s = i.strategy;
  const download = i.downloadSeconds > 0 ? `; a model change adds up to ${i.downloadSeconds}s of download per step` : '';
  if (s.type === 'Recreate') {
    const step = i.terminationGracePeriodSeconds + start;
    return {
      kind: 'downtime',
      podsAtOnce: pods,
      pods,
      stepSeconds: step,
      totalSeconds: step,
      downloadSeconds: i.downloadSeconds,
      text: `downtime: all ${pods} pod(s) down for up to ${step}s (grace ${i.terminationGracePeriodSeconds}s + pod start ${i.podStartSeconds}s + startup window ${i.startupWindowSeconds}s)${download}`,
    };
  }
  const atOnce = Math.min(pods, Math.max(s.maxUnavailable, 0));
  if (atOnce === 0) {
    const steps = Math.ceil(pods / Math.max(1, s.maxSurge));
    return {
      kind: 'none',
      podsAtOnce: 0,
      pods,
      stepSeconds: start,
      totalSeconds: steps * start,
      downloadSeconds: i.downloadSeconds,
      text: `no capacity lost: ${s.maxSurge} surge pod(s) at a time, ${pods} step(s) of up to ${start}s (pod start ${i.podStartSeconds}s + startup window ${i.startupWindowSeconds}s)${download}`,
    };
  }
  const step = i.terminationGracePeriodSeconds + start;
  const steps = Math.ceil(pods / atOnce);
  const kind = atOnce >= pods ? 'downtime' : 'capacity';
  return {
    kind,
    podsAtOnce: atOnce,
    pods,
    stepSeconds: step,
    totalSeconds: steps * step,
    downloadSeconds: i.downloadSeconds,
    text:
      kind === 'downtime'
        ? `downtime: the only pod down for up to ${step}s (grace ${i.terminationGracePeriodSeconds}s + pod start ${i.podStartSeconds}s + startup window ${i.startupWindowSeconds}s)${download}`
        : `capacity: ${atOnce} of ${pods} pods down at a time, ${steps} step(s) of up to ${step}s (${steps * step}s in all)${download}`,
  };
}
