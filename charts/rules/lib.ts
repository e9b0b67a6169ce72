/** Helpers the rule families share: reading the server container's env, the pools a pod fits, the kubelet's load protection. */
import type { IContainer } from 'kubernetes-models/v1';
import type { NodePool } from '../clusters/types.js';
import { fits } from '../placement/index.js';
import { probeWindowSeconds } from '../sizing/probes.js';
import type { EnvironmentContext, ServiceContext } from './types.js';

/** The literal value of an env var of the container; undefined when unset or taken from elsewhere (valueFrom). */
export function envValue(container: Pick<IContainer, 'env'>, name: string): string | undefined {
  return container.env?.find((e) => e.name === name)?.value;
}

/** The node pools of the cluster where a pod of the service can run (charts/placement/). */
export function fittingPools(svc: ServiceContext, env: EnvironmentContext): NodePool[] {
  return env.cluster.nodePools.filter((p) => fits(svc.pod, svc.requests, p));
}

/** Seconds before the kubelet may kill a pod that is still loading. */
export function loadProtectionSeconds(server: IContainer): { seconds: number; by: string } {
  const p = server.startupProbe ?? server.livenessProbe;
  if (!p) return { seconds: Number.POSITIVE_INFINITY, by: 'no startup or liveness probe' };
  return {
    seconds: probeWindowSeconds(p),
    by: server.startupProbe ? 'startup probe window' : 'liveness initialDelay + period x failureThreshold (no startup probe)',
  };
}
