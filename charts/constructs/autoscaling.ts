import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { AutoscalingProps } from './props.js';

/**
 * Horizontal autoscaling on CPU. With an autoscaler attached, cdk8s-plus omits `spec.replicas`
 * from the Deployment, and the Argo CD Application ignores it, so a sync never resets the HPA.
 */
export class InferenceAutoscaling extends Construct {
  constructor(scope: Construct, id: string, props: { name: string; labels: Record<string, string>; target: kplus.Deployment; autoscaling: AutoscalingProps }) {
    super(scope, id);
    new kplus.HorizontalPodAutoscaler(this, 'hpa', {
      metadata: { name: props.name, labels: props.labels },
      target: props.target,
      minReplicas: props.autoscaling.minReplicas,
      maxReplicas: props.autoscaling.maxReplicas,
      metrics: [kplus.Metric.resourceCpu(kplus.MetricTarget.averageUtilization(props.autoscaling.targetCpuUtilizationPercent ?? 70))],
    });
  }
}
