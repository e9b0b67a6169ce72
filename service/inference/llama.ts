/**
 * One node-llama-cpp `Llama` per process, shared by reference count.
 *
 * node-llama-cpp's native addon is process-global: `Llama.dispose()` frees the llama.cpp backend for
 * every instance, and a `Llama` created after another was disposed no longer receives llama.cpp's
 * log lines (they go straight to stderr, so load errors lose their explanation). Production runs one
 * engine per process; tests run several. Sharing one instance, disposed when the last engine lets go,
 * is correct for both.
 */
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';

export type NativeLogListener = (level: LlamaLogLevel, message: string) => void;

interface Shared {
  gpu: false | 'auto';
  llama: Promise<Llama>;
  refs: number;
  /** A model load failed on this instance: its dispose() can never finish (see `release`). */
  failedLoad: boolean;
}

/** Upper bound on waiting for Llama.dispose(), so close() never hangs. */
const disposeTimeoutMs = 5_000;

let shared: Shared | undefined;
const listeners = new Set<NativeLogListener>();

function dispatchLog(level: LlamaLogLevel, message: string): void {
  for (const listener of listeners) listener(level, message);
}

export interface LlamaLease {
  readonly llama: Llama;
  /** Record that `loadModel` failed on this instance (node-llama-cpp then leaks a dispose guard handle). */
  markFailedLoad(): void;
  /** Drop this reference; the last one disposes the Llama (idempotent, bounded in time). */
  release(): Promise<void>;
}

/**
 * Get the process's Llama: `gpu: false` never probes GPU backends; `build: 'never'` never compiles
 * llama.cpp at run time; `maxThreads` caps llama.cpp's threads (its default is sized to the host,
 * not the container). Log lines at warn and above go to every registered listener.
 */
export async function acquireLlama(opts: { gpu: false | 'auto'; maxThreads: number; onLog: NativeLogListener }): Promise<LlamaLease> {
  if (shared !== undefined && shared.gpu !== opts.gpu) {
    throw new Error(
      `A llama.cpp instance with gpu=${String(shared.gpu)} is already in use in this process; gpu=${String(opts.gpu)} cannot be loaded alongside it`,
    );
  }
  if (shared === undefined) {
    const created: Shared = {
      gpu: opts.gpu,
      refs: 0,
      failedLoad: false,
      llama: getLlama({
        gpu: opts.gpu,
        build: 'never',
        maxThreads: opts.maxThreads,
        logLevel: LlamaLogLevel.warn,
        logger: dispatchLog,
      }),
    };
    shared = created;
    created.llama.catch(() => {
      if (shared === created) shared = undefined;
    });
  }
  const entry = shared;
  entry.refs++;
  listeners.add(opts.onLog);
  let llama: Llama;
  try {
    llama = await entry.llama;
  } catch (err) {
    entry.refs--;
    listeners.delete(opts.onLog);
    throw err;
  }
  if (llama.maxThreads < opts.maxThreads) llama.maxThreads = opts.maxThreads;
  let released = false;
  return {
    llama,
    markFailedLoad: () => {
      entry.failedLoad = true;
    },
    release: async () => {
      if (released) return;
      released = true;
      listeners.delete(opts.onLog);
      entry.refs--;
      if (entry.refs === 0 && shared === entry) {
        shared = undefined;
        await disposeBounded(llama, entry.failedLoad ? 0 : disposeTimeoutMs);
      }
    },
  };
}

/**
 * node-llama-cpp 3.21/3.22: a LlamaModel whose load fails (truncated file, unknown architecture...)
 * is never disposed internally, and its "prevent disposal" handle on the Llama stays held, so
 * `Llama.dispose()` waits forever. Start the disposal (it marks the instance disposed and releases what
 * it can) but never wait on it for longer than `timeoutMs`.
 */
async function disposeBounded(llama: Llama, timeoutMs: number): Promise<void> {
  const disposal = llama.dispose();
  if (timeoutMs === 0) {
    disposal.catch(() => undefined);
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
    timer.unref();
  });
  try {
    const result = await Promise.race([disposal.then(() => 'disposed' as const), timedOut]);
    if (result === 'timeout') throw new Error(`llama.cpp backend disposal did not finish within ${timeoutMs} ms`);
  } finally {
    clearTimeout(timer);
  }
}
