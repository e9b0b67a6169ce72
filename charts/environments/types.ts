import type { ClusterProfile } from '../clusters/types.js';
import type { CompanionDeclaration } from '../companions/types.js';
import type { LimitRangeProps, NamespaceQuotaProps } from '../constructs/namespace-budget.js';
import type { InferenceServiceProps } from '../constructs/props.js';

/** A service as an environment declares it: the environment fills in its name, file and image, the cluster its Prometheus, version, ingress controller and its namespace, node pools, queue metrics path and whether it enforces PodSecurityPolicy. */
export type ServiceDeclaration = Omit<
  InferenceServiceProps,
  | 'environment'
  | 'definedIn'
  | 'image'
  | 'prometheus'
  | 'kubernetesVersion'
  | 'ingressControllerNamespace'
  | 'ingressController'
  | 'nodePools'
  | 'queueMetricsVia'
  | 'podSecurityPolicy'
  | 'imagePullSecrets'
  | 'kedaHttpAddOn'
> & {
  /** @default the environment's image */
  readonly image?: string;
};

/** One deployment target: a namespace on a cluster registered in Argo CD, and the services it runs. */
export interface Environment {
  /** Directory name under dist/ and the Argo CD Application suffix. */
  readonly name: string;
  /** Repository-relative file that defines it (named in synth errors). */
  readonly definedIn: string;
  readonly namespace: string;
  /** Cluster name as registered in Argo CD (`argocd cluster add`). */
  readonly clusterName: string;
  /** What the target cluster offers; the synth rules check every service against it. */
  readonly cluster: ClusterProfile;
  /** Inference image for every service unless a service overrides it. */
  readonly image: string;
  /**
   * Whether this environment serves production traffic: the one home of that fact. Production refuses what
   * elsewhere is only a warning, e.g. a container image without a digest (rule `image-pinned`).
   * @default false — an environment is production only when it says so; set it on every environment users depend on.
   */
  readonly production?: boolean;
  /**
   * `kubernetes.io/dockerconfigjson` Secrets in the namespace the kubelet pulls the images with (a private
   * registry), set on every pod of the environment; listed in docs/prerequisites.md's Secrets to create.
   * @default none — the registry is public, or the nodes authenticate to it themselves (ECR via the node role,
   * GKE/AKS workload identity).
   */
  readonly imagePullSecrets?: readonly string[];
  /** Services by name; the name becomes the Deployment, Service and label name. */
  readonly services: Readonly<Record<string, ServiceDeclaration>>;
  /**
   * The namespace's budget, synthesized as a ResourceQuota beside the Namespace and checked against every
   * service at its largest (rule `namespace-quota-fits`). @default none — no ResourceQuota (a quota the cluster's
   * administrators set is still checked from the profile's `namespaceQuotas`)
   */
  readonly quota?: NamespaceQuotaProps;
  /**
   * Per-container bounds and defaults, synthesized as a LimitRange beside the Namespace; every container is
   * checked as the API server would admit it (rule `limit-range-admits`). @default none — no LimitRange
   */
  readonly limitRange?: LimitRangeProps;
  /**
   * Workloads that are not model services (a vector database, an agent, a web UI), each from a Helm chart or
   * plain manifests in this repository, synced by their own Argo CD Application in the same project, before or
   * after the model services, and pointed at them through typed references (docs/companions.md).
   * @default none — the environment runs model services only
   */
  readonly companions?: Readonly<Record<string, CompanionDeclaration>>;
}
