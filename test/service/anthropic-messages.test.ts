/**
 * Anthropic's Messages API through the official `@anthropic-ai/sdk` client: real HTTP and real inference on the
 * random-weight model (create, stream, tool use round trip, count_tokens, x-api-key authentication, errors),
 * and the request mapping on the fake engine (what the engine is handed for system blocks, tool results,
 * tool_choice, output_config; the refusals).
 */
import Anthropic from '@anthropic-ai/sdk';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers.js';
import { FakeEngine, startFakeApp, type FakeApp } from './fake-engine.js';
import { QueueFullError, type GenerationEvent } from '../../service/http/engine-port.js';

const apiKey = 'anthropic-test-key';
const weatherTool = {
  name: 'get_weather',
  description: 'Weather of a city',
  input_schema: {
    type: 'object' as const,
    properties: { city: { type: 'string', maxLength: 16 }, unit: { enum: ['celsius', 'fahrenheit'] } },
    required: ['city', 'unit'],
    additionalProperties: false,
  },
};

/** The SDK's request type has no sampling fields any more; Anthropic's API (and this server) still take them. */
type Sampling = { temperature?: number; top_p?: number; top_k?: number };
const withSampling = <T extends object>(params: T, sampling: Sampling): T => ({ ...params, ...sampling });

const textOf = (m: Anthropic.Message) => m.content.map((b) => (b.type === 'text' ? b.text : '')).join('');

