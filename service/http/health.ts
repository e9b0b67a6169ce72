/**
 * Kubernetes probe endpoints (paths from `contract.endpoints`).
 *
 * - live: answers from the event loop alone and never touches the model. 200 `{status:'ok'}`
 *   unless the event loop was badly stalled recently: the p99 of `monitorEventLoopDelay` over the
 *   last completed window is above `maxEventLoopDelayMs` (then 503, and the kubelet restarts a
 *   process that stopped serving). A loop that is wedged right now cannot answer at all, which the
 *   probe's own timeout catches.
 * - startup: 503 `{state, progress}` until the model has loaded once, then 200 for good.
 * - ready: 200 only while the engine is ready and the service is not draining.
 * - `/health` and `/v1/health`: llama-server's health check for clients written against it
 *   (tools/server/server.cpp `handle_health` and its loading middleware, utils.hpp `format_error_response`):
 *   200 `{"status":"ok"}` when ready, else 503 `{"error":{"code":503,"message":"Loading model","type":
 *   "unavailable_error"}}` (the message names our state when it is not loading: draining, failed, ...).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { endpoints, unversionedPrefix } from '../contract.js';
import type { EnginePort, EngineState } from './engine-port.js';
import type { Lifecycle } from './lifecycle.js';

export interface HealthOptions {
  engine: EnginePort;
  lifecycle: Lifecycle;
  /** Liveness fails when the event loop delay p99 of the last window exceeds this. Default 5000 ms. */
  maxEventLoopDelayMs?: number;
  /** Length of one measurement window. Default 10 000 ms. */
  windowMs?: number;
}

export interface HealthBody {
  state: EngineState;
  progress: number;
}

export async function healthPlugin(app: FastifyInstance, opts: HealthOptions): Promise<void> {
  const { engine, lifecycle } = opts;
  const maxDelayMs = opts.maxEventLoopDelayMs ?? 5000;
  const windowMs = opts.windowMs ?? 10_000;

  const histogram = monitorEventLoopDelay({ resolution: 20 });
  histogram.enable();
  let lastP99Ms = 0;
  let lastMaxMs = 0;
  const rotate = setInterval(() => {
    lastP99Ms = histogram.count > 0 ? histogram.percentile(99) / 1e6 : 0;
    lastMaxMs = histogram.count > 0 ? histogram.max / 1e6 : 0;
    histogram.reset();
  }, windowMs);
  rotate.unref();
  app.addHook('onClose', async () => {
    clearInterval(rotate);
    histogram.disable();
  });

  let loadedOnce = false;
  const body = (): HealthBody => {
    const state: EngineState = lifecycle.draining && engine.state !== 'closed' ? 'draining' : engine.state;
    if (engine.state === 'ready') loadedOnce = true;
    return { state, progress: Math.round(engine.loadProgress * 1000) / 1000 };
  };

  app.get(endpoints.live, async (_request, reply) => {
    if (lastP99Ms > maxDelayMs) {
      return reply.code(503).send({
        status: 'event-loop-stalled',
        eventLoopDelayP99Ms: Math.round(lastP99Ms),
        eventLoopDelayMaxMs: Math.round(lastMaxMs),
      });
    }
    return { status: 'ok' };
  });

  app.get(endpoints.startup, async (_request, reply) => {
    const b = body();
    return reply.code(loadedOnce ? 200 : 503).send(b);
  });

  const llamaServerHealth = async (_request: unknown, reply: FastifyReply) => {
    const { state } = body();
    if (state === 'ready') return { status: 'ok' };
    const message = state === 'loading' || state === 'idle' ? 'Loading model' : `The server is ${state}`;
    return reply.code(503).send({ error: { code: 503, message, type: 'unavailable_error' } });
  };
  app.get(endpoints.llamaHealth, llamaServerHealth);
  app.get(`${unversionedPrefix}${endpoints.llamaHealth}`, llamaServerHealth);

  app.get(endpoints.ready, async (_request, reply) => {
    const b = body();
    return reply.code(b.state === 'ready' ? 200 : 503).send(b);
  });
}
