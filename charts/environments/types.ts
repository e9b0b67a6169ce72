import type { ClusterProfile } from '../clusters/types.js';
import type { InferenceServiceProps } from '../constructs/props.js';

/** A service as an environment declares it: the environment fills in its name, file and image, the cluster its Prometheus, version, ingress controller and its namespace, and node pools. */
export type ServiceDeclaration = Omit<InferenceServiceProps, 'environment' | 'definedIn' | 'image' | 'prometheus' | 'kubernetesVersion' | 'ingressControllerNamespace' | 'ingressController' | 'nodePools'> & {
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
  /** Services by name; the name becomes the Deployment, Service and label name. */
  readonly services: Readonly<Record<string, ServiceDeclaration>>;
}
