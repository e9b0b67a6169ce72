/**
 * The process around the app: eager model loading and graceful shutdown.
 *
 * Start-up order (so Kubernetes probes always get an answer that means something):
 *  1. choose inference threads from the container's CPU allowance (logged with its source);
 *  2. build the app and start listening: /health/startup and /health/ready answer 503 `{state, progress}`;
 *  3. acquire the model (a local file, or a download into MODEL_CACHE_DIR, checksum-verified) and load
 *     it; ready turns 200. Acquisition counts as loading, so a download at start is visible to the
 *     probes as 503, never as a refused connection. A failure logs one clear line and exits 1.
 *
 * Shutdown on SIGTERM / SIGINT:
 *  - at once: readiness 503, engine.drain(), new /v1 requests 503 (the endpoints controller takes the
 *    pod out of the Service while we still answer);
 *  - in-flight generations (queued ones included) may finish for up to SHUTDOWN_GRACE_MS;
 *  - then the rest are aborted (streams end with a final chunk and [DONE]), `app.close()` runs
 *    (its onClose hook disposes the engine) and the process exits 0;
 *  - a second signal exits immediately with 128 + signal number (130 SIGINT, 143 SIGTERM),
 *    the shell convention for "killed by a signal".
 * The memory guard (runtime/memory-guard.ts) runs the same sequence, exit 0 included, when resident
 * memory comes within MEMORY_GUARD_HEADROOM_MIB of the cgroup limit: the kubelet restarts the container
 * instead of the OOM killer cutting every answer in flight.
 * SHUTDOWN_GRACE_MS must stay below the pod's terminationGracePeriodSeconds (the manifests ensure it).
 */
import type { FastifyInstance } from 'fastify';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { buildApp, createLogger } from './app.js';
import { describeConfig, effectiveBatchSize, type Config } from './config.js';
import { engineOptions } from './engine-options.js';
import { InferenceEngine } from './inference/engine.js';
import { join } from 'node:path';
import { acquireModel, ModelAcquireError, parseModelRef, type ModelSource } from './model/acquire.js';
import { MemoryGuard, type MemoryGuardTrip } from './runtime/memory-guard.js';
import { readMemoryLimit } from './runtime/memory-limit.js';
import { chooseThreads } from './runtime/threads.js';
import { checkMemoryFit } from './inference/memory-fit.js';
import type { MemoryLimit } from './runtime/memory-limit.js';

/** How long aborted generations get to write their last chunk before the server closes anyway. */
const abortSettleMs = 3_000;
/** Upper bound on `app.close()` before the process exits regardless. */
const closeTimeoutMs = 5_000;

export interface RunServerOptions {
  /** Default: `createLogger(config)`. */
  logger?: Logger;
  /** Default: `process.exit`. */
  exit?: (code: number) => void;
  /** Install SIGTERM / SIGINT handlers; default true. */
  handleSignals?: boolean;
  /** The container memory limit the load-time check compares with; default the cgroup's (tests pass a fake tree). */
  readMemoryLimit?: () => Promise<MemoryLimit>;
}

export interface RunningServer {
  app: FastifyInstance;
  /** Base URL the server listens on. */
  url: string;
  /** Seconds from process start to ready. */
  startupSeconds: number;
  /** Runs the graceful shutdown sequence (what SIGTERM triggers). */
  shutdown(reason?: string): Promise<void>;
}

function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, ' ');
}

const signalExitCodes: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Runs the server until shutdown. Resolves once the model is loaded and the server is ready;
 * on a fatal start-up error it logs one line and calls `exit(1)`.
 */
