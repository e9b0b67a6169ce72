/**
 * The scale-to-zero failover responder: `node build/service/failover.js` in the service's own image.
 *
 * A model service that scales to zero is reached through the KEDA HTTP add-on's interceptor, which holds the
 * first request while a pod loads. When the hold (`coldStartTimeoutFailoverRef.timeoutSeconds`) runs out, the
 * interceptor forwards the request, unchanged (method, path and query, headers with the original Host, body), to
 * the Service the HTTPScaledObject names as its failover (kedacore/http-add-on
 * interceptor/middleware/endpoint_resolver.go swaps the upstream URL; interceptor/handler/upstream.go proxies
 * with `pr.Out.Host = pr.In.Host`). Without a failover the interceptor itself answers `504 Gateway Timeout` as
 * text/plain with no Retry-After (interceptor/handler/static.go). This responder answers every such request
 * `503 Service Unavailable` with `Retry-After` and a JSON error the API's clients parse:
 *
 * - `/v1/messages...` (Anthropic's Messages API): `{"type":"error","error":{"type":"overloaded_error",...}}`,
 *   the shape and type the service itself uses for a 503 (service/http/anthropic/errors.ts), which the
 *   `@anthropic-ai/sdk` client reads;
 * - every other path: OpenAI's `{"error":{"message","type":"service_unavailable_error","param","code"}}`, as the
 *   service answers its own 503s (service/http/errors.ts).
 *
 * The Host header says which model service the request was for (FAILOVER_ROUTES maps each service's routed host
 * names to its model and Retry-After); an unknown Host still gets a 503, with the longest Retry-After listed.
 * The request body is never read or parsed: the answer does not depend on it, and an unparsable body must not
 * turn the 503 into a 400. The responder's own probes are on a second port (HEALTH_PORT), because on the
 * failover port every path, `/health/ready` included, stands for the model that is not there.
 */
import { pathToFileURL } from 'node:url';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { pino, type Logger } from 'pino';
import { containerCommands, endpoints, failoverResponder, type FailoverRoute } from './contract.js';
import { logLevels, type LogLevel } from './config.js';
import { ApiError, sendApiError } from './http/errors.js';
import { sendAnthropicError } from './http/anthropic/errors.js';

const FailoverRouteSchema = Type.Object(
  {
    hosts: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    service: Type.String({ minLength: 1 }),
    model: Type.String({ minLength: 1 }),
    retryAfterSeconds: Type.Integer({ minimum: 1 }),
    holdSeconds: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
const FailoverRoutesSchema = Type.Array(FailoverRouteSchema, { minItems: 1 });

// The schema and the contract's type must describe the same object: a field added to one breaks the type check.
const _schemaMatchesContract = (r: Static<typeof FailoverRouteSchema>): FailoverRoute => r;
const _contractMatchesSchema = (r: FailoverRoute): Static<typeof FailoverRouteSchema> => ({ ...r, hosts: [...r.hosts] });

/** What the responder runs with. */
export interface FailoverConfig {
  readonly routes: readonly FailoverRoute[];
  /** Listen address. Default 0.0.0.0: the interceptor and the kubelet reach the pod by its own address. */
  readonly host: string;
  /** Failover port. Default failoverResponder.port (8080), the port the charts' Service targets. */
  readonly port: number;
  /** Probe port. Default failoverResponder.healthPort (8081). */
  readonly healthPort: number;
  /** pino level. Default info: one line per request answered, which only happens when a cold start ran out. */
  readonly logLevel: LogLevel;
}

/** A variable the responder cannot start with: the message names it, its problem and what is expected. */
export class FailoverConfigError extends Error {
  override readonly name = 'FailoverConfigError';
}

function portFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, problems: string[]): number {
  const text = env[name]?.trim();
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (Number.isInteger(n) && n >= 0 && n <= 65535) return n;
  problems.push(`${name}=${JSON.stringify(text)}: expected a port number 0-65535`);
  return fallback;
}

/** Reads the responder's variables; every problem at once, in one FailoverConfigError. */
export function loadFailoverConfig(env: NodeJS.ProcessEnv): FailoverConfig {
  const names = failoverResponder.envVars;
  const problems: string[] = [];
  let routes: FailoverRoute[] = [];
  const routesText = env[names.routes]?.trim() ?? '';
  if (routesText === '') {
    problems.push(`${names.routes} is not set: expected a JSON array of {hosts, service, model, retryAfterSeconds, holdSeconds}`);
  } else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(routesText);
    } catch (err) {
      problems.push(`${names.routes} is not JSON (${(err as Error).message})`);
    }
    if (parsed !== undefined) {
      const first = Value.Errors(FailoverRoutesSchema, parsed).First();
      if (first) problems.push(`${names.routes}${first.path.replaceAll('/', '.')}: ${first.message}`);
      else routes = parsed as FailoverRoute[];
    }
  }
  const port = portFrom(env, names.port, failoverResponder.port, problems);
  const healthPort = portFrom(env, names.healthPort, failoverResponder.healthPort, problems);
  if (port === healthPort && port !== 0) problems.push(`${names.port} and ${names.healthPort} are both ${port}: the probes need a port of their own`);
  const level = env[names.logLevel]?.trim() || 'info';
  if (!(logLevels as readonly string[]).includes(level)) problems.push(`${names.logLevel}=${JSON.stringify(level)}: expected one of ${logLevels.join(', ')}`);
  if (problems.length > 0) throw new FailoverConfigError(`failover responder: ${problems.join('; ')}`);
  return { routes, host: env[names.host]?.trim() || '0.0.0.0', port, healthPort, logLevel: level as LogLevel };
}

