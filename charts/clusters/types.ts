/**
 * What synth knows about a cluster, so it can refuse manifests the cluster cannot run.
 * Figures are allocatable capacity (what the scheduler can place after kubelet and system
 * reservations), not instance sizes.
 */

export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface NodePool {
  readonly name: string;
  readonly instanceType: string;
  /**
   * Nodes in the pool: the nodes registered when captured, or the fixed size of a pool typed by hand. Rules
   * that size against the pool use `autoscaling.maxCount` instead when the pool autoscales
   * (`poolNodeCount` in charts/clusters/pools.ts).
   */
  readonly count: number;
  /** Allocatable per node. */
  readonly allocatable: {
    readonly cpuMillis: number;
    readonly memoryBytes: number;
    readonly ephemeralStorageBytes: number;
  };
  /** GPUs per node and memory of each, when the pool has GPUs. */
  readonly gpus?: { readonly count: number; readonly memoryGiB: number; readonly model: string };
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly Taint[];
  /** Requests already placed on each node by other workloads (DaemonSets, other teams' services). */
  readonly reservedPerNode?: { readonly cpuMillis: number; readonly memoryBytes: number };
  /**
   * On-demand or spot capacity, from the nodes' `eks.amazonaws.com/capacityType` or `karpenter.sh/capacity-type`
   * label (GKE and AKS spot labels too). Default unknown: nothing said, so nothing is assumed either way.
   */
  readonly capacityType?: 'on-demand' | 'spot';
  /**
   * Autoscaling bounds when the pool autoscales (cluster-autoscaler, a managed node group's scaling config):
   * the rules size against `maxCount`, the most nodes the pool can reach. Default none: a fixed pool of `count`.
   */
  readonly autoscaling?: { readonly minCount: number; readonly maxCount: number };
  /** Availability zones the pool's nodes run in (`topology.kubernetes.io/zone`). Default unknown. */
  readonly zones?: readonly string[];
}

export interface StorageClass {
  readonly name: string;
  readonly provisioner: string;
  readonly accessModes: ReadonlyArray<'ReadWriteOnce' | 'ReadWriteMany'>;
  /** Whether the provisioner's CSI driver runs in the cluster. A class without it leaves PVCs Pending. */
  readonly csiDriverInstalled: boolean;
  /** Sustained sequential read rate a pod gets from one volume, MiB/s. */
  readonly readMiBps: number;
  /**
   * True when nobody declared `readMiBps` for this class and it is the conservative default
   * (`unknownClassReadMiBps`): the startup window then rests on a guess, which rule `storage-read-rate-declared`
   * reports. Default false (a profile written by hand states its rate).
   */
  readonly readMiBpsAssumed?: boolean;
  /**
   * The class's `volumeBindingMode`: `Immediate` provisions and binds a claim as soon as it is created,
   * `WaitForFirstConsumer` leaves it Pending until a pod that mounts it is scheduled (zonal volumes such as
   * EBS, so the volume lands in the pod's zone). A claim in an earlier Argo CD sync wave than its pod never
   * binds on such a class. Default `Immediate`, the Kubernetes default when a StorageClass omits the field.
   */
  readonly volumeBindingMode?: 'Immediate' | 'WaitForFirstConsumer';
}

/** An API type a CustomResourceDefinition adds to the cluster (group and kind, as Argo CD discovers it). */
export interface CustomResourceType {
  readonly group: string;
  readonly kind: string;
  /** What installs the CRD (a Helm chart, an operator): written into the failure a sync reports without it. */
  readonly installedBy: string;
}

/**
 * An aggregated metrics API served on the cluster (an APIService such as `v1beta1.custom.metrics.k8s.io`) and
 * the adapter behind it. An HPA on a Pods or Object metric reads `custom.metrics.k8s.io`; without it the HPA
 * reports FailedGetPodsMetric and never scales.
 */
export interface MetricsAdapter {
  readonly api: 'custom.metrics.k8s.io' | 'external.metrics.k8s.io';
  /** The adapter serving it, e.g. `prometheus-adapter`. */
  readonly name: string;
  /** What installs it (a Helm chart), written into the rule and docs that need it. */
  readonly installedBy: string;
}

/**
 * What implements `type: LoadBalancer` Services on the cluster. Cloud ones (`aws-nlb`, `aws-elb`, `gcp`) and the
 * on-prem ones: `metallb` (MetalLB, L2 or BGP), `kube-vip` (kube-vip with kube-vip-cloud-provider) and `avi`
 * (NSX Advanced Load Balancer through the Avi Kubernetes Operator, AKO, as TKG uses it). What each reads from a
 * Service is `loadBalancerImplementations` in charts/constructs/exposure.ts.
 */
export type LoadBalancerKind = 'aws-nlb' | 'aws-elb' | 'gcp' | 'metallb' | 'kube-vip' | 'avi';

