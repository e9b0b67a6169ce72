/**
 * One sequence, a queue of one: queue full (429 + Retry-After), SSE keep-alive while queued,
 * client disconnect freeing the sequence, and REQUEST_TIMEOUT_MS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints } from '../../service/contract.js';
import { collectSse, metricValue, postJson, readSse, scrape, startTestApp, waitFor, type SseEvent, type TestApp } from './helpers.js';

const timeoutMs = 2000;

describe('queueing, keep-alive, disconnects and timeouts (PARALLEL=1, MAX_QUEUE=1)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      PARALLEL: '1',
      MAX_QUEUE: '1',
      SSE_KEEPALIVE_MS: '150',
      REQUEST_TIMEOUT_MS: String(timeoutMs),
      CONTEXT_SIZE: '2048',
      MAX_COMPLETION_LENGTH: '2000',
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  const gauge = async (name: string) => metricValue(await scrape(t.base), name) ?? Number.NaN;
  const longStream = (signal?: AbortSignal) =>
    postJson(
      t.base,
      endpoints.chatCompletions,
      { messages: [{ role: 'user', content: 'Talk a lot' }], max_tokens: 2000, stream: true },
      signal ? { signal } : {},
    );

  it('queue full → 429 with Retry-After; the queued stream gets keep-alives; aborting the running stream starts it', async () => {
    // A occupies the only sequence.
    const holder = new AbortController();
    const a = await longStream(holder.signal);
    expect(a.status).toBe(200);
    // Pull events by hand: leaving a for-await loop would cancel the body, i.e. disconnect.
    const aEvents = readSse(a);
    for (;;) {
      const { value, done } = await aEvents.next();
      if (done || (value.json as { choices?: Array<{ delta?: { content?: string } }> })?.choices?.[0]?.delta?.content) break;
    }
    expect(await gauge('llm_busy_sequences')).toBe(1);

    // B waits in the queue; its headers arrive at once and keep-alive comments flow.
    const b = await postJson(t.base, endpoints.chatCompletions, { messages: [{ role: 'user', content: 'Me next' }], max_tokens: 3, stream: true });
    expect(b.status).toBe(200);
    expect(b.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const bEvents: SseEvent[] = [];
    const bDone = (async () => {
      for await (const ev of readSse(b)) bEvents.push(ev);
    })();
    await waitFor('queue depth 1', async () => (await gauge('llm_queue_depth')) === 1);

    // C finds the queue full.
    const c = await postJson(t.base, endpoints.chatCompletions, { messages: [{ role: 'user', content: 'Me too' }], max_tokens: 3 });
    expect(c.status).toBe(429);
    const retryAfter = Number(c.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true);
    const err = (await c.json()) as { error: { type: string; code: string; message: string } };
    expect(err.error.code).toBe('queue_full');
    expect(err.error.type).toBe('rate_limit_error');
    // Streaming requests are refused the same way, before any SSE byte.
    await expect(
      t.client.chat.completions.create({ model: t.app.llm.engine.modelId, messages: [{ role: 'user', content: 'x' }], max_tokens: 2, stream: true }),
    ).rejects.toMatchObject({
      status: 429,
    });

    // While B waits, keep-alive comments arrive (SSE_KEEPALIVE_MS=150).
    await waitFor('two keep-alives', async () => bEvents.filter((e) => e.comment === 'keep-alive').length >= 2, 3000);
    expect(bEvents.some((e) => e.comment?.startsWith('queued position='))).toBe(true);
    expect(bEvents.some((e) => (e.json as { choices?: Array<{ delta?: { content?: string } }> })?.choices?.[0]?.delta?.content)).toBe(false);

    // The client of A disconnects: its sequence is freed within a token and B starts.
    const abortedAt = performance.now();
    holder.abort();
    await bDone;
    const startedAfterMs = performance.now() - abortedAt;
    expect(bEvents.at(-1)?.data).toBe('[DONE]');
    expect(bEvents.filter((e) => e.json && (e.json as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content).length).toBeGreaterThan(
      0,
    );
    expect(startedAfterMs).toBeLessThan(2000);
    console.log(`[figures] queued stream finished ${Math.round(startedAfterMs)} ms after the running stream's client disconnected`);

    await waitFor('sequence free', async () => (await gauge('llm_busy_sequences')) === 0, 3000);
    expect(await gauge('llm_queue_depth')).toBe(0);
    const text = await scrape(t.base);
    expect(metricValue(text, 'llm_requests_rejected_total', { reason: 'queue_full' })).toBe(2);
    expect(metricValue(text, 'llm_generations_total', { finish_reason: 'abort' })).toBe(1);
  });

  it('a disconnected non-streaming request frees its sequence too', async () => {
    const ac = new AbortController();
    const pending = postJson(t.base, endpoints.completions, { prompt: 'Go on', max_tokens: 2000 }, { signal: ac.signal }).catch((e: unknown) => e);
    await waitFor('busy', async () => (await gauge('llm_busy_sequences')) === 1, 5000);
    ac.abort();
    await pending;
    const t0 = performance.now();
    await waitFor('sequence free', async () => (await gauge('llm_busy_sequences')) === 0, 3000);
    console.log(`[figures] non-streaming disconnect: sequence free ${Math.round(performance.now() - t0)} ms after abort`);
  });

  it('REQUEST_TIMEOUT_MS ends a stream with finish_reason "length" and [DONE]', async () => {
    const t0 = performance.now();
    const events = await collectSse(await longStream());
    const elapsed = performance.now() - t0;
    expect(events.at(-1)?.data).toBe('[DONE]');
    const final = events.filter((e) => e.json).at(-1)?.json as { choices: Array<{ finish_reason: string }> };
    expect(final.choices[0]?.finish_reason).toBe('length');
    const pieces = events.filter((e) => e.json && (e.json as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content);
    expect(pieces.length).toBeGreaterThan(0);
    expect(pieces.length).toBeLessThan(2000);
    expect(elapsed).toBeGreaterThan(timeoutMs - 100);
    expect(elapsed).toBeLessThan(timeoutMs + 2000);
  });

  it('REQUEST_TIMEOUT_MS returns the partial answer of a non-streaming request with finish_reason "length"', async () => {
    const r = await t.client.chat.completions.create({
      model: t.app.llm.engine.modelId,
      messages: [{ role: 'user', content: 'Talk a lot' }],
      max_tokens: 2000,
    });
    expect(r.choices[0]?.finish_reason).toBe('length');
    expect(r.usage?.completion_tokens).toBeGreaterThan(0);
    expect(r.usage?.completion_tokens).toBeLessThan(2000);
    const text = await scrape(t.base);
    expect(metricValue(text, 'llm_generations_total', { finish_reason: 'timeout' })).toBeGreaterThanOrEqual(2);
  });
});
