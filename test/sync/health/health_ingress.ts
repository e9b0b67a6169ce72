/** Ingress health (gitops-engine pkg/health/health_ingress.go): Healthy once status.loadBalancer.ingress has an entry, else Progressing. */
import type { Obj } from '../objects.js';
import type { HealthStatus } from './health.js';

export function getIngressHealth(ing: Obj): HealthStatus {
  const ingress = (ing.status?.loadBalancer?.ingress ?? []) as unknown[];
  return { status: ingress.length > 0 ? 'Healthy' : 'Progressing' };
}
