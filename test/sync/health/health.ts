/**
 * Resource health as Argo CD computes it, one function per kind in its own file, like gitops-engine's
 * pkg/health/health_<kind>.go. The dispatch below follows gitops-engine pkg/health/health.go
 * (GetHealthCheckFunc) plus the Lua health checks Argo CD ships built in
 * (argo-cd resource_customizations/<group>/<kind>/health.lua) for kinds this repository emits.
 * A kind with no check has no health (`undefined`): the sync treats it as succeeded once applied
 * (gitops-engine pkg/sync/sync_context.go: "some objects (e.g. secret) do not have health, and they
 * automatically success"). That covers Namespace, ServiceAccount, NetworkPolicy, and CRD-typed objects
 * such as ServiceMonitor and PrometheusRule (argo-cd ships no health.lua for them); KEDA's ScaledObject has one.
 */
import { group, type Obj } from '../objects.js';
import { getDeploymentHealth } from './health_deployment.js';
import { getHPAHealth } from './health_hpa.js';
import { getIngressHealth } from './health_ingress.js';
import { getPDBHealth } from './health_pdb.js';
import { getPodHealth } from './health_pod.js';
import { getPVCHealth } from './health_pvc.js';
import { getReplicaSetHealth } from './health_replicaset.js';
import { getScaledObjectHealth } from './health_scaledobject.js';
import { getServiceHealth } from './health_service.js';

export type HealthStatusCode = 'Healthy' | 'Suspended' | 'Progressing' | 'Missing' | 'Degraded' | 'Unknown';

export interface HealthStatus {
  status: HealthStatusCode;
  message?: string;
}

/** Most healthy to least healthy (gitops-engine pkg/health/health.go healthOrder). */
export const healthOrder: readonly HealthStatusCode[] = ['Healthy', 'Suspended', 'Progressing', 'Missing', 'Degraded', 'Unknown'];

export function isWorse(current: HealthStatusCode, next: HealthStatusCode): boolean {
  return healthOrder.indexOf(next) > healthOrder.indexOf(current);
}

export type HealthCheck = (o: Obj) => HealthStatus;

/** Which function judges a kind; undefined when Argo CD has none for it. */
export function getHealthCheckFunc(o: Obj): { check: HealthCheck; source: string } | undefined {
  const g = group(o);
  const k = o.kind;
  if (g === 'apps' && k === 'Deployment') return { check: getDeploymentHealth, source: 'gitops-engine pkg/health/health_deployment.go' };
  if (g === 'apps' && k === 'ReplicaSet') return { check: getReplicaSetHealth, source: 'gitops-engine pkg/health/health_replicaset.go' };
  if ((g === 'networking.k8s.io' || g === 'extensions') && k === 'Ingress')
    return { check: getIngressHealth, source: 'gitops-engine pkg/health/health_ingress.go' };
  if (g === '' && k === 'Service') return { check: getServiceHealth, source: 'gitops-engine pkg/health/health_service.go' };
  if (g === '' && k === 'PersistentVolumeClaim') return { check: getPVCHealth, source: 'gitops-engine pkg/health/health_pvc.go' };
  if (g === '' && k === 'Pod') return { check: getPodHealth, source: 'gitops-engine pkg/health/health_pod.go' };
  if (g === 'autoscaling' && k === 'HorizontalPodAutoscaler') return { check: getHPAHealth, source: 'gitops-engine pkg/health/health_hpa.go' };
  if (g === 'keda.sh' && k === 'ScaledObject')
    return { check: getScaledObjectHealth, source: 'argo-cd resource_customizations/keda.sh/ScaledObject/health.lua' };
  if (g === 'policy' && k === 'PodDisruptionBudget')
    return { check: getPDBHealth, source: 'argo-cd resource_customizations/policy/PodDisruptionBudget/health.lua' };
  return undefined;
}

/** Where the verdict for a kind comes from, for reports ("no health check" included). */
export function healthSource(o: Obj): string {
  return getHealthCheckFunc(o)?.source ?? 'no health check (gitops-engine pkg/health/health.go GetHealthCheckFunc returns nil)';
}

/** gitops-engine GetResourceHealth: an object being deleted is Progressing, else its kind's check, else none. */
export function getResourceHealth(o: Obj): HealthStatus | undefined {
  if (o.metadata.deletionTimestamp !== undefined) return { status: 'Progressing', message: 'Pending deletion' };
  return getHealthCheckFunc(o)?.check(o);
}
