/**
 * Tools and structured output through the official `openai` client on the random-weight model: what the
 * grammar guarantees holds even though the weights are random (schema-valid JSON, a declared function
 * with schema-valid arguments), streamed tool-call deltas reassemble to the non-streamed call, and tool
 * results replayed in the history reach the prompt. Output is checked with ajv, an independent JSON
 * Schema validator.
 */
import { Ajv } from 'ajv';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers.js';

const ajv = new Ajv({ strict: false });

const weatherParams = {
  type: 'object',
  properties: {
    city: { type: 'string', maxLength: 16 },
    unit: { enum: ['celsius', 'fahrenheit'] },
    days: { type: 'array', items: { type: 'boolean' }, maxItems: 3 },
  },
  required: ['city', 'unit', 'days'],
  additionalProperties: false,
} as const;

const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather forecast for a city', parameters: weatherParams } },
  {
    type: 'function',
    function: {
      name: 'set_alarm',
      description: 'Set an alarm',
      parameters: { type: 'object', properties: { label: { type: 'string', maxLength: 12 }, loud: { type: 'boolean' } }, required: ['label', 'loud'] },
    },
  },
];
const paramsOf = new Map(tools.map((tool) => [tool.type === 'function' ? tool.function.name : '', tool.type === 'function' ? tool.function.parameters : {}]));

