/** PersistentVolumeClaim health (gitops-engine pkg/health/health_pvc.go): only Bound is Healthy; Pending is Progressing. */
import type { Obj } from '../objects.js';
import type { HealthStatus } from './health.js';

export function getPVCHealth(pvc: Obj): HealthStatus {
  switch (pvc.status?.phase) {
    case 'Lost':
      return { status: 'Degraded' };
    case 'Pending':
      return { status: 'Progressing' };
    case 'Bound':
      return { status: 'Healthy' };
    default:
      return { status: 'Unknown' };
  }
}
