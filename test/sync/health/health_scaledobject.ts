/**
 * KEDA ScaledObject health, Argo CD's built-in Lua check (argo-cd resource_customizations/keda.sh/ScaledObject/
 * health.lua), modelled: every condition is visited in order and the last matching one gives the message;
 * Ready False or Fallback True is Degraded; Ready True is Healthy, or Suspended when Paused is True too;
 * otherwise (no status yet) Progressing "Creating HorizontalPodAutoscaler Object". The Lua's own deletion
 * branch (Progressing while finalizers block) is covered by getResourceHealth's deletion check.
 */
import type { Obj } from '../objects.js';
import type { HealthStatus } from './health.js';

export function getScaledObjectHealth(so: Obj): HealthStatus {
  let message: string | undefined;
  let healthy = false;
  let degraded = false;
  let suspended = false;
  for (const c of (so.status?.conditions ?? []) as { type: string; status: string; message?: string }[]) {
    if (c.type === 'Ready' && c.status === 'False') [message, degraded] = [c.message, true];
    if (c.type === 'Ready' && c.status === 'True') [message, healthy] = [c.message, true];
    if (c.type === 'Paused' && c.status === 'True') [message, suspended] = [c.message, true];
    if (c.type === 'Fallback' && c.status === 'True') [message, degraded] = [c.message, true];
  }
  if (degraded) return { status: 'Degraded', message };
  if (healthy) return { status: suspended ? 'Suspended' : 'Healthy', message };
  return { status: 'Progressing', message: 'Creating HorizontalPodAutoscaler Object' };
}
