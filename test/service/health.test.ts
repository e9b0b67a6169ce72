import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints } from '../../service/contract.js';
import { collectSse, metricValue, percentile, postJson, scrape, startTestApp, waitFor, type TestApp } from './helpers.js';

const getJson = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('health probes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ PARALLEL: '2', MAX_QUEUE: '4', CONTEXT_SIZE: '2048', MAX_COMPLETION_LENGTH: '2000' }, { load: false });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('before and during the load: live 200, startup and ready 503 {state, progress}; then 200', async () => {
    expect(await getJson(`${t.base}${endpoints.live}`)).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await getJson(`${t.base}${endpoints.startup}`)).toEqual({ status: 503, body: { state: 'idle', progress: 0 } });
    expect(await getJson(`${t.base}${endpoints.ready}`)).toEqual({ status: 503, body: { state: 'idle', progress: 0 } });

    const t0 = performance.now();
    const loading = t.app.llm.engine.load();
    const seen = new Set<string>();
    const liveLatencies: number[] = [];
    let loaded = false;
    void loading.then(() => (loaded = true));
    while (!loaded) {
      const s0 = performance.now();
      const live = await fetch(`${t.base}${endpoints.live}`);
      liveLatencies.push(performance.now() - s0);
      expect(live.status).toBe(200);
      const startup = await getJson(`${t.base}${endpoints.startup}`);
      if (!loaded) {
        // A racing completion may flip it to 200; only check answers given while still loading.
        if (startup.status === 503) seen.add(String(startup.body.state));
        expect(typeof startup.body.progress).toBe('number');
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await loading;
    const loadMs = performance.now() - t0;
    expect(seen.has('loading')).toBe(true);
    expect(await getJson(`${t.base}${endpoints.startup}`)).toEqual({ status: 200, body: { state: 'ready', progress: 1 } });
    expect(await getJson(`${t.base}${endpoints.ready}`)).toEqual({ status: 200, body: { state: 'ready', progress: 1 } });
    expect(metricValue(await scrape(t.base), 'llm_model_ready')).toBe(1);
    console.log(
      `[figures] in-process model load ${Math.round(loadMs)} ms; /health/live during the load: ` +
        `p50 ${percentile(liveLatencies, 50).toFixed(1)} ms, max ${Math.max(...liveLatencies).toFixed(1)} ms over ${liveLatencies.length} probes`,
    );
  });

  it('/health/live p99 stays low while every sequence generates and the queue is busy', async () => {
    let measuring = true;
    let generated = 0;
    // Two streams keep both sequences busy (restarted if they finish), two more wait in the queue.
    const worker = async () => {
      while (measuring) {
        const res = await postJson(t.base, endpoints.chatCompletions, { messages: [{ role: 'user', content: 'Talk' }], max_tokens: 1500, stream: true });
        const events = await collectSse(res);
        generated += events.filter((e) => e.json).length;
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    await waitFor('both sequences busy', async () => metricValue(await scrape(t.base), 'llm_busy_sequences') === 2, 10_000);

    const latencies: number[] = [];
    for (let i = 0; i < 200; i++) {
      const s0 = performance.now();
      const res = await fetch(`${t.base}${endpoints.live}`);
      await res.arrayBuffer();
      latencies.push(performance.now() - s0);
      expect(res.status).toBe(200);
    }
    const text = await scrape(t.base);
    const busy = metricValue(text, 'llm_busy_sequences');
    const queued = metricValue(text, 'llm_queue_depth');
    const ready = await fetch(`${t.base}${endpoints.ready}`);
    measuring = false;
    // Stop the streams quickly: a client disconnect frees the sequences.
    t.app.llm.lifecycle.abortAll('client_disconnect');
    await Promise.all(workers);

    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.log(
      `[figures] /health/live over 200 requests while ${busy} sequences generate and ${queued} requests queue: ` +
        `p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${Math.max(...latencies).toFixed(2)} ms (${generated} chunks streamed meanwhile)`,
    );
    expect(busy).toBe(2);
    expect(ready.status).toBe(200);
    expect(p99).toBeLessThan(250);
    await waitFor('sequences free', async () => metricValue(await scrape(t.base), 'llm_busy_sequences') === 0, 5000);
  });

  it('draining: ready 503 {state: "draining"}, /v1 503, live and startup stay 200', async () => {
    t.app.llm.lifecycle.startDraining();
    expect(await getJson(`${t.base}${endpoints.ready}`)).toEqual({ status: 503, body: { state: 'draining', progress: 1 } });
    expect((await fetch(`${t.base}${endpoints.live}`)).status).toBe(200);
    expect((await fetch(`${t.base}${endpoints.startup}`)).status).toBe(200);
    const res = await postJson(t.base, endpoints.chatCompletions, { messages: [{ role: 'user', content: 'x' }], max_tokens: 2 });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('draining');
  });
});

describe('liveness detects a stalled event loop', () => {
  let t: TestApp;
  beforeAll(async () => {
    // No model needed: liveness never looks at it.
    t = await startTestApp({}, { load: false, health: { maxEventLoopDelayMs: 200, windowMs: 400 } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('503 after the loop was blocked far beyond the bound, 200 again once it recovers', async () => {
    expect((await fetch(`${t.base}${endpoints.live}`)).status).toBe(200);
    // Block the loop for 1 s, repeatedly, so the window's p99 is the block.
    for (let i = 0; i < 3; i++) {
      const end = Date.now() + 1000;
      while (Date.now() < end) {
        /* spin */
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const stalled = await fetch(`${t.base}${endpoints.live}`);
    const body = (await stalled.json()) as { status: string; eventLoopDelayP99Ms: number };
    expect(stalled.status).toBe(503);
    expect(body.status).toBe('event-loop-stalled');
    expect(body.eventLoopDelayP99Ms).toBeGreaterThan(200);
    await waitFor('live again', async () => (await fetch(`${t.base}${endpoints.live}`)).status === 200, 3000, 100);
  });
});