export interface LoadBalancerProfile {
  readonly kind: LoadBalancerKind | 'none';
  /**
   * Idle timeout in seconds of a load balancer created for a Service. Not read for MetalLB and kube-vip: they
   * announce an address and forward packets to kube-proxy, and hold no connection that could go idle.
   */
  readonly idleTimeoutSeconds: number;
  /** True when the Service's annotations set the idle timeout (this project sets it from the request timeout). */
  readonly idleTimeoutFromAnnotations: boolean;
  /**
   * The address pools a Service can draw from, as the cluster shows them: MetalLB IPAddressPool names, AKO
   * AviInfraSetting names, or for kube-vip the namespaces its `kubevip` ConfigMap has a pool for (`global` for
   * `cidr-global` / `range-global`). Rule `load-balancer-address-pool-exists` checks a Service's pool against it.
   * Default unknown: pools are not checked.
   */
  readonly addressPools?: readonly string[];
}

export interface ResourceQuota {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly gpus: number;
  readonly ephemeralStorageBytes: number;
}

/**
 * How the cluster's Prometheus (prometheus-operator) picks up monitoring objects. A Prometheus
 * selects ServiceMonitors and PrometheusRules by label (`serviceMonitorSelector`, `ruleSelector`);
 * objects without those labels are silently never loaded. kube-prometheus-stack selects on
 * `release: <helm release name>` by default (`serviceMonitorSelectorNilUsesHelmValues`,
 * `ruleSelectorNilUsesHelmValues`). See charts/clusters/prometheus.ts.
 */
export interface PrometheusProfile {
  /** Namespace Prometheus runs in; the NetworkPolicy admits its scrapes from there. */
  readonly namespace: string;
  /** Labels the Prometheus `serviceMonitorSelector` matches, put on every ServiceMonitor. */
  readonly serviceMonitorSelector: Readonly<Record<string, string>>;
  /** Labels the Prometheus `ruleSelector` matches, put on every PrometheusRule. */
  readonly ruleSelector: Readonly<Record<string, string>>;
}

/**
 * The cluster's Grafana, as its dashboard sidecar finds dashboards: ConfigMaps carrying a label, in any
 * namespace (kube-prometheus-stack's values: `grafana.sidecar.dashboards.label` / `labelValue`,
 * `searchNamespace: ALL`). See charts/clusters/grafana.ts.
 */
export interface GrafanaProfile {
  /** Labels the sidecar selects dashboard ConfigMaps by (`label: labelValue`), put on every dashboard ConfigMap. */
  readonly dashboardLabels: Readonly<Record<string, string>>;
  /**
   * The folder to file the dashboards in: the annotation the sidecar reads it from
   * (`sidecar.dashboards.folderAnnotation`, which also needs `provider.foldersFromFilesStructure: true`)
   * and the folder's name. Undefined: the sidecar's default folder.
   */
  readonly folder?: { readonly annotation: string; readonly name: string };
}

