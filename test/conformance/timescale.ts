/**
 * The conformance harness's time scale.
 *
 * The manifests speak in cluster time: a 5 s startup period, a 320 s termination grace period,
 * a 300 s request timeout. A test cannot wait that long, so the harness multiplies EVERY duration
 * that comes from a manifest by one factor, TIME_SCALE:
 *
 *  - probe periodSeconds, timeoutSeconds and initialDelaySeconds (startup, readiness, liveness);
 *  - the preStop `sleep N` and terminationGracePeriodSeconds;
 *  - the kubelet's restart back-off (10 s doubling to 300 s);
 *  - the durations the manifest hands to the service: REQUEST_TIMEOUT_MS, SHUTDOWN_GRACE_MS and
 *    SSE_KEEPALIVE_MS are passed scaled, so the service's own clocks run at the same speed;
 *  - the work the scenarios simulate: a throttled model download sized as a fraction of the scaled
 *    startup window, and streamed generations sized to last a number of scaled probe periods.
 *
 * Default 0.1: a 5 s period becomes 500 ms, the 60 s startup window 6 s, the 320 s grace period 32 s.
 * What does NOT scale is the machine: node + tsx start-up, node-llama-cpp's native load and a probe's
 * own round trip take their real time. The scaled test is therefore STRICTER than the cluster for
 * those (a 3 s probe timeout becomes 300 ms), which is the safe direction; on a slower or busy
 * machine raise the factor with CONFORMANCE_TIME_SCALE=0.2 (documented in docs/conformance.md).
 */
function readScale(): number {
  const raw = process.env.CONFORMANCE_TIME_SCALE;
  if (raw === undefined || raw.trim() === '') return 0.1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 1) {
    throw new Error(`CONFORMANCE_TIME_SCALE=${JSON.stringify(raw)} must be a number in (0, 1]`);
  }
  return n;
}

export const TIME_SCALE: number = readScale();

/**
 * The one thing the harness does not scale: the process start that the manifests' startup budget
 * already counts as real time. charts/sizing/probes.ts sizes the startup window as
 * `max(floor, 2 × (processStartSeconds + load))` with processStartSeconds = 10 s for "Node.js,
 * llama.cpp backend and context creation": machine work that takes the same wall time here as in the
 * cluster (more, here: tsx transpiles, two shared cores). So the first processStartSeconds of the
 * startup window run in real time and only the rest is scaled:
 *
 *   local window = min(W, P) + (W − min(W, P)) × TIME_SCALE      (W: the manifest's window, P: processStart)
 *
 * implemented as an allowance of min(W, P) × (1 − TIME_SCALE) at the start of the startup window (9 s at
 * 0.1 for any window of 10 s or more): startup failures inside it are shown but not counted, which moves
 * the kill deadline exactly like an initial delay would, without delaying an early success. The price: a window is only checked beyond its first P seconds (a pod that
 * boots in 3 s here has 7 s of slack the cluster may not have). Everything the window must hold beyond
 * that (the model load, here a throttled download) is scaled.
 */
export function startupAllowanceMs(windowSeconds: number, processStartSeconds: number, scale: number = TIME_SCALE): number {
  return Math.round(Math.min(windowSeconds, processStartSeconds) * 1000 * (1 - scale));
}

/** A millisecond duration the manifest passes to the service (REQUEST_TIMEOUT_MS...), scaled. */
export function scaleMsValue(ms: number, scale: number = TIME_SCALE): number {
  return Math.max(1, Math.round(ms * scale));
}
