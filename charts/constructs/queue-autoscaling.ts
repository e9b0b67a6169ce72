import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { metricNames } from '../../service/contract.js';
import type { ClusterProfile, PrometheusProfile } from '../clusters/types.js';

/** The KEDA type this construct emits; the cluster profile must list it in `customResourceTypes`. */
export const scaledObjectType = { apiVersion: 'keda.sh/v1alpha1', group: 'keda.sh', kind: 'ScaledObject' } as const;

/** The KEDA HTTP add-on's type: its interceptor holds requests while a scaled-to-zero pod starts. */
export const httpScaledObjectType = { group: 'http.keda.sh', kind: 'HTTPScaledObject' } as const;

/** autoscaling/v2's default `behavior.scaleDown.stabilizationWindowSeconds` (HorizontalPodAutoscalerBehavior docs). */
export const defaultHpaScaleDownWindowSeconds = 300;

/** autoscaling/v2's largest allowed `HPAScalingPolicy.periodSeconds` (API validation: 0 < period <= 1800). */
export const maxHpaPolicyPeriodSeconds = 1800;

/**
 * Scale-up pacing for a pod that is Ready only after a model load: at most double the pods per startup window
 * (Percent 100 per period), so the autoscaler never adds another batch before the batch it just added could
 * load; no stabilisation, so the first step is immediate. The HPA default (100 % or 4 pods every 15 s) keeps
 * adding pods while the first new ones are still loading, and reaches maxReplicas within one load.
 */
export function scaleUpPolicyPeriodSeconds(startupWindowSeconds: number): number {
  return Math.min(maxHpaPolicyPeriodSeconds, Math.max(15, Math.ceil(startupWindowSeconds)));
}

/** The aggregated API an HPA reads Pods metrics from. */
export const customMetricsApi = 'custom.metrics.k8s.io';

/** Which component reads the queue signal on a cluster: KEDA when installed, else a custom-metrics adapter, else KEDA (refused by rule). */
export function queueMetricsViaOf(cluster: ClusterProfile): 'keda' | 'prometheus-adapter' {
  const keda = (cluster.customResourceTypes ?? []).some((c) => c.group === scaledObjectType.group && c.kind === scaledObjectType.kind);
  const adapter = (cluster.metricsAdapters ?? []).some((a) => a.api === customMetricsApi);
  return !keda && adapter ? 'prometheus-adapter' : 'keda';
}

/**
 * The per-pod metric prometheus-adapter serves for the queue signal: busy plus queued requests of one pod.
 * The HPA asks `custom.metrics.k8s.io` for it on the Deployment's pods and wants
 * ceil(sum over pods / averageValue) replicas, the same arithmetic as KEDA's AverageValue trigger.
 */
export const inFlightPodMetric = 'llm_requests_in_flight';

/**
 * The prometheus-adapter discovery rule that serves `inFlightPodMetric`, in the adapter's config format
 * (kubernetes-sigs/prometheus-adapter docs/config.md): discovery by `seriesQuery`, association of the
 * `namespace` and `pod` labels (which the ServiceMonitor's scrape adds) with those resources, naming by
 * `name.matches`/`as`, and a `metricsQuery` template in which the adapter fills `<<.LabelMatchers>>` with the
 * requested pods and namespace and `<<.GroupBy>>` with `pod`. Both gauges come from the same target with the
 * same labels, so `+` matches them one to one.
 */
export function prometheusAdapterRule(): Record<string, unknown> {
  return {
    seriesQuery: `${queueMetrics.busy}{namespace!="",pod!=""}`,
    resources: { overrides: { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } } },
    name: { matches: `^${queueMetrics.busy}$`, as: inFlightPodMetric },
    metricsQuery: `sum(${queueMetrics.busy}{<<.LabelMatchers>>} + ${queueMetrics.queued}{<<.LabelMatchers>>}) by (<<.GroupBy>>)`,
  };
}

/** The service metrics the trigger reads (service/http/metrics.ts); a test checks the server exports them. */
export const queueMetrics = { busy: metricNames.busySequences, queued: metricNames.queueDepth } as const;

/**
 * The Service prometheus-operator creates in front of every Prometheus it runs (`prometheus-operated`,
 * port 9090 named `web`), so the address holds for any release name.
 */
export function prometheusQueryUrl(prometheus: PrometheusProfile): string {
  return `http://prometheus-operated.${prometheus.namespace}.svc:9090`;
}

/**
 * The requests one service holds across its pods, busy plus queued. `service` is the Service the
 * ServiceMonitor scrapes through (prometheus-operator adds it), `namespace` pins it to this environment.
 */