describe('Messages API (real model, @anthropic-ai/sdk)', () => {
  let t: TestApp;
  let model: string;
  let client: Anthropic;
  beforeAll(async () => {
    t = await startTestApp({ PARALLEL: '2', CONTEXT_SIZE: '1024', API_KEY: apiKey, PROMPT_CACHE: 'off' });
    model = t.app.llm.engine.modelId;
    client = new Anthropic({ apiKey, baseURL: t.base, maxRetries: 0, timeout: 60_000 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('create: system blocks, max_tokens; the same text and prompt as the chat completion', async () => {
    const m = await client.messages.create(
      withSampling(
        {
          model,
          max_tokens: 6,
          system: [
            { type: 'text', text: 'Be brief.' },
            { type: 'text', text: 'Answer in English.' },
          ],
          messages: [{ role: 'user', content: 'Say hello' }],
        },
        { temperature: 0 },
      ),
    );
    expect(m.type).toBe('message');
    expect(m.role).toBe('assistant');
    expect(m.id).toMatch(/^msg_/);
    expect(m.stop_reason).toBe('max_tokens');
    expect(m.usage.output_tokens).toBe(6);
    const chat = await t.client.chat.completions.create(
      {
        model,
        messages: [
          { role: 'system', content: 'Be brief.\n\nAnswer in English.' },
          { role: 'user', content: 'Say hello' },
        ],
        max_tokens: 6,
        temperature: 0,
      },
      { headers: { authorization: `Bearer ${apiKey}` } },
    );
    expect(textOf(m).length).toBeGreaterThan(0);
    expect(textOf(m)).toBe(chat.choices[0]?.message.content);
    expect(m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0)).toBe(chat.usage?.prompt_tokens);
  });

  it('stream: typed events whose text deltas spell finalMessage, equal to the non-streamed answer', async () => {
    const params = withSampling({ model, max_tokens: 8, messages: [{ role: 'user' as const, content: 'Count' }] }, { temperature: 0 });
    const stream = client.messages.stream(params);
    const types: string[] = [];
    let text = '';
    stream.on('streamEvent', (ev) => types.push(ev.type));
    stream.on('text', (delta) => (text += delta));
    const final = await stream.finalMessage();
    expect(types[0]).toBe('message_start');
    expect(types).toContain('content_block_start');
    expect(types).toContain('content_block_delta');
    expect(types).toContain('content_block_stop');
    expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(text.length).toBeGreaterThan(0);
    expect(textOf(final)).toBe(text);
    expect(final.stop_reason).toBe('max_tokens');
    expect(final.usage.output_tokens).toBe(8);
    expect(final.usage.input_tokens).toBeGreaterThan(0);
    const plain = await client.messages.create(params);
    expect(textOf(plain)).toBe(text);
  });

  it('stop_sequences: the answer ends before the matched string, stop_reason stop_sequence names it (streamed too)', async () => {
    const params = withSampling({ model, max_tokens: 12, messages: [{ role: 'user' as const, content: 'Tell a story' }] }, { temperature: 0 });
    const free = textOf(await client.messages.create(params));
    expect(free.length).toBeGreaterThan(4);
    const stop = free.slice(Math.floor(free.length / 2), Math.floor(free.length / 2) + 2);
    const stopped = await client.messages.create({ ...params, stop_sequences: ['never-generated-xyz', stop] });
    expect(stopped.stop_reason).toBe('stop_sequence');
    expect(stopped.stop_sequence).toBe(stop);
    expect(textOf(stopped)).toBe(free.slice(0, free.indexOf(stop)));
    const streamed = await client.messages.stream({ ...params, stop_sequences: [stop] }).finalMessage();
    expect(streamed.stop_reason).toBe('stop_sequence');
    expect(streamed.stop_sequence).toBe(stop);
    expect(textOf(streamed)).toBe(textOf(stopped));
  });

  it('tool use round trip: a forced tool_use whose input validates against input_schema, then a tool_result turn', async () => {
    const validate = new Ajv().compile(weatherTool.input_schema);
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Weather in Paris for 3 days?' }];
    const first = await client.messages.create({
      model,
      max_tokens: 200,
      tools: [weatherTool],
      tool_choice: { type: 'tool', name: 'get_weather' },
      messages,
    });
    expect(first.stop_reason).toBe('tool_use');
    const use = first.content.find((b) => b.type === 'tool_use');
    if (use?.type !== 'tool_use') throw new Error(`no tool_use block in ${JSON.stringify(first.content)}`);
    expect(use.name).toBe('get_weather');
    expect(use.id).toMatch(/^toolu_/);
    expect(validate(use.input), JSON.stringify(validate.errors)).toBe(true);
    // Negative control: the validator does refuse an input outside the schema.
    expect(validate({ city: 'Paris', unit: 'kelvin' })).toBe(false);

    const next = await client.messages.create({
      model,
      max_tokens: 8,
      tools: [weatherTool],
      messages: [
        ...messages,
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: [{ type: 'text', text: '{"celsius": 21}' }] }] },
      ],
    });
    expect(['end_turn', 'max_tokens', 'tool_use']).toContain(next.stop_reason);
    // The tool result is part of the prompt: the same conversation without it counts fewer tokens.
    const withResult = await client.messages.countTokens({
      model,
      tools: [weatherTool],
      messages: [
        ...messages,
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '{"celsius": 21}' }] },
      ],
    });
    expect(withResult.input_tokens).toBe(next.usage.input_tokens + (next.usage.cache_read_input_tokens ?? 0));
  });

  it('stream: a forced tool call streams input_json_delta that parses to the final input', async () => {
    const stream = client.messages.stream({
      model,
      max_tokens: 200,
      tools: [weatherTool],
      tool_choice: { type: 'any' },
      messages: [{ role: 'user', content: 'Weather in Rome?' }],
    });
    let json = '';
    stream.on('streamEvent', (ev) => {
      if (ev.type === 'content_block_delta' && ev.delta.type === 'input_json_delta') json += ev.delta.partial_json;
    });
    const final = await stream.finalMessage();
    const use = final.content.find((b) => b.type === 'tool_use');
    if (use?.type !== 'tool_use') throw new Error('no tool_use block');
    expect(final.stop_reason).toBe('tool_use');
    expect(JSON.parse(json)).toEqual(use.input);
    expect(new Ajv().validate(weatherTool.input_schema, use.input)).toBe(true);
  });

  it('count_tokens: the prompt tokens a create evaluates; tools count', async () => {
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'How many tokens is this?' }];
    const counted = await client.messages.countTokens({ model, system: 'Be brief.', messages });
    const created = await client.messages.create({ model, max_tokens: 1, system: 'Be brief.', messages });
    expect(counted.input_tokens).toBeGreaterThan(0);
    expect(counted.input_tokens).toBe(created.usage.input_tokens + (created.usage.cache_read_input_tokens ?? 0));
    const withTools = await client.messages.countTokens({ model, system: 'Be brief.', messages, tools: [weatherTool] });
    expect(withTools.input_tokens).toBeGreaterThan(counted.input_tokens);
  });

  it('x-api-key: refused without or with a wrong key, accepted with it (and as a bearer token)', async () => {
    const params = { model, max_tokens: 1, messages: [{ role: 'user' as const, content: 'x' }] };
    const none = await fetch(`${t.base}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ type: 'error', error: { type: 'authentication_error', message: expect.stringContaining('x-api-key') } });
    const wrong = new Anthropic({ apiKey: 'wrong', baseURL: t.base, maxRetries: 0 });
    await expect(wrong.messages.create(params)).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    await expect(wrong.messages.countTokens({ model, messages: params.messages })).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    expect((await client.messages.create(params)).usage.output_tokens).toBe(1);
    const bearer = new Anthropic({ apiKey: null, authToken: apiKey, baseURL: t.base, maxRetries: 0 });
    expect((await bearer.messages.create(params)).usage.output_tokens).toBe(1);
  });

  it('a bad request is the SDK BadRequestError with the message; another model is NotFoundError', async () => {
    const tooMany = await client.messages.create({ model, max_tokens: 1_000_000, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(tooMany).toBeInstanceOf(Anthropic.BadRequestError);
    const err = tooMany as InstanceType<typeof Anthropic.BadRequestError>;
    expect(err.status).toBe(400);
    expect(err.message).toContain('max_tokens is too large');
    expect(err.error).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('max_tokens') } });
    const missing = await client.messages.create({ model, messages: [{ role: 'user', content: 'x' }] } as never).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Anthropic.BadRequestError);
    expect((missing as Error).message).toContain("'max_tokens'");
    const other = await client.messages
      .create({ model: 'claude-sonnet-4-5', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(other).toBeInstanceOf(Anthropic.NotFoundError);
    expect((other as Error).message).toContain('claude-sonnet-4-5');
  });

  it('a prompt that cannot fit the context is a 400 naming messages', async () => {
    const err = await client.messages.create({ model, max_tokens: 2, messages: [{ role: 'user', content: 'hello '.repeat(1500) }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as Error).message).toContain('maximum context length');
  });
});

describe('Messages API usage with prompt reuse (real model)', () => {
  it('a repeated prompt reads its prefix from the cache: message_start and the final usage agree with count_tokens', async () => {
    const t = await startTestApp({ PARALLEL: '1', CONTEXT_SIZE: '1024' });
    try {
      const model = t.app.llm.engine.modelId;
      const client = new Anthropic({ apiKey: 'unused', baseURL: t.base, maxRetries: 0, timeout: 60_000 });
      const params = { model, max_tokens: 2, system: 'You are a helpful assistant.', messages: [{ role: 'user' as const, content: 'Tell me about caching' }] };
      const first = await client.messages.create(params);
      expect(first.usage.cache_read_input_tokens).toBe(0);
      const stream = client.messages.stream(params);
      let startUsage: Anthropic.Usage | undefined;
      stream.on('streamEvent', (ev) => {
        if (ev.type === 'message_start') startUsage = ev.message.usage;
      });
      const second = await stream.finalMessage();
      const counted = await client.messages.countTokens({ model, system: params.system, messages: params.messages });
      expect(second.usage.cache_read_input_tokens).toBeGreaterThan(0);
      expect(startUsage?.cache_read_input_tokens).toBe(second.usage.cache_read_input_tokens);
      expect(startUsage?.input_tokens).toBe(second.usage.input_tokens);
      expect(second.usage.input_tokens + (second.usage.cache_read_input_tokens ?? 0)).toBe(counted.input_tokens);
      expect(first.usage.input_tokens).toBe(counted.input_tokens);
    } finally {
      await t.close();
    }
  });
});

describe('Messages API mapping and refusals (fake engine)', () => {
  let f: FakeApp;
  let base: string;
  let client: Anthropic;
  beforeAll(async () => {
    f = await startFakeApp();
    base = await f.listen();
    client = new Anthropic({ apiKey: 'x', baseURL: base, maxRetries: 0 });
  });
  afterAll(async () => {
    await f?.close();
  });

  const badRequest = async (body: Record<string, unknown>, expected: string) => {
    const err = await client.messages
      .create({ model: 'fake-model', max_tokens: 5, messages: [{ role: 'user', content: 'x' }], ...body } as never)
      .catch((e: unknown) => e);
    expect(err, JSON.stringify(body)).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as Error).message).toContain(expected);
  };

  it('system, text, tool_use and tool_result blocks become the chat the engine renders', async () => {
    const m = await client.messages.create(
      withSampling(
        {
          model: 'fake-model',
          max_tokens: 2048,
          system: 'Sys',
          stop_sequences: ['END'],
          metadata: { user_id: 'u1' },
          thinking: { type: 'enabled', budget_tokens: 1024 },
          tools: [weatherTool],
          tool_choice: { type: 'auto', disable_parallel_tool_use: true },
          messages: [
            { role: 'user', content: 'Weather?' },
            {
              role: 'assistant',
              content: [
                { type: 'thinking', thinking: 'hmm', signature: 's' },
                { type: 'text', text: 'Checking.' },
                { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo', unit: 'celsius' } },
              ],
            },
            {
              role: 'user',
              content: [
                { type: 'tool_result', tool_use_id: 'toolu_1', content: 'cold' },
                { type: 'text', text: 'Thanks' },
              ],
            },
          ],
        },
        { temperature: 0.5, top_k: 7, top_p: 0.9 },
      ),
      { headers: { 'anthropic-version': '1999-01-01' } },
    );
    expect(m.content).toEqual([{ type: 'text', text: 'fake answer' }]);
    expect(m.stop_reason).toBe('end_turn');
    const g = f.engine.generations.at(-1);
    if (g?.input.kind !== 'chat') throw new Error('no chat generation');
    expect(g.input.messages).toEqual([
      { role: 'system', content: 'Sys' },
      { role: 'user', content: 'Weather?' },
      {
        role: 'assistant',
        content: 'Checking.',
        toolCalls: [{ id: 'toolu_1', name: 'get_weather', arguments: { city: 'Oslo', unit: 'celsius' }, result: 'cold' }],
      },
      { role: 'user', content: 'Thanks' },
    ]);
    expect(g.input.tools?.mode).toBe('auto');
    expect(g.input.tools?.maxParallelCalls).toBe(1);
    expect(g.sampling).toMatchObject({ maxTokens: 2048, temperature: 0.5, topK: 7, topP: 0.9, stop: ['END'] });
  });

  it('tool_choice none hides the tools; tool forces the named one; output_config.format is a grammar', async () => {
    await client.messages.create({
      model: 'fake-model',
      max_tokens: 5,
      tools: [weatherTool],
      tool_choice: { type: 'none' },
      messages: [{ role: 'user', content: 'x' }],
    });
    const none = f.engine.generations.at(-1)?.input;
    expect(none?.kind === 'chat' && none.tools).toBeFalsy();
    await client.messages.create({
      model: 'fake-model',
      max_tokens: 5,
      tools: [weatherTool, { name: 'other', input_schema: { type: 'object' } }],
      tool_choice: { type: 'tool', name: 'get_weather' },
      messages: [{ role: 'user', content: 'x' }],
    });
    const forced = f.engine.generations.at(-1)?.input;
    expect(forced?.kind === 'chat' && forced.tools?.mode).toBe('required');
    expect(forced?.kind === 'chat' && forced.tools?.tools.map((x) => x.name)).toEqual(['get_weather']);
    await client.messages.create({
      model: 'fake-model',
      max_tokens: 5,
      output_config: {
        format: { type: 'json_schema', schema: { type: 'object', properties: { a: { type: 'string', pattern: '^[a-z]+$' } }, required: ['a'] } },
      },
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(f.engine.lastSampling().grammar?.kind).toBe('gbnf');
  });

  it('refusals are 400s in Anthropic shape naming what to fix', async () => {
    await badRequest(
      { messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'http://x' } }] }] },
      "messages[0].content[0]: content blocks of type 'image'",
    );
    await badRequest({ tools: [{ name: 'web_search', type: 'web_search_20250305' }] }, "server tools (type 'web_search_20250305')");
    await badRequest(
      { tools: [{ name: 'f', input_schema: { type: 'object', properties: { a: { type: 'array', uniqueItems: true } } } }] },
      "Invalid schema for 'tools[0].input_schema': 'uniqueItems' (at #/properties/a)",
    );
    await badRequest({ messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'nope', content: 'x' }] }] }, "no tool_use has id 'nope'");
    await badRequest({ tool_choice: { type: 'tool', name: 'missing' }, tools: [weatherTool] }, "the tool 'missing'");
    await badRequest({ tool_choice: { type: 'any' } }, 'needs at least one tool');
    await badRequest({ thinking: { type: 'enabled', budget_tokens: 100 } }, 'at least 1024');
    await badRequest({ max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 4096 } }, 'max_tokens must be greater than thinking.budget_tokens');
    await badRequest({ mcp_servers: [{ type: 'url', url: 'https://mcp.example', name: 'x' }] }, 'mcp_servers is not supported');
    await badRequest({ temperature: 1.5 }, 'temperature');
    await badRequest({ frequency_penalty: 1 }, 'Unrecognized request argument supplied: frequency_penalty');
    const raw = await fetch(`${base}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });

  it('a trailing assistant turn is continued (prefill); an oversize body is 413 request_too_large', async () => {
    await client.messages.create({
      model: 'fake-model',
      max_tokens: 5,
      messages: [
        { role: 'user', content: 'Name a colour' },
        { role: 'assistant', content: 'The colour is' },
      ],
    });
    const g = f.engine.generations.at(-1);
    expect(g?.input.kind === 'chat' && g.input.messages.at(-1)).toEqual({ role: 'assistant', content: 'The colour is' });
    const huge = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fake-model', max_tokens: 1, messages: [{ role: 'user', content: 'x'.repeat(8 * 2 ** 20) }] }),
    });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
  });

  it('503 overloaded_error with Retry-After before the model is loaded', async () => {
    f.engine.state = 'loading';
    try {
      const loading = await fetch(`${base}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fake-model', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] }),
      });
      expect(loading.status).toBe(503);
      expect(loading.headers.get('retry-after')).toBe('5');
      expect(await loading.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    } finally {
      f.engine.state = 'ready';
    }
  });
});

/** Fails as a busy or broken engine does: a full queue before admission, or an error after the first text. */
class FailingEngine extends FakeEngine {
  mode: 'queue_full' | 'mid_stream' = 'queue_full';
  override generate(): AsyncIterable<GenerationEvent> {
    if (this.mode === 'queue_full') throw new QueueFullError(7, 3);
    return (async function* () {
      yield { type: 'started', promptTokens: 4, queuedMs: 0 } as GenerationEvent;
      yield { type: 'text', text: 'partial', tokens: 1 } as GenerationEvent;
      throw new Error('the engine broke');
    })();
  }
}

describe('Messages API under engine failures (fake engine)', () => {
  it('a full queue is RateLimitError with Retry-After; an error mid-stream is an error event the SDK raises', async () => {
    const engine = new FailingEngine();
    const f = await startFakeApp({}, engine);
    try {
      const client = new Anthropic({ apiKey: 'x', baseURL: await f.listen(), maxRetries: 0 });
      const params = { model: 'fake-model', max_tokens: 5, messages: [{ role: 'user' as const, content: 'x' }] };
      const busy = await client.messages.create(params).catch((e: unknown) => e);
      expect(busy).toBeInstanceOf(Anthropic.RateLimitError);
      expect((busy as InstanceType<typeof Anthropic.RateLimitError>).headers?.get('retry-after')).toBe('7');
      expect((busy as InstanceType<typeof Anthropic.RateLimitError>).error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });

      engine.mode = 'mid_stream';
      const stream = client.messages.stream(params);
      let text = '';
      stream.on('text', (delta) => (text += delta));
      const failed = await stream.finalMessage().catch((e: unknown) => e);
      expect(text).toBe('partial');
      expect(failed).toBeInstanceOf(Anthropic.APIError);
      expect((failed as InstanceType<typeof Anthropic.APIError>).error).toEqual({
        type: 'error',
        error: { type: 'api_error', message: 'The server had an error while generating.' },
      });
    } finally {
      await f.close();
    }
  });
});
