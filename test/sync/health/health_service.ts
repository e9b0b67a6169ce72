/** Service health (gitops-engine pkg/health/health_service.go): type LoadBalancer is Progressing until status.loadBalancer.ingress has an entry. */
import type { Obj } from '../objects.js';
import type { HealthStatus } from './health.js';

export function getServiceHealth(svc: Obj): HealthStatus {
  if (svc.spec?.type === 'LoadBalancer') {
    const ingress = (svc.status?.loadBalancer?.ingress ?? []) as unknown[];
    return { status: ingress.length > 0 ? 'Healthy' : 'Progressing' };
  }
  return { status: 'Healthy' };
}
