/**
 * PodDisruptionBudget health, Argo CD's built-in Lua check (argo-cd
 * resource_customizations/policy/PodDisruptionBudget/health.lua): Progressing "Waiting for status" until the
 * disruption controller writes conditions; a condition with status False is Degraded unless its reason is
 * InsufficientPods (a budget with no pods yet is normal); otherwise Healthy.
 */
import type { Obj } from '../objects.js';
import type { HealthStatus } from './health.js';

export function getPDBHealth(pdb: Obj): HealthStatus {
  let result: HealthStatus = { status: 'Progressing', message: 'Waiting for status' };
  for (const c of (pdb.status?.conditions ?? []) as { status: string; reason?: string }[]) {
    if (c.status === 'False' && c.reason !== 'InsufficientPods') return { status: 'Degraded', message: `PodDisruptionBudget has ${c.reason ?? ''}` };
    result = { status: 'Healthy', message: `PodDisruptionBudget has ${c.reason ?? ''}` };
  }
  return result;
}
