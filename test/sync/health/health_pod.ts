/**
 * Pod health (gitops-engine pkg/health/health_pod.go): with restartPolicy Always, a container waiting
 * with a reason starting "Err" or ending "Error"/"BackOff" (CreateContainerConfigError, ImagePullBackOff,
 * CrashLoopBackOff) is Degraded; Pending is Progressing; Running is Healthy once Ready, Degraded after
 * a restart, else Progressing.
 */
import { condition, type Obj } from '../objects.js';
import type { HealthStatus } from './health.js';

interface ContainerStatus {
  name: string;
  state?: { waiting?: { reason?: string; message?: string }; terminated?: { exitCode?: number; reason?: string; message?: string } };
  lastState?: { terminated?: unknown };
}

export function getPodHealth(pod: Obj): HealthStatus {
  const statuses = (pod.status?.containerStatuses ?? []) as ContainerStatus[];
  const restartAlways = (pod.spec?.restartPolicy ?? 'Always') === 'Always';
  if (restartAlways) {
    const bad = statuses.filter((c) => {
      const r = c.state?.waiting?.reason ?? '';
      return r.startsWith('Err') || r.endsWith('Error') || r.endsWith('BackOff');
    });
    if (bad.length > 0) return { status: 'Degraded', message: bad.map((c) => c.state?.waiting?.message ?? '').join(', ') };
  }
  const message = pod.status?.message as string | undefined;
  const m = message ? { message } : {};
  switch (pod.status?.phase) {
    case 'Pending':
      return { status: 'Progressing', ...m };
    case 'Succeeded':
      return { status: 'Healthy', ...m };
    case 'Failed':
      return { status: 'Degraded', ...m };
    case 'Running':
      if (!restartAlways) return { status: 'Progressing', ...m };
      if (condition(pod, 'Ready')?.status === 'True') return { status: 'Healthy', ...m };
      if (statuses.some((c) => c.lastState?.terminated !== undefined)) return { status: 'Degraded', ...m };
      return { status: 'Progressing', ...m };
    default:
      return { status: 'Unknown', ...m };
  }
}
