/**
 * Deployment health (gitops-engine pkg/health/health_deployment.go, itself kubectl's rollout status):
 * paused is Suspended; until the controller observed the latest generation, Progressing; the
 * Progressing condition with reason ProgressDeadlineExceeded is Degraded; otherwise Progressing while
 * updated < desired, old replicas remain, or updated pods are not all available; else Healthy.
 */
import { condition, type Obj } from '../objects.js';
import type { HealthStatus } from './health.js';

export function getDeploymentHealth(d: Obj): HealthStatus {
  if (d.spec?.paused === true) return { status: 'Suspended', message: 'Deployment is paused' };
  const generation = d.metadata.generation ?? 0;
  const s = d.status ?? {};
  if (generation > (s.observedGeneration ?? 0)) {
    return { status: 'Progressing', message: 'Waiting for rollout to finish: observed deployment generation less than desired generation' };
  }
  const progressing = condition(d, 'Progressing');
  const updated = s.updatedReplicas ?? 0;
  const replicas = s.replicas ?? 0;
  const available = s.availableReplicas ?? 0;
  if (progressing?.reason === 'ProgressDeadlineExceeded')
    return { status: 'Degraded', message: `Deployment "${d.metadata.name}" exceeded its progress deadline` };
  if (d.spec?.replicas !== undefined && updated < d.spec.replicas) {
    return { status: 'Progressing', message: `Waiting for rollout to finish: ${updated} out of ${d.spec.replicas} new replicas have been updated...` };
  }
  if (replicas > updated)
    return { status: 'Progressing', message: `Waiting for rollout to finish: ${replicas - updated} old replicas are pending termination...` };
  if (available < updated)
    return { status: 'Progressing', message: `Waiting for rollout to finish: ${available} of ${updated} updated replicas are available...` };
  return { status: 'Healthy' };
}
