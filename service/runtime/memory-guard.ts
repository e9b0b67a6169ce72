/**
 * The last line of defence against the OOM killer: watch resident memory against the cgroup limit and,
 * once it crosses a set fraction, hand over to a graceful drain instead of being killed mid-answer.
 *
 * Why: the kernel kills a container the moment its cgroup reaches `memory.max`; every stream in flight is
 * cut, and the process logs nothing. Draining at, say, 92 % lets the answers in flight finish, takes the
 * pod out of the Service (readiness 503) and exits 0, so the kubelet restarts the container cleanly. The
 * `LlmMemoryNearLimit` alert (RSS / `llm_memory_limit_bytes` > 0.85 for 5 m) fires first.
 *
 * The limit is read again on every sample: an in-place pod resize (Kubernetes InPlacePodVerticalScaling)
 * rewrites `memory.max` of a running container, and the guard must compare with the limit that the kernel
 * enforces now, not the one at start-up.
 *
 * Cost per interval: one `process.memoryUsage.rss()` (a read of /proc/self/statm) and the few small cgroup
 * files of `readMemoryLimit()`, on an unref'd timer.
 */

export interface MemoryGuardTrip {
  /** Resident set size when the guard tripped, bytes. */
  rssBytes: number;
  /** The cgroup memory limit at that moment, bytes. */
  limitBytes: number;
  /** The configured fraction (MEMORY_GUARD_FRACTION). */
  fraction: number;
  /** `fraction x limitBytes`, rounded down: the RSS at which the guard trips. */
  thresholdBytes: number;
}

export interface MemoryGuardOptions {
  /** Trip when RSS >= fraction x limit; must be in (0, 1). */
  fraction: number;
  /** The current limit in bytes, undefined when there is none (then nothing can trip). */
  readLimit: () => Promise<number | undefined>;
  /** How often to sample. Default 1000 ms: at ~1 MB per request a leak cannot cross 8 % of a limit in a second. */
  intervalMs?: number;
  /** Reads RSS in bytes. Default `process.memoryUsage.rss`. */
  readRss?: () => number;
  /** Called once, on the first sample at or above the threshold. */
  onTrip: (trip: MemoryGuardTrip) => void;
}

export class MemoryGuard {
  readonly #opts: MemoryGuardOptions;
  #timer: NodeJS.Timeout | undefined;
  #tripped = false;
  #checking: Promise<boolean> | undefined;

  constructor(opts: MemoryGuardOptions) {
    if (!(opts.fraction > 0 && opts.fraction < 1)) throw new RangeError(`MemoryGuard fraction must be in (0, 1), got ${opts.fraction}`);
    this.#opts = opts;
  }

  get tripped(): boolean {
    return this.#tripped;
  }

  /** Samples now, then every `intervalMs` until tripped or stopped. */
  start(): void {
    if (this.#timer !== undefined || this.#tripped) return;
    this.#timer = setInterval(() => void this.check(), this.#opts.intervalMs ?? 1000);
    this.#timer.unref();
    void this.check();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One sample (never two at once); trips, once, at or above the threshold. Resolves whether it has tripped. */
  check(): Promise<boolean> {
    this.#checking ??= this.#sample().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #sample(): Promise<boolean> {
    if (this.#tripped) return true;
    const limitBytes = await this.#opts.readLimit();
    if (this.#tripped) return true;
    if (limitBytes === undefined || !(limitBytes > 0)) return false;
    const thresholdBytes = Math.floor(limitBytes * this.#opts.fraction);
    const rssBytes = (this.#opts.readRss ?? process.memoryUsage.rss)();
    if (rssBytes < thresholdBytes) return false;
    this.#tripped = true;
    this.stop();
    this.#opts.onTrip({ rssBytes, limitBytes, fraction: this.#opts.fraction, thresholdBytes });
    return true;
  }
}
