/**
 * Argo CD sync waves: lower waves are applied (and healthy) first. Namespace, then
 * ServiceAccount / PVC / Secrets / policies, then the Deployment, then monitoring.
 */
export const waves = { namespace: -2, prerequisites: -1, workload: 0, monitoring: 1 } as const;

export function syncWave(wave: number): Record<string, string> {
  return { 'argocd.argoproj.io/sync-wave': String(wave) };
}
