/** Helpers the rule families share: reading the server container's env, the pools a pod fits, the kubelet's load protection. */
import type { NodePool } from '../clusters/types.js';
import { unfitReason } from '../placement/index.js';
import type { EnvironmentContext, ServiceContext } from './types.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- synthesized manifests are read as plain JSON */

export function envValue(container: any, name: string): string | undefined {
  return container?.env?.find((e: any) => e.name === name)?.value;
}

/** The node pools of the cluster where a pod of the service can run (charts/placement/). */
export function fittingPools(svc: ServiceContext, env: EnvironmentContext): NodePool[] {
  return env.cluster.nodePools.filter((p) => unfitReason(svc.pod, svc.requests, p) === undefined);
}

/** Seconds before the kubelet may kill a pod that is still loading. */
export function loadProtectionSeconds(server: any): { seconds: number; by: string } {
  const p = server.startupProbe ?? server.livenessProbe;
  if (!p) return { seconds: Number.POSITIVE_INFINITY, by: 'no startup or liveness probe' };
  const seconds = (p.initialDelaySeconds ?? 0) + (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3);
  return { seconds, by: server.startupProbe ? 'startup probe window' : 'liveness initialDelay + period x failureThreshold (no startup probe)' };
}