/** The Host header's name, lower case and without the port, as the interceptor matches it (pkg/routing StripPort). */
function hostName(host: string | undefined): string {
  const h = (host ?? '').trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/** The 503 for one request: which service it was for (by Host), what to tell the client, when to come back. */
export function failoverError(routes: readonly FailoverRoute[], host: string | undefined): ApiError {
  const name = hostName(host);
  const route = routes.find((r) => r.hosts.some((h) => h.toLowerCase() === name));
  if (route) {
    return new ApiError(
      503,
      `The model ${route.model} (service ${route.service}) is starting and was not ready within the ${route.holdSeconds} s this request was held; retry after ${route.retryAfterSeconds} s.`,
      'service_unavailable_error',
      null,
      'model_starting',
      { 'retry-after': String(route.retryAfterSeconds), 'cache-control': 'no-store' },
    );
  }
  const longest = Math.max(...routes.map((r) => r.retryAfterSeconds));
  return new ApiError(
    503,
    `The model service is starting and was not ready within the time this request was held; retry after ${longest} s.`,
    'service_unavailable_error',
    null,
    'model_starting',
    { 'retry-after': String(longest), 'cache-control': 'no-store' },
  );
}

/** Anthropic's Messages API and its sub-paths get Anthropic's error shape. */
function isMessagesPath(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return path === endpoints.messages || path.startsWith(`${endpoints.messages}/`);
}

function answer(routes: readonly FailoverRoute[], request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const err = failoverError(routes, request.headers.host);
  request.log.info(
    { host: request.headers.host, method: request.method, path: (request.url.split('?')[0] ?? '').slice(0, 200) },
    'cold start exceeded the hold: answered 503',
  );
  return isMessagesPath(request.url) ? sendAnthropicError(reply, err) : sendApiError(reply, err);
}

/** The failover port: every method on every path, before any body is read. */
export function buildFailoverApp(routes: readonly FailoverRoute[], logger: Logger): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // Bound slow or unfinished requests: the answer never waits for the body, but the connection does.
    requestTimeout: 30_000,
    // A URL the router refuses (bad percent-encoding) is still a request for the model that is not there.
    frameworkErrors: (_err, request, reply) => void answer(routes, request, reply),
  });
  // onRequest runs before body parsing for matched and unmatched routes alike: no content-type parser, body
  // limit or JSON error can turn the 503 into something else. Node discards the unread body after the answer.
  app.addHook('onRequest', async (request, reply) => answer(routes, request, reply));
  return app;
}

const HealthBody = Type.Object({ status: Type.Literal('ok') });

/** The probe port: the responder is up when it answers (it holds no state that could go bad). */
export function buildHealthApp(logger: Logger): FastifyInstance {
  const app = Fastify({ loggerInstance: logger as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  const ok = async (): Promise<Static<typeof HealthBody>> => ({ status: 'ok' });
  for (const path of [endpoints.live, endpoints.ready]) app.get(path, { schema: { response: { 200: HealthBody } } }, ok);
  return app;
}

export interface RunningFailover {
  readonly traffic: FastifyInstance;
  readonly health: FastifyInstance;
  /** Bound ports (useful with port 0). */
  readonly port: number;
  readonly healthPort: number;
  close(): Promise<void>;
}

export async function runFailover(config: FailoverConfig, logger?: Logger): Promise<RunningFailover> {
  const log = logger ?? pino({ level: config.logLevel, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } });
  const traffic = buildFailoverApp(config.routes, log);
  const health = buildHealthApp(log);
  await traffic.listen({ host: config.host, port: config.port });
  await health.listen({ host: config.host, port: config.healthPort });
  const portOf = (app: FastifyInstance): number => {
    const address = app.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  };
  log.info({ routes: config.routes.map((r) => ({ service: r.service, hosts: r.hosts, retryAfterSeconds: r.retryAfterSeconds })) }, 'failover responder ready');
  return {
    traffic,
    health,
    port: portOf(traffic),
    healthPort: portOf(health),
    close: async () => {
      await Promise.all([traffic.close(), health.close()]);
    },
  };
}

export function failoverUsage(): string {
  const v = failoverResponder.envVars;
  return [
    `usage: ${containerCommands.failover.join(' ')}   (the scale-to-zero failover responder; charts/constructs/scale-to-zero-failover.ts deploys it)`,
    '',
    'Answers every request on PORT with 503, Retry-After and a JSON error (Anthropic shape under /v1/messages,',
    'OpenAI shape elsewhere), choosing the model service by the Host header. Probes: GET /health/live and',
    '/health/ready on HEALTH_PORT. Reads:',
    `  ${v.routes}  JSON array of {hosts, service, model, retryAfterSeconds, holdSeconds} (required)`,
    `  ${v.host}  listen address (default 0.0.0.0)`,
    `  ${v.port}  failover port (default ${failoverResponder.port})`,
    `  ${v.healthPort}  probe port (default ${failoverResponder.healthPort})`,
    `  ${v.logLevel}  ${logLevels.join(', ')} (default info)`,
    '',
  ].join('\n');
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  if (process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(failoverUsage());
  } else {
    let config: FailoverConfig | undefined;
    try {
      config = loadFailoverConfig(process.env);
    } catch (err) {
      if (!(err instanceof FailoverConfigError)) throw err;
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 1;
    }
    if (config) {
      const running = await runFailover(config);
      const stop = (): void => void running.close().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    }
  }
}
