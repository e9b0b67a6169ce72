import { createHash } from 'node:crypto';
import { Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { InferenceServicePlan } from '../sizing/plan.js';
import { argocdSyncOptions, syncWave, waves } from '../lib/argocd.js';

/** Annotation naming the catalogue entry a cache claim holds (for reviewers and `npm run review`). */
export const cacheModelAnnotation = 'gguf-on-k8s.io/model';

/**
 * Name of a service's cache claim: one claim per cache identity, that is the model and every field the API
 * server will not let a bound claim change (storage class, access mode) or shrink (size).
 *
 * Why a claim per identity rather than one claim per service (the design choice of issue 23):
 * - The API server never sees an update it rejects. A model bump, its revert, a new class or access mode all
 *   give a new name, hence a create; a claim's spec is never edited (a smaller `requests.storage` than
 *   `status.capacity`, or a changed `storageClassName`/`accessModes` on a bound claim, is refused by
 *   kubernetes pkg/apis/core/validation/validation.go ValidatePersistentVolumeClaimUpdate). Growing in place
 *   would also need `allowVolumeExpansion` on the class, which not every class has.
 * - No eviction runs against a live volume: a claim holds one model, so the init container never deletes a file
 *   that an old pod on another node still maps (ReadWriteMany during a rolling update).
 * - The old claim goes only after the new rollout is Healthy: with PruneLast=true Argo CD prunes after the last
 *   wave, and a sync waits for each wave's health first (gitops-engine pkg/sync/sync_context.go); the PVC
 *   protection finalizer (kubernetes.io/pvc-protection) keeps it until no pod mounts it.
 * The cost, shown by `npm run review`: a revert downloads the previous model again, and during a change both
 * claims exist (rule cache-change-fits-quota keeps room for that).
 */
export function cacheClaimName(plan: Pick<InferenceServicePlan, 'name' | 'cache'> & { props: { model: { id: string } } }): string {
  const identity = [plan.props.model.id, plan.cache.storageClassName ?? '', plan.cache.accessMode ?? '', String(plan.cache.sizeGiB)].join('|');
  return `${plan.name}-model-cache-${createHash('sha256').update(identity).digest('hex').slice(0, 8)}`;
}

/**
 * The model cache volume: a PVC with an explicit storage class, or an emptyDir with a size limit
 * (matched by the pod's ephemeral-storage request so a download never gets the pod evicted).
 */
export class ModelCache extends Construct {
  readonly volume: kplus.Volume;
  readonly claim: kplus.PersistentVolumeClaim | undefined;

  constructor(scope: Construct, id: string, plan: InferenceServicePlan, labels: Record<string, string>) {
    super(scope, id);
    const cache = plan.cache;
    if (cache.kind === 'persistentVolumeClaim') {
      // Same wave as the Deployment that mounts it: on a WaitForFirstConsumer class the claim binds
      // only once that pod is scheduled, so an earlier wave would wait for ever (charts/lib/argocd.ts).
      // Delete=false: deleting the Application (an environment removed) leaves the downloaded model in place.
      this.claim = new kplus.PersistentVolumeClaim(this, 'claim', {
        metadata: {
          name: cacheClaimName(plan),
          labels,
          annotations: { ...syncWave(waves.workload), ...argocdSyncOptions(['Delete=false']), [cacheModelAnnotation]: plan.props.model.id },
        },
        storageClassName: cache.storageClassName,
        accessModes: [
          cache.accessMode === 'ReadWriteMany' ? kplus.PersistentVolumeAccessMode.READ_WRITE_MANY : kplus.PersistentVolumeAccessMode.READ_WRITE_ONCE,
        ],
        storage: Size.gibibytes(cache.sizeGiB),
        volumeMode: kplus.PersistentVolumeMode.FILE_SYSTEM,
      });
      this.volume = kplus.Volume.fromPersistentVolumeClaim(this, 'volume', this.claim, { name: 'model-cache' });
    } else {
      this.claim = undefined;
      this.volume = kplus.Volume.fromEmptyDir(this, 'volume', 'model-cache', { sizeLimit: Size.gibibytes(cache.sizeGiB) });
    }
  }
}
