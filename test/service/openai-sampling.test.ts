/**
 * Sampling semantics through the official `openai` client on the random-weight model: independent
 * unseeded requests, repeatable and collision-free seeds, deliberate defaults (and the DEFAULT_* settings),
 * presence/frequency penalties, logit_bias, token-array prompts, union validation messages, the model name
 * check, and a Retry-After that covers the admitted work.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints } from '../../service/contract.js';
import { maxSeed } from '../../service/inference/engine.js';
import { postJson, startTestApp, type TestApp } from './helpers.js';

describe('sampling (PARALLEL=2)', () => {
  let t: TestApp;
  let model: string;
  beforeAll(async () => {
    t = await startTestApp({ PARALLEL: '2', MAX_COMPLETION_LENGTH: '256', CONTEXT_SIZE: '512' });
    model = t.app.llm.engine.modelId;
  });
  afterAll(async () => {
    await t?.close();
  });

  const complete = async (extra: Partial<OpenAI.Completions.CompletionCreateParamsNonStreaming> = {}) =>
    (await t.client.completions.create({ model, prompt: 'The weather today', max_tokens: 12, temperature: 1, ...extra })).choices[0]?.text ?? '';

  it('unseeded requests sample independently, even when they arrive together', async () => {
    const texts = await Promise.all([complete(), complete(), complete(), complete()]);
    expect(new Set(texts).size, texts.join(' | ')).toBe(texts.length);
  });

  it('a seed repeats its answer, sequentially and concurrently', async () => {
    const [a, b] = await Promise.all([complete({ seed: 1234 }), complete({ seed: 1234 })]);
    const c = await complete({ seed: 1234 });
    expect(a).toBe(b);
    expect(c).toBe(a);
  });

  it('distinct seeds never collide: 0, 1, 2^31 and the largest seed give four answers; out-of-range seeds are a 400 (-1 means a random seed, as in llama-server)', async () => {
    const seeds = [0, 1, 2 ** 31, maxSeed];
    const texts = await Promise.all(seeds.map((seed) => complete({ seed })));
    expect(new Set(texts).size, texts.join(' | ')).toBe(seeds.length);
    for (const seed of [-2, -12345, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1]) {
      await expect(complete({ seed }), String(seed)).rejects.toMatchObject({ status: 400, param: 'seed', code: 'invalid_value' });
    }
  });

  it('defaults: no top_p means top_p 1 (node-llama-cpp would apply 0.95)', async () => {
    expect(await complete({ seed: 77 })).toBe(await complete({ seed: 77, top_p: 1 }));
    expect(await complete({ seed: 77 })).not.toBe(await complete({ seed: 77, top_p: 0.5 }));
  });

  it('presence and frequency penalties change the answer; zero penalties do not', async () => {
    const plain = await complete({ seed: 9, max_tokens: 40 });
    expect(await complete({ seed: 9, max_tokens: 40, presence_penalty: 0, frequency_penalty: 0 })).toBe(plain);
    expect(await complete({ seed: 9, max_tokens: 40, presence_penalty: 2 })).not.toBe(plain);
    expect(await complete({ seed: 9, max_tokens: 40, frequency_penalty: 2 })).not.toBe(plain);
    expect(await complete({ seed: 9, max_tokens: 40, frequency_penalty: -2 })).not.toBe(plain);
  });

  it('llama-server sampling fields: top_k, min_p and repeat_penalty (vLLM repetition_penalty) reach the sampler', async () => {
    const extra = (fields: Record<string, unknown>) => fields as Partial<OpenAI.Completions.CompletionCreateParamsNonStreaming>;
    const greedy = await complete({ temperature: 0, max_tokens: 20 });
    // top_k 1 and min_p 1 keep only the most likely token: sampling at temperature 1 gives the greedy answer.
    expect(await complete({ seed: 3, max_tokens: 20, ...extra({ top_k: 1 }) })).toBe(greedy);
    expect(await complete({ seed: 3, max_tokens: 20, ...extra({ min_p: 1 }) })).toBe(greedy);
    // Negative control: without them the same seed samples something else.
    expect(await complete({ seed: 3, max_tokens: 20 })).not.toBe(greedy);
    // The multiplicative penalty changes the answer (in the scored path too); 1 is neutral; both names act alike.
    const plain = await complete({ seed: 9, max_tokens: 40 });
    const penalized = await complete({ seed: 9, max_tokens: 40, ...extra({ repeat_penalty: 3 }) });
    expect(penalized).not.toBe(plain);
    expect(await complete({ seed: 9, max_tokens: 40, ...extra({ repetition_penalty: 3 }) })).toBe(penalized);
    expect(await complete({ seed: 9, max_tokens: 40, ...extra({ repeat_penalty: 1 }) })).toBe(plain);
    const scored = (opts: Record<string, unknown>) =>
      t.client.completions
        .create({ model, prompt: 'The weather today', max_tokens: 40, temperature: 1, seed: 9, logprobs: 1, ...extra(opts) })
        .then((r) => r.choices[0]?.text);
    expect(await scored({ repeat_penalty: 3 })).not.toBe(await scored({}));
  });

  it('logit_bias: +100 on one token makes greedy decoding repeat it', async () => {
    const token = 1000;
    const one = await complete({ temperature: 0, max_tokens: 1, logit_bias: { [token]: 100 } });
    expect(one.length).toBeGreaterThan(0);
    expect(await complete({ temperature: 0, max_tokens: 3, logit_bias: { [token]: 100 } })).toBe(one.repeat(3));
    expect(await complete({ temperature: 0, max_tokens: 3 })).not.toBe(one.repeat(3));
  });

  it('a prompt as token ids is completed (usage counts exactly those tokens)', async () => {
    const r = await t.client.completions.create({ model, prompt: [1000, 2000, 3000], max_tokens: 3 });
    expect(r.usage?.prompt_tokens).toBe(3);
    expect(r.usage?.completion_tokens).toBe(3);
  });

  it('chat logprobs: one entry per generated token, tokens spell the answer, top_logprobs sorted, streamed the same', async () => {
    const params = {
      model,
      messages: [{ role: 'user' as const, content: 'Probabilities' }],
      max_tokens: 12,
      temperature: 1,
      seed: 31,
      logprobs: true,
      top_logprobs: 3,
    };
    const r = await t.client.chat.completions.create(params);
    const content = r.choices[0]?.logprobs?.content ?? [];
    expect(content).toHaveLength(r.usage?.completion_tokens ?? -1);
    expect(content.map((c) => c.token).join('')).toBe(r.choices[0]?.message.content);
    for (const c of content) {
      expect(c.logprob).toBeLessThanOrEqual(0);
      expect(c.top_logprobs.length).toBeGreaterThan(0);
      expect(c.top_logprobs.length).toBeLessThanOrEqual(3);
      const lps = c.top_logprobs.map((a) => a.logprob);
      expect(lps).toEqual([...lps].sort((x, y) => y - x));
      expect(c.logprob).toBeLessThanOrEqual((lps[0] ?? 0) + 1e-6);
      expect(Buffer.from(c.bytes ?? []).toString('utf8')).toBe(c.token);
    }
    const stream = await t.client.chat.completions.create({ ...params, stream: true });
    const streamed: typeof content = [];
    for await (const chunk of stream) streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    expect(streamed).toEqual(content);
  });

  it('completion logprobs: tokens, token_logprobs, top_logprobs and text_offset line up with the text', async () => {
    const r = await t.client.completions.create({ model, prompt: 'Offsets', max_tokens: 10, temperature: 1, seed: 8, logprobs: 2 });
    const lp = r.choices[0]?.logprobs;
    const text = r.choices[0]?.text ?? '';
    expect(lp?.tokens).toHaveLength(r.usage?.completion_tokens ?? -1);
    expect(lp?.tokens?.join('')).toBe(text);
    lp?.tokens?.forEach((token, i) => {
      expect(text.slice(lp.text_offset?.[i], (lp.text_offset?.[i] ?? 0) + token.length)).toBe(token);
      expect(lp.token_logprobs?.[i]).toBeLessThanOrEqual(0);
      expect(Object.keys(lp.top_logprobs?.[i] ?? {}).length).toBeLessThanOrEqual(2);
    });
    // Same seed with and without logprobs: the same text (the scored loop samples like the plain one).
    const plain = await t.client.completions.create({ model, prompt: 'Offsets', max_tokens: 10, temperature: 1, seed: 8 });
    expect(plain.choices[0]?.text).toBe(text);
  });

  it('validation messages name the branch of a union the value was meant for', async () => {
    const cases: Array<{ body: Record<string, unknown>; param: string; message: RegExp }> = [
      { body: { stop: ['a', 'b', 'c', 'd', 'e'] }, param: 'stop', message: /more than 4 items/ },
      { body: { stop: ['a', 7] }, param: 'stop[1]', message: /must be string/ },
      { body: { messages: [{ role: 'user', content: [] }] }, param: 'messages[0].content', message: /fewer than 1 items/ },
      { body: { top_p: 'high' }, param: 'top_p', message: /must be number or null/ },
      { body: { response_format: { type: 'json_schema' } }, param: 'response_format.json_schema', message: /Missing required parameter/ },
      { body: { tool_choice: { type: 'function', function: { name: 'f' }, extra: 1 } }, param: 'tool_choice.extra', message: /Unrecognized request argument/ },
    ];
    for (const c of cases) {
      const res = await postJson(t.base, endpoints.chatCompletions, { messages: [{ role: 'user', content: 'x' }], max_tokens: 1, ...c.body });
      const e = ((await res.json()) as { error: { message: string; param: string } }).error;
      expect(res.status, JSON.stringify(c.body)).toBe(400);
      expect(e.param, JSON.stringify(c.body)).toBe(c.param);
      expect(e.message, JSON.stringify(c.body)).toMatch(c.message);
    }
  });

  it('a model name other than the served one is 404 model_not_found (chat, completions, retrieve)', async () => {
    await expect(t.client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 })).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
      param: 'model',
    });
    await expect(t.client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', max_tokens: 1 })).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
    await expect(t.client.models.retrieve('gpt-4o')).rejects.toMatchObject({ status: 404 });
    expect((await t.client.models.retrieve(model)).id).toBe(model);
  });
});

describe('service-level sampling defaults and lenient model names (DEFAULT_TOP_K=1, MODEL_NAMES=any)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ PARALLEL: '1', DEFAULT_TOP_K: '1', MODEL_NAMES: 'any', CONTEXT_SIZE: '512' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('DEFAULT_TOP_K=1 makes every sampled request greedy; MODEL_NAMES=any accepts any model name', async () => {
    const ask = (extra: Record<string, unknown>) =>
      t.client.completions.create({ model: 'some-other-name', prompt: 'Defaults', max_tokens: 10, ...extra }).then((r) => r.choices[0]?.text);
    const greedy = await ask({ temperature: 0 });
    expect(await ask({ temperature: 1 })).toBe(greedy);
    expect(await ask({ temperature: 2, seed: 5 })).toBe(greedy);
  });
});

describe('Retry-After covers the admitted work (PARALLEL=1, MAX_QUEUE=1)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ PARALLEL: '1', MAX_QUEUE: '1', CONTEXT_SIZE: '1024', MAX_COMPLETION_LENGTH: '400' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a client that waits Retry-After finds room; the SDK with its default retries gets through', async () => {
    const model = t.app.llm.engine.modelId;
    // Long enough that the running request still runs when the third one arrives (300 ms later) at top-k 40.
    const body = { model, messages: [{ role: 'user' as const, content: 'Tell me everything' }], max_tokens: 300, temperature: 1 };
    // One measured generation, so the estimate is the service's own rate.
    await t.client.chat.completions.create(body);
    const running = t.client.chat.completions.create(body);
    const queued = new Promise((r) => setTimeout(r, 100)).then(() => t.client.chat.completions.create(body));
    await new Promise((r) => setTimeout(r, 300));
    const refused = await postJson(t.base, endpoints.chatCompletions, { ...body, max_tokens: 2 });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    const t0 = performance.now();
    await Promise.all([running, queued]);
    const drainedAfter = (performance.now() - t0) / 1000;
    console.log(
      `[figures] Retry-After ${retryAfter} s; the running and the queued request were done after ${drainedAfter.toFixed(2)} s (CPU timings shared with other work)`,
    );
    expect(retryAfter).toBeGreaterThanOrEqual(Math.floor(drainedAfter));

    // The same situation through the SDK (2 retries, honouring Retry-After): it succeeds.
    const sdk = new OpenAI({ baseURL: `${t.base}/v1`, apiKey: 'x', maxRetries: 2, timeout: 60_000 });
    const a = t.client.chat.completions.create(body);
    const b = new Promise((r) => setTimeout(r, 100)).then(() => t.client.chat.completions.create(body));
    await new Promise((r) => setTimeout(r, 300));
    const c = await sdk.chat.completions.create({ ...body, max_tokens: 2 });
    expect(c.choices[0]?.finish_reason).toBe('length');
    await Promise.all([a, b]);
  });
});
