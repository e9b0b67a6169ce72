import type { IdleDuration } from '../constructs/props.js';

/** Seconds per unit of an `IdleDuration`. */
const unitSeconds = { s: 1, m: 60, h: 3600 } as const;

/**
 * Fewest idle seconds before a service scales to zero: the autoscaling/v2 default scale-down window
 * (charts/constructs/queue-autoscaling.ts `defaultHpaScaleDownWindowSeconds`). Shorter, and every pause a user
 * takes between two questions costs the next one a whole model load.
 */
export const minIdleAfterSeconds = 300;

/** Whole seconds of `10m`, `90s`, `1h`; undefined for anything else (a fraction, a unit it does not know). */
export function idleDurationSeconds(text: IdleDuration | string): number | undefined {
  const m = /^(\d+)([smh])$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * unitSeconds[m[2] as keyof typeof unitSeconds];
}

/** What scaling to zero costs and bounds, from the service's own startup figures. */
export interface ScaleToZeroPlan {
  /** Seconds without a request before the last pod goes (the ScaledObject's cooldownPeriod). */
  readonly idleAfterSeconds: number;
  /**
   * Longest a first caller is held by the interceptor (its readiness wait, `timeouts.conditionWait`): the pod start
   * allowance, the model download when the cache is an emptyDir (it is gone with the pod), and the startup window.
   * Past it the pod could not have become Ready anyway: the Deployment's own deadline says the same.
   */
  readonly holdSeconds: number;
  /** A first caller's usual wait on a warm node with the image present: the expected load (and the download of an emptyDir cache). */
  readonly expectedWakeSeconds: number;
  /**
   * The Retry-After the failover responder sends once the hold ran out (charts/constructs/scale-to-zero-failover.ts):
   * the expected wake, whole seconds, at least 1. The responder cannot know how far the load has come, and a retry
   * is held by the interceptor again until a pod is Ready (up to the hold), so the usual wake is the useful wait;
   * the hold itself would keep a client away long after a slow pod turned Ready.
   */
  readonly retryAfterSeconds: number;
  /**
   * Idle timeout the hop in front of the interceptor (the ingress) needs: a held non-streamed request sends
   * nothing for the hold and then for the whole answer (the service's idle timeout, request timeout + 30 s).
   */
  readonly pathIdleTimeoutSeconds: number;
  /** The interceptor's wait for response headers once it forwarded the request: the service's idle timeout. */
  readonly responseHeaderTimeoutSeconds: number;
}

export interface ScaleToZeroInputs {
  readonly idleAfterSeconds: number;
  readonly podStartSeconds: number;
  /** The startup probe's window: the longest a load may take before the pod turns Ready. */
  readonly startupWindowSeconds: number;
  readonly expectedLoadSeconds: number;
  /** Download seconds, counted only when the cache does not outlive the pod (emptyDir). */
  readonly downloadSecondsPerWake: number;
  /** The service's own idle timeout (request timeout + 30 s, charts/sizing/timeouts.ts). */
  readonly serviceIdleTimeoutSeconds: number;
}

export function planScaleToZero(i: ScaleToZeroInputs): ScaleToZeroPlan {
  const holdSeconds = i.podStartSeconds + i.downloadSecondsPerWake + i.startupWindowSeconds;
  return {
    idleAfterSeconds: i.idleAfterSeconds,
    holdSeconds,
    expectedWakeSeconds: i.downloadSecondsPerWake + i.expectedLoadSeconds,
    retryAfterSeconds: Math.max(1, Math.ceil(i.downloadSecondsPerWake + i.expectedLoadSeconds)),
    pathIdleTimeoutSeconds: holdSeconds + i.serviceIdleTimeoutSeconds,
    responseHeaderTimeoutSeconds: i.serviceIdleTimeoutSeconds,
  };
}
