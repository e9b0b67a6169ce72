import { onpremTanzuFacts } from './captured/onprem-tanzu.js';
import { profileFromFacts } from './from-facts.js';
import { kubePrometheusStack } from './prometheus.js';
import type { ClusterProfile } from './types.js';

/**
 * On-prem vSphere with Tanzu cluster on Kubernetes 1.23: every node, class, driver, CRD, ingress class
 * and quota figure is the capture in charts/clusters/captured/onprem-tanzu.ts. What a capture cannot
 * see is decided here: there is no cloud load balancer (the captured nodes' provider is vSphere, so
 * `load-balancer` exposure fails synth), and the vSAN-backed class reads at the rate below.
 */
export const onpremCluster: ClusterProfile = profileFromFacts(onpremTanzuFacts, {
  name: 'onprem',
  definedIn: 'charts/clusters/onprem.ts',
  // vSAN block volume, one VMDK per claim: the read rate one pod sees from its volume, MiB/s.
  storage: { 'vsphere-gold': { readMiBps: 200 } },
  prometheus: kubePrometheusStack('kube-prometheus-stack', 'monitoring'),
});
