import type { ClusterProfile } from '../clusters/types.js';
import type { Environment } from '../environments/types.js';
import type { PodRequests } from '../placement/index.js';
import type { InferenceServicePlan } from '../sizing/plan.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- synthesized manifests are read as plain JSON */
export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; spec?: any };

/** Everything a rule may look at for one service: its plan and its synthesized objects. */
export interface ServiceContext {
  readonly name: string;
  readonly plan: InferenceServicePlan;
  readonly objects: readonly Manifest[];
  readonly deployment: any;
  readonly pod: any;
  readonly server: any;
  readonly pvc: any | undefined;
  readonly pdb: any | undefined;
  readonly hpa: any | undefined;
  /** The KEDA ScaledObject (keda.sh), when the service scales on its queue; KEDA runs its own HPA for it. */
  readonly scaledObject: any | undefined;
  readonly service: any | undefined;
  readonly ingress: any | undefined;
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
