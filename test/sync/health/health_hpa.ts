/**
 * HorizontalPodAutoscaler health as Argo CD v3.5 computes it (argo-cd v3.5.0
 * gitops-engine/pkg/health/health_hpa.go, checkConditions): first every condition is checked for a degraded
 * type and reason (AbleToScale FailedGetScale/FailedUpdateScale; ScalingActive FailedGetResourceMetric,
 * FailedGetObjectMetric, FailedGetPodsMetric, FailedGetExternalMetric, FailedComputeMetricsReplicas,
 * InvalidSelector): any one makes it Degraded, whatever comes before it; only then the first AbleToScale or
 * ScalingLimited with status True makes it Healthy; none of either is Progressing "Waiting to Autoscale".
 * Up to v3.4 one pass in condition order let an earlier AbleToScale True hide a later degraded condition.
 */
import type { Obj } from '../objects.js';
import type { HealthStatus } from './health.js';

const degraded: readonly [string, string][] = [
  ['AbleToScale', 'FailedGetScale'],
  ['AbleToScale', 'FailedUpdateScale'],
  ['ScalingActive', 'FailedGetResourceMetric'],
  ['ScalingActive', 'FailedGetObjectMetric'],
  ['ScalingActive', 'FailedGetPodsMetric'],
  ['ScalingActive', 'FailedGetExternalMetric'],
  ['ScalingActive', 'FailedComputeMetricsReplicas'],
  ['ScalingActive', 'InvalidSelector'],
];

type Condition = { type: string; status: string; reason?: string; message?: string };

export function getHPAHealth(hpa: Obj): HealthStatus {
  const conditions = (hpa.status?.conditions ?? []) as Condition[];
  const bad = conditions.find((c) => degraded.some(([t, r]) => c.type === t && c.reason === r));
  if (bad) return { status: 'Degraded', ...(bad.message ? { message: bad.message } : {}) };
  const good = conditions.find((c) => (c.type === 'AbleToScale' || c.type === 'ScalingLimited') && c.status === 'True');
  if (good) return { status: 'Healthy', ...(good.message ? { message: good.message } : {}) };
  return { status: 'Progressing', message: 'Waiting to Autoscale' };
}
