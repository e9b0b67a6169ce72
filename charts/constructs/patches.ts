import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { PodScheduling } from './scheduling.js';

/**
 * The one place where the Deployment is patched for what cdk8s-plus-28 cannot express:
 * `revisionHistoryLimit`, `nvidia.com/gpu`, the pod's scheduling fields (a plain `nodeSelector`, tolerations,
 * node affinity, topology spread, priority and runtime class: charts/constructs/scheduling.ts), `imagePullSecrets`, and dropping the
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
  /** Pod-spec scheduling fields, each written only when set. */
  readonly scheduling: PodScheduling;
  /** Secrets of type kubernetes.io/dockerconfigjson for the registry; the init container pulls from the same pod spec. */
  readonly imagePullSecrets: readonly string[];
}

export function patchDeployment(deployment: kplus.Deployment, patches: DeploymentPatches): void {
  const api = ApiObject.of(deployment);
  api.addJsonPatch(JsonPatch.add('/spec/revisionHistoryLimit', patches.revisionHistoryLimit));
  // cdk8s-plus labels pods with its construct address; the selector uses app.kubernetes.io labels
  // instead, so this label would only churn pods when a construct is renamed.
  api.addJsonPatch(JsonPatch.remove('/spec/template/metadata/labels/cdk8s.io~1metadata.addr'));
  if (patches.gpuCount > 0) {
    api.addJsonPatch(JsonPatch.add('/spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu', kplus.k8s.Quantity.fromNumber(patches.gpuCount)));
  }
  // cdk8s-plus-28 takes one pull secret (dockerRegistryAuth); the pod spec takes a list.
  if (patches.imagePullSecrets.length > 0)
    api.addJsonPatch(
      JsonPatch.add(
        '/spec/template/spec/imagePullSecrets',
        patches.imagePullSecrets.map((name) => ({ name })),
      ),
    );
  // A JSON copy: the patch must not share objects with the props it came from.
  for (const [field, value] of Object.entries(patches.scheduling)) {
    if (value !== undefined) api.addJsonPatch(JsonPatch.add(`/spec/template/spec/${field}`, JSON.parse(JSON.stringify(value))));
  }
}
