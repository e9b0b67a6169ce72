/**
 * The scale-to-zero fixtures the chart tests share: a roomy cluster with KEDA and its HTTP add-on, and a chat
 * service that scales to zero on it.
 */
import { kedaCrds, kedaHttpAddOnCrds, prometheusOperatorCrds } from '../../charts/clusters/eks.js';
import type { ClusterProfile } from '../../charts/clusters/types.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { qwen25_3bInstructQ4KM } from '../../charts/models/catalogue.js';
import { roomyTestCluster } from './clusters.js';

/** A roomy test cluster with KEDA and the KEDA HTTP add-on (in `keda-http`) installed. */
export function addOnCluster(definedIn: string): ClusterProfile {
  return roomyTestCluster({
    definedIn,
    customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds, ...kedaHttpAddOnCrds],
    kedaHttpAddOn: { namespace: 'keda-http' },
  });
}

/** A 3B chat service on a shared (RWX) cache that scales between 0 and 3 pods, idle after 10 minutes. */
export const scaleToZeroChat: ServiceDeclaration = {
  model: qwen25_3bInstructQ4KM,
  cpu: 2,
  modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'efs-sc', accessMode: 'ReadWriteMany' },
  autoscaling: { minReplicas: 0, maxReplicas: 3, signal: 'queue' },
  scaleToZero: { idleAfter: '10m' },
};

/** An environment `test` in `llm-test` on `cluster` with the given services. */
export function scaleToZeroEnv(definedIn: string, cluster: ClusterProfile, services: Environment['services']): Environment {
  return { name: 'test', definedIn, namespace: 'llm-test', clusterName: cluster.name, cluster, image: 'ghcr.io/example/inference:1.0.0', services };
}
