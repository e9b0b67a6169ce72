/**
 * Argo CD sync waves. A sync applies wave N+1 only once every object of wave N is Healthy
 * (gitops-engine pkg/sync/sync_context.go), and a PersistentVolumeClaim on a WaitForFirstConsumer
 * class stays Pending, which gitops-engine reports as Progressing (pkg/health/health_pvc.go), until
 * a pod that mounts it is scheduled. So:
 *
 * - the Namespace comes first;
 * - ServiceAccount, NetworkPolicy and the monitoring objects (ServiceMonitor, PrometheusRule) come
 *   next: none of them waits for anything, and alerts must exist while a rollout is stuck;
 * - the namespace's ResourceQuota and LimitRange come in that same wave, after the Namespace that holds
 *   them and before any pod: both are enforced when a pod is created (admission), never afterwards, so a
 *   pod created before them would escape the budget. Neither has a health check in gitops-engine
 *   (pkg/health/health.go), so they never hold the wave;
 * - the Deployment and everything it needs to become Healthy, the model-cache PVC included, share
 *   the last wave. A claim is never in an earlier wave than the pod that binds it, whatever the
 *   class's binding mode, so the first sync can never wait for a volume that waits for the sync.
 */
export const waves = { namespace: -2, prerequisites: -1, monitoring: -1, workload: 0, namespaceBudget: -1 } as const;

export function syncWave(wave: number): Record<string, string> {
  return { 'argocd.argoproj.io/sync-wave': String(wave) };
}

/**
 * Per-object sync options (`argocd.argoproj.io/sync-options`, comma separated). The ones used here and the Argo CD
 * release that introduced each (argo-cd docs/user-guide/sync-options.md at that tag):
 * - `Prune=false`: the object is never pruned when Git no longer has it (v1.1);
 * - `Delete=false`: the object is kept when its Application is deleted, e.g. an environment removed (v2.7.0,
 *   argo-cd commit b6cfe676f3, PR 12448).
 */
export function argocdSyncOptions(options: readonly ('Prune=false' | 'Delete=false')[]): Record<string, string> {
  return { 'argocd.argoproj.io/sync-options': options.join(',') };
}
