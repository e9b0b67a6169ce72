import { kubernetesMinor } from './facts.js';
import type { ClusterProfile } from './types.js';

/**
 * The oldest Kubernetes minor this repository supports: `autoscaling/v2` HorizontalPodAutoscaler and
 * `fsGroupChangePolicy` are GA in 1.23, and Pod Security Admission (the namespace's
 * `pod-security.kubernetes.io/enforce` label) is beta and on by default from 1.23 (KEP-2579).
 * Fields newer than this are left out on older clusters (charts/prerequisites.ts `versionedFeatures`;
 * test/charts/cluster-capture.test.ts proves a cluster at this minimum gets none of them).
 */
export const minimumKubernetesMinor = 23;

/** The newest minor the manifests are written for; a profile without `kubernetesVersion` is taken to be this. */
export const testedKubernetesMinor = 31;

/** PodDisruptionBudget `unhealthyPodEvictionPolicy`: alpha 1.26, beta and on by default 1.27, GA 1.31 (KEP-3017). */
export const pdbUnhealthyPodEvictionPolicyMinor = 27;

/** PodSecurityPolicy was removed in 1.25 (deprecated since 1.21). */
export const podSecurityPolicyRemovedMinor = 25;

/** The minor of a gitVersion or `1.NN`, or the tested minor when none is given. */
export function kubernetesMinorOf(version: string | undefined): number {
  return version === undefined ? testedKubernetesMinor : kubernetesMinor(version);
}

export function clusterMinor(cluster: ClusterProfile): number {
  return kubernetesMinorOf(cluster.kubernetesVersion);
}
