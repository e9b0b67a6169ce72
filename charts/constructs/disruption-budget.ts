import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { InferenceServicePlan } from '../sizing/plan.js';

/**
 * A PodDisruptionBudget that protects capacity without ever blocking a node drain (the plan derives
 * it): one replica may go (`maxUnavailable: 1`); above that, all but one stay (`minAvailable: replicas - 1`).
 * `unhealthyPodEvictionPolicy: AlwaysAllow` lets a drain evict a pod that is still loading or
 * failing, which otherwise holds the drain hostage until it becomes ready.
 */
export class InferenceDisruptionBudget extends Construct {
  readonly budget: kplus.k8s.KubePodDisruptionBudget;

  constructor(scope: Construct, id: string, props: { name: string; budget: InferenceServicePlan['disruptionBudget']; labels: Record<string, string>; selector: Record<string, string> }) {
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
