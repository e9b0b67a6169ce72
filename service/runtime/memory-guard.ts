/**
 * The last line of defence against the OOM killer: watch resident memory against the cgroup limit and,
 * once it comes within a set headroom of it, hand over to a graceful drain instead of being killed
 * mid-answer.
 *
 * Why: the kernel kills a container the moment its cgroup reaches `memory.max`; every stream in flight is
 * cut, and the process logs nothing. Draining just before that lets the answers in flight finish, takes the
 * pod out of the Service (readiness 503) and exits 0, so the kubelet restarts the container cleanly. The
 * `LlmMemoryNearLimit` alert (limit - RSS below twice the headroom for 5 m) fires first. Why headroom in
 * bytes and not a fraction of the limit: `defaultMemoryGuardHeadroomMiB` in service/contract.ts.
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
  /** The configured headroom (MEMORY_GUARD_HEADROOM_MIB), bytes. */
  headroomBytes: number;
  /** `limitBytes - headroomBytes`: the RSS at which the guard trips. */
  thresholdBytes: number;
}

export interface MemoryGuardOptions {
  /** Trip when RSS >= limit - headroomBytes; must be a positive number of bytes. */
  headroomBytes: number;
  /** The current limit in bytes, undefined when there is none (then nothing can trip). */
  readLimit: () => Promise<number | undefined>;
  /** How often to sample. Default 1000 ms: at ~1 MB per request a leak cannot cross 64 MiB in a second. */
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
    if (!(opts.headroomBytes > 0 && Number.isFinite(opts.headroomBytes))) {
      throw new RangeError(`MemoryGuard headroomBytes must be a positive number, got ${opts.headroomBytes}`);
    }
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
    const thresholdBytes = Math.max(0, limitBytes - this.#opts.headroomBytes);
    const rssBytes = (this.#opts.readRss ?? process.memoryUsage.rss)();
    if (rssBytes < thresholdBytes) return false;
    this.#tripped = true;
    this.stop();
    this.#opts.onTrip({ rssBytes, limitBytes, headroomBytes: this.#opts.headroomBytes, thresholdBytes });
    return true;
  }
}
