/**
 * The pieces tool arguments need from service/inference/grammar, without a model: the `maxNewlines: 0`
 * whitespace that keeps node-llama-cpp's end-of-params marker (four newlines) out of the JSON, and the
 * validator the patched node-llama-cpp runs on the parsed arguments (ajv behind `compileJsonValidator`), and
 * the object type the HTTP layer gives every tool's arguments (`toolParametersOrBadRequest`).
 */
import { describe, expect, it } from 'vitest';
import { compileJsonValidator, jsonSchemaToGbnf, parseGbnf, SchemaNotCompilable } from '../../service/inference/grammar/index.js';
import { gbnfAccepts, gbnfSample, seededRandom } from '../support/gbnf-match.js';
import { toolParametersOrBadRequest } from '../../service/http/openai/json-schema.js';

describe('maxNewlines: 0 (tool arguments)', () => {
  const emptyObject = { type: 'object', properties: {} };

  it("llama.cpp's whitespace allows four newlines in a row inside JSON; the tool arguments' one-line rule none", () => {
    // Negative control: with the default rule "{" space space "}" holds "\n\n" twice.
    expect(gbnfAccepts(parseGbnf(jsonSchemaToGbnf(emptyObject)), '{\n\n\n\n}')).toBe(true);
    const single = parseGbnf(jsonSchemaToGbnf(emptyObject, { maxNewlines: 0 }));
    expect(gbnfAccepts(single, '{\n\n\n\n}')).toBe(false);
    expect(gbnfAccepts(single, '{\n}')).toBe(false);
    expect(gbnfAccepts(single, '{ }')).toBe(true);
    expect(gbnfAccepts(single, '{}')).toBe(true);
  });

  it('no random sentence of a nested schema holds a newline, and each is valid JSON', () => {
    const schema = {
      type: 'object',
      properties: {
        a: { type: 'array', items: { type: 'object', properties: { b: { type: 'array', maxItems: 2, items: { type: 'integer' } } } }, maxItems: 3 },
        c: { type: 'object', properties: { d: { type: 'object', properties: {} }, e: { type: 'array', maxItems: 0 } } },
      },
    };
    const grammar = parseGbnf(jsonSchemaToGbnf(schema, { maxNewlines: 0 }));
    const random = seededRandom(3);
    for (let i = 0; i < 200; i++) {
      const text = gbnfSample(grammar, random);
      expect(text).not.toContain('\n');
      expect(() => JSON.parse(text) as unknown, text).not.toThrow();
    }
  });
});

describe('compileJsonValidator', () => {
  it('accepts what the schema allows and names where a value breaks it', () => {
    const validate = compileJsonValidator({
      type: 'object',
      properties: { id: { type: 'string', format: 'uuid' }, n: { type: 'integer', minimum: 1 } },
      required: ['id'],
    });
    expect(validate({ id: '123e4567-e89b-12d3-a456-426614174000', n: 2 })).toBeUndefined();
    expect(validate({ id: 'not-a-uuid' })).toMatch(/^\/id must match format "uuid"/);
    expect(validate({ id: '123e4567-e89b-12d3-a456-426614174000', n: 0 })).toMatch(/^\/n must be >= 1/);
  });

  it('one $id in many requests compiles every time (nothing is registered), recursive $refs included', () => {
    const tree = () => ({
      $id: 'https://example.test/tree',
      type: 'object',
      properties: { kids: { type: 'array', items: { $ref: '#' } } },
      additionalProperties: false,
    });
    for (let i = 0; i < 3; i++) {
      const validate = compileJsonValidator(tree());
      expect(validate({ kids: [{ kids: [] }] })).toBeUndefined();
      expect(validate({ kids: [{ other: 1 }] })).toMatch(/must NOT have additional properties/);
    }
  });

  it('a schema ajv cannot compile is SchemaNotCompilable (the HTTP layer answers 400 invalid_schema)', () => {
    expect(() => compileJsonValidator({ type: 'object', $defs: { unused: { type: 'nonsense' } } })).toThrow(SchemaNotCompilable);
  });
});

describe('toolParametersOrBadRequest', () => {
  it('a schema without type gets the object type at the root: grammar and validator admit objects only', () => {
    const schema = { enum: ['off', { on: true }, 3] };
    const tool = toolParametersOrBadRequest(schema, 'tools[0].function.parameters');
    const grammar = parseGbnf(tool.gbnf);
    expect(gbnfAccepts(grammar, '{"on":true}')).toBe(true);
    expect(gbnfAccepts(grammar, '"off"')).toBe(false);
    expect(gbnfAccepts(grammar, '3')).toBe(false);
    expect(tool.validate({ on: true })).toBeUndefined();
    expect(tool.validate('off')).toMatch(/must be object/);
    // Negative control: the same schema as a response format allows all three.
    const plain = parseGbnf(jsonSchemaToGbnf(schema));
    expect(['"off"', '3', '{"on":true}'].every((text) => gbnfAccepts(plain, text))).toBe(true);
    // The prompt shows the schema as sent.
    expect(tool.schema).toBe(schema);
  });
});
