/** ReplicaSet health (gitops-engine pkg/health/health_replicaset.go): ReplicaFailure=True is Degraded, fewer available than desired is Progressing. */
import { condition, type Obj } from '../objects.js';
import type { HealthStatus } from './health.js';

export function getReplicaSetHealth(rs: Obj): HealthStatus {
  if ((rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0)) {
    return { status: 'Progressing', message: 'Waiting for rollout to finish: observed replica set generation less than desired generation' };
  }
  const failure = condition(rs, 'ReplicaFailure');
  if (failure?.status === 'True') return { status: 'Degraded', ...(failure.message ? { message: failure.message } : {}) };
  const available = rs.status?.availableReplicas ?? 0;
  if (rs.spec?.replicas !== undefined && available < rs.spec.replicas) {
    return { status: 'Progressing', message: `Waiting for rollout to finish: ${available} out of ${rs.spec.replicas} new replicas are available...` };
  }
  return { status: 'Healthy' };
}
