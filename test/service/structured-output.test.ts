/**
 * Structured output at llama.cpp's level, end to end: for every schema keyword family the converter
 * enforces, the random-weight model's answer through the real HTTP API and the official `openai` client,
 * at temperature 0 and 1, parses and validates against the schema with ajv (draft 2020-12, ajv-formats).
 * The weights are random, so whatever holds is the grammar's doing. Each schema's grammar forces the
 * answer to end (bounded lengths, counts and digits) well within max_tokens. A raw GBNF `grammar`
 * constrains chat and completions alike, and one that does not parse is a 400 with the parser's reason.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers.js';

const addFormats = addFormatsPlugin as unknown as (ajv: Ajv2020) => Ajv2020;
// multipleOfPrecision: 0.07 / 0.01 is 7.000000000000001 in binary floating point.
const ajv = addFormats(new Ajv2020({ strict: false, multipleOfPrecision: 9 }));

const object = (properties: Record<string, unknown>, required = Object.keys(properties)) => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});

/** One schema per keyword family; `keywords` is what the schema table in docs/structured-output.md cites. */
const families: Array<{ keywords: string; schema: Record<string, unknown> }> = [
  {
    keywords: 'integer minimum / maximum / exclusiveMinimum / exclusiveMaximum',
    schema: object({ n: { type: 'integer', minimum: -50, maximum: 50 }, m: { type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 1000 } }),
  },
  {
    keywords: 'number bounds, multipleOf',
    schema: object({
      x: { type: 'number', minimum: 0, maximum: 1, multipleOf: 0.01 },
      y: { type: 'number', exclusiveMinimum: -2.5, exclusiveMaximum: 2.25 },
      z: { type: 'integer', multipleOf: 7 },
      w: { type: 'integer', multipleOf: 5, minimum: 10, maximum: 60 },
    }),
  },
  { keywords: 'pattern', schema: object({ code: { type: 'string', pattern: '^[A-Z]{2}-[0-9]{3}$' }, pet: { type: 'string', pattern: '^(cat|dog)s?$' } }) },
  {
    keywords: 'format date, time, date-time',
    schema: object({ d: { type: 'string', format: 'date' }, t: { type: 'string', format: 'time' }, dt: { type: 'string', format: 'date-time' } }),
  },
  {
    keywords: 'format uuid, ipv4, ipv6',
    schema: object({ u: { type: 'string', format: 'uuid' }, v4: { type: 'string', format: 'ipv4' }, v6: { type: 'string', format: 'ipv6' } }),
  },
  {
    keywords: 'format email, hostname, duration',
    schema: object({ e: { type: 'string', format: 'email' }, h: { type: 'string', format: 'hostname' }, p: { type: 'string', format: 'duration' } }),
  },
  { keywords: 'minLength / maxLength', schema: object({ s: { type: 'string', minLength: 3, maxLength: 6 } }) },
  {
    keywords: 'minItems / maxItems, prefixItems',
    schema: object({
      a: { type: 'array', items: { type: 'boolean' }, minItems: 2, maxItems: 4 },
      t: { type: 'array', prefixItems: [{ type: 'null' }, { const: 'x' }], items: false },
    }),
  },
  { keywords: 'enum / const', schema: object({ c: { const: { k: [1, 'a"b'] } }, e: { enum: ['red', 2, null, true] } }) },
  {
    keywords: 'anyOf / oneOf',
    schema: object({
      a: {
        anyOf: [
          { type: 'integer', minimum: 0, maximum: 9 },
          { type: 'string', maxLength: 2 },
        ],
      },
      o: { oneOf: [{ type: 'null' }, { type: 'boolean' }] },
    }),
  },
  {
    keywords: 'allOf, $ref / $defs',
    schema: {
      $defs: { id: { type: 'string', format: 'uuid' }, base: { type: 'object', properties: { id: { $ref: '#/$defs/id' } }, required: ['id'] } },
      allOf: [{ $ref: '#/$defs/base' }, { properties: { n: { type: 'integer', minimum: 1, maximum: 3 } }, required: ['n'] }],
    },
  },
  {
    keywords: 'required vs optional properties, additionalProperties false',
    schema: {
      type: 'object',
      properties: { r: { type: 'boolean' }, o1: { type: 'null' }, o2: { enum: [1, 2] } },
      required: ['r'],
      additionalProperties: false,
    },
  },
];