export function inFlightQuery(name: string, namespace: string): string {
  const sel = `{namespace="${namespace}", service="${name}"}`;
  return `sum(${queueMetrics.busy}${sel}) + sum(${queueMetrics.queued}${sel})`;
}

export interface QueueAutoscalingProps {
  /** Deployment to scale, and the ScaledObject's name (KEDA then names its HPA `keda-hpa-<name>`). */
  readonly name: string;
  /** Namespace of the service; scopes the Prometheus query. */
  readonly namespace: string;
  /** Labels on the ScaledObject's metadata (the service's app.kubernetes.io labels). */
  readonly labels: Record<string, string>;
  /** Fewest pods (`minReplicaCount`); 0 only with a request holder (rule `scale-to-zero-held`). */
  readonly minReplicas: number;
  /** Most pods (`maxReplicaCount`). */
  readonly maxReplicas: number;
  /** Requests one pod holds before it answers 429: PARALLEL + MAX_QUEUE from the plan. */
  readonly podCapacity: number;
  /** Share of `podCapacity` each pod is kept at; the trigger's AverageValue threshold is the product. */
  readonly targetCapacityFraction: number;
  /**
   * Seconds a new pod takes to become Ready (the plan's progress deadline: pod start, first download and
   * startup window). Scale-down stabilisation and cooldown stay longer, so load that paused for less than
   * one model load never costs the pod that would have to load again.
   */
  readonly loadSeconds: number;
  /** The cluster's Prometheus, queried by KEDA's prometheus scaler. */
  readonly prometheus: PrometheusProfile;
  /** The startup probe's window (the longest a model load may take before the pod is Ready); paces scale-up. */
  readonly startupWindowSeconds: number;
  /**
   * Scale to zero (charts/constructs/scale-to-zero.ts): the trigger that reports requests the interceptor holds,
   * and the idle seconds before the last pod goes (`cooldownPeriod`). @default none — the ScaledObject stays at
   * `minReplicas` or above, waking only on what Prometheus sees
   */
  readonly wake?: { readonly trigger: { type: string; name: string; metadata: Record<string, string> }; readonly idleAfterSeconds: number };
}

/**
 * A KEDA ScaledObject on the service's own load. Field names from kedacore/keda
 * apis/keda/v1alpha1/scaledobject_types.go (ScaledObjectSpec, AdvancedConfig.horizontalPodAutoscalerConfig)
 * and scaletriggers_types.go; trigger metadata from pkg/scalers/prometheus_scaler.go (serverAddress, query,
 * threshold, activationThreshold, ignoreNullValues; all strings). With the default AverageValue metric type
 * the HPA KEDA creates wants ceil(in-flight / threshold) pods: each pod near `targetCapacityFraction` of
 * PARALLEL + MAX_QUEUE.
 */
export class QueueAutoscaling extends Construct {
  constructor(scope: Construct, id: string, props: QueueAutoscalingProps) {
    super(scope, id);
    const threshold = props.podCapacity * props.targetCapacityFraction;
    // The HPA's default scale-down window (300 s, for pods that start in seconds) plus one model load.
    const stabilisationSeconds = defaultHpaScaleDownWindowSeconds + props.loadSeconds;
    new ApiObject(this, 'scaled-object', {
      apiVersion: scaledObjectType.apiVersion,
      kind: scaledObjectType.kind,
      metadata: { name: props.name, labels: props.labels },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: props.name },
        // KEDA's default, stated: the trigger is read every 30 s, as often as the ServiceMonitor scrapes.
        pollingInterval: 30,
        // Only used to go from 1 to 0 pods: the service's idle time when it scales to zero, else as long as the scale-down window.
        cooldownPeriod: props.wake?.idleAfterSeconds ?? stabilisationSeconds,
        minReplicaCount: props.minReplicas,
        maxReplicaCount: props.maxReplicas,
        advanced: {
          horizontalPodAutoscalerConfig: {
            behavior: {
              scaleUp: {
                stabilizationWindowSeconds: 0,
                policies: [{ type: 'Percent', value: 100, periodSeconds: scaleUpPolicyPeriodSeconds(props.startupWindowSeconds) }],
              },
              scaleDown: { stabilizationWindowSeconds: stabilisationSeconds, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
            },
          },
        },
        triggers: [
          {
            type: 'prometheus',
            name: 'in-flight-requests',
            metadata: {
              serverAddress: prometheusQueryUrl(props.prometheus),
              query: inFlightQuery(props.name, props.namespace),
              threshold: String(threshold),
              // Any request wakes a scaled-to-zero service; above zero replicas activation plays no part.
              activationThreshold: '0',
              // No series (no pod scraped yet) reads as no load, not as a scaler error.
              ignoreNullValues: 'true',
            },
          },
          ...(props.wake ? [props.wake.trigger] : []),
        ],
      },
    });
  }
}
