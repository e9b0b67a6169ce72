/**
 * Prometheus metrics, one `Registry` per app instance (tests build several apps in one process).
 *
 * Names are prefixed `llm_` and live in service/contract.ts (`metricNames`), which the alert rules, the
 * autoscaler trigger and the Grafana dashboard read too.
 * Engine gauges are read at scrape time (`collect()` calls `engine.stats()`), so they
 * are never stale. Node's default metrics (event loop lag, GC, heap) come unprefixed,
 * under their usual names.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { endpoints, metricNames } from '../contract.js';
import type { MemoryLimit } from '../runtime/memory-limit.js';
import type { EnginePort } from './engine-port.js';

export interface ThreadsInfo {
  threads: number;
  source: string;
}

export function createMetrics(engine: EnginePort) {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const metrics = {
    registry,
    requests: new Counter({
      name: metricNames.requests,
      help: 'HTTP requests answered, by route, method and status code.',
      labelNames: ['route', 'method', 'status'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: metricNames.requestDuration,
      help: 'HTTP request duration from arrival to the last byte (streams: to [DONE]), by route, method and status.',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320],
      registers,
    }),
    promptTokens: new Counter({
      name: metricNames.promptTokens,
      help:
        "Prompt tokens processed, by endpoint and source: cached (reused from a sequence's kept tokens, PROMPT_CACHE) " +
        'or evaluated; the sum over source is every prompt token.',
      labelNames: ['endpoint', 'source'] as const,
      registers,
    }),
    generatedTokens: new Counter({
      name: metricNames.generatedTokens,
      help: 'Completion tokens generated, by endpoint.',
      labelNames: ['endpoint'] as const,
      registers,
    }),
    generations: new Counter({
      name: metricNames.generations,
      help: 'Generations finished, by endpoint and engine finish reason (stop, length, abort, timeout).',
      labelNames: ['endpoint', 'finish_reason'] as const,
      registers,
    }),
    rejected: new Counter({
      name: metricNames.rejected,
      help: 'Generation requests refused before running, by reason (queue_full, prompt_too_long, not_ready, draining).',
      labelNames: ['reason'] as const,
      registers,
    }),
    timeToFirstToken: new Histogram({
      name: metricNames.timeToFirstToken,
      help: 'From request arrival to the first generated text, including queueing and prompt prefill.',
      labelNames: ['endpoint'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120],
      registers,
    }),
    queueWait: new Histogram({
      name: metricNames.queueWait,
      help: 'Time a generation waited for a free sequence.',
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    tokensPerSecond: new Histogram({
      name: metricNames.tokensPerSecond,
      help: 'Decode speed of one generation: (completion tokens - 1) / (last token time - first token time).',
      labelNames: ['endpoint'] as const,
      buckets: [0.5, 1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256],
      registers,
    }),
    queueDepth: new Gauge({
      name: metricNames.queueDepth,
      help: 'Generations waiting for a free sequence.',
      registers,
      collect() {
        this.set(engine.stats().queueDepth);
      },
    }),
    maxQueue: new Gauge({
      name: metricNames.maxQueue,
      help: 'Queue capacity (MAX_QUEUE); beyond it requests get 429.',
      registers,
      collect() {
        this.set(engine.stats().maxQueue);
      },
    }),
    busySequences: new Gauge({
      name: metricNames.busySequences,
      help: 'Sequences currently generating.',
      registers,
      collect() {
        this.set(engine.stats().busySequences);
      },
    }),
    parallelSequences: new Gauge({
      name: metricNames.parallelSequences,
      help: 'Sequences the context decodes in parallel (PARALLEL).',
      registers,
      collect() {
        this.set(engine.stats().parallel);
      },
    }),
    modelReady: new Gauge({
      name: metricNames.modelReady,
      help: '1 when the engine state is ready, else 0.',
      registers,
      collect() {
        this.set(engine.state === 'ready' ? 1 : 0);
      },
    }),
    modelLoadProgress: new Gauge({
      name: metricNames.modelLoadProgress,
      help: 'Model load progress, 0..1.',
      registers,
      collect() {
        this.set(engine.loadProgress);
      },
    }),
    modelLoadSeconds: new Gauge({
      name: metricNames.modelLoadSeconds,
      help: 'Seconds the last model load took (set once the model is loaded).',
      registers,
    }),
    threads: new Gauge({
      name: metricNames.threads,
      help: 'Inference threads, labelled with where the number came from (THREADS, cgroup-v2, cgroup-v1, available-parallelism).',
      labelNames: ['source'] as const,
      registers,
    }),
  };
  if (engine.kind !== 'embedding') {
    // An encoder-only embedding model has no KV cache: no series rather than a constant 0.
    new Gauge({
      name: metricNames.kvCacheUsage,
      help:
        'KV cache cells held by running generations over all cells, 0..1 (Gateway API Inference Extension ' +
        'KVCacheUtilization); a kept prompt of an idle sequence is reusable and not counted.',
      registers,
      collect() {
        const kv = engine.stats().kvCache;
        this.set(kv !== undefined && kv.cells > 0 ? kv.usedCells / kv.cells : 0);
      },
    });
  }
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Encapsulated plugin serving `GET /metrics` in the Prometheus text format. */
export async function metricsPlugin(app: FastifyInstance, opts: { metrics: Metrics }): Promise<void> {
  const { registry } = opts.metrics;
  app.get(endpoints.metrics, async (_request, reply) => {
    const body = await registry.metrics();
    return reply.type(registry.contentType).send(body);
  });
}