export async function runServer(config: Config, opts: RunServerOptions = {}): Promise<RunningServer | undefined> {
  const log = opts.logger ?? createLogger(config);
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const startAbort = new AbortController();
  let app: FastifyInstance | undefined;
  let shuttingDown: Promise<void> | undefined;
  let memoryGuard: MemoryGuard | undefined;

  log.info({ config: describeConfig(config) }, 'starting inference server');

  const shutdown = (reason = 'shutdown'): Promise<void> => {
    shuttingDown ??= (async () => {
      startAbort.abort(new Error(`start-up interrupted by ${reason}`));
      memoryGuard?.stop();
      if (app === undefined) {
        log.info({ reason }, 'shutdown before the server started; exiting');
        exit(0);
        return;
      }
      const { lifecycle, engine } = app.llm;
      const t0 = performance.now();
      lifecycle.startDraining();
      engine.drain();
      log.info({ reason, inFlight: lifecycle.inFlight, graceMs: config.shutdownGraceMs }, 'shutting down: readiness is 503, draining in-flight requests');
      const drained = await lifecycle.waitIdle(config.shutdownGraceMs);
      if (!drained) {
        const cut = lifecycle.abortAll('shutdown');
        log.warn({ aborted: cut, graceMs: config.shutdownGraceMs }, 'grace period over: aborting the remaining generations');
        await lifecycle.waitIdle(abortSettleMs);
      }
      const closeTimer = setTimeout(() => {
        log.error({ timeoutMs: closeTimeoutMs }, 'server close timed out; exiting anyway');
        exit(1);
      }, closeTimeoutMs);
      closeTimer.unref();
      try {
        await app.close();
      } catch (err) {
        log.error({ err }, 'error while closing the server');
      }
      clearTimeout(closeTimer);
      log.info({ drained, shutdownMs: Math.round(performance.now() - t0) }, 'shutdown complete');
      exit(0);
    })();
    return shuttingDown;
  };

  if (opts.handleSignals !== false) {
    // A drain the memory guard started is not a first signal: the kubelet's SIGTERM (a rollout at the same
    // moment) joins that drain; only a second *signal* exits at once.
    let signalled = false;
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.on(sig, () => {
        if (signalled) {
          log.warn({ signal: sig }, 'second signal during shutdown: exiting immediately');
          exit(signalExitCodes[sig] ?? 1);
          return;
        }
        signalled = true;
        void shutdown(sig);
      });
    }
  }

  const fatal = (what: string, err: unknown): undefined => {
    const code = err instanceof ModelAcquireError ? err.code : err instanceof Error ? err.name : undefined;
    log.fatal({ code }, `${what}: ${oneLine(err)}`);
    exit(1);
    return undefined;
  };

  // 1. Threads.
  const threads = await chooseThreads(config.threads !== undefined ? { requested: config.threads } : {});
  log.info(
    { threads: threads.threads, source: threads.source, cpuAllowance: threads.cpuAllowance, note: threads.note },
    `using ${threads.threads} inference thread(s) (source: ${threads.source})`,
  );

  // 2. Listen before acquiring and loading, so probes see 503 {state, progress} instead of connection refused.
  const modelLog = log.child({ component: 'model' });
  let source: ModelSource;
  try {
    source = parseModelRef(config.model);
  } catch (err) {
    return fatal('cannot acquire the model', err);
  }
  const engine = new InferenceEngine(
    engineOptions(config, {
      threads: threads.threads,
      log: log.child({ component: 'engine' }),
      modelPath: source.kind === 'local' ? source.path : join(config.modelCacheDir, source.fileName),
      resolveModelPath: async (signal) => {
        const acquired = await acquireModel({
          model: config.model,
          cacheDir: config.modelCacheDir,
          log: modelLog,
          signal,
          ...(config.modelSha256 !== undefined ? { sha256: config.modelSha256 } : {}),
        });
        modelLog.info({ path: acquired.path, bytes: acquired.bytes, downloaded: acquired.downloaded, verified: acquired.verified }, 'model file ready');
        return acquired.path;
      },
      // Refuse, before llama.cpp allocates the context, a model that the container's memory limit cannot hold.
      checkBeforeContext: async (modelPath, fileInfo) => {
        await checkMemoryFit({
          modelPath,
          fileInfo,
          contextSize: config.contextSize,
          // An embedding context has one sequence (PARALLEL is unused there).
          parallel: config.serviceKind === 'embedding' ? 1 : config.parallel,
          batchSize: effectiveBatchSize(config),
          gpuLayers: config.gpuLayers,
          log: modelLog,
          ...(opts.readMemoryLimit ? { readLimit: opts.readMemoryLimit } : {}),
        });
      },
    }),
  );
  try {
    app = await buildApp(config, { engine, logger: log, threads });
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await engine.close();
    return fatal(`cannot listen on ${config.host}:${config.port}`, err);
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  // 3. Acquire and load.
  const t0 = performance.now();
  try {
    await engine.load();
  } catch (err) {
    if (shuttingDown) return undefined;
    const closing = app.close().catch(() => undefined);
    await Promise.race([closing, new Promise((r) => setTimeout(r, 2_000).unref())]);
    return fatal(err instanceof ModelAcquireError ? 'cannot acquire the model' : 'model load failed, exiting', err);
  }
  const loadSeconds = (performance.now() - t0) / 1000;
  app.llm.metrics.modelLoadSeconds.set(loadSeconds);
  const startupSeconds = process.uptime();
  if (!shuttingDown) {
    log.info(
      { model: engine.modelId, loadSeconds: Math.round(loadSeconds * 100) / 100, startupSeconds: Math.round(startupSeconds * 100) / 100, url },
      'model loaded: ready to serve',
    );
  }
  if (!shuttingDown) memoryGuard = startMemoryGuard(app, config, log, shutdown);
  return { app, url, startupSeconds, shutdown };
}

