import { efs, g5_2xlarge, gp3, prometheusOperatorCrds, r5_2xlarge } from '../../charts/clusters/eks.js';
import type { ClusterProfile } from '../../charts/clusters/types.js';

/**
 * A cluster with room for any single test service: CPU and GPU pools, gp3 and EFS, no quotas, the
 * prometheus-operator CRDs and an nginx ingress class (what the monitoring and exposure rules look for).
 */
export function roomyTestCluster(over: Partial<ClusterProfile> = {}): ClusterProfile {
  return {
    name: 'test-cluster',
    definedIn: 'test/support/clusters.ts',
    nodePools: [r5_2xlarge(6), g5_2xlarge(6)],
    storageClasses: [gp3, efs],
    loadBalancer: { kind: 'aws-nlb', idleTimeoutSeconds: 350, idleTimeoutFromAnnotations: true },
    ingressIdleTimeoutSeconds: 60,
    fixedPathIdleTimeoutsSeconds: [],
    namespaceQuotas: {},
    customResourceTypes: prometheusOperatorCrds,
    ingressClassNames: ['nginx'],
    ...over,
  };
}