describe('structured output through the openai client (one app, PARALLEL=2)', () => {
  let t: TestApp;
  let model: string;
  beforeAll(async () => {
    t = await startTestApp({ PARALLEL: '2', CONTEXT_SIZE: '1024', MAX_COMPLETION_LENGTH: '400' });
    model = t.app.llm.engine.modelId;
  });
  afterAll(async () => {
    await t?.close();
  });

  for (const family of families) {
    it(`${family.keywords}: the output validates at temperature 0 and 1`, async () => {
      const validate = ajv.compile(family.schema);
      const answers = await Promise.all(
        [0, 1].map((temperature) =>
          t.client.chat.completions.create({
            model,
            messages: [{ role: 'user', content: 'Answer in JSON.' }],
            response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: family.schema, strict: true } },
            temperature,
            seed: 11,
            max_tokens: 400,
          }),
        ),
      );
      for (const [i, r] of answers.entries()) {
        const text = r.choices[0]?.message.content ?? '';
        expect(r.choices[0]?.finish_reason, `temperature ${i}: ${text}`).toBe('stop');
        const value = JSON.parse(text) as unknown;
        expect(validate(value), `temperature ${i}: ${text} ${JSON.stringify(validate.errors)}`).toBe(true);
      }
    });
  }

  it('a keyword the converter cannot enforce is a 400 naming it and its JSON pointer', async () => {
    const cases: Array<{ schema: Record<string, unknown>; text: string }> = [
      { schema: object({ s: { type: 'array', items: { type: 'integer' }, uniqueItems: true } }), text: "'uniqueItems' (at #/properties/s)" },
      // JSON Schema: the root's additionalProperties applies to the properties the allOf parts declare.
      {
        schema: { allOf: [{ properties: { a: { type: 'null' } }, required: ['a'] }], additionalProperties: false },
        text: "property 'a' is declared by another part",
      },
      { schema: object({ s: { type: 'string', pattern: '^(?=a).$' } }), text: 'at #/properties/s' },
      { schema: object({ n: { type: 'number', multipleOf: 0.3 } }), text: "'multipleOf' 0.3 on a number (at #/properties/n)" },
      { schema: object({ f: { type: 'string', format: 'uri' } }), text: 'format "uri" (at #/properties/f)' },
    ];
    for (const c of cases) {
      await expect(
        t.client.chat.completions.create({
          model,
          messages: [{ role: 'user', content: 'x' }],
          max_tokens: 1,
          response_format: { type: 'json_schema', json_schema: { name: 's', schema: c.schema } },
        }),
      ).rejects.toMatchObject({
        status: 400,
        code: 'unsupported_schema_keyword',
        param: 'response_format.json_schema.schema',
        message: expect.stringContaining(c.text),
      });
    }
  });

  it('a raw GBNF grammar constrains chat and completions (streamed too)', async () => {
    const grammar = 'root ::= ("yes" | "no") " " [0-9]{2}';
    for (const temperature of [0, 1]) {
      const chat = await t.client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Yes or no?' }],
        max_tokens: 50,
        temperature,
        seed: 3,
        grammar,
      } as never);
      expect((chat as OpenAI.Chat.Completions.ChatCompletion).choices[0]?.message.content).toMatch(/^(yes|no) [0-9]{2}$/);
      const completion = await t.client.completions.create({ model, prompt: 'Answer:', max_tokens: 50, temperature, seed: 3, grammar } as never);
      expect((completion as OpenAI.Completions.Completion).choices[0]?.text).toMatch(/^(yes|no) [0-9]{2}$/);
    }
    const stream = await t.client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Yes or no?' }],
      max_tokens: 50,
      stream: true,
      grammar,
    } as never);
    let text = '';
    for await (const chunk of stream as unknown as AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toMatch(/^(yes|no) [0-9]{2}$/);
    // Negative control: without the grammar the random weights do not produce that shape.
    const free = await t.client.completions.create({ model, prompt: 'Answer:', max_tokens: 6, temperature: 1, seed: 3 });
    expect(free.choices[0]?.text).not.toMatch(/^(yes|no) [0-9]{2}$/);
  });

  it("a grammar that does not parse is a 400 with the parser's reason; conflicting constraints are 400s", async () => {
    const bad: Array<{ grammar: string; message: string }> = [
      { grammar: 'root ::= answer', message: "undefined rule identifier 'answer' at line 1, column 10" },
      { grammar: 'start ::= "a"', message: "no 'root' rule" },
      { grammar: 'root ::= root "a" | "b"', message: 'left recursion' },
      { grammar: 'root ::= "unterminated', message: 'unexpected end of input' },
      // llama.cpp's own parser would never return on this one (see test/service/grammar-converter.test.ts).
      { grammar: 'root ::= "a"{2,1}', message: 'maximum is below its minimum' },
    ];
    for (const b of bad) {
      await expect(
        t.client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], max_tokens: 1, grammar: b.grammar } as never),
      ).rejects.toMatchObject({
        status: 400,
        param: 'grammar',
        code: 'invalid_grammar',
        message: expect.stringContaining(b.message),
      });
      await expect(t.client.completions.create({ model, prompt: 'x', max_tokens: 1, grammar: b.grammar } as never)).rejects.toMatchObject({
        status: 400,
        param: 'grammar',
      });
    }
    const g = 'root ::= "a"';
    await expect(
      t.client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'x' }],
        max_tokens: 1,
        grammar: g,
        response_format: { type: 'json_object' },
      } as never),
    ).rejects.toMatchObject({ status: 400, param: 'grammar' });
    await expect(
      t.client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'x' }],
        max_tokens: 1,
        grammar: g,
        tools: [{ type: 'function', function: { name: 'f' } }],
      } as never),
    ).rejects.toMatchObject({ status: 400, param: 'grammar' });
    await expect(t.client.completions.create({ model, prompt: 'x', max_tokens: 1, grammar: g, logprobs: 1 } as never)).rejects.toMatchObject({
      status: 400,
      param: 'logprobs',
    });
    // An empty grammar means none, as in llama-server.
    const r = await t.client.completions.create({ model, prompt: 'x', max_tokens: 2, grammar: '' } as never);
    expect((r as OpenAI.Completions.Completion).choices[0]?.finish_reason).toBe('length');
  });
});
