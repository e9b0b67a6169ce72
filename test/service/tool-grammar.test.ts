/**
 * Tool parameter schemas through the project's JSON-Schema-to-GBNF converter (service/inference/grammar),
 * end to end on the random-weight model: for each keyword family, a forced call (the tool named in
 * `tool_choice`) through the `openai` client's chat completions and Responses API and through
 * `@anthropic-ai/sdk`'s Messages API, at temperature 0 and 1, has arguments that parse and validate against
 * the schema with ajv (draft 2020-12, ajv-formats), an implementation independent of the converter. The
 * weights are random, so what holds is the grammar's doing. A keyword the converter refuses is a 400 naming
 * it and its JSON pointer in each API, with that API's field name.
 */
import Anthropic from '@anthropic-ai/sdk';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerationEvent, GenerationInput } from '../../service/http/engine-port.js';
import { startTestApp, type TestApp } from './helpers.js';

const addFormats = addFormatsPlugin as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false }));

const object = (properties: Record<string, unknown>, required = Object.keys(properties)) => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});

/**
 * One tool per keyword family; `keywords` names the family in docs/structured-output.md's tool table. Every
 * value is bounded (anchored patterns, formats, lengths, ranges) so the grammar ends the call early.
 */
const families: Array<{ keywords: string; name: string; schema: Record<string, unknown> }> = [
  { keywords: 'pattern', name: 'book_flight', schema: object({ flight: { type: 'string', pattern: '^[A-Z]{2}-[0-9]{3}$' } }) },
  {
    keywords: 'format uuid, date',
    name: 'cancel_order',
    schema: object({ order: { type: 'string', format: 'uuid' }, day: { type: 'string', format: 'date' } }),
  },
  {
    keywords: 'integer minimum / maximum',
    name: 'set_volume',
    schema: object({ level: { type: 'integer', minimum: -5, maximum: 20 }, step: { type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 4 } }),
  },
  { keywords: 'minLength / maxLength', name: 'rename', schema: object({ label: { type: 'string', minLength: 2, maxLength: 5 } }) },
  { keywords: 'enum', name: 'paint', schema: object({ color: { enum: ['red', 'green', 'blue'] }, finish: { type: 'string', enum: ['matte', 'gloss'] } }) },
  {
    keywords: 'nested objects, $ref / $defs',
    name: 'draw_line',
    schema: {
      ...object({ from: { $ref: '#/$defs/point' }, to: { $ref: '#/$defs/point' }, style: object({ dashed: { type: 'boolean' } }) }),
      $defs: { point: object({ x: { type: 'integer', minimum: 0, maximum: 9 }, y: { type: 'integer', minimum: 0, maximum: 9 } }) },
    },
  },
];

