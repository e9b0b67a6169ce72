import { GiB } from '../sizing/units.js';
import { g5_2xlarge, gp3, prometheusOperatorCrds, r5Xlarge } from './eks.js';
import { kubePrometheusStack } from './prometheus.js';
import type { ClusterProfile } from './types.js';

/** Staging EKS cluster: two r5.xlarge CPU nodes and one g5.2xlarge GPU node. */
export const stagingCluster: ClusterProfile = {
  name: 'staging',
  definedIn: 'charts/clusters/staging.ts',
  nodePools: [{ ...r5Xlarge(2), reservedPerNode: { cpuMillis: 250, memoryBytes: 1 * GiB } }, g5_2xlarge(1)],
  storageClasses: [gp3],
  loadBalancer: { kind: 'aws-nlb', idleTimeoutSeconds: 350, idleTimeoutFromAnnotations: true },
  ingressIdleTimeoutSeconds: 60,
  fixedPathIdleTimeoutsSeconds: [],
  customResourceTypes: prometheusOperatorCrds,
  ingressClassNames: ['nginx'],
  namespaceQuotas: {
    'llm-staging': { cpuMillis: 8000, memoryBytes: 24 * GiB, gpus: 1, ephemeralStorageBytes: 20 * GiB },
  },
  // kube-prometheus-stack, Helm release `kube-prometheus-stack` in namespace `monitoring`.
  prometheus: kubePrometheusStack('kube-prometheus-stack', 'monitoring'),
};