export interface ClusterProfile {
  readonly name: string;
  readonly definedIn: string;
  readonly nodePools: readonly NodePool[];
  readonly storageClasses: readonly StorageClass[];
  readonly loadBalancer: LoadBalancerProfile;
  /** Idle timeout of the ingress controller when no annotation raises it (ingress-nginx: 60 s). */
  readonly ingressIdleTimeoutSeconds: number;
  /** Idle timeouts on every client path that nothing here can change (corporate proxies, a fronting CDN). */
  readonly fixedPathIdleTimeoutsSeconds: readonly number[];
  /** ResourceQuota per namespace, requests side. */
  readonly namespaceQuotas: Readonly<Record<string, ResourceQuota>>;
  /**
   * The cluster's Prometheus: where it runs and the labels it selects monitoring objects by.
   * @default kube-prometheus-stack released as `kube-prometheus-stack` in `monitoring` (charts/clusters/prometheus.ts)
   */
  readonly prometheus?: PrometheusProfile;
  /**
   * The cluster's Grafana: the labels (and folder annotation) its dashboard sidecar reads.
   * @default kube-prometheus-stack's: label `grafana_dashboard: "1"`, no folder (charts/clusters/grafana.ts)
   */
  readonly grafana?: GrafanaProfile;
  /**
   * API types from CRDs installed on the cluster. An object of any other non-built-in type fails Argo CD's
   * dry run, and with it the whole sync. Default none: a cluster has no CRDs until something installs them.
   */
  readonly customResourceTypes?: readonly CustomResourceType[];
  /**
   * IngressClass names with a running controller, which writes the Ingress's load-balancer address (the
   * address Argo CD waits for before it calls an Ingress Healthy). Default none.
   */
  readonly ingressClassNames?: readonly string[];
  /**
   * The API server's version (`serverVersion.gitVersion`, e.g. `v1.29.3-eks-adc7111`). Synth leaves out
   * fields this version does not serve and fails on ones it cannot do without (docs/rules.md,
   * `kubernetes-version-supported`). Default: the newest minor this repository is tested against
   * (`testedKubernetesMinor` in charts/clusters/versions.ts), as a profile typed without one assumes.
   */
  readonly kubernetesVersion?: string;
  /**
   * Namespace each IngressClass's controller runs in, by class name; the ingress NetworkPolicy admits
   * traffic from there. Default `ingress-nginx` (the ingress-nginx chart's documented namespace) for
   * any class not listed.
   */
  readonly ingressControllerNamespaces?: Readonly<Record<string, string>>;
  /**
   * PodSecurityPolicy admission is enabled (TKG clusters on Kubernetes 1.24 and older run it by default). Pods
   * are then refused unless a PodSecurityPolicy their service account may `use` admits them: synth then
   * generates one per service with its Role and RoleBinding (charts/constructs/pod-security-policy.ts).
   * Default false: upstream Kubernetes never enabled it by default, and 1.25 removed it.
   */
  readonly podSecurityPolicyAdmission?: boolean;
  /** Where the facts came from when the profile is a capture (`npm run cluster:capture`). Default: typed by hand. */
  readonly capturedFrom?: string;
  /**
   * PriorityClass names that exist on the cluster (`kubectl get priorityclasses`). A pod naming any other is
   * refused by admission (`no PriorityClass with name ... was found`), so the ReplicaSet creates no pods.
   * Default unknown: `priorityClassName` is not checked.
   */
  readonly priorityClassNames?: readonly string[];
  /**
   * RuntimeClass names that exist on the cluster (`kubectl get runtimeclasses`, e.g. `nvidia` from the GPU
   * Operator). A pod naming any other is refused by admission. Default unknown: `runtimeClassName` is not checked.
   */
  readonly runtimeClassNames?: readonly string[];
  /**
   * The controller of each IngressClass (its `spec.controller`, e.g. `k8s.io/ingress-nginx`, `ingress.k8s.aws/alb`,
   * `traefik.io/ingress-controller`), by class name. It decides which annotations set the Ingress's timeouts
   * (charts/constructs/exposure.ts `ingressControllers`). Default `k8s.io/ingress-nginx` for a class not listed,
   * as profiles typed before this field meant.
   */
  readonly ingressControllers?: Readonly<Record<string, string>>;
  /**
   * Idle timeout per IngressClass where its controller's timeouts cannot be set from the Ingress (Traefik,
   * HAProxy: set in the controller's own configuration), in seconds, by class name. Default
   * `ingressIdleTimeoutSeconds` for every class.
   */
  readonly ingressIdleTimeoutsSeconds?: Readonly<Record<string, number>>;
  /** Admission policies the cluster enforces on the environment's namespace besides Pod Security. Default none. */
  readonly admission?: AdmissionPolicies;
  /**
   * Aggregated metrics APIs and their adapters (prometheus-adapter serving `custom.metrics.k8s.io`). Queue
   * autoscaling uses KEDA where the profile has it, else an HPA on a Pods metric from such an adapter.
   * Default none.
   */
  readonly metricsAdapters?: readonly MetricsAdapter[];
  /**
   * The KEDA HTTP add-on, where installed: a service may then scale to zero (`scaleToZero`), its requests held by
   * the add-on's interceptor while the first pod loads (rule `scale-to-zero-add-on-installed`). Default none: the
   * add-on is an extra install that nothing else implies, and kubectl shows it only as Services in some namespace.
   */
  readonly kedaHttpAddOn?: KedaHttpAddOnProfile;
}

/**
 * The KEDA HTTP add-on (kedacore/http-add-on, Helm chart `kedacore/keda-add-ons-http`): its interceptor proxies a
 * service's requests and holds them while the service scales up from zero pods; its external scaler tells KEDA a
 * request is waiting. The chart installs the HTTPScaledObject CRD too (list it in `customResourceTypes`).
 */
export interface KedaHttpAddOnProfile {
  /** Namespace the add-on runs in: its interceptor proxy and external scaler Services live there. */
  readonly namespace: string;
}

/** Severity Polaris gives a check (its config's `checks:` map); only `danger` makes its webhook deny. */
export type PolarisSeverity = 'danger' | 'warning' | 'ignore';

/**
 * Admission policies a cluster runs, as its platform team configured them (kubectl cannot list a webhook's
 * configuration, so the profile states them). charts/rules/admission.ts models each one.
 */
export interface AdmissionPolicies {
  /**
   * Polaris's validating webhook (FairwindsOps/polaris, `webhook.enable=true`): it denies any object failing a
   * `danger` check. `checks` overrides the severities of Polaris's default configuration
   * (pkg/config/default.yaml) by check id. Default: no Polaris webhook.
   */
  readonly polaris?: { readonly checks?: Readonly<Record<string, PolarisSeverity>> };
  /**
   * Kyverno ClusterPolicies by name, with their failure action; only `Enforce` denies admission. The names
   * are those of kyverno/policies (`disallow-latest-tag`, `require-requests-limits`, `require-pod-probes`);
   * charts/rules/admission.ts models those. Default: no Kyverno policies.
   */
  readonly kyverno?: ReadonlyArray<{ readonly name: string; readonly failureAction: 'Enforce' | 'Audit' }>;
}
