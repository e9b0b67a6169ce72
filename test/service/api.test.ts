import type OpenAI from 'openai';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints } from '../../service/contract.js';
import { collectSse, expectOpenAiError, metricValue, postJson, scrape, startTestApp, type TestApp } from './helpers.js';

// No `model`: the server accepts a request without one (the served model answers).
const chatBody = (extra: Record<string, unknown> = {}) => ({
  messages: [{ role: 'user', content: 'Say hello' }],
  max_tokens: 4,
  ...extra,
});

describe('OpenAI-compatible API (tiny random-weight model, real inference)', () => {
  let t: TestApp;
  /** Engine log lines ('generation finished' at debug) to compare with what the API measures. */
  const engineLines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n')) if (l.trim()) engineLines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const logger = pino({ level: 'debug' }, sink);
    t = await startTestApp({ PARALLEL: '2', MAX_COMPLETION_LENGTH: '256', CONTEXT_SIZE: '512' }, { logger });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lists and retrieves the served model', async () => {
    const list = await t.client.models.list();
    const ids = list.data.map((m) => m.id);
    expect(ids).toEqual([t.app.llm.engine.modelId]);
    const one = await t.client.models.retrieve(t.app.llm.engine.modelId);
    expect(one.id).toBe(t.app.llm.engine.modelId);
    await expect(t.client.models.retrieve('gpt-4')).rejects.toMatchObject({ status: 404 });
  });

  it('chat completion through the openai client, with usage and the served model id', async () => {
    const r = await t.client.chat.completions.create({
      model: t.app.llm.engine.modelId,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Hello' },
      ],
      max_tokens: 5,
    });
    expect(r.object).toBe('chat.completion');
    expect(r.id).toMatch(/^chatcmpl-/);
    expect(r.model).toBe(t.app.llm.engine.modelId);
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]?.message.role).toBe('assistant');
    expect(typeof r.choices[0]?.message.content).toBe('string');
    expect(r.choices[0]?.finish_reason).toBe('length');
    expect(r.usage?.completion_tokens).toBe(5);
    expect(r.usage?.prompt_tokens).toBeGreaterThan(5);
    expect(r.usage?.total_tokens).toBe((r.usage?.prompt_tokens ?? 0) + 5);
  });

  it('accepts developer messages, text content parts, max_completion_tokens and stop', async () => {
    const r = await t.client.chat.completions.create({
      model: t.app.llm.engine.modelId,
      messages: [
        { role: 'developer', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Hi' },
            { type: 'text', text: ' there' },
          ],
        },
      ],
      max_completion_tokens: 3,
      stop: ['\n\n'],
      temperature: 0,
      seed: 7,
    });
    expect(r.usage?.completion_tokens).toBeLessThanOrEqual(3);
  });

  it('same seed, same output', async () => {
    const ask = () =>
      t.client.chat.completions.create({
        model: t.app.llm.engine.modelId,
        messages: [{ role: 'user', content: 'Seeded' }],
        max_tokens: 6,
        seed: 42,
        temperature: 1,
      });
    const [a, b] = [await ask(), await ask()];
    expect(a.choices[0]?.message.content).toBe(b.choices[0]?.message.content);
  });

  it('text completion with a string prompt and with an array of one string', async () => {
    const r = await t.client.completions.create({ model: t.app.llm.engine.modelId, prompt: 'Once upon a time', max_tokens: 4 });
    expect(r.object).toBe('text_completion');
    expect(r.id).toMatch(/^cmpl-/);
    expect(typeof r.choices[0]?.text).toBe('string');
    expect(r.usage?.completion_tokens).toBe(4);
    const r2 = await t.client.completions.create({ model: t.app.llm.engine.modelId, prompt: ['Once upon a time'], max_tokens: 2 });
    expect(r2.usage?.completion_tokens).toBe(2);
  });

  it('streams chat chunks, a usage chunk, then [DONE] (openai client)', async () => {
    const stream = await t.client.chat.completions.create({
      model: t.app.llm.engine.modelId,
      messages: [{ role: 'user', content: 'Stream please' }],
      max_tokens: 6,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    const finish = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(finish?.choices[0]?.finish_reason).toBe('length');
    const usage = chunks.at(-1);
    expect(usage?.choices).toEqual([]);
    expect(usage?.usage?.completion_tokens).toBe(6);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text.length).toBeGreaterThan(0);
    for (const c of chunks) {
      expect(c.object).toBe('chat.completion.chunk');
      expect(c.model).toBe(t.app.llm.engine.modelId);
      expect(c.id).toBe(chunks[0]?.id);
    }
  });

  it('streams raw SSE: event-stream headers, data lines, [DONE] last', async () => {
    const res = await postJson(t.base, endpoints.completions, { prompt: 'Hello', max_tokens: 5, stream: true }, { headers: { 'x-request-id': 'trace-123' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-request-id')).toBe('trace-123');
    const events = (await collectSse(res)).filter((e) => e.data !== undefined);
    expect(events.at(-1)?.data).toBe('[DONE]');
    const json = events.filter((e) => e.json).map((e) => e.json as { object: string; choices: Array<{ text: string; finish_reason: string | null }> });
    expect(json.every((j) => j.object === 'text_completion')).toBe(true);
    expect(json.at(-1)?.choices[0]?.finish_reason).toBe('length');
    expect(json.slice(0, -1).every((j) => j.choices[0]?.finish_reason === null)).toBe(true);
  });

  it('prompt too long: 400 context_length_exceeded naming the limit', async () => {
    const long = 'hello '.repeat(700);
    const res = await postJson(t.base, endpoints.chatCompletions, chatBody({ messages: [{ role: 'user', content: long }] }));
    expect(res.status).toBe(400);
    const e = expectOpenAiError(await res.json());
    expect(e.code).toBe('context_length_exceeded');
    expect(e.type).toBe('invalid_request_error');
    expect(e.param).toBe('messages');
    expect(e.message).toContain('512');
    // Same through the client, for completions, while streaming: still a 400 before any byte of stream.
    await expect(t.client.completions.create({ model: t.app.llm.engine.modelId, prompt: long, max_tokens: 2, stream: true })).rejects.toMatchObject({
      status: 400,
      code: 'context_length_exceeded',
    });
  });

  it('max_tokens above MAX_COMPLETION_LENGTH and n != 1 are 400s', async () => {
    await expect(t.client.chat.completions.create(chatBody({ max_tokens: 257 }) as never)).rejects.toMatchObject({ status: 400, param: 'max_tokens' });
    await expect(t.client.chat.completions.create({ ...chatBody(), max_completion_tokens: 1000 } as never)).rejects.toMatchObject({
      status: 400,
      param: 'max_completion_tokens',
    });
    await expect(t.client.chat.completions.create(chatBody({ n: 2 }) as never)).rejects.toMatchObject({ status: 400, param: 'n' });
  });

  it('a prompt with a token id outside the vocabulary is a 400 naming the index', async () => {
    const res = await postJson(t.base, endpoints.completions, { prompt: [1, 2, 99_999_999] });
    expect(res.status).toBe(400);
    expect(expectOpenAiError(await res.json()).param).toBe('prompt[2]');
  });

  it('metrics: request counters, token counters, the names the alert rules use', async () => {
    const text = await scrape(t.base);
    for (const name of [
      'llm_queue_depth',
      'llm_max_queue',
      'llm_time_to_first_token_seconds_bucket',
      'llm_requests_total',
      'llm_busy_sequences',
      'llm_tokens_per_second_bucket',
      'llm_model_load_seconds',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text, name).toContain(`\n${name}`);
    }
    expect(metricValue(text, 'llm_requests_total', { route: endpoints.chatCompletions, status: '200' })).toBeGreaterThan(2);
    // Counters of refused and unmatched requests: test/service/http-api.test.ts.
    expect(metricValue(text, 'llm_prompt_tokens_total', { endpoint: 'chat', source: 'evaluated' })).toBeGreaterThan(0);
    expect(metricValue(text, 'llm_generated_tokens_total', { endpoint: 'completion' })).toBeGreaterThan(0);
    expect(metricValue(text, 'llm_max_queue')).toBe(8);
    expect(metricValue(text, 'llm_busy_sequences')).toBe(0);
    expect(metricValue(text, 'llm_requests_rejected_total', { reason: 'prompt_too_long' })).toBeGreaterThanOrEqual(2);
  });

  it('measures decode speed through the API against what the engine reports', async () => {
    const maxTokens = 120;
    const runs: Array<{ api: number; layer: number }> = [];
    for (let i = 0; i < 3; i++) {
      const before = engineLines.length;
      const res = await postJson(t.base, endpoints.completions, { prompt: 'Count:', max_tokens: maxTokens, stream: true });
      const events = (await collectSse(res)).filter((e) => e.json);
      const content = events.filter((e) => (e.json as { choices: Array<{ text: string }> }).choices[0]?.text);
      const first = content[0]?.at ?? 0;
      const last = content.at(-1)?.at ?? 0;
      const api = (maxTokens - 1) / ((last - first) / 1000);
      const access = engineLines.slice(before).find((l) => l.msg === 'request completed') as { tokensPerSecond?: number } | undefined;
      runs.push({ api, layer: access?.tokensPerSecond ?? Number.NaN });
    }
    const finished = engineLines.filter((l) => l.msg === 'generation finished' && l.completionTokens === maxTokens) as Array<{ serviceMs: number }>;
    const engineTps = finished.map((l) => maxTokens / (l.serviceMs / 1000));
    console.log(
      `[figures] decode tokens/s over ${maxTokens} tokens, 3 runs: client-side ${runs.map((r) => r.api.toFixed(1)).join(', ')}; ` +
        `HTTP layer (llm_tokens_per_second) ${runs.map((r) => r.layer.toFixed(1)).join(', ')}; ` +
        `engine (completionTokens / serviceMs, includes prefill) ${engineTps.map((x) => x.toFixed(1)).join(', ')}`,
    );
    for (const r of runs) expect(r.api).toBeGreaterThan(1);
    // The engine log never contains prompt or completion text at info level.
    const info = engineLines.filter((l) => (l.level as number) >= 30);
    expect(JSON.stringify(info)).not.toContain('Count:');
  });
});
