import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { kubernetesMinorOf, pdbUnhealthyPodEvictionPolicyMinor } from '../clusters/versions.js';
import type { ServiceOverrides } from './props.js';

/** The budget the PodDisruptionBudget states. */
export interface DisruptionBudget {
  readonly minAvailable?: number;
  readonly maxUnavailable?: number;
  /** Left out on clusters older than 1.27, whose API servers drop the field. */
  readonly unhealthyPodEvictionPolicy?: 'AlwaysAllow' | 'IfHealthyBudget';
}

/**
 * The default budget: one pod may go, at every replica count. `minAvailable: replicas - 1` looks
 * equivalent but is not: with an HPA it is computed from the minimum, so at the maximum a drain
 * could take all but one pod at once. `unhealthyPodEvictionPolicy: AlwaysAllow` lets a drain evict
 * a pod that is still loading or failing, which otherwise holds the drain hostage until it is ready.
 */
export const defaultDisruptionBudget: DisruptionBudget = { maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' };

/**
 * The budget a service gets: its explicit override, or the default. On a cluster older than 1.27
 * `unhealthyPodEvictionPolicy` is left out (KEP-3017: beta and on by default in 1.27); an override
 * that sets it there is reported by the `kubernetes-version-supported` rule instead of being emitted.
 */
export function disruptionBudgetFor(override: ServiceOverrides['disruptionBudget'], kubernetesVersion?: string): DisruptionBudget {
  const served = kubernetesMinorOf(kubernetesVersion) >= pdbUnhealthyPodEvictionPolicyMinor;
  const base =
    override === undefined
      ? defaultDisruptionBudget
      : {
          minAvailable: override.minAvailable,
          maxUnavailable: override.maxUnavailable,
          unhealthyPodEvictionPolicy: override.unhealthyPodEvictionPolicy ?? defaultDisruptionBudget.unhealthyPodEvictionPolicy,
        };
  if (served || override?.unhealthyPodEvictionPolicy !== undefined) return base;
  return { minAvailable: base.minAvailable, maxUnavailable: base.maxUnavailable };
}

export interface InferenceDisruptionBudgetProps {
  /** Object name (the service name). */
  readonly name: string;
  /** The budget, from `disruptionBudgetFor`. No default: the caller decides. */
  readonly budget: DisruptionBudget;
  /** Labels on the object's metadata. */
  readonly labels: Record<string, string>;
  /** The Deployment's stable pod selector. */
  readonly selector: Record<string, string>;
}

/** A PodDisruptionBudget that protects capacity without ever blocking a node drain. */
export class InferenceDisruptionBudget extends Construct {
  readonly budget: kplus.k8s.KubePodDisruptionBudget;

  constructor(scope: Construct, id: string, props: InferenceDisruptionBudgetProps) {
    super(scope, id);
    const { minAvailable, maxUnavailable, unhealthyPodEvictionPolicy } = props.budget;
    this.budget = new kplus.k8s.KubePodDisruptionBudget(this, 'pdb', {
      metadata: { name: props.name, labels: props.labels },
      spec: {
        minAvailable: minAvailable !== undefined ? kplus.k8s.IntOrString.fromNumber(minAvailable) : undefined,
        maxUnavailable: maxUnavailable !== undefined ? kplus.k8s.IntOrString.fromNumber(maxUnavailable) : undefined,
        selector: { matchLabels: props.selector },
        unhealthyPodEvictionPolicy,
      },
    });
  }
}
