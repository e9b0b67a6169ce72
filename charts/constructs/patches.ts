import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';

/**
 * The one place where the Deployment is patched for what cdk8s-plus-28 cannot express:
 * `revisionHistoryLimit`, `nvidia.com/gpu`, a plain `nodeSelector`, tolerations, and dropping the
 * construct-address pod label.
 *
 * Trap: generated Kube* objects re-serialise after patches, so unknown keys vanish and a
 * Quantity must be patched as `k8s.Quantity` (a plain number becomes null). Each patch here is
 * asserted in test/charts so a silent drop fails the suite.
 */
export interface DeploymentPatches {
  readonly revisionHistoryLimit: number;
  /** Whole GPUs for container 0; 0 for none. */
  readonly gpuCount: number;
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly tolerations?: ReadonlyArray<{ key: string; operator: 'Exists'; effect: 'NoSchedule' }>;
}

export function patchDeployment(deployment: kplus.Deployment, patches: DeploymentPatches): void {
  const api = ApiObject.of(deployment);
  api.addJsonPatch(JsonPatch.add('/spec/revisionHistoryLimit', patches.revisionHistoryLimit));
  // cdk8s-plus labels pods with its construct address; the selector uses app.kubernetes.io labels
  // instead, so this label would only churn pods when a construct is renamed.
  api.addJsonPatch(JsonPatch.remove('/spec/template/metadata/labels/cdk8s.io~1metadata.addr'));
  if (patches.gpuCount > 0) {
    api.addJsonPatch(
      JsonPatch.add('/spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu', kplus.k8s.Quantity.fromNumber(patches.gpuCount)),
    );
  }
  if (patches.nodeSelector && Object.keys(patches.nodeSelector).length > 0) {
    api.addJsonPatch(JsonPatch.add('/spec/template/spec/nodeSelector', { ...patches.nodeSelector }));
  }
  if (patches.tolerations && patches.tolerations.length > 0) {
    api.addJsonPatch(JsonPatch.add('/spec/template/spec/tolerations', patches.tolerations.map((t) => ({ ...t }))));
  }
}
