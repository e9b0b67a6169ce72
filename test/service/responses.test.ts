/**
 * POST /v1/responses through the official client: `client.responses.create` and `client.responses.stream` on
 * the random-weight model (real inference: the chat template, tools and grammar are exercised), and the
 * stateless refusals on the fake engine.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers.js';
import { startFakeApp } from './fake-engine.js';

describe('Responses API (real model)', () => {
  let t: TestApp;
  let model: string;
  beforeAll(async () => {
    t = await startTestApp({ PARALLEL: '2', CONTEXT_SIZE: '1024' });
    model = t.app.llm.engine.modelId;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('create: a string input, instructions and max_output_tokens; the same text as the chat completion', async () => {
    const r = await t.client.responses.create({ model, input: 'Say hello', instructions: 'Be brief.', max_output_tokens: 6, temperature: 0 });
    expect(r.object).toBe('response');
    expect(r.status).toBe('incomplete');
    expect(r.incomplete_details?.reason).toBe('max_output_tokens');
    expect(r.usage?.output_tokens).toBe(6);
    expect(r.output_text.length).toBeGreaterThan(0);
    const chat = await t.client.chat.completions.create({
      model,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Say hello' },
      ],
      max_tokens: 6,
      temperature: 0,
    });
    expect(r.output_text).toBe(chat.choices[0]?.message.content);
    expect(r.usage?.input_tokens).toBe(chat.usage?.prompt_tokens);
  });

  it('create: message items, function tools with function_call / function_call_output items', async () => {
    const tools = [
      {
        type: 'function' as const,
        name: 'get_weather',
        description: 'Weather of a city',
        parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 16 } }, required: ['city'] },
        strict: true,
      },
    ];
    const forced = await t.client.responses.create({
      model,
      input: [{ role: 'user', content: 'Weather in Paris?' }],
      tools,
      tool_choice: { type: 'function', name: 'get_weather' },
      max_output_tokens: 200,
    });
    const call = forced.output.find((o) => o.type === 'function_call');
    expect(call).toBeDefined();
    if (call?.type !== 'function_call') throw new Error('no call');
    expect(call.name).toBe('get_weather');
    expect(typeof (JSON.parse(call.arguments) as { city: unknown }).city).toBe('string');
    const next = await t.client.responses.create({
      model,
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '{"celsius": 21}' },
      ],
      tools,
      max_output_tokens: 8,
    });
    expect(next.status === 'completed' || next.status === 'incomplete').toBe(true);
  });

  it('create: text.format json_schema gives JSON that matches', async () => {
    const r = await t.client.responses.create({
      model,
      input: 'A person',
      max_output_tokens: 120,
      text: {
        format: {
          type: 'json_schema',
          name: 'person',
          schema: {
            type: 'object',
            properties: { name: { type: 'string' }, age: { type: 'integer' } },
            required: ['name', 'age'],
            additionalProperties: false,
          },
          strict: true,
        },
      },
    });
    if (r.status === 'completed') {
      const v = JSON.parse(r.output_text) as { name: unknown; age: unknown };
      expect(typeof v.name).toBe('string');
      expect(Number.isInteger(v.age)).toBe(true);
    } else expect(r.incomplete_details?.reason).toBe('max_output_tokens');
  });

  it('an input that cannot fit the context is a 400 context_length_exceeded naming input', async () => {
    const err = await t.client.responses.create({ model, input: 'hello '.repeat(1500), max_output_tokens: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('context_length_exceeded');
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('input');
  });

  it('stream: typed events, deltas that spell the final text, response.completed with usage', async () => {
    const stream = t.client.responses.stream({ model, input: 'Count', max_output_tokens: 8, temperature: 0 });
    const types: string[] = [];
    let deltas = '';
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'response.output_text.delta') deltas += ev.delta;
    }
    const final = await stream.finalResponse();
    expect(types[0]).toBe('response.created');
    expect(types).toContain('response.output_item.added');
    expect(types).toContain('response.output_text.delta');
    expect(types.at(-1)).toBe('response.incomplete');
    expect(final.output_text).toBe(deltas);
    expect(final.usage?.output_tokens).toBe(8);
    const plain = await t.client.responses.create({ model, input: 'Count', max_output_tokens: 8, temperature: 0 });
    expect(plain.output_text).toBe(deltas);
  });

  it('stream: a forced function call streams its arguments', async () => {
    const tools = [
      {
        type: 'function' as const,
        name: 'lookup',
        parameters: { type: 'object', properties: { q: { type: 'string', maxLength: 12 } }, required: ['q'] },
        strict: true,
      },
    ];
    const stream = t.client.responses.stream({ model, input: 'Look up cats', tools, tool_choice: 'required', max_output_tokens: 200 });
    let args = '';
    for await (const ev of stream) if (ev.type === 'response.function_call_arguments.delta') args += ev.delta;
    const final = await stream.finalResponse();
    const call = final.output.find((o) => o.type === 'function_call');
    if (call?.type !== 'function_call') throw new Error('no call');
    expect(call.arguments).toBe(args);
    expect(typeof (JSON.parse(args) as { q: unknown }).q).toBe('string');
  });
});

describe('Responses API: stateless refusals (fake engine)', () => {
  it('store true, previous_response_id, background and an unenforceable text.format are 400s naming the field', async () => {
    const f = await startFakeApp();
    try {
      for (const [field, value] of [
        ['store', true],
        ['previous_response_id', 'resp_1'],
        ['background', true],
      ] as const) {
        const err = await f.client.responses.create({ model: 'fake-model', input: 'x', [field]: value } as never).catch((e: unknown) => e);
        expect(err, field).toBeInstanceOf(OpenAI.BadRequestError);
        expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe(field);
      }
      const ok = await f.client.responses.create({ model: 'fake-model', input: 'x', store: false });
      expect(ok.output_text).toBe('fake answer');
      // A text.format schema the grammar cannot enforce is refused under the Responses field's own name.
      const refused = await f.client.responses
        .create({
          model: 'fake-model',
          input: 'x',
          text: { format: { type: 'json_schema', name: 'r', schema: { type: 'object', properties: { a: { type: 'string', not: { const: 'x' } } } } } },
        })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
      expect(refused).toMatchObject({ status: 400, code: 'unsupported_schema_keyword', param: 'text.format.schema' });
    } finally {
      await f.close();
    }
  });
});
