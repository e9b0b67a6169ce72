import { GiB } from '../sizing/units.js';
import { eksStagingFacts } from './captured/eks-staging.js';
import { profileFromFacts } from './from-facts.js';
import { kubePrometheusStack } from './prometheus.js';
import type { ClusterProfile } from './types.js';

/**
 * Staging EKS cluster. Every node, class, driver, CRD, ingress class and quota figure is the capture in
 * charts/clusters/captured/eks-staging.ts (r5.xlarge CPU node group, autoscaled 2-3, and one g5.2xlarge GPU
 * node; the AWS Load Balancer Controller, so `load-balancer` exposure gets an NLB). What kubectl cannot see
 * is decided below.
 */
export const stagingCluster: ClusterProfile = profileFromFacts(eksStagingFacts, {
  name: 'staging',
  definedIn: 'charts/clusters/staging.ts',
  // gp3's baseline throughput (125 MiB/s per volume, the EBS gp3 default without provisioned throughput).
  storage: { gp3: { readMiBps: 125 } },
  // Other teams' services and the DaemonSets on each CPU node, from the platform team's capacity sheet.
  reservedPerNode: { 'cpu-r5-xlarge': { cpuMillis: 250, memoryBytes: 1 * GiB } },
  // kube-prometheus-stack, Helm release `kube-prometheus-stack` in namespace `monitoring`.
  prometheus: kubePrometheusStack('kube-prometheus-stack', 'monitoring'),
});