const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

/** Starts the memory guard unless MEMORY_GUARD_HEADROOM_MIB is 0 (see runtime/memory-guard.ts). */
function startMemoryGuard(app: FastifyInstance, config: Config, log: Logger, shutdown: (reason: string) => Promise<void>): MemoryGuard | undefined {
  const headroomBytes = config.memoryGuardHeadroomMiB * 2 ** 20;
  const atStart = app.llm.memoryLimit;
  if (headroomBytes === 0) {
    log.info({ memoryGuardHeadroomMiB: 0 }, 'memory guard disabled (MEMORY_GUARD_HEADROOM_MIB=0)');
    return undefined;
  }
  const readOptions = config.memoryLimitCgroupRoot !== undefined ? { cgroupRoot: config.memoryLimitCgroupRoot } : {};
  let limitFile = atStart.file;
  const guard = new MemoryGuard({
    headroomBytes,
    readLimit: async () => {
      const limit = await readMemoryLimit(readOptions);
      limitFile = limit.file;
      return limit.bytes;
    },
    onTrip: (trip: MemoryGuardTrip) => {
      log.error(
        {
          rssBytes: trip.rssBytes,
          limitBytes: trip.limitBytes,
          thresholdBytes: trip.thresholdBytes,
          headroomBytes: trip.headroomBytes,
          limitFile,
          inFlight: app.llm.lifecycle.inFlight,
        },
        `memory guard: RSS ${mib(trip.rssBytes)} MiB came within ${mib(trip.headroomBytes)} MiB of the ${mib(trip.limitBytes)} MiB memory limit ` +
          `(${limitFile ?? 'cgroup'}); draining and exiting 0 so the container restarts before the OOM killer takes it`,
      );
      void shutdown('memory-guard');
    },
  });
  log.info(
    { memoryLimitBytes: atStart.bytes, memoryLimitFile: atStart.file, memoryGuardHeadroomMiB: config.memoryGuardHeadroomMiB },
    atStart.bytes === undefined
      ? `memory guard on, idle while the container has no memory limit (${atStart.source})`
      : `memory guard on: drains at RSS >= ${mib(Math.max(0, atStart.bytes - headroomBytes))} MiB (${mib(headroomBytes)} MiB below the ${mib(atStart.bytes)} MiB limit)`,
  );
  guard.start();
  return guard;
}
