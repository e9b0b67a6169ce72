import type { IHPAScalingRules } from 'kubernetes-models/autoscaling/v2';
import { envVars } from '../../service/contract.js';
import { customMetricsApi, httpScaledObjectType, inFlightPodMetric, maxHpaPolicyPeriodSeconds, scaledObjectType } from '../constructs/queue-autoscaling.js';
import { probeWindowSeconds } from '../sizing/probes.js';
import { envValue } from './lib.js';
import { httpScaledObjectOf } from './scale-to-zero.js';
import type { Rule, ServiceContext } from './types.js';

/** The startup probe's window in the manifest: the longest a load may take before the pod turns Ready. */
function startupWindowSeconds(svc: ServiceContext): number | undefined {
  const p = svc.server.startupProbe;
  return p ? probeWindowSeconds(p) : undefined;
}

/** The scale-up rules the autoscaler's HPA runs with: KEDA passes `advanced.horizontalPodAutoscalerConfig.behavior` through. */
function scaleUpBehavior(svc: ServiceContext): IHPAScalingRules | undefined {
  if (svc.scaledObject) return svc.scaledObject.spec.advanced?.horizontalPodAutoscalerConfig?.behavior?.scaleUp;
  return svc.hpa?.spec.behavior?.scaleUp;
}

const envNumber = (svc: ServiceContext, name: string): number => Number(envValue(svc.server, name));

/** The HPA's metric on the in-flight requests per pod (the queue signal through a custom-metrics adapter). */
const inFlightMetricOf = (hpa: ServiceContext['hpa']) => hpa?.spec.metrics?.find((m) => m.type === 'Pods' && m.pods?.metric.name === inFlightPodMetric)?.pods;

/**
 * The scale-up rule (scale-up-waits-for-startup) checks autoscaling against the model load. The criterion, in full:
 * 1. Pace. Every scale-up policy's period is at least the startup window (capped at the API's 1800 s): the HPA
 *    then adds no further pods before the ones it just added had the time to load. Without a policy the HPA
 *    default (100 % or 4 pods per 15 s) applies, which reaches maxReplicas while the first new pod still loads.
 * 2. Absorb (queue signal). A pod is added when the in-flight requests pass minReplicas x threshold; the new pod
 *    is meant to carry one threshold's worth, and until it is Ready those requests wait in the running pods'
 *    free room. So at minReplicas n >= 1: n x (PARALLEL + MAX_QUEUE - threshold) >= threshold, i.e. the target
 *    share f of a pod's capacity is at most n / (n + 1). Otherwise arrivals meet 429s during every scale-up.
 */
