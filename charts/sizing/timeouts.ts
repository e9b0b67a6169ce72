/**
 * Time budgets along a request's path: load balancer -> Service -> pod, and a pod's shutdown.
 *
 *   SHUTDOWN_GRACE_MS             = requestTimeout           (an in-flight answer may finish)
 *   terminationGracePeriodSeconds = preStop + requestTimeout + drainMargin
 *   load balancer idle timeout    = requestTimeout + 30 s    (a non-streamed answer arrives in one piece
 *                                                             at the end; the idle timer must outlast it)
 *   SSE_KEEPALIVE_MS              = min(15 s, smallest idle timeout on the path / 4)
 *
 * preStop sleeps so endpoints controllers and load balancers stop sending new requests before
 * the process starts draining (Service endpoint removal is asynchronous to SIGTERM).
 */
export const defaultPreStopSeconds = 5;
/** Time after the grace for closing sockets and disposing the model before SIGKILL. */
export const drainMarginSeconds = 15;
export const maxKeepAliveSeconds = 15;
/** Idle timeout of most cloud load balancers when nothing says otherwise (AWS ALB/ELB, GCP, ingress-nginx's 60 s read timeout). */
export const commonIdleTimeoutSeconds = 60;

export interface TimeoutPlan {
  readonly requestTimeoutSeconds: number;
  readonly shutdownGraceSeconds: number;
  readonly preStopSeconds: number;
  readonly terminationGracePeriodSeconds: number;
  /** Idle timeout the exposure sets on load balancers / ingress it controls. */
  readonly idleTimeoutSeconds: number;
  readonly sseKeepAliveSeconds: number;
}

/**
 * @param pathIdleTimeoutsSeconds idle timeouts on the path the service cannot set itself (e.g. a
 *   corporate proxy or a cluster load balancer fixed at 60 s); the keep-alive interval stays below all.
 */
export function planTimeouts(requestTimeoutSeconds: number, preStopSeconds: number, pathIdleTimeoutsSeconds: readonly number[]): TimeoutPlan {
  const idleTimeoutSeconds = requestTimeoutSeconds + 30;
  const smallestIdle = Math.min(idleTimeoutSeconds, ...pathIdleTimeoutsSeconds);
  const sseKeepAliveSeconds = Math.max(1, Math.min(maxKeepAliveSeconds, Math.floor(smallestIdle / 4)));
  return {
    requestTimeoutSeconds,
    shutdownGraceSeconds: requestTimeoutSeconds,
    preStopSeconds,
    terminationGracePeriodSeconds: preStopSeconds + requestTimeoutSeconds + drainMarginSeconds,
    idleTimeoutSeconds,
    sseKeepAliveSeconds,
  };
}

/**
 * Default request timeout of an embedding service: the smallest idle timeout on the client's path, at most
 * the common 60 s. An embedding answer is one JSON body written at the end, and nothing is sent while it is
 * computed (no stream, no keep-alive comments), so a request may run only as long as the quietest hop waits;
 * a longer one would be cut by the path, not stopped by the server with a 504 that says why.
 */
export function embeddingRequestTimeoutSeconds(pathIdleTimeoutsSeconds: readonly number[]): number {
  return Math.min(commonIdleTimeoutSeconds, ...pathIdleTimeoutsSeconds.filter((t) => Number.isInteger(t) && t > 0));
}
