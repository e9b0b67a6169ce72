/**
 * Request lifecycle shared by the routes and the shutdown sequence:
 * whether the service still takes new generations, and the abort handles of
 * the generations in flight (so shutdown can wait for them, then cut the rest).
 */

export type AbortReason = 'timeout' | 'client_disconnect' | 'shutdown';

export class Lifecycle {
  #draining = false;
  readonly #inFlight = new Set<AbortController>();
  #idleWaiters: Array<() => void> = [];

  /** True once shutdown began: readiness turns 503 and new /v1 generations are refused. */
  get draining(): boolean {
    return this.#draining;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  startDraining(): void {
    this.#draining = true;
  }

  /** Registers a generation; call the returned function when it is over. */
  track(controller: AbortController): () => void {
    this.#inFlight.add(controller);
    return () => {
      this.#inFlight.delete(controller);
      if (this.#inFlight.size === 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const w of waiters) w();
      }
    };
  }

  /** Resolves true when no generation is in flight, false if `timeoutMs` passed first. */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.#inFlight.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#idleWaiters = this.#idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#idleWaiters.push(done);
    });
  }

  /** Aborts every generation in flight; returns how many were cut. */
  abortAll(reason: AbortReason): number {
    const n = this.#inFlight.size;
    for (const c of this.#inFlight) c.abort(reason);
    return n;
  }
}
