/**
 * llama-server's /tokenize and /detokenize on the random-weight model (its real tokenizer), and the chat
 * token count a client trims a conversation with: it must equal the `usage.prompt_tokens` of a chat completion
 * of the same messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints } from '../../service/contract.js';
import { expectOpenAiError, postJson, startTestApp, type TestApp } from './helpers.js';
import { startFakeApp } from './fake-engine.js';

describe('/tokenize and /detokenize (real tokenizer)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ CONTEXT_SIZE: '512', API_KEY: 'k' });
  });
  afterAll(async () => {
    await t?.close();
  });
  const auth = { headers: { authorization: 'Bearer k' } };
  const tokenize = async (body: unknown) => {
    const res = await postJson(t.base, endpoints.tokenize, body, auth);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as { tokens: unknown[] };
  };

  it('content -> token ids -> the same content; pieces spell it', async () => {
    const content = 'Hello world, how are you today?';
    const { tokens } = await tokenize({ content });
    expect(tokens.length).toBeGreaterThan(3);
    expect(tokens.every((x) => Number.isInteger(x))).toBe(true);
    const back = await postJson(t.base, endpoints.detokenize, { tokens }, auth);
    expect(await back.json()).toEqual({ content });
    const withPieces = (await tokenize({ content, with_pieces: true })).tokens as Array<{ id: number; piece: string }>;
    expect(withPieces.map((p) => p.id)).toEqual(tokens);
    expect(withPieces.map((p) => p.piece).join('')).toBe(content);
  });

  it('parse_special (default true) reads special-token text as one token; add_special adds what the vocabulary asks for', async () => {
    const special = '<|im_start|>';
    const parsed = (await tokenize({ content: special })).tokens;
    const literal = (await tokenize({ content: special, parse_special: false })).tokens;
    expect(parsed).toHaveLength(1);
    expect(literal.length).toBeGreaterThan(1);
    const plain = (await tokenize({ content: 'abc' })).tokens;
    const withSpecial = (await tokenize({ content: 'abc', add_special: true })).tokens;
    // At most a begin and an end token around the same tokens.
    const start = withSpecial.length - plain.length >= 1 && withSpecial[0] !== plain[0] ? 1 : 0;
    expect(withSpecial.slice(start, start + plain.length)).toEqual(plain);
    expect(withSpecial.length - plain.length).toBeLessThanOrEqual(2);
  });

  it('messages: the prompt token count of a chat completion of the same conversation, and the budget', async () => {
    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      { role: 'user' as const, content: 'Tell me about tokens.' },
      { role: 'assistant' as const, content: 'They are pieces of text.' },
      { role: 'user' as const, content: 'How many here?' },
    ];
    const res = await postJson(t.base, endpoints.tokenize, { messages }, auth);
    const counted = (await res.json()) as { count: number; max_prompt_tokens: number; context_size: number };
    expect(counted).toMatchObject({ max_prompt_tokens: 510, context_size: 512 });
    const client = new (await import('openai')).default({ baseURL: `${t.base}/v1`, apiKey: 'k', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: t.app.llm.engine.modelId, messages, max_tokens: 1 });
    expect(counted.count).toBe(r.usage?.prompt_tokens);
    // Negative control: one message fewer counts fewer tokens.
    const shorter = (await (await postJson(t.base, endpoints.tokenize, { messages: messages.slice(0, 2) }, auth)).json()) as { count: number };
    expect(shorter.count).toBeLessThan(counted.count);
  });

  it('bad requests: an id outside the vocabulary, content and messages together, no key', async () => {
    const bad = await postJson(t.base, endpoints.detokenize, { tokens: [1, 99_999_999] }, auth);
    expect(bad.status).toBe(400);
    expect(expectOpenAiError(await bad.json()).param).toBe('tokens[1]');
    const both = await postJson(t.base, endpoints.tokenize, { content: 'x', messages: [{ role: 'user', content: 'x' }] }, auth);
    expect(both.status).toBe(400);
    expect((await postJson(t.base, endpoints.tokenize, { content: 'x' })).status).toBe(401);
  });
});

describe('/tokenize before the model is loaded (fake engine)', () => {
  it('is a 503 with Retry-After', async () => {
    const t = await startFakeApp();
    try {
      const res = await t.app.inject({ method: 'POST', url: endpoints.tokenize, payload: { content: 'x' } });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(expectOpenAiError(res.json()).code).toBe('model_not_ready');
    } finally {
      await t.close();
    }
  });
});
