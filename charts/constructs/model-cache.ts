import { Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { InferenceServicePlan } from '../sizing/plan.js';
import { syncWave, waves } from '../lib/argocd.js';

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
      this.claim = new kplus.PersistentVolumeClaim(this, 'claim', {
        metadata: { name: `${plan.name}-model-cache`, labels, annotations: syncWave(waves.workload) },
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
