import { GiB } from '../sizing/units.js';
import { certManagerCrds, efs, g5_2xlarge, gp3, kedaCrds, prometheusOperatorCrds, r5_2xlarge } from './eks.js';
import { kubePrometheusStack } from './prometheus.js';
import type { ClusterProfile } from './types.js';

/** Production EKS cluster: r5.2xlarge CPU nodes, two g5.2xlarge GPU nodes, gp3 and EFS storage, KEDA, cert-manager. */
export const productionCluster: ClusterProfile = {
  name: 'production',
  definedIn: 'charts/clusters/production.ts',
  nodePools: [{ ...r5_2xlarge(4), reservedPerNode: { cpuMillis: 500, memoryBytes: 2 * GiB } }, g5_2xlarge(2)],
  storageClasses: [gp3, efs],
  loadBalancer: { kind: 'aws-nlb', idleTimeoutSeconds: 350, idleTimeoutFromAnnotations: true },
  ingressIdleTimeoutSeconds: 60,
  fixedPathIdleTimeoutsSeconds: [],
  // kube-prometheus-stack, KEDA (the CPU chat service scales on its queue) and cert-manager (its ingress certificate).
  customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds, ...certManagerCrds],
  ingressClassNames: ['nginx'],
  namespaceQuotas: {
    'llm-production': { cpuMillis: 32_000, memoryBytes: 64 * GiB, gpus: 2, ephemeralStorageBytes: 40 * GiB },
  },
  // kube-prometheus-stack, Helm release `kube-prometheus-stack` in namespace `monitoring`.
  prometheus: kubePrometheusStack('kube-prometheus-stack', 'monitoring'),
};
