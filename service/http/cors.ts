/**
 * CORS (CORS_ORIGINS), off unless configured: a browser page on another origin may call the API only when
 * its origin is listed (or the list is `*`). The Fetch standard's protocol (https://fetch.spec.whatwg.org/#http-cors-protocol):
 *
 * - a request with an allowed `Origin` gets `Access-Control-Allow-Origin` (that origin, or `*`), `Vary: Origin`,
 *   and `Access-Control-Expose-Headers` for what a client reads from an answer (Retry-After on 429/503, the
 *   request id), error answers included, so a page can read a 401 or a 429;
 * - a preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin is answered 204 with the
 *   methods and the headers it asked for, before authentication (browsers send no Authorization header on a
 *   preflight, as llama-server's pre-routing handler also notes in tools/server/server.cpp); from another
 *   origin it is a 403 naming the setting.
 *
 * No `Access-Control-Allow-Credentials`: the API authenticates with a bearer header, not cookies.
 */
import type { FastifyInstance } from 'fastify';
import { envVars } from '../contract.js';
import { ApiError, sendApiError } from './errors.js';

/** How long a browser may cache a preflight answer (seconds); Chromium caps it at 7200. */
const preflightMaxAgeSeconds = 600;
const exposedHeaders = 'retry-after, x-request-id';

export function installCors(app: FastifyInstance, origins: readonly string[] | undefined): void {
  if (origins === undefined || origins.length === 0) return;
  const any = origins.includes('*');
  const allowed = new Set(origins.map((o) => o.toLowerCase()));
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (typeof origin !== 'string') return undefined;
    const ok = any || allowed.has(origin.toLowerCase());
    const preflight = request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
    if (!ok) {
      if (!preflight) return undefined;
      return sendApiError(
        reply,
        new ApiError(
          403,
          `The origin ${origin} is not allowed to call this API; add it to ${envVars.corsOrigins} to allow it.`,
          'invalid_request_error',
          null,
          'cors_origin_not_allowed',
        ),
      );
    }
    reply.header('access-control-allow-origin', any ? '*' : origin).header('vary', 'Origin');
    if (!preflight) {
      reply.header('access-control-expose-headers', exposedHeaders);
      return undefined;
    }
    const requested = request.headers['access-control-request-headers'];
    return reply
      .code(204)
      .header('access-control-allow-methods', 'GET, POST, OPTIONS')
      .header('access-control-allow-headers', typeof requested === 'string' && requested.trim() !== '' ? requested : 'authorization, content-type')
      .header('access-control-max-age', String(preflightMaxAgeSeconds))
      .send();
  });
}
