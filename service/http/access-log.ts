/**
 * One access line and the request metrics per request, written when the response closes:
 * `close` fires for completed responses, hijacked streams and client disconnects alike
 * (Fastify's own `onResponse` misses the latter), so every request is counted exactly once.
 *
 * Probe and scrape requests log at debug: a kubelet probing every few seconds would
 * otherwise drown the lines that matter. Generation requests add token counts and timings
 * (`request.generation`), never prompt or completion text.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { performance } from 'node:perf_hooks';
import { endpoints } from '../contract.js';
import type { Metrics } from './metrics.js';

const quietRoutes = new Set<string>([endpoints.live, endpoints.ready, endpoints.startup, endpoints.metrics]);

/**
 * A request URL safe to log: the query string is replaced by `?<redacted>` (clients put `api_key=`, signed
 * tokens and other secrets there; none of this API's parameters live in the query), and the path is clipped.
 */
export function redactRequestUrl(url: string): string {
  const q = url.indexOf('?');
  const pathPart = q < 0 ? url : url.slice(0, q);
  const clipped = pathPart.length > 200 ? `${pathPart.slice(0, 200)}...` : pathPart;
  return q < 0 ? clipped : `${clipped}?<redacted>`;
}

/** What the access line says about the request (taken on arrival): never the query string, never a header. */
function requestFields(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactRequestUrl(request.url),
    remoteAddress: request.raw.socket.remoteAddress,
    remotePort: request.raw.socket.remotePort,
  };
}

export function installRequestTracking(app: FastifyInstance, metrics: Metrics): void {
  app.decorateRequest('generation', null);

  app.addHook('onRequest', (request, reply, done) => {
    // Set on the raw response so hijacked (streaming) replies carry it too.
    reply.raw.setHeader('x-request-id', request.id);
    const start = performance.now();
    const req = requestFields(request);
    reply.raw.once('close', () => {
      const res = reply.raw;
      const aborted = !res.writableFinished;
      // 499 (nginx's "client closed request") when the client left before any response.
      const status = aborted && !res.headersSent ? 499 : res.statusCode;
      const route = request.routeOptions.url ?? 'unmatched';
      const labels = { route, method: request.method, status: String(status) };
      const ms = performance.now() - start;
      metrics.requests.inc(labels);
      metrics.requestDuration.observe(labels, ms / 1000);

      const line = {
        req,
        res: { statusCode: status },
        responseTime: Math.round(ms * 10) / 10,
        ...(aborted ? { aborted: true } : {}),
        ...(request.generation ?? {}),
      };
      if (quietRoutes.has(route)) request.log.debug(line, 'request completed');
      else if (status >= 500 && status !== 503) request.log.error(line, 'request completed');
      else request.log.info(line, 'request completed');
    });
    done();
  });
}
