import { GiB } from '../sizing/units.js';
import { eksProductionFacts } from './captured/eks-production.js';
import { profileFromFacts } from './from-facts.js';
import { kubePrometheusStack } from './prometheus.js';
import type { ClusterProfile } from './types.js';

/**
 * Production EKS cluster. Every node, class, driver, CRD, ingress class and quota figure is the capture in
 * charts/clusters/captured/eks-production.ts (r5.2xlarge CPU node group autoscaled 3-6, g5.2xlarge GPU node
 * group autoscaled 1-2; gp3 and EFS; KEDA, Kyverno, the AWS Load Balancer Controller with its `alb` class
 * beside ingress-nginx). What kubectl cannot see is decided below.
 */
export const productionCluster: ClusterProfile = profileFromFacts(eksProductionFacts, {
  name: 'production',
  definedIn: 'charts/clusters/production.ts',
  storage: {
    // gp3's baseline throughput (125 MiB/s per volume without provisioned throughput).
    gp3: { readMiBps: 125 },
    // EFS elastic throughput as one client reads a single large file: far below a local gp3 volume.
    'efs-sc': { readMiBps: 60 },
  },
  // Other teams' services and the DaemonSets on each CPU node, from the platform team's capacity sheet.
  reservedPerNode: { 'cpu-r5-2xlarge': { cpuMillis: 500, memoryBytes: 2 * GiB } },
  // kube-prometheus-stack, Helm release `kube-prometheus-stack` in namespace `monitoring`.
  prometheus: kubePrometheusStack('kube-prometheus-stack', 'monitoring'),
  // The platform's Kyverno ClusterPolicies (kyverno/policies best practices), enforced cluster-wide.
  admission: {
    kyverno: [
      { name: 'disallow-latest-tag', failureAction: 'Enforce' },
      { name: 'require-requests-limits', failureAction: 'Enforce' },
      { name: 'require-pod-probes', failureAction: 'Enforce' },
    ],
  },
});
