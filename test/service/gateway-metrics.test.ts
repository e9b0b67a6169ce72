/**
 * The gauges an inference gateway routes by (Gateway API Inference Extension model-server protocol,
 * service/contract.ts `gatewayProtocolMetrics`), read from /metrics under a load whose shape the test
 * sets: PARALLEL=2 sequences, four long streams, so two run and two queue. TotalQueuedRequests must be 2,
 * TotalRunningRequests 2, and KVCacheUtilization a fraction at least the running prompts' share of all
 * cells; all three return to 0 when the load ends, a kept prompt (PROMPT_CACHE) included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints, gatewayProtocolMetrics } from '../../service/contract.js';
import { metricValue, postJson, readSse, scrape, startTestApp, waitFor, type TestApp } from './helpers.js';

const contextSize = 1024;
const parallel = 2;

describe('gateway-routing gauges under a known load (PARALLEL=2, four streams)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ PARALLEL: String(parallel), MAX_QUEUE: '4', CONTEXT_SIZE: String(contextSize), MAX_COMPLETION_LENGTH: '900' });
  });
  afterAll(async () => {
    await t?.close();
  });

  const gauges = async () => {
    const text = await scrape(t.base);
    return {
      queued: metricValue(text, gatewayProtocolMetrics.totalQueuedRequests),
      running: metricValue(text, gatewayProtocolMetrics.totalRunningRequests),
      kvCache: metricValue(text, gatewayProtocolMetrics.kvCacheUtilization),
    };
  };
  const messages = [{ role: 'user', content: 'Write a long story about a lighthouse keeper and the sea.' }];

  it("queued 2, running 2, KV cache use between the prompts' share and 1; all 0 after the load", async () => {
    expect(await gauges()).toEqual({ queued: 0, running: 0, kvCache: 0 });
    // The prompt's size in tokens, from the service's own usage report.
    const probe = (await (await postJson(t.base, endpoints.chatCompletions, { messages, max_tokens: 1 })).json()) as { usage: { prompt_tokens: number } };
    const promptTokens = probe.usage.prompt_tokens;
    expect(promptTokens).toBeGreaterThan(5);
    // The probe's prompt stays in its sequence (PROMPT_CACHE on): kept, idle, not counted.
    expect((await gauges()).kvCache).toBe(0);

    const controllers = Array.from({ length: 4 }, () => new AbortController());
    const streams = await Promise.all(
      controllers.map((c) => postJson(t.base, endpoints.chatCompletions, { messages, max_tokens: 900, stream: true }, { signal: c.signal })),
    );
    // Start reading each body so the server is never blocked on a full socket; keep the loops running.
    // A stream that has received text has evaluated its prompt: its sequence holds it.
    let generating = 0;
    const readers = streams.map(async (res) => {
      let first = true;
      try {
        for await (const ev of readSse(res)) {
          if (first && (ev.json as { choices?: Array<{ delta?: { content?: string } }> } | undefined)?.choices?.[0]?.delta?.content) {
            first = false;
            generating += 1;
          }
        }
      } catch {
        // aborted below
      }
    });
    const loaded = await waitFor(
      '2 streams generating, 2 running and 2 queued',
      async () => {
        if (generating < parallel) return undefined;
        const g = await gauges();
        return g.running === parallel && g.queued === 2 ? g : undefined;
      },
      20_000,
      10,
    );
    // Each running sequence holds at least its prompt; all cells are PARALLEL x CONTEXT_SIZE.
    const floor = (parallel * promptTokens) / (parallel * contextSize);
    expect(loaded.kvCache).toBeGreaterThanOrEqual(floor);
    expect(loaded.kvCache).toBeLessThanOrEqual(1);
    const stats = t.app.llm.engine.stats();
    console.log(
      `gateway gauges under load: queued ${loaded.queued}, running ${loaded.running}, KV cache ${loaded.kvCache} (floor ${floor.toFixed(4)}, ${stats.kvCache?.usedCells}/${stats.kvCache?.cells} cells)`,
    );
    expect(stats.kvCache?.cells).toBeGreaterThanOrEqual(parallel * contextSize);

    for (const c of controllers) c.abort();
    await Promise.all(readers);
    const idle = await waitFor(
      'the load to end',
      async () => {
        const g = await gauges();
        return g.running === 0 && g.queued === 0 ? g : undefined;
      },
      20_000,
      25,
    );
    expect(idle.kvCache).toBe(0);
  });
});
