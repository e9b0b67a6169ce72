import { envVars } from '../../service/contract.js';
import { inFlightPodMetric, maxHpaPolicyPeriodSeconds } from '../constructs/queue-autoscaling.js';
import type { Rule, ServiceContext } from './types.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- synthesized manifests are read as plain JSON */

/** The startup probe's window in the manifest: the longest a load may take before the pod turns Ready. */
function startupWindowSeconds(svc: ServiceContext): number | undefined {
  const p = svc.server?.startupProbe;
  if (!p) return undefined;
  return (p.initialDelaySeconds ?? 0) + (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3);
}

/** The scale-up rules the autoscaler's HPA runs with: KEDA passes `advanced.horizontalPodAutoscalerConfig.behavior` through. */
function scaleUpBehavior(svc: ServiceContext): any | undefined {
  if (svc.scaledObject) return svc.scaledObject.spec.advanced?.horizontalPodAutoscalerConfig?.behavior?.scaleUp;
  return svc.hpa?.spec.behavior?.scaleUp;
}

const envNumber = (svc: ServiceContext, name: string): number => Number(svc.server?.env?.find((e: any) => e.name === name)?.value);

/**
 * Rules on autoscaling against the model load; appended to the catalogue. The criterion, in full:
 * 1. Pace. Every scale-up policy's period is at least the startup window (capped at the API's 1800 s): the HPA
 *    then adds no further pods before the ones it just added had the time to load. Without a policy the HPA
 *    default (100 % or 4 pods per 15 s) applies, which reaches maxReplicas while the first new pod still loads.
 * 2. Absorb (queue signal). A pod is added when the in-flight requests pass minReplicas x threshold; the new pod
 *    is meant to carry one threshold's worth, and until it is Ready those requests wait in the running pods'
 *    free room. So at minReplicas n >= 1: n x (PARALLEL + MAX_QUEUE - threshold) >= threshold, i.e. the target
 *    share f of a pod's capacity is at most n / (n + 1). Otherwise arrivals meet 429s during every scale-up.
 */
export const scaleUpRules: readonly Rule[] = [
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
      const policies: any[] = scaleUp?.policies ?? [];
      const needed = Math.min(window, maxHpaPolicyPeriodSeconds);
      if (scaleUp?.selectPolicy !== 'Disabled') {
        if (policies.length === 0) out.push({ message: `no scale-up policy: the HPA default (100 % or 4 pods every 15 s) adds pods again long before the startup window of ${window}s lets the first ones become Ready` });
        for (const p of policies) if (p.periodSeconds < needed) out.push({ message: `scale-up policy ${p.type} ${p.value} every ${p.periodSeconds}s adds pods again before the startup window of ${window}s (need a period >= ${needed}s)` });
        if (window > maxHpaPolicyPeriodSeconds) out.push({ message: `startup window ${window}s is longer than the longest scale-up period the API allows (${maxHpaPolicyPeriodSeconds}s): a second scale-up step may come before the first new pod is Ready`, severity: 'warning', fix: 'Speed up the load (a faster cache volume) or accept the overshoot.' });
      }
      // The queue signal's per-pod target: the ScaledObject trigger's threshold, or the adapter HPA's averageValue.
      const podsMetric = (svc.hpa?.spec.metrics ?? []).find((m: any) => m.type === 'Pods' && m.pods?.metric?.name === inFlightPodMetric);
      if (svc.scaledObject || podsMetric) {
        const threshold = svc.scaledObject ? Number((svc.scaledObject.spec.triggers ?? [])[0]?.metadata?.threshold) : Number(podsMetric.pods.target.averageValue);
        const capacity = envNumber(svc, envVars.parallel) + envNumber(svc, envVars.maxQueue);
        const min = Number(svc.scaledObject ? (svc.scaledObject.spec.minReplicaCount ?? 0) : (svc.hpa.spec.minReplicas ?? 1));
        // Scale to zero: nothing runs to absorb anything (scale-to-zero-held reports it).
        if (min >= 1 && Number.isFinite(threshold) && Number.isFinite(capacity) && min * (capacity - threshold) < threshold) {
          out.push({ message: `at minReplicas ${min} the running pods hold ${min * (capacity - threshold)} more requests (capacity ${capacity} = PARALLEL + MAX_QUEUE, threshold ${threshold} per pod) but the next pod is added for ${threshold}: clients get 429 until it is Ready (startup window ${window}s)` });
        }
      }
      return out;
    },
  },
];
