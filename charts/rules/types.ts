import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IHorizontalPodAutoscaler, IHorizontalPodAutoscalerBehavior } from 'kubernetes-models/autoscaling/v2';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IContainer, IPersistentVolumeClaim, IPodSpec, IService } from 'kubernetes-models/v1';
import type { ClusterProfile } from '../clusters/types.js';
import type { ResolvedCompanion } from '../companions/resolve.js';
import type { Environment } from '../environments/types.js';
import type { PodRequests } from '../placement/index.js';
import type { InferenceServicePlan } from '../sizing/plan.js';

/** Object metadata as kubernetes-models types it (from its own dependency, so taken through a kind it exports). */
type IObjectMeta = NonNullable<IDeployment['metadata']>;

/** A synthesized object as cdk8s writes it: always named; its spec typed by the kind where a rule reads it. */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: IObjectMeta & { readonly name: string };
  readonly spec?: unknown;
}

/** A kubernetes-models type as synthesized: metadata with a name, and the spec present. */
export type Synthesized<T extends { metadata?: IObjectMeta; spec?: unknown }> = Omit<T, 'metadata' | 'spec'> & {
  readonly metadata: IObjectMeta & { readonly name: string };
  readonly spec: NonNullable<T['spec']>;
};

/**
 * The fields of a KEDA ScaledObject (keda.sh/v1alpha1) the rules read, after kedacore/keda
 * apis/keda/v1alpha1/scaledobject_types.go (`@kubernetes-models/keda` needs kubernetes-models 5, which needs Node 22).
 */
export interface ScaledObject {
  readonly apiVersion: string;
  readonly kind: 'ScaledObject';
  readonly metadata: IObjectMeta & { readonly name: string };
  readonly spec: {
    readonly minReplicaCount?: number;
    readonly maxReplicaCount?: number;
    readonly triggers?: ReadonlyArray<{ readonly type: string; readonly metadata?: Readonly<Record<string, string>> }>;
    readonly advanced?: { readonly horizontalPodAutoscalerConfig?: { readonly behavior?: IHorizontalPodAutoscalerBehavior } };
  };
}

/** Everything a rule may look at for one service: its plan and its synthesized objects. */
export interface ServiceContext {
  readonly name: string;
  readonly plan: InferenceServicePlan;
  readonly objects: readonly Manifest[];
  readonly deployment: Synthesized<IDeployment>;
  /** The Deployment's pod template spec. */
  readonly pod: IPodSpec;
  /** The serving container (named `server`, else the first). */
  readonly server: IContainer;
  readonly pvc: Synthesized<IPersistentVolumeClaim> | undefined;
  readonly pdb: Synthesized<IPodDisruptionBudget> | undefined;
  readonly hpa: Synthesized<IHorizontalPodAutoscaler> | undefined;
  /** The KEDA ScaledObject (keda.sh), when the service scales on its queue; KEDA runs its own HPA for it. */
  readonly scaledObject: ScaledObject | undefined;
  readonly service: Synthesized<IService> | undefined;
  readonly ingress: Synthesized<IIngress> | undefined;
  readonly requests: PodRequests;
  /** Pods the rollout may run at once at the most (replicas or HPA max, plus the surge pod). */
  readonly replicas: number;
  readonly surgePods: number;
}

export interface EnvironmentContext {
  readonly environment: Environment;
  readonly cluster: ClusterProfile;
  readonly services: readonly ServiceContext[];
  /** The environment's own namespace-level objects (Namespace, and the ResourceQuota and LimitRange it declares). */
  readonly namespaceObjects: readonly Manifest[];
  /** The scale-to-zero failover responder's objects (charts/constructs/scale-to-zero-failover.ts); empty when no service scales to zero. */
  readonly failoverObjects: readonly Manifest[];
  /** The environment's companions, resolved (charts/companions/). */
  readonly companions: readonly ResolvedCompanion[];
}

export type Severity = 'error' | 'warning';

export interface Finding {
  readonly ruleId: string;
  readonly severity: Severity;
  readonly environment: string;
  /** Service name, or '*' for an environment-wide finding. */
  readonly service: string;
  /** Measured values and what is wrong. */
  readonly message: string;
  readonly fix: string;
  /** Set when the service waived the rule; the finding is reported but does not fail synth. */
  readonly waiver?: string;
}

export interface RuleDoc {
  readonly id: string;
  readonly severity: Severity;
  /** What it checks. */
  readonly checks: string;
  /** The incident it prevents. */
  readonly why: string;
  readonly fix: string;
}

export interface Rule extends RuleDoc {
  /** Per-service check; return one entry per problem (message, fix, optional severity downgrade). */
  readonly check: (svc: ServiceContext, env: EnvironmentContext) => ReadonlyArray<{ message: string; fix?: string; severity?: Severity }>;
}
