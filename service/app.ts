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
import { engineOptions } from './engine-options.js';
import { installRequestTracking } from './http/access-log.js';
import { installCors } from './http/cors.js';
import { installLingeringClose } from './http/linger.js';
import type { EnginePort } from './http/engine-port.js';
import { ApiError, frameworkErrorHandler, installErrorHandling } from './http/errors.js';
import { healthPlugin, type HealthOptions } from './http/health.js';
import { Lifecycle } from './http/lifecycle.js';
import { createMetrics, metricsPlugin, registerMemoryLimit, type Metrics, type ThreadsInfo } from './http/metrics.js';
import { openAiPlugin } from './http/openai/index.js';
import { anthropicPlugin } from './http/anthropic/index.js';
import { llamaServerPlugin } from './http/llama-server.js';
import { InferenceEngine } from './inference/engine.js';
import { readMemoryLimit, type MemoryLimit } from './runtime/memory-limit.js';
import { bodyLimitFor, letterRunsAreLowerBound, promptTexts, responsesPromptTexts, tokensAtLeast } from './inference/input-bounds.js';
import { endpoints, inferencePaths, unversionedPrefix } from './contract.js';
import { chooseThreads } from './runtime/threads.js';

/**
 * Connection limits, so slow or unfinished requests hold bounded memory for a bounded time:
 * - the whole request (headers and body, at most the body limit) must arrive within 30 s: a 128 KiB
 *   body needs only 4.4 KB/s; the response (a stream may last minutes) is not limited by it;
 * - headers within 10 s; Node checks both every 2 s (its default checks every 30 s);
 * - at most 512 open connections: with the body limit, at most 512 x 128 KiB = 64 MiB of bodies in
 *   flight at the default context; beyond it Node closes new connections at once.
 */
export const connectionLimits = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  checkIntervalMs: 2_000,
  maxConnections: 512,
} as const;

export interface AppDeps {
  /** The engine to serve; default: a new InferenceEngine for `config.model` (a local path), not loaded yet. */
  engine?: EnginePort;
  /** Default: `createLogger(config)`. */
  logger?: Logger;
  /** Thread choice, reported by the `llm_threads` gauge. */
  threads?: ThreadsInfo;
  /** Liveness tuning (event loop delay bound and window). */
  health?: Pick<HealthOptions, 'maxEventLoopDelayMs' | 'windowMs'>;
  /** The container's memory limit; default: `readMemoryLimit()` (under MEMORY_LIMIT_CGROUP_ROOT when set). */
  memoryLimit?: MemoryLimit;
}

