import { onpremTanzuFacts } from './captured/onprem-tanzu.js';
import { profileFromFacts } from './from-facts.js';
import { kubePrometheusStack } from './prometheus.js';
import type { ClusterProfile } from './types.js';

/**
 * On-prem vSphere with Tanzu cluster on Kubernetes 1.23: every node, class, driver, CRD, ingress class, quota,
 * load balancer and PodSecurityPolicy figure is the capture in charts/clusters/captured/onprem-tanzu.ts. The
 * capture shows AKO (NSX Advanced Load Balancer) serving `type: LoadBalancer` Services with one AviInfraSetting,
 * and the PodSecurityPolicies TKG creates where it enforces them, so PodSecurityPolicy admission is taken to be on
 * (VMware's vSphere with Tanzu documentation, "Using Pod Security Policies with Tanzu Kubernetes Clusters": TKG
 * clusters before 1.25 run the PodSecurityPolicy admission controller; a written fact, not verified here). What
 * a capture cannot see is decided here.
 */
export const onpremCluster: ClusterProfile = profileFromFacts(onpremTanzuFacts, {
  name: 'onprem',
  definedIn: 'charts/clusters/onprem.ts',
  // vSAN block volume, one VMDK per claim: the read rate one pod sees from its volume, MiB/s.
  storage: { 'vsphere-gold': { readMiBps: 200 } },
  prometheus: kubePrometheusStack('kube-prometheus-stack', 'monitoring'),
  // The L4 virtual services' network profile is System-TCP-Proxy (AKO's default, docs/crds/l4rule.md); its idle
  // connection timeout is 600 s in the Avi controller's defaults (TCPProxyProfile idle_connection_timeout, the Avi
  // API reference; a written fact from the platform team's controller, not verified here).
  loadBalancerIdleTimeoutSeconds: 600,
});
