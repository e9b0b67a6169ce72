/**
 * Facts about a cluster as its API server reports them, captured by `npm run cluster:capture`
 * (tools/cluster-capture/main.ts) from `kubectl version -o json` and
 * `kubectl get nodes,storageclasses,csidrivers,customresourcedefinitions,ingressclasses,resourcequotas -A -o json`.
 * A captured file is data only: what the profile decides on top of it (load balancer timeouts, volume
 * read rates) is written beside it, in the profile that calls `profileFromFacts`.
 */

export interface CapturedTaint {
  readonly key: string;
  readonly value?: string;
  readonly effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface CapturedNodePool {
  /** The value of the label the pool was grouped by (or the instance type). */
  readonly name: string;
  /** The node label the pool was grouped by, e.g. `eks.amazonaws.com/nodegroup`. */
  readonly groupedBy: string;
  readonly instanceType: string;
  /** Nodes of the pool that were registered when captured. */
  readonly count: number;
  /** `on-demand`, `spot`, or `unknown` when no capacity-type label says. */
  readonly capacityType: 'on-demand' | 'spot' | 'unknown';
  /** The smallest `status.allocatable` of the pool's nodes (the scheduler must fit a pod on each). */
  readonly allocatable: {
    readonly cpuMillis: number;
    readonly memoryBytes: number;
    readonly ephemeralStorageBytes: number;
    readonly gpus: number;
  };
  /** GPU model and memory from GPU feature discovery labels (`nvidia.com/gpu.product`, `nvidia.com/gpu.memory`). */
  readonly gpu?: { readonly product: string; readonly memoryMiB: number };
  /** Labels every node of the pool carries (per-node labels such as the hostname dropped). */
  readonly labels: Readonly<Record<string, string>>;
  /** Taints every node of the pool carries. */
  readonly taints: readonly CapturedTaint[];
  /** Availability zones the pool's nodes are in (`topology.kubernetes.io/zone`), sorted; empty when no node says. */
  readonly zones: readonly string[];
  /**
   * Autoscaling bounds of the pool. No Kubernetes object holds them (they live in the cloud's node group,
   * e.g. `aws eks describe-nodegroup` `scalingConfig`, or in the cluster-autoscaler's flags), so the capture
   * records them only from `--pool-bounds NAME=MIN:MAX`, checked against the nodes registered now. Absent: a
   * fixed pool of `count` nodes.
   */
  readonly autoscaling?: { readonly minCount: number; readonly maxCount: number };
}

export interface CapturedStorageClass {
  readonly name: string;
  readonly provisioner: string;
  readonly volumeBindingMode: 'Immediate' | 'WaitForFirstConsumer';
  readonly allowVolumeExpansion: boolean;
  /** Marked `storageclass.kubernetes.io/is-default-class: "true"`. */
  readonly isDefault: boolean;
}

export interface CapturedIngressClass {
  readonly name: string;
  /** `spec.controller`, e.g. `k8s.io/ingress-nginx`. */
  readonly controller: string;
  /** Namespace of the Helm release that installed it (`meta.helm.sh/release-namespace`), when it says. */
  readonly controllerNamespace?: string;
}

export interface CapturedQuota {
  readonly namespace: string;
  readonly name: string;
  /** `spec.hard`, as quantities. */
  readonly hard: Readonly<Record<string, string>>;
}

export interface ClusterFacts {
  /** ISO time of the capture. */
  readonly capturedAt: string;
  /** The kube context, or the folder the JSON files were read from. */
  readonly capturedFrom: string;
  /** `serverVersion.gitVersion`, e.g. `v1.29.3-eks-adc7111`. */
  readonly kubernetesVersion: string;
  readonly nodePools: readonly CapturedNodePool[];
  readonly storageClasses: readonly CapturedStorageClass[];
  /** CSIDriver object names (the driver names provisioners refer to). */
  readonly csiDrivers: readonly string[];
  /** Group and kind of every installed CRD. */
  readonly customResourceTypes: ReadonlyArray<{ readonly group: string; readonly kind: string }>;
  /** What the CRDs and node labels show is installed (see `operatorSignatures`). */
  readonly operators: readonly string[];
  readonly ingressClasses: readonly CapturedIngressClass[];
  readonly resourceQuotas: readonly CapturedQuota[];
  /** Cloud of the nodes' `spec.providerID` (`aws`, `gce`, `azure`, `vsphere`), or `none`. */
  readonly cloudProvider: string;
  /**
   * On-prem load balancers the cluster shows (`onpremLoadBalancerSignatures` in charts/clusters/capture.ts), each
   * with the address pools captured for it. Absent when none was found.
   */
  readonly loadBalancers?: readonly CapturedLoadBalancer[];
  /**
   * PodSecurityPolicy names (Kubernetes 1.24 and older, from the add-ons capture). Absent when the add-ons were not
   * captured or the cluster serves no PodSecurityPolicy.
   */
  readonly podSecurityPolicies?: readonly string[];
  /**
   * Namespaces holding the KEDA HTTP add-on's interceptor proxy Service (`kubectlKedaHttpAddOnArgs`). Absent when
   * the add-ons were not captured or the cluster serves no HTTPScaledObject CRD; empty when the CRD is there but no
   * interceptor was found (a CRD left behind by an uninstall).
   */
  readonly kedaHttpAddOnNamespaces?: readonly string[];
}

export interface CapturedLoadBalancer {
  readonly kind: 'metallb' | 'kube-vip' | 'avi';
  /** What showed it: a CRD group, a DaemonSet. */
  readonly seenFrom: string;
  /**
   * Its address pools: MetalLB IPAddressPool names, AKO AviInfraSetting names, kube-vip's `kubevip` ConfigMap
   * scopes (`global` or a namespace). Absent when the add-ons capture did not list them (unknown, not empty).
   */
  readonly addressPools?: readonly string[];
}

/** Kubernetes minor version from a gitVersion (`v1.23.8+vmware.3` -> 23). */
export function kubernetesMinor(gitVersion: string): number {
  const m = /^v?1\.(\d+)/.exec(gitVersion);
  if (!m) throw new Error(`unparseable Kubernetes version "${gitVersion}"`);
  return Number(m[1]);
}
