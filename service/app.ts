/**
 * The Fastify application, separate from `main.ts`/`server.ts` so tests start it in-process
 * (`app.listen({ port: 0, host: '127.0.0.1' })`) and several apps can live in one process
 * (each has its own Prometheus registry).
 *
 * Structure: root-level error handling and access logging (they must see every request),
 * then encapsulated plugins under `service/http/`: health probes, metrics, and the OpenAI API
 * (whose bearer-token hook therefore never applies to probes or /metrics).
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { pino, type Logger } from 'pino';
import type { Config } from './config.js';
import { installRequestTracking } from './http/access-log.js';
import type { EnginePort } from './http/engine-port.js';
import { installErrorHandling } from './http/errors.js';
import { healthPlugin, type HealthOptions } from './http/health.js';
import { Lifecycle } from './http/lifecycle.js';
import { createMetrics, metricsPlugin, type Metrics, type ThreadsInfo } from './http/metrics.js';
import { openAiPlugin } from './http/openai/index.js';
import { InferenceEngine } from './inference/engine.js';
import { chooseThreads } from './runtime/threads.js';

/** Largest request body accepted (413 beyond): a full 4096-token prompt is ~16 KiB of text. */
export const bodyLimitBytes = 1024 * 1024;

export interface AppDeps {
  /** The engine to serve; default: a new InferenceEngine for `config.model` (a local path), not loaded yet. */
  engine?: EnginePort;
  /** Default: `createLogger(config)`. */
  logger?: Logger;
  /** Thread choice, reported by the `llm_threads` gauge. */
  threads?: ThreadsInfo;
  /** Liveness tuning (event loop delay bound and window). */
  health?: Pick<HealthOptions, 'maxEventLoopDelayMs' | 'windowMs'>;
}

/** What `main`/`server` and tests reach through `app.llm`. */
export interface LlmContext {
  engine: EnginePort;
  lifecycle: Lifecycle;
  metrics: Metrics;
  config: Config;
}

declare module 'fastify' {
  interface FastifyInstance {
    llm: LlmContext;
  }
}

// `InferenceEngine` must keep satisfying the port the routes are written against.
const _engineFitsPort = (e: InferenceEngine): EnginePort => e;

/** The service's pino logger: ISO timestamps, level names, the Authorization header redacted. */
export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: ['req.headers.authorization', 'headers.authorization'],
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** Honour a sane incoming `x-request-id` (proxies, clients), else a fresh UUID. */
function requestId(req: IncomingMessage): string {
  const h = req.headers['x-request-id'];
  return typeof h === 'string' && /^[\w.:@/+=-]{1,128}$/.test(h) ? h : randomUUID();
}

export async function buildApp(config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const logger = deps.logger ?? createLogger(config);
  let engine = deps.engine;
  if (engine === undefined) {
    const threads = deps.threads ?? (await chooseThreads(config.threads !== undefined ? { requested: config.threads } : {}));
    engine = new InferenceEngine({
      modelPath: config.model,
      threads: threads.threads,
      contextSize: config.contextSize,
      parallel: config.parallel,
      maxQueue: config.maxQueue,
      gpuLayers: config.gpuLayers,
      ...(config.serviceKind !== undefined ? { kind: config.serviceKind } : {}),
      log: logger.child({ component: 'engine' }),
    });
    deps = { ...deps, threads };
  }

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Fastify's two lines per request are replaced by one access line (http/access-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestId,
    bodyLimit: bodyLimitBytes,
    return503OnClosing: true,
    ajv: {
      customOptions: {
        // Reject unknown fields and wrong types instead of silently stripping or coercing them.
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: true,
        allErrors: false,
      },
    },
  });

  const lifecycle = new Lifecycle();
  const metrics = createMetrics(engine);
  if (deps.threads) metrics.threads.set({ source: deps.threads.source }, deps.threads.threads);
  app.decorate('llm', { engine, lifecycle, metrics, config } satisfies LlmContext);

  // Only JSON bodies: without this, text/plain would be parsed to a string and fail validation vaguely.
  app.removeContentTypeParser('text/plain');
  installErrorHandling(app);
  installRequestTracking(app, metrics);

  await app.register(healthPlugin, { engine, lifecycle, ...deps.health });
  await app.register(metricsPlugin, { metrics });
  await app.register(openAiPlugin, { engine, lifecycle, metrics, config });

  const ownedEngine = engine;
  app.addHook('onClose', async () => {
    lifecycle.startDraining();
    lifecycle.abortAll('shutdown');
    await ownedEngine.close();
  });
  return app;
}
