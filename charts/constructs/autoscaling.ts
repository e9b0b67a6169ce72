import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { PrometheusProfile } from '../clusters/types.js';
import type { InferenceServicePlan } from '../sizing/plan.js';
import type { AutoscalingProps } from './props.js';
import { Duration } from 'cdk8s';
import {
  defaultHpaScaleDownWindowSeconds,
  inFlightPodMetric,
  QueueAutoscaling,
  scaleUpPolicyPeriodSeconds,
  type QueueAutoscalingProps,
} from './queue-autoscaling.js';

/** Share of one pod's capacity (PARALLEL + MAX_QUEUE) a queue autoscaler keeps each pod at, unless the service sets it. */
export const defaultTargetCapacityFraction = 0.5;

export interface InferenceAutoscalingProps {
  /** Deployment and autoscaler name. */
  readonly name: string;
  /** Namespace of the service; scopes the queue trigger's query. */
  readonly namespace: string;
  /** Labels on the autoscaler's metadata. */
  readonly labels: Record<string, string>;
  /** The Deployment it scales. */
  readonly target: kplus.Deployment;
  /** The service's plan: PARALLEL, MAX_QUEUE and the time a new pod takes to become Ready. */
  readonly plan: InferenceServicePlan;
  /** The service's autoscaling choice. */
  readonly autoscaling: AutoscalingProps;
  /** The cluster's Prometheus, which a queue trigger queries. */
  readonly prometheus: PrometheusProfile;
  /** What reads the queue signal. @default 'keda' */
  readonly queueMetricsVia?: 'keda' | 'prometheus-adapter';
  /** Scale to zero: passed to the ScaledObject (`QueueAutoscalingProps.wake`). @default none */
  readonly wake?: QueueAutoscalingProps['wake'];
}

/**
 * Horizontal autoscaling. `signal: 'queue'` is a KEDA ScaledObject on busy plus queued requests
 * (charts/constructs/queue-autoscaling.ts); `cpu` (or no choice, which the rules refuse) an HPA on CPU.
 * With an autoscaler attached the Deployment has no `spec.replicas` and the Argo CD Application ignores it,
 * so a sync never resets the autoscaler (KEDA's own HPA is `keda-hpa-<name>`).
 */
export class InferenceAutoscaling extends Construct {
  constructor(scope: Construct, id: string, props: InferenceAutoscalingProps) {
    super(scope, id);
    const a = props.autoscaling;
    const scaleUp = {
      stabilizationWindow: Duration.seconds(0),
      policies: [{ replicas: kplus.Replicas.percent(100), duration: Duration.seconds(scaleUpPolicyPeriodSeconds(props.plan.startup.windowSeconds)) }],
    };
    if (a.signal === 'queue' && props.queueMetricsVia === 'prometheus-adapter') {
      // The same signal and target as the ScaledObject, as a Pods metric from prometheus-adapter (docs/autoscaling.md).
      const threshold = (props.plan.parallel + props.plan.maxQueue) * (a.targetCapacityFraction ?? defaultTargetCapacityFraction);
      const stabilisation = defaultHpaScaleDownWindowSeconds + props.plan.progressDeadlineSeconds;
      new kplus.HorizontalPodAutoscaler(this, 'hpa', {
        metadata: { name: props.name, labels: props.labels },
        target: props.target,
        minReplicas: a.minReplicas,
        maxReplicas: a.maxReplicas,
        metrics: [kplus.Metric.pods({ name: inFlightPodMetric, target: kplus.MetricTarget.averageValue(threshold) })],
        scaleUp,
        // As the ScaledObject: a pause shorter than one model load never costs the pod that would load again.
        scaleDown: {
          stabilizationWindow: Duration.seconds(stabilisation),
          policies: [{ replicas: kplus.Replicas.absolute(1), duration: Duration.seconds(60) }],
        },
      });
      return;
    }
    if (a.signal === 'queue') {
      // KEDA's HPA owns the replica count: the Deployment must not state one (cdk8s-plus omits it once marked).
      props.target.markHasAutoscaler();
      new QueueAutoscaling(this, 'queue', {
        name: props.name,
        namespace: props.namespace,
        labels: props.labels,
        minReplicas: a.minReplicas,
        maxReplicas: a.maxReplicas,
        podCapacity: props.plan.parallel + props.plan.maxQueue,
        targetCapacityFraction: a.targetCapacityFraction ?? defaultTargetCapacityFraction,
        loadSeconds: props.plan.progressDeadlineSeconds,
        prometheus: props.prometheus,
        startupWindowSeconds: props.plan.startup.windowSeconds,
        ...(props.wake ? { wake: props.wake } : {}),
      });
      return;
    }
    new kplus.HorizontalPodAutoscaler(this, 'hpa', {
      metadata: { name: props.name, labels: props.labels },
      target: props.target,
      minReplicas: a.minReplicas,
      maxReplicas: a.maxReplicas,
      metrics: [kplus.Metric.resourceCpu(kplus.MetricTarget.averageUtilization(a.targetCpuUtilizationPercent ?? 70))],
      // As for the queue signal: at most double per startup window (charts/constructs/queue-autoscaling.ts).
      scaleUp,
    });
  }
}