describe('tool parameters through the JSON-Schema-to-GBNF converter (real model; openai and @anthropic-ai/sdk clients)', () => {
  let t: TestApp;
  let model: string;
  let anthropic: Anthropic;
  beforeAll(async () => {
    t = await startTestApp({ PARALLEL: '6', CONTEXT_SIZE: '1024', MAX_COMPLETION_LENGTH: '300' });
    model = t.app.llm.engine.modelId;
    anthropic = new Anthropic({ apiKey: 'not-needed', baseURL: t.base, maxRetries: 0, timeout: 60_000 });
  });
  afterAll(async () => {
    await t?.close();
  });

  const maxTokens = 300;
  const prompt = 'Call the tool.';

  for (const family of families) {
    it(`${family.keywords}: forced calls validate against the schema (chat, responses, messages; temperature 0 and 1)`, async () => {
      const validate = ajv.compile(family.schema);
      const expectValid = (api: string, temperature: number, args: unknown) => {
        expect(validate(args), `${api} at temperature ${temperature}: ${JSON.stringify(args)} ${JSON.stringify(validate.errors)}`).toBe(true);
      };
      const chat = async (temperature: number) => {
        const r = await t.client.chat.completions.create({
          model,
          messages: [{ role: 'user', content: prompt }],
          tools: [{ type: 'function', function: { name: family.name, parameters: family.schema } }],
          tool_choice: { type: 'function', function: { name: family.name } },
          max_tokens: maxTokens,
          temperature,
          seed: 11,
        });
        const choice = r.choices[0];
        expect(choice?.finish_reason, `chat at temperature ${temperature}`).toBe('tool_calls');
        const call = choice?.message.tool_calls?.[0];
        expect(call?.type === 'function' && call.function.name).toBe(family.name);
        if (call?.type !== 'function') return;
        expectValid('chat', temperature, JSON.parse(call.function.arguments));
        // node-llama-cpp's end-of-arguments marker (four newlines) is not part of the arguments.
        expect(call.function.arguments).toMatch(/\}$/);
      };
      const responses = async (temperature: number) => {
        const r = await t.client.responses.create({
          model,
          input: prompt,
          tools: [{ type: 'function', name: family.name, parameters: family.schema, strict: true }],
          tool_choice: { type: 'function', name: family.name },
          max_output_tokens: maxTokens,
          temperature,
        });
        const item = r.output.find((o) => o.type === 'function_call');
        expect(item?.type === 'function_call' && item.name, `responses at temperature ${temperature}`).toBe(family.name);
        if (item?.type === 'function_call') expectValid('responses', temperature, JSON.parse(item.arguments));
      };
      const messages = async (temperature: number) => {
        const r = await anthropic.messages.create({
          model,
          max_tokens: maxTokens,
          messages: [{ role: 'user', content: prompt }],
          tools: [{ name: family.name, input_schema: family.schema as Anthropic.Tool.InputSchema }],
          tool_choice: { type: 'tool', name: family.name },
          ...{ temperature },
        });
        expect(r.stop_reason, `messages at temperature ${temperature}`).toBe('tool_use');
        const use = r.content.find((b) => b.type === 'tool_use');
        expect(use?.type === 'tool_use' && use.name).toBe(family.name);
        if (use?.type === 'tool_use') expectValid('messages', temperature, use.input);
      };
      // All six at once: the server decodes them as one batch (PARALLEL=6), a fraction of six in a row.
      await Promise.all([0, 1].flatMap((temperature) => [chat(temperature), responses(temperature), messages(temperature)]));
    });
  }

  it('a keyword the converter refuses is a 400 naming it and its JSON pointer, under each API its own field name', async () => {
    const refusedSchema = object({ note: { type: 'string', not: { const: 'x' } } });
    const expected = "'not' (at #/properties/note) cannot be enforced by this server's grammar";
    await expect(
      t.client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: prompt }],
        tools: [{ type: 'function', function: { name: 'f', parameters: refusedSchema } }],
        max_tokens: 1,
      }),
    ).rejects.toMatchObject({
      status: 400,
      code: 'unsupported_schema_keyword',
      param: 'tools[0].function.parameters',
      message: expect.stringContaining(expected),
    });
    await expect(
      t.client.responses.create({
        model,
        input: prompt,
        tools: [{ type: 'function', name: 'f', parameters: refusedSchema, strict: false }],
        max_output_tokens: 16,
      }),
    ).rejects.toMatchObject({ status: 400, code: 'unsupported_schema_keyword', param: 'tools[0].parameters', message: expect.stringContaining(expected) });
    const err = await anthropic.messages
      .create({
        model,
        max_tokens: 1,
        messages: [{ role: 'user', content: prompt }],
        tools: [{ name: 'f', input_schema: refusedSchema as Anthropic.Tool.InputSchema }],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as Error).message).toContain(`'tools[0].input_schema': ${expected}`);
  });

  it("a schema the converter accepts but that is not valid JSON Schema is a 400 invalid_schema with the validator's reason", async () => {
    // $defs entries nobody references generate no grammar; the validator still compiles (and checks) them.
    const invalid = { type: 'object', properties: {}, $defs: { unused: { type: 'nonsense' } } };
    await expect(
      t.client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: prompt }],
        tools: [{ type: 'function', function: { name: 'f', parameters: invalid } }],
        max_tokens: 1,
      }),
    ).rejects.toMatchObject({
      status: 400,
      code: 'invalid_schema',
      param: 'tools[0].function.parameters',
      message: expect.stringContaining('schema is invalid'),
    });
  });

  it('arguments are an object: a schema without type generates one, a schema of another type is a 400', async () => {
    // No `type`: without the object type at the root, 'off' and 3 would be arguments too (see
    // test/service/tool-arguments-grammar.test.ts for the grammar and validator on each value).
    const r = await t.client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: prompt }],
      tools: [{ type: 'function', function: { name: 'ping', parameters: { enum: ['off', { on: true }, 3] } } }],
      tool_choice: { type: 'function', function: { name: 'ping' } },
      max_tokens: 100,
      temperature: 1,
    });
    const call = r.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ on: true });
    await expect(
      t.client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: prompt }],
        tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'string' } } }],
        max_tokens: 1,
      }),
    ).rejects.toMatchObject({
      status: 400,
      code: 'invalid_schema',
      param: 'tools[0].function.parameters',
      message: expect.stringContaining('use "type": "object"'),
    });
  });

  /** The engine's events for a forced call of `f` whose arguments grammar and validator are the given ones. */
  async function forcedCall(gbnf: string, validate: (value: unknown) => string | undefined): Promise<GenerationEvent[]> {
    const input: GenerationInput = {
      kind: 'chat',
      messages: [{ role: 'user', content: prompt }],
      tools: { tools: [{ name: 'f', parameters: { schema: { type: 'object' }, gbnf, validate } }], mode: 'required' },
    };
    const events: GenerationEvent[] = [];
    for await (const event of t.app.llm.engine.generate(input, { maxTokens: 40, temperature: 0 }, new AbortController().signal)) events.push(event);
    return events;
  }

  it("the patched node-llama-cpp generates a call's arguments under the given grammar, not one from the schema", async () => {
    // The schema allows any object; only the grammar pins the text.
    const events = await forcedCall('root ::= "{\\"k\\": \\"only-this\\"}"', () => undefined);
    const done = events.at(-1);
    expect(done?.type === 'done' && done.toolCalls?.map((c) => JSON.parse(c.arguments) as unknown)).toEqual([{ k: 'only-this' }]);
  });

  it('the patched node-llama-cpp checks the parsed arguments with the given validator (negative control)', async () => {
    await expect(forcedCall('root ::= "{}"', () => 'refused by the test')).rejects.toThrow(
      'Function call params for function "f" do not match its schema: refused by the test',
    );
  });
});
