/**
 * The HTTP layer without inference: request validation, OpenAI-style errors, authentication and the request
 * field policy, on the real app around a FakeEngine (test/service/fake-engine.ts) through `app.inject()`.
 * What needs the model (generation, the tokenizer, the engine's own checks) stays in api.test.ts and the
 * other real-model tests.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints } from '../../service/contract.js';
import { expectOpenAiError, metricValue } from './helpers.js';
import { FakeEngine, injectFetch, startFakeApp, type FakeApp } from './fake-engine.js';
import { endpointsOf } from './field-tables.js';

const chatBody = (extra: Record<string, unknown> = {}) => ({
  messages: [{ role: 'user', content: 'Say hello' }],
  max_tokens: 4,
  ...extra,
});

describe('validation and errors (fake engine)', () => {
  let t: FakeApp;
  beforeAll(async () => {
    t = await startFakeApp({ PARALLEL: '2', MAX_COMPLETION_LENGTH: '256', CONTEXT_SIZE: '512' });
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('malformed requests get a 4xx OpenAI-style error and the service stays up', () => {
    const json = { 'content-type': 'application/json' };
    const cases: Array<{
      name: string;
      path?: string;
      headers?: Record<string, string>;
      body: string | Buffer;
      status: number;
      code?: string;
      param?: string;
    }> = [
      { name: 'bad JSON', headers: json, body: '{"messages": [', status: 400, code: 'invalid_json' },
      { name: 'empty body with JSON content type', headers: json, body: '', status: 400, code: 'invalid_json' },
      { name: 'empty body without content type', headers: {}, body: '', status: 400 },
      { name: 'JSON array body', headers: json, body: '[]', status: 400, code: 'invalid_body' },
      { name: 'JSON null body', headers: json, body: 'null', status: 400 },
      { name: 'missing messages', headers: json, body: JSON.stringify({ max_tokens: 3 }), status: 400, code: 'missing_required_parameter', param: 'messages' },
      { name: 'empty messages', headers: json, body: JSON.stringify({ messages: [] }), status: 400, param: 'messages' },
      { name: 'messages not an array', headers: json, body: JSON.stringify({ messages: 'hi' }), status: 400, param: 'messages' },
      { name: 'wrong role', headers: json, body: JSON.stringify({ messages: [{ role: 'wizard', content: 'x' }] }), status: 400, param: 'messages[0].role' },
      {
        name: 'tool message answering no call',
        headers: json,
        body: JSON.stringify({ messages: [{ role: 'tool', content: 'x', tool_call_id: 'call_1' }] }),
        status: 400,
        param: 'messages[0].tool_call_id',
      },
      {
        name: 'tool message without tool_call_id',
        headers: json,
        body: JSON.stringify({ messages: [{ role: 'tool', content: 'x' }] }),
        status: 400,
        param: 'messages[0].tool_call_id',
      },
      {
        name: 'content of wrong type',
        headers: json,
        body: JSON.stringify({ messages: [{ role: 'user', content: 42 }] }),
        status: 400,
        param: 'messages[0].content',
      },
      {
        name: 'image content part',
        headers: json,
        body: JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }),
        status: 400,
        code: 'unsupported_content',
      },
      { name: 'missing content', headers: json, body: JSON.stringify({ messages: [{ role: 'user' }] }), status: 400, param: 'messages[0].content' },
      { name: 'max_tokens as string', headers: json, body: JSON.stringify({ ...chatBody(), max_tokens: '5' }), status: 400, param: 'max_tokens' },
      { name: 'max_tokens zero', headers: json, body: JSON.stringify({ ...chatBody(), max_tokens: 0 }), status: 400, param: 'max_tokens' },
      { name: 'huge max_tokens', headers: json, body: JSON.stringify({ ...chatBody(), max_tokens: 10_000_000 }), status: 400, param: 'max_tokens' },
      { name: 'temperature above 2', headers: json, body: JSON.stringify({ ...chatBody(), temperature: 3 }), status: 400, param: 'temperature' },
      { name: 'top_p as string', headers: json, body: JSON.stringify({ ...chatBody(), top_p: 'high' }), status: 400, param: 'top_p' },
      { name: 'five stop sequences', headers: json, body: JSON.stringify({ ...chatBody(), stop: ['a', 'b', 'c', 'd', 'e'] }), status: 400, param: 'stop' },
      { name: 'n=2', headers: json, body: JSON.stringify({ ...chatBody(), n: 2 }), status: 400, param: 'n' },
      { name: 'stream as string', headers: json, body: JSON.stringify({ ...chatBody(), stream: 'yes' }), status: 400, param: 'stream' },
      { name: 'unknown field', headers: json, body: JSON.stringify({ ...chatBody(), foo: 1 }), status: 400, code: 'unknown_parameter', param: 'foo' },
      {
        name: 'unknown field in a message',
        headers: json,
        body: JSON.stringify({ messages: [{ role: 'user', content: 'x', mood: 'happy' }] }),
        status: 400,
        param: 'messages[0].mood',
      },
      { name: 'top_logprobs without logprobs', headers: json, body: JSON.stringify({ ...chatBody(), top_logprobs: 2 }), status: 400, param: 'top_logprobs' },
      { name: 'text/plain content type', headers: { 'content-type': 'text/plain' }, body: 'hello', status: 400, code: 'unsupported_media_type' },
      { name: 'form content type', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1', status: 400, code: 'unsupported_media_type' },
      {
        name: 'two token-array prompts',
        path: endpoints.completions,
        headers: json,
        body: JSON.stringify({ prompt: [[1, 2], [3]] }),
        status: 400,
        param: 'prompt',
      },
      { name: 'two prompts', path: endpoints.completions, headers: json, body: JSON.stringify({ prompt: ['a', 'b'] }), status: 400, param: 'prompt' },
      { name: 'echo', path: endpoints.completions, headers: json, body: JSON.stringify({ prompt: 'a', echo: true }), status: 400, param: 'echo' },
      { name: 'missing prompt', path: endpoints.completions, headers: json, body: JSON.stringify({ max_tokens: 3 }), status: 400, param: 'prompt' },
      { name: 'proto poisoning', headers: json, body: '{"messages":[{"role":"user","content":"x"}],"__proto__":{"x":1}}', status: 400 },
      { name: '10 MB body', headers: json, body: Buffer.alloc(10 * 1024 * 1024, 0x20), status: 413, code: 'request_too_large' },
    ];

    for (const c of cases) {
      it(c.name, async () => {
        const res = await t.app.inject({ method: 'POST', url: c.path ?? endpoints.chatCompletions, headers: c.headers ?? {}, payload: c.body });
        expect(res.statusCode, res.body).toBe(c.status);
        expect(res.headers['content-type']).toMatch(/^application\/json/);
        const e = expectOpenAiError(res.json());
        expect(e.type).toBe('invalid_request_error');
        if (c.code) expect(e.code).toBe(c.code);
        if (c.param) expect(e.param).toBe(c.param);
      });
    }

    it('unknown routes and wrong methods are 404 in the same shape', async () => {
      for (const [method, p] of [
        ['GET', '/v1/unknown'],
        ['GET', endpoints.chatCompletions],
        ['POST', '/v2/chat/completions'],
        ['DELETE', endpoints.models],
      ] as const) {
        const res = await t.app.inject({ method, url: p });
        expect(res.statusCode).toBe(404);
        const e = expectOpenAiError(res.json());
        expect(e.message).toContain(p);
      }
    });

    it('metrics count the refused and unmatched requests by route, method and status', async () => {
      const text = (await t.app.inject({ url: endpoints.metrics })).body;
      expect(metricValue(text, 'llm_requests_total', { route: endpoints.chatCompletions, status: '400' })).toBeGreaterThan(10);
      expect(metricValue(text, 'llm_requests_total', { route: 'unmatched', method: 'GET', status: '404' })).toBeGreaterThanOrEqual(2);
      expect(metricValue(text, 'llm_requests_total', { route: 'unmatched', method: 'DELETE', status: '404' })).toBe(1);
    });

    it('after all of that, a valid request still succeeds', async () => {
      const r = await t.client.chat.completions.create({
        model: t.app.llm.engine.modelId,
        messages: [{ role: 'user', content: 'still there?' }],
        max_tokens: 2,
      });
      expect(r.usage?.completion_tokens).toBe(2);
      expect((await t.app.inject({ url: endpoints.live })).statusCode).toBe(200);
    });
  });
});

describe('API_KEY', () => {
  let t: FakeApp;
  const key = 'sk-test-0123456789';
  beforeAll(async () => {
    // The model is not loaded: authentication happens before the engine is consulted.
    t = await startFakeApp({ API_KEY: key }, new FakeEngine('fake-model', { ready: false }));
  });
  afterAll(async () => {
    await t?.close();
  });

  it('requires Authorization: Bearer <key> on /v1/*, compared in constant time', async () => {
    const noKey = await t.app.inject({ url: endpoints.models });
    expect(noKey.statusCode).toBe(401);
    expect(expectOpenAiError(noKey.json()).code).toBe('invalid_api_key');

    for (const auth of [`Bearer ${key}x`, `Bearer ${key.slice(0, -1)}`, 'Bearer ', key, `Basic ${key}`]) {
      const res = await t.app.inject({ url: endpoints.models, headers: { authorization: auth } });
      expect(res.statusCode, auth).toBe(401);
      expectOpenAiError(res.json());
    }
    const wrongClient = new OpenAI({ baseURL: 'http://fake.invalid/v1', apiKey: 'wrong', maxRetries: 0, fetch: injectFetch(t.app) });
    await expect(wrongClient.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const unauth = await t.app.inject({ method: 'POST', url: endpoints.chatCompletions, payload: chatBody() });
    expect(unauth.statusCode).toBe(401);

    const ok = await t.client.models.list();
    expect(ok.data).toHaveLength(1);
    // Authorised but the model is not loaded: 503 with Retry-After, OpenAI-style.
    const notReady = await t.app.inject({ method: 'POST', url: endpoints.chatCompletions, payload: chatBody(), headers: { authorization: `Bearer ${key}` } });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.headers['retry-after']).toBe('5');
    expect(expectOpenAiError(notReady.json()).code).toBe('model_not_ready');
  });

  it('health and metrics stay open', async () => {
    expect((await t.app.inject({ url: endpoints.live })).statusCode).toBe(200);
    expect((await t.app.inject({ url: endpoints.ready })).statusCode).toBe(503);
    expect((await t.app.inject({ url: endpoints.startup })).statusCode).toBe(503);
    expect((await t.app.inject({ url: endpoints.metrics })).statusCode).toBe(200);
  });
});

describe('request field policy: the server does what it says', () => {
  let t: FakeApp;
  beforeAll(async () => {
    t = await startFakeApp({ CONTEXT_SIZE: '512' });
  });
  afterAll(async () => {
    await t?.close();
  });

  const base = {
    chat: () => ({ messages: [{ role: 'user', content: 'Fields' }], max_tokens: 1 }),
    completions: () => ({ prompt: 'Fields', max_tokens: 1 }),
  };
  const required = new Set(['messages', 'prompt']);

  for (const name of Object.keys(endpointsOf) as Array<keyof typeof endpointsOf>) {
    it(`${name}: the null form of every optional field is accepted`, async () => {
      const e = endpointsOf[name];
      const nullable = Object.entries(e.schema.properties)
        .filter(([field]) => !required.has(field))
        .filter(([, schema]) => JSON.stringify(schema).includes('"type":"null"'))
        .map(([field]) => field);
      // Every optional field allows null, `model` included (OpenAI's types allow it too).
      expect(nullable.sort()).toEqual(
        Object.keys(e.schema.properties)
          .filter((f) => !required.has(f))
          .sort(),
      );
      const body: Record<string, unknown> = { ...base[name]() };
      for (const field of nullable) if (!(field in body)) body[field] = null;
      const res = await t.app.inject({ method: 'POST', url: e.path, payload: body });
      expect(res.statusCode, res.body).toBe(200);
    });

    it(`${name}: every ignored field is answered normally, every refused one is a 400 naming it`, async () => {
      const e = endpointsOf[name];
      for (const [field, p] of Object.entries(e.policy)) {
        if (p.policy === 'implemented') continue;
        const res = await t.app.inject({ method: 'POST', url: e.path, payload: { ...base[name](), [field]: p.example } });
        const text = res.body;
        if (p.policy === 'ignored') {
          expect(res.statusCode, `${field}: ${text}`).toBe(200);
        } else {
          expect(res.statusCode, `${field}: ${text}`).toBe(400);
          const err = (JSON.parse(text) as { error: { param: string; code: string; message: string } }).error;
          expect(err.param).toBe(field);
          expect(err.code).toBe('unsupported_parameter');
          expect(err.message).toContain('not supported');
          expect(p.neutral(p.example)).toBe(false);
        }
      }
    });
  }

  it('fields OpenAI does not define are refused as unrecognized', async () => {
    for (const name of Object.keys(endpointsOf) as Array<keyof typeof endpointsOf>) {
      for (const field of ['mirostat', 'dry_multiplier', 'xtc_probability', 'n_probs']) {
        const res = await t.app.inject({ method: 'POST', url: endpointsOf[name].path, payload: { ...base[name](), [field]: 1 } });
        expect(res.statusCode).toBe(400);
        const err = (res.json() as { error: { param: string; code: string; message: string } }).error;
        expect(err).toMatchObject({ param: field, code: 'unknown_parameter' });
        expect(err.message).toBe(`Unrecognized request argument supplied: ${field}`);
      }
    }
  });

  it('the fields current SDKs and frameworks send are accepted', async () => {
    const r = await t.client.chat.completions.create({
      model: t.app.llm.engine.modelId,
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 2,
      store: false,
      metadata: { app: 'x' },
      parallel_tool_calls: true,
      reasoning_effort: 'low',
      service_tier: 'auto',
      modalities: ['text'],
      verbosity: 'low',
      prompt_cache_key: 'k',
      safety_identifier: 's',
      stream_options: null,
      tools: null as never,
      tool_choice: null as never,
      logit_bias: null,
      top_logprobs: null,
      response_format: null as never,
      functions: null as never,
      function_call: null as never,
      prediction: null,
      audio: null,
      web_search_options: null as never,
    });
    expect(r.choices[0]?.message.content).toBeTypeOf('string');
    // Streams need a socket (see FakeApp.listen).
    const streaming = new OpenAI({ baseURL: `${await t.listen()}/v1`, apiKey: 'not-needed', maxRetries: 0 });
    const s = await streaming.chat.completions.create({
      model: t.app.llm.engine.modelId,
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 2,
      stream: true,
      stream_options: { include_usage: true, include_obfuscation: true },
    });
    let usage: unknown;
    for await (const c of s) usage = c.usage ?? usage;
    expect(usage).toMatchObject({ completion_tokens: 2 });
  });
});

describe('llama-server conventions: seed -1, model null (fake engine)', () => {
  let t: FakeApp;
  beforeAll(async () => {
    t = await startFakeApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('seed -1 asks for a random seed, as in llama-server; other negative seeds are a 400', async () => {
    for (const path of [endpoints.chatCompletions, endpoints.completions]) {
      const body = path === endpoints.chatCompletions ? chatBody() : { prompt: 'x', max_tokens: 2 };
      const random = await t.app.inject({ method: 'POST', url: path, payload: { ...body, seed: -1 } });
      expect(random.statusCode, random.body).toBe(200);
      expect(t.engine.lastSampling().seed).toBeUndefined();
      await t.app.inject({ method: 'POST', url: path, payload: { ...body, seed: 7 } });
      expect(t.engine.lastSampling().seed).toBe(7);
      const bad = await t.app.inject({ method: 'POST', url: path, payload: { ...body, seed: -2 } });
      expect(bad.statusCode).toBe(400);
      expect(expectOpenAiError(bad.json())).toMatchObject({ param: 'seed', code: 'invalid_value' });
    }
    // Through the openai client too.
    const r = await t.client.chat.completions.create({ model: 'fake-model', messages: [{ role: 'user', content: 'x' }], seed: -1 });
    expect(r.choices[0]?.message.content).toBe('fake answer');
  });

  it('model null means the served model; another name is still a 404', async () => {
    const ok = await t.app.inject({ method: 'POST', url: endpoints.chatCompletions, payload: chatBody({ model: null }) });
    expect(ok.statusCode, ok.body).toBe(200);
    expect((ok.json() as { model: string }).model).toBe('fake-model');
    const other = await t.app.inject({ method: 'POST', url: endpoints.chatCompletions, payload: chatBody({ model: 'gpt-4' }) });
    expect(other.statusCode).toBe(404);
    expect(expectOpenAiError(other.json()).code).toBe('model_not_found');
  });
});

describe('llama-server sampling fields map onto the engine (fake engine)', () => {
  let t: FakeApp;
  beforeAll(async () => {
    t = await startFakeApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  const send = (path: string, fields: Record<string, unknown>) =>
    t.app.inject({
      method: 'POST',
      url: path,
      payload: { ...(path === endpoints.completions ? { prompt: 'x' } : { messages: [{ role: 'user', content: 'x' }] }), ...fields },
    });

  it('top_k, min_p, repeat_penalty and repetition_penalty, on both endpoints', async () => {
    for (const path of [endpoints.chatCompletions, endpoints.completions]) {
      expect((await send(path, { top_k: 5, min_p: 0.2, repeat_penalty: 1.3 })).statusCode).toBe(200);
      expect(t.engine.lastSampling()).toMatchObject({ topK: 5, minP: 0.2, repeatPenalty: 1.3 });
      expect((await send(path, { repetition_penalty: 1.1, top_k: -1 })).statusCode).toBe(200);
      expect(t.engine.lastSampling()).toMatchObject({ topK: 0, repeatPenalty: 1.1 });
      // Defaults: DEFAULT_TOP_K (40), DEFAULT_MIN_P (0), no repetition penalty.
      expect((await send(path, { repeat_penalty: 1 })).statusCode).toBe(200);
      expect(t.engine.lastSampling()).toMatchObject({ topK: 40, minP: 0 });
      expect(t.engine.lastSampling().repeatPenalty).toBeUndefined();
    }
  });

  it('two different values for the one penalty, a non-positive penalty, and typical_p other than 1 are 400s', async () => {
    const both = await send(endpoints.chatCompletions, { repeat_penalty: 1.2, repetition_penalty: 1.3 });
    expect(both.statusCode).toBe(400);
    expect(expectOpenAiError(both.json())).toMatchObject({ param: 'repetition_penalty', code: 'invalid_value' });
    expect((await send(endpoints.chatCompletions, { repeat_penalty: 1.2, repetition_penalty: 1.2 })).statusCode).toBe(200);
    const zero = await send(endpoints.chatCompletions, { repeat_penalty: 0 });
    expect(zero.statusCode).toBe(400);
    expect(expectOpenAiError(zero.json()).param).toBe('repeat_penalty');
    const typical = await send(endpoints.completions, { typical_p: 0.5 });
    expect(typical.statusCode).toBe(400);
    expect(expectOpenAiError(typical.json())).toMatchObject({ param: 'typical_p', code: 'unsupported_parameter' });
    expect(expectOpenAiError(typical.json()).message).toContain('typical-p');
    expect((await send(endpoints.completions, { typical_p: 1 })).statusCode).toBe(200);
  });
});