/** What `main`/`server` and tests reach through `app.llm`. */
export interface LlmContext {
  engine: EnginePort;
  lifecycle: Lifecycle;
  metrics: Metrics;
  config: Config;
  /** The container's memory limit (exported as `llm_memory_limit_bytes`, watched by the memory guard). */
  memoryLimit: MemoryLimit;
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

/** OpenAI routes (first path segment after `/v1`) that are also served without the prefix. */
const unversionedRoutes = new Set(
  [endpoints.models, endpoints.chatCompletions, endpoints.completions, endpoints.embeddings, endpoints.responses].map(
    (p) => p.slice(unversionedPrefix.length).split('/')[1],
  ),
);

/** `/chat/completions?x` -> `/v1/chat/completions?x` for the OpenAI routes; every other URL unchanged. */
export function withV1Prefix(url: string): string {
  if (url.startsWith(`${unversionedPrefix}/`)) return url;
  const first = /^\/([^/?#]+)/.exec(url)?.[1];
  return first !== undefined && unversionedRoutes.has(first) ? `${unversionedPrefix}${url}` : url;
}

/** Honour a sane incoming `x-request-id` (proxies, clients), else a fresh UUID. */
function requestId(req: IncomingMessage): string {
  const h = req.headers['x-request-id'];
  return typeof h === 'string' && /^[\w.:@/+=-]{1,128}$/.test(h) ? h : randomUUID();
}

/**
 * Refuses, before the engine tokenizes anything, a chat or completion prompt that cannot fit the context
 * (input-bounds.ts: message count, then a sliced token count that yields to the event loop and stops at
 * the limit). A root preHandler: it runs after the body was parsed and validated, inside every route of
 * the OpenAI plugin, and never on probes.
 */
function installInputBounds(app: FastifyInstance, engine: EnginePort, contextSize: number, metrics: Metrics): void {
  const counter = engine as Partial<{ countTextTokens(text: string): number | undefined }>;
  if (typeof counter.countTextTokens !== 'function') return;
  const count = counter.countTextTokens.bind(engine);
  // The engine's own rule (engine.ts generate): the prompt plus room for one generated token.
  const maxPromptTokens = contextSize - 2;
  let lettersBound: boolean | undefined; // checked against the loaded tokenizer on first use
  app.addHook('preHandler', async (request) => {
    if (request.method !== 'POST' || !inferencePaths.includes(request.routeOptions.url ?? '')) return;
    const texts = request.routeOptions.url === endpoints.responses ? responsesPromptTexts(request.body) : promptTexts(request.body);
    if (texts === undefined || count('') === undefined) return; // not loaded: the route answers 503
    const tokens = (t: string): number => count(t) ?? 0;
    lettersBound ??= letterRunsAreLowerBound(tokens);
    const n = await tokensAtLeast(texts, tokens, maxPromptTokens, () => request.raw.socket.destroyed, lettersBound);
    // The client left while we counted: answer nothing more (the access log records 499).
    if (n === undefined) throw new ApiError(400, 'The client closed the connection.', 'invalid_request_error', null, 'client_closed');
    if (n <= maxPromptTokens) return;
    metrics.rejected.inc({ reason: 'prompt_too_long' });
    const route = request.routeOptions.url;
    const what = route === endpoints.chatCompletions || route === endpoints.messages ? 'messages' : route === endpoints.responses ? 'input' : 'prompt';
    throw new ApiError(
      400,
      `This model's maximum context length is ${contextSize} tokens. However, your ${what} resulted in at least ` +
        `${n} tokens (at most ${maxPromptTokens} prompt tokens fit). Please reduce the length of the ${what}.`,
      'invalid_request_error',
      what,
      'context_length_exceeded',
    );
  });
}

export async function buildApp(config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const logger = deps.logger ?? createLogger(config);
  let engine = deps.engine;
  if (engine === undefined) {
    const threads = deps.threads ?? (await chooseThreads(config.threads !== undefined ? { requested: config.threads } : {}));
    engine = new InferenceEngine(engineOptions(config, { threads: threads.threads, log: logger.child({ component: 'engine' }) }));
    deps = { ...deps, threads };
  }

  let countRejected: (request: { method: string }, status: number) => void = () => undefined;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Fastify's two lines per request are replaced by one access line (http/access-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestId,
    // The OpenAI paths without `/v1` (llama-server serves both): routed as the `/v1` ones, one route each.
    rewriteUrl: (req) => withV1Prefix(req.url ?? '/'),
    // What a request can use: CONTEXT_SIZE tokens, in bytes per token with a margin (input-bounds.ts).
    bodyLimit: bodyLimitFor(config.contextSize),
    requestTimeout: connectionLimits.requestTimeoutMs,
    http: { headersTimeout: connectionLimits.headersTimeoutMs, connectionsCheckingInterval: connectionLimits.checkIntervalMs },
    return503OnClosing: true,
    frameworkErrors: frameworkErrorHandler((request, status) => countRejected(request, status)),
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
  countRejected = (request, status) => metrics.requests.inc({ route: 'unmatched', method: request.method, status: String(status) });
  if (deps.threads) metrics.threads.set({ source: deps.threads.source }, deps.threads.threads);
  const readLimit = () => readMemoryLimit(config.memoryLimitCgroupRoot !== undefined ? { cgroupRoot: config.memoryLimitCgroupRoot } : {});
  const memoryLimit = deps.memoryLimit ?? (await readLimit());
  registerMemoryLimit(metrics, memoryLimit, deps.memoryLimit === undefined ? readLimit : undefined, config.memoryGuardHeadroomMiB * 2 ** 20);
  app.decorate('llm', { engine, lifecycle, metrics, config, memoryLimit } satisfies LlmContext);

  // Only JSON bodies: without this, text/plain would be parsed to a string and fail validation vaguely.
  app.removeContentTypeParser('text/plain');
  installErrorHandling(app);
  installRequestTracking(app, metrics);
  installCors(app, config.corsOrigins);
  installLingeringClose(app);
  app.server.maxConnections = connectionLimits.maxConnections;
  installInputBounds(app, engine, config.contextSize, metrics);

  await app.register(healthPlugin, { engine, lifecycle, ...deps.health });
  await app.register(metricsPlugin, { metrics });
  await app.register(openAiPlugin, { engine, lifecycle, metrics, config });
  await app.register(anthropicPlugin, { engine, lifecycle, metrics, config });
  await app.register(llamaServerPlugin, { engine, config });

  const ownedEngine = engine;
  app.addHook('onClose', async () => {
    lifecycle.startDraining();
    lifecycle.abortAll('shutdown');
    await ownedEngine.close();
  });
  return app;
}
