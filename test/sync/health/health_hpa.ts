/**
 * HorizontalPodAutoscaler health (gitops-engine pkg/health/health_hpa.go, autoscaling/v2): the status
 * conditions are read in order; the first that is degraded (AbleToScale FailedGetScale/FailedUpdateScale,
 * ScalingActive FailedGetResourceMetric/InvalidSelector) makes it Degraded, the first AbleToScale or
 * ScalingLimited with status True makes it Healthy; none of either is Progressing "Waiting to Autoscale".
 */
import type { Obj } from '../objects.js';
import type { HealthStatus } from './health.js';

const degraded: readonly [string, string][] = [
  ['AbleToScale', 'FailedGetScale'],
  ['AbleToScale', 'FailedUpdateScale'],
  ['ScalingActive', 'FailedGetResourceMetric'],
  ['ScalingActive', 'InvalidSelector'],
];

export function getHPAHealth(hpa: Obj): HealthStatus {
  for (const c of (hpa.status?.conditions ?? []) as { type: string; status: string; reason?: string; message?: string }[]) {
    if (degraded.some(([t, r]) => c.type === t && c.reason === r)) return { status: 'Degraded', ...(c.message ? { message: c.message } : {}) };
    if ((c.type === 'AbleToScale' || c.type === 'ScalingLimited') && c.status === 'True') return { status: 'Healthy', ...(c.message ? { message: c.message } : {}) };
  }
  return { status: 'Progressing', message: 'Waiting to Autoscale' };
}