describe('tools and structured output (PARALLEL=2)', () => {
  let t: TestApp;
  let model: string;
  beforeAll(async () => {
    t = await startTestApp({ PARALLEL: '2', CONTEXT_SIZE: '2048', MAX_COMPLETION_LENGTH: '400' });
    model = t.app.llm.engine.modelId;
  });
  afterAll(async () => {
    await t?.close();
  });

  const user = (content: string): OpenAI.Chat.Completions.ChatCompletionMessageParam => ({ role: 'user', content });

  function expectValidCall(call: OpenAI.Chat.Completions.ChatCompletionMessageToolCall | undefined, names: string[]) {
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') return;
    expect(call.id).toMatch(/^call_/);
    expect(names).toContain(call.function.name);
    const args = JSON.parse(call.function.arguments) as unknown;
    const validate = ajv.compile(paramsOf.get(call.function.name) as object);
    expect(validate(args), JSON.stringify(validate.errors)).toBe(true);
  }

  it('a named tool_choice forces that function, with arguments that match its schema', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await t.client.chat.completions.create({
        model,
        messages: [user('What is the weather in Paris?')],
        tools,
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        max_tokens: 200,
        seed,
      });
      const choice = r.choices[0];
      expect(choice?.finish_reason).toBe('tool_calls');
      expect(choice?.message.tool_calls?.length).toBeGreaterThanOrEqual(1);
      for (const call of choice?.message.tool_calls ?? []) expectValidCall(call, ['get_weather']);
    }
  });

  it('tool_choice "required" calls one of the declared functions; parallel_tool_calls false allows one call', async () => {
    const r = await t.client.chat.completions.create({
      model,
      messages: [user('Wake me at seven')],
      tools,
      tool_choice: 'required',
      parallel_tool_calls: false,
      max_tokens: 200,
      seed: 11,
    });
    expect(r.choices[0]?.finish_reason).toBe('tool_calls');
    expect(r.choices[0]?.message.tool_calls).toHaveLength(1);
    expectValidCall(r.choices[0]?.message.tool_calls?.[0], ['get_weather', 'set_alarm']);
  });

  it('streamed tool-call deltas reassemble to the non-streamed call (same seed)', async () => {
    const params = {
      model,
      messages: [user('Weather in Oslo, please')],
      tools,
      tool_choice: { type: 'function' as const, function: { name: 'get_weather' } },
      max_tokens: 200,
      seed: 21,
    };
    const whole = await t.client.chat.completions.create(params);
    const stream = await t.client.chat.completions.create({ ...params, stream: true });
    const calls: Array<{ id?: string; name: string; arguments: string }> = [];
    let finish: string | null | undefined;
    let deltas = 0;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.finish_reason) finish = choice.finish_reason;
      for (const d of choice?.delta.tool_calls ?? []) {
        deltas++;
        const call = (calls[d.index] ??= { name: '', arguments: '' });
        if (d.id) call.id = d.id;
        if (d.function?.name) call.name += d.function.name;
        if (d.function?.arguments) call.arguments += d.function.arguments;
      }
    }
    expect(finish).toBe('tool_calls');
    expect(deltas).toBeGreaterThan(1);
    const expected = (whole.choices[0]?.message.tool_calls ?? []).map((c) =>
      c.type === 'function' ? { name: c.function.name, arguments: c.function.arguments } : undefined,
    );
    expect(calls.map((c) => ({ name: c.name, arguments: c.arguments }))).toEqual(expected);
    for (const c of calls) expect(c.id).toMatch(/^call_/);
  });

  it('assistant tool_calls and tool results are replayed in the history (the results reach the prompt)', async () => {
    const first = await t.client.chat.completions.create({
      model,
      messages: [user('Weather in Rome?')],
      tools,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      max_tokens: 200,
      seed: 5,
    });
    const assistant = first.choices[0]?.message as OpenAI.Chat.Completions.ChatCompletionMessage;
    const call = assistant.tool_calls?.[0];
    expect(call).toBeDefined();
    const history = (result: string): OpenAI.Chat.Completions.ChatCompletionMessageParam[] => [
      user('Weather in Rome?'),
      { role: 'assistant', content: null, tool_calls: assistant.tool_calls ?? [] },
      { role: 'tool', tool_call_id: call?.id ?? '', content: result },
    ];
    const short = await t.client.chat.completions.create({ model, messages: history('sunny'), tools, max_tokens: 3 });
    const long = await t.client.chat.completions.create({ model, messages: history('sunny '.repeat(40)), tools, max_tokens: 3 });
    expect(short.choices[0]?.finish_reason).not.toBe(undefined);
    expect((long.usage?.prompt_tokens ?? 0) - (short.usage?.prompt_tokens ?? 0)).toBeGreaterThanOrEqual(39);
  });

  it('tool_choice "none" answers in text even with tools declared', async () => {
    const r = await t.client.chat.completions.create({ model, messages: [user('Hi')], tools, tool_choice: 'none', max_tokens: 5 });
    expect(r.choices[0]?.message.tool_calls).toBeUndefined();
    expect(r.choices[0]?.finish_reason).toBe('length');
  });

  it('response_format json_schema (strict): the output parses and matches the schema', async () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string', maxLength: 12 },
        ok: { type: 'boolean' },
        colour: { enum: ['red', 'green', 'blue'] },
        tags: { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 3 },
        nested: { type: 'object', properties: { flag: { type: 'boolean' }, note: { anyOf: [{ type: 'null' }, { type: 'string', maxLength: 5 }] } } },
      },
      required: ['name', 'ok', 'colour', 'tags', 'nested'],
      additionalProperties: false,
    };
    const validate = ajv.compile(schema);
    for (const seed of [1, 2, 3]) {
      const r = await t.client.chat.completions.create({
        model,
        messages: [user('Describe a thing as JSON')],
        response_format: { type: 'json_schema', json_schema: { name: 'thing', schema, strict: true } },
        max_tokens: 300,
        seed,
      });
      expect(r.choices[0]?.finish_reason).toBe('stop');
      const value = JSON.parse(r.choices[0]?.message.content ?? '') as unknown;
      expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
    }
  });

  it('response_format json_object: the output is JSON, streamed too', async () => {
    const stream = await t.client.chat.completions.create({
      model,
      messages: [user('JSON please')],
      response_format: { type: 'json_object' },
      max_tokens: 300,
      seed: 4,
      stream: true,
    });
    let text = '';
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    if (finish === 'stop') expect(() => JSON.parse(text) as unknown).not.toThrow();
    else expect(finish).toBe('length');
    expect(text.trimStart()[0]).toMatch(/[[{"0-9tfn-]/);
  });

  it('a schema keyword the grammar cannot enforce is a 400 naming it, the same for response_format and tool parameters', async () => {
    // One converter for both (service/inference/grammar): what it refuses in one place it refuses in the other.
    const cases: Array<{ schema: Record<string, unknown>; text: string }> = [
      { schema: { type: 'object', properties: { x: { type: 'string', not: { const: 'a' } } } }, text: "'not' (at #/properties/x)" },
      { schema: { type: 'object', properties: { s: { type: 'array', uniqueItems: true } } }, text: "'uniqueItems' (at #/properties/s)" },
      { schema: { type: 'object', properties: { f: { type: 'string', format: 'uri' } } }, text: 'format "uri" (at #/properties/f)' },
    ];
    for (const c of cases) {
      await expect(
        t.client.chat.completions.create({
          model,
          messages: [user('x')],
          max_tokens: 1,
          response_format: { type: 'json_schema', json_schema: { name: 's', schema: c.schema } },
        }),
      ).rejects.toMatchObject({ status: 400, code: 'unsupported_schema_keyword', message: expect.stringContaining(c.text) });
      await expect(
        t.client.chat.completions.create({
          model,
          messages: [user('x')],
          max_tokens: 1,
          tools: [{ type: 'function', function: { name: 'f', parameters: c.schema } }],
        }),
      ).rejects.toMatchObject({
        status: 400,
        code: 'unsupported_schema_keyword',
        param: 'tools[0].function.parameters',
        message: expect.stringContaining(c.text),
      });
    }
  });

  it('inconsistent tool requests are 400s that say why', async () => {
    const bad: Array<{ body: Partial<OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming>; param: string }> = [
      { body: { tool_choice: 'required' }, param: 'tool_choice' },
      { body: { tools, tool_choice: { type: 'function', function: { name: 'missing' } } }, param: 'tool_choice.function.name' },
      {
        body: { tools: [tools[0] as OpenAI.Chat.Completions.ChatCompletionTool, tools[0] as OpenAI.Chat.Completions.ChatCompletionTool] },
        param: 'tools[1].function.name',
      },
      { body: { tools, response_format: { type: 'json_object' } }, param: 'response_format' },
    ];
    for (const b of bad) {
      await expect(t.client.chat.completions.create({ model, messages: [user('x')], max_tokens: 1, ...b.body }), b.param).rejects.toMatchObject({
        status: 400,
        param: b.param,
      });
    }
  });
});