/**
 * `llm_memory_limit_bytes`: the cgroup memory limit, beside prom-client's `process_resident_memory_bytes`,
 * so `process_resident_memory_bytes / llm_memory_limit_bytes` is the share of the limit in use (the
 * `LlmMemoryNearLimit` alert). Registered only when a limit exists at start-up: an unlabelled gauge always
 * exports a sample, and a 0 would turn that ratio into +Inf. Each scrape reads the limit again
 * (`readLimit`), so an in-place resize of the pod shows at once.
 */
export function registerMemoryLimit(metrics: Metrics, limit: MemoryLimit, readLimit?: () => Promise<MemoryLimit>, guardHeadroomBytes = 0): void {
  if (limit.bytes === undefined) return;
  let lastBytes = limit.bytes;
  // One read per scrape, shared by both gauges: prom-client starts every collect() of a scrape at once, so
  // the trip point must wait for the same read as the limit, not show the previous scrape's.
  let reading: Promise<number> | undefined;
  const currentBytes = (): Promise<number> => {
    if (readLimit === undefined) return Promise.resolve(lastBytes);
    reading ??= readLimit()
      .then((current) => {
        if (current.bytes !== undefined) lastBytes = current.bytes;
        return lastBytes;
      })
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };
  new Gauge({
    name: metricNames.memoryLimit,
    help: 'Memory limit of the container (cgroup memory.max or memory.limit_in_bytes), bytes; absent when unlimited.',
    registers: [metrics.registry],
    async collect() {
      this.set(await currentBytes());
    },
  });
  if (guardHeadroomBytes > 0) {
    // The memory guard's trip point (service/runtime/memory-guard.ts: RSS >= limit - headroom), beside the
    // limit, so a dashboard draws RSS against both lines. Absent when MEMORY_GUARD_HEADROOM_MIB is 0 (no guard).
    new Gauge({
      name: metricNames.memoryGuardTrip,
      help: 'Resident memory at which the memory guard drains the pod: the memory limit minus MEMORY_GUARD_HEADROOM_MIB, bytes.',
      registers: [metrics.registry],
      async collect() {
        this.set(Math.max(0, (await currentBytes()) - guardHeadroomBytes));
      },
    });
  }
}
