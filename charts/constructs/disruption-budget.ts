import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';

/**
 * A PodDisruptionBudget that protects capacity without ever blocking a node drain:
 * one replica may go (`maxUnavailable: 1`); above that, all but one stay (`minAvailable: replicas - 1`).
 * `unhealthyPodEvictionPolicy: AlwaysAllow` lets a drain evict a pod that is still loading or
 * failing, which otherwise holds the drain hostage until it becomes ready.
 */
export class InferenceDisruptionBudget extends Construct {
  readonly budget: kplus.k8s.KubePodDisruptionBudget;

  constructor(scope: Construct, id: string, props: { name: string; replicas: number; labels: Record<string, string>; selector: Record<string, string> }) {
    super(scope, id);
    const spec: kplus.k8s.PodDisruptionBudgetSpec =
      props.replicas <= 1
        ? { maxUnavailable: kplus.k8s.IntOrString.fromNumber(1) }
        : { minAvailable: kplus.k8s.IntOrString.fromNumber(Math.max(1, props.replicas - 1)) };
    this.budget = new kplus.k8s.KubePodDisruptionBudget(this, 'pdb', {
      metadata: { name: props.name, labels: props.labels },
      spec: { ...spec, selector: { matchLabels: props.selector }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
    });
  }
}
