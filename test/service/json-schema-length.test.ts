/**
 * node-llama-cpp builds a function call's parameter grammar and then validates the generated object against the
 * same schema. Its grammar counts a string's characters by code point (GbnfString), but the validator counted
 * UTF-16 units, so a string with a character outside the BMP (an emoji) that the grammar allowed was refused
 * afterwards and the whole call failed with a 500 (seen on the random-weight model: "HopeFind촨𝕃と🦄", 12 code
 * points, 14 units, against maxLength 12). patches/node-llama-cpp+3.21.1.patch counts code points in the validator.
 */
import { getLlama, type Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let llama: Llama;
beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
});
afterAll(async () => {
  await llama?.dispose();
});

describe('JSON-schema string lengths count code points, as the grammar does', () => {
  it('accepts a string whose characters outside the BMP count once each, and still refuses one too long', async () => {
    const grammar = await llama.createGrammarForJsonSchema({
      type: 'object',
      properties: { q: { type: 'string', minLength: 2, maxLength: 3 } },
      required: ['q'],
    } as const);
    expect(grammar.parse('{"q": "🦄🦄🦄"}')).toEqual({ q: '🦄🦄🦄' });
    expect(grammar.parse('{"q": "a𝕃"}')).toEqual({ q: 'a𝕃' });
    expect(() => grammar.parse('{"q": "🦄🦄🦄🦄"}')).toThrow(/at most 3 characters but got 4/);
    expect(() => grammar.parse('{"q": "🦄"}')).toThrow(/at least 2 characters but got 1/);
  });
});