export const autoscalingRules: readonly Rule[] = [
  {
    id: 'hpa-consistent',
    severity: 'error',
    checks: 'With an HPA, the Deployment has no fixed replicas (neither in props nor in the manifest) and minReplicas <= maxReplicas.',
    why: 'Argo CD resets replicas to the Git value on every sync, fighting the autoscaler; an inverted range never scales.',
    fix: 'Remove replicas when autoscaling is set; keep minReplicas <= maxReplicas.',
    check: (svc) => {
      const a = svc.plan.props.autoscaling;
      if (!a && !svc.hpa && !svc.scaledObject) return [];
      const out: { message: string }[] = [];
      if (svc.plan.props.replicas !== undefined || svc.deployment.spec.replicas !== undefined)
        out.push({ message: `replicas ${svc.plan.props.replicas ?? svc.deployment.spec.replicas} is fixed while an HPA scales the Deployment` });
      if (a && a.minReplicas > a.maxReplicas) out.push({ message: `minReplicas ${a.minReplicas} > maxReplicas ${a.maxReplicas}` });
      return out;
    },
  },
  {
    id: 'cpu-autoscaling-explicit',
    severity: 'error',
    checks: "An HPA on CPU utilisation only when the service chose it (autoscaling.signal 'cpu'); even then a warning.",
    why: 'One generating request pins every inference thread, so CPU reads near 100 % at any load above zero: the HPA went to maxReplicas on the first request and never came back, while the queue it should have watched was empty (and on a GPU service CPU says nothing at all).',
    fix: "Set autoscaling.signal 'queue' (KEDA on busy and queued requests) on a cluster with KEDA; keep 'cpu' only where nothing better runs, knowing it scales on any load.",
    check: (svc) => {
      const hpa = svc.hpa;
      const cpuMetric = hpa?.spec.metrics?.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
      if (!hpa || !cpuMetric) return [];
      const target = cpuMetric.resource?.target.averageUtilization;
      if (svc.plan.props.autoscaling?.signal === 'cpu')
        return [
          {
            message: `HPA ${hpa.metadata.name} scales on CPU at ${target} %: with PARALLEL ${svc.plan.parallel} one request already keeps the threads near 100 %, so it scales up on any load and not on the queue (MAX_QUEUE ${svc.plan.maxQueue})`,
            severity: 'warning',
          },
        ];
      return [
        {
          message: `HPA ${hpa.metadata.name} scales on CPU at ${target} % but autoscaling.signal is not set: CPU is a poor signal for inference and is never assumed`,
        },
      ];
    },
  },
  {
    id: 'queue-autoscaling-needs-keda',
    severity: 'error',
    checks:
      "Queue autoscaling (autoscaling.signal 'queue') only on a cluster whose profile lists KEDA's ScaledObject type (a keda.sh ScaledObject is synthesized) or, without KEDA, an adapter serving custom.metrics.k8s.io (an autoscaling/v2 HPA on the per-pod in-flight metric is synthesized; docs/autoscaling.md has the prometheus-adapter rule it reads).",
    why: 'Without KEDA nothing reads the ScaledObject: the Deployment, which has no replicas of its own, stays at one pod under any load, and Argo CD fails the whole sync on the unknown kind. An HPA on a Pods metric with no custom-metrics adapter reports FailedGetPodsMetric, which Argo CD does not count as Degraded, and never scales.',
    fix: "Install KEDA (its Helm chart), or prometheus-adapter with the rule in docs/autoscaling.md, and capture the profile again; or use signal 'cpu' on this cluster.",
    check: (svc, env) => {
      if (!svc.scaledObject && svc.plan.props.autoscaling?.signal !== 'queue') return [];
      const keda = (env.cluster.customResourceTypes ?? []).some((c) => c.group === scaledObjectType.group && c.kind === scaledObjectType.kind);
      const adapter = (env.cluster.metricsAdapters ?? []).some((a) => a.api === customMetricsApi);
      if (svc.scaledObject)
        return keda
          ? []
          : [
              {
                message: `autoscaling.signal 'queue' synthesized a KEDA ScaledObject, and cluster ${env.cluster.name} (profile ${env.cluster.definedIn}) has no ${scaledObjectType.kind}.${scaledObjectType.group} type${adapter ? '' : ' and no adapter serving custom.metrics.k8s.io'}`,
              },
            ];
      if (inFlightMetricOf(svc.hpa) && !adapter)
        return [
          {
            message: `the HPA reads the Pods metric ${inFlightPodMetric} from custom.metrics.k8s.io, which nothing serves on cluster ${env.cluster.name} (profile ${env.cluster.definedIn}: metricsAdapters): it never scales`,
          },
        ];
      return [];
    },
  },
  {
    id: 'scale-to-zero-held',
    severity: 'error',
    checks:
      "minReplicas 0 only where something holds requests while the first pod loads its model (the KEDA HTTP add-on's interceptor, with the service routed through it).",
    why: 'At zero pods the Service has no endpoints: the first client after a quiet spell got connection refused for the whole model load (minutes on CPU), and a ScaledObject woke only after Prometheus had seen load that never arrived.',
    fix: "Set scaleToZero: { idleAfter } (the KEDA HTTP add-on's interceptor then holds the first request), or minReplicas 1 or more.",
    check: (svc, env) => {
      const min = svc.scaledObject?.spec.minReplicaCount ?? svc.hpa?.spec.minReplicas ?? svc.plan.props.autoscaling?.minReplicas;
      // Routed through the interceptor: the scale-to-zero rules check the add-on, the route and the hold.
      if (min !== 0 || httpScaledObjectOf(svc)) return [];
      const holder = (env.cluster.customResourceTypes ?? []).some((c) => c.group === httpScaledObjectType.group && c.kind === httpScaledObjectType.kind);
      if (!holder)
        return [
          {
            message: `minReplicas 0, and cluster ${env.cluster.name} has no request holder (no ${httpScaledObjectType.kind}.${httpScaledObjectType.group} type, the KEDA HTTP add-on): clients get connection refused for a whole model load (startup window ${svc.plan.startup.windowSeconds} s)`,
          },
        ];
      return [
        {
          message: `minReplicas 0: cluster ${env.cluster.name} has the KEDA HTTP add-on, but this service is not routed through its interceptor (no ${httpScaledObjectType.kind} is synthesized), so nothing holds its requests at zero pods`,
        },
      ];
    },
  },
  {
    id: 'scale-up-waits-for-startup',
    severity: 'error',
    checks: `An autoscaler's scale-up cannot outrun the model load: every scale-up policy period >= the startup window (at most ${maxHpaPolicyPeriodSeconds} s, the API maximum), and with the queue signal the pods at minReplicas can hold, in their free queue room, the requests the next pod is added for until it is Ready (minReplicas x (PARALLEL + MAX_QUEUE - threshold) >= threshold).`,
    why: 'An HPA with the default scale-up policy (4 pods every 15 s) went from 2 to maxReplicas during one 90 s model load, because the queue kept growing while the new pods loaded; and with the target at 80 % of a pod, the one running pod answered 429 for the whole load.',
    fix: 'Keep the derived scale-up behavior (do not override it); lower autoscaling.targetCapacityFraction or raise minReplicas, or raise maxQueue.',
    check: (svc) => {
      if (!svc.scaledObject && !svc.hpa) return [];
      const window = startupWindowSeconds(svc);
      if (window === undefined) return []; // startup-window-covers-load reports a missing startup probe
      const out: { message: string; severity?: 'warning'; fix?: string }[] = [];
      const scaleUp = scaleUpBehavior(svc);
      const policies = scaleUp?.policies ?? [];
      const needed = Math.min(window, maxHpaPolicyPeriodSeconds);
      if (scaleUp?.selectPolicy !== 'Disabled') {
        if (policies.length === 0)
          out.push({
            message: `no scale-up policy: the HPA default (100 % or 4 pods every 15 s) adds pods again long before the startup window of ${window}s lets the first ones become Ready`,
          });
        for (const p of policies)
          if (p.periodSeconds < needed)
            out.push({
              message: `scale-up policy ${p.type} ${p.value} every ${p.periodSeconds}s adds pods again before the startup window of ${window}s (need a period >= ${needed}s)`,
            });
        if (window > maxHpaPolicyPeriodSeconds)
          out.push({
            message: `startup window ${window}s is longer than the longest scale-up period the API allows (${maxHpaPolicyPeriodSeconds}s): a second scale-up step may come before the first new pod is Ready`,
            severity: 'warning',
            fix: 'Speed up the load (a faster cache volume) or accept the overshoot.',
          });
      }
      // The queue signal's per-pod target: the ScaledObject trigger's threshold, or the adapter HPA's averageValue.
      const podsMetric = inFlightMetricOf(svc.hpa);
      if (svc.scaledObject || podsMetric) {
        const threshold = svc.scaledObject ? Number((svc.scaledObject.spec.triggers ?? [])[0]?.metadata?.threshold) : Number(podsMetric?.target.averageValue);
        const capacity = envNumber(svc, envVars.parallel) + envNumber(svc, envVars.maxQueue);
        const declaredMin = Number(svc.scaledObject ? (svc.scaledObject.spec.minReplicaCount ?? 0) : (svc.hpa?.spec.minReplicas ?? 1));
        // Scale to zero through the interceptor: it holds every request at zero pods, and from the first pod on the
        // pods must absorb as usual. Without it nothing runs to absorb anything (scale-to-zero-held reports it).
        const min = declaredMin === 0 && httpScaledObjectOf(svc) ? 1 : declaredMin;
        if (min >= 1 && Number.isFinite(threshold) && Number.isFinite(capacity) && min * (capacity - threshold) < threshold) {
          out.push({
            message: `at minReplicas ${min} the running pods hold ${min * (capacity - threshold)} more requests (capacity ${capacity} = PARALLEL + MAX_QUEUE, threshold ${threshold} per pod) but the next pod is added for ${threshold}: clients get 429 until it is Ready (startup window ${window}s)`,
          });
        }
      }
      return out;
    },
  },
];
