/**
 * The JSON-Schema-to-GBNF converter (service/inference/grammar) without a model: every grammar it writes
 * parses (with the same checks as llama.cpp's parser), accepts what the schema allows on chosen strings
 * (the cases of llama.cpp's tests/test-json-schema-to-grammar.cpp, stated as behaviour), rejects what it
 * forbids, and every random sentence of it is JSON that ajv (with ajv-formats) validates against the schema.
 * What it cannot express is refused naming the keyword and its JSON pointer.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { jsonSchemaToGbnf, parseGbnf, SchemaNotExpressible } from '../../service/inference/grammar/index.js';
import { gbnfAccepts, gbnfSample, seededRandom } from '../support/gbnf-match.js';

const addFormats = addFormatsPlugin as unknown as (ajv: Ajv2020) => Ajv2020;
// multipleOfPrecision: 0.07 / 0.01 is 7.000000000000001 in binary floating point.
const ajv = addFormats(new Ajv2020({ strict: false, multipleOfPrecision: 9 }));

function grammarOf(schema: unknown) {
  return parseGbnf(jsonSchemaToGbnf(schema));
}

/** Every random sentence of the schema's grammar is JSON valid against the schema. */
function expectSamplesValid(schema: object, samples = 150) {
  const grammar = grammarOf(schema);
  const validate = ajv.compile(schema);
  const random = seededRandom(7);
  for (let i = 0; i < samples; i++) {
    const text = gbnfSample(grammar, random);
    let value: unknown;
    expect(() => (value = JSON.parse(text)), text).not.toThrow();
    expect(validate(value), `${text}: ${JSON.stringify(validate.errors)}`).toBe(true);
    expect(gbnfAccepts(grammar, text), `the matcher accepts its own sample ${text}`).toBe(true);
  }
}

describe('integer ranges (llama.cpp test cases "min 0" ... "min -10 max 10")', () => {
  const cases: Array<{ name: string; schema: Record<string, number>; low?: number; high?: number }> = [
    { name: 'min 0', schema: { minimum: 0 }, low: 0 },
    { name: 'min 1', schema: { minimum: 1 }, low: 1 },
    { name: 'min 3', schema: { minimum: 3 }, low: 3 },
    { name: 'min 9', schema: { minimum: 9 }, low: 9 },
    { name: 'min 10', schema: { minimum: 10 }, low: 10 },
    { name: 'min 25', schema: { minimum: 25 }, low: 25 },
    { name: 'max 30', schema: { maximum: 30 }, high: 30 },
    { name: 'min -5', schema: { minimum: -5 }, low: -5 },
    { name: 'min -123', schema: { minimum: -123 }, low: -123 },
    { name: 'max -5', schema: { maximum: -5 }, high: -5 },
    { name: 'max 1', schema: { maximum: 1 }, high: 1 },
    { name: 'max 100', schema: { maximum: 100 }, high: 100 },
    { name: 'min 0 max 23', schema: { minimum: 0, maximum: 23 }, low: 0, high: 23 },
    { name: 'min 15 max 300', schema: { minimum: 15, maximum: 300 }, low: 15, high: 300 },
    { name: 'min 5 max 30', schema: { minimum: 5, maximum: 30 }, low: 5, high: 30 },
    { name: 'min -123 max 42', schema: { minimum: -123, maximum: 42 }, low: -123, high: 42 },
    { name: 'min -10 max 10', schema: { minimum: -10, maximum: 10 }, low: -10, high: 10 },
    { name: 'exclusive -10 .. 10', schema: { exclusiveMinimum: -10, exclusiveMaximum: 10 }, low: -9, high: 9 },
    { name: 'exclusive 99 .. 1000', schema: { exclusiveMinimum: 99, exclusiveMaximum: 1000 }, low: 100, high: 999 },
  ];
  for (const c of cases) {
    it(`${c.name}: accepts exactly the integers in range`, () => {
      const grammar = grammarOf({ type: 'integer', ...c.schema });
      for (let n = -1100; n <= 1100; n++) {
        const inRange = (c.low === undefined || n >= c.low) && (c.high === undefined || n <= c.high);
        expect(gbnfAccepts(grammar, String(n)), `${n}`).toBe(inRange);
      }
      for (const n of [123456789, -123456789, 1234567890123456]) {
        const inRange = (c.low === undefined || n >= c.low) && (c.high === undefined || n <= c.high);
        expect(gbnfAccepts(grammar, String(n)), `${n}`).toBe(inRange);
      }
      // Not JSON numbers: leading zeros, "-0" as a separate form is allowed only inside the range semantics.
      expect(gbnfAccepts(grammar, '007')).toBe(false);
      expect(gbnfAccepts(grammar, '1.0')).toBe(false);
    });
  }
});

describe('number bounds and multipleOf (beyond llama.cpp, which has none for numbers)', () => {
  it('minimum 0, exclusiveMaximum 1: decimals in [0, 1)', () => {
    const grammar = grammarOf({ type: 'number', minimum: 0, exclusiveMaximum: 1 });
    for (const s of ['0', '0.5', '0.999', '0.0001']) expect(gbnfAccepts(grammar, s), s).toBe(true);
    for (const s of ['1', '1.0', '-0.1', '1.5', '2', '1e-1']) expect(gbnfAccepts(grammar, s), s).toBe(false);
    expectSamplesValid({ type: 'number', minimum: 0, exclusiveMaximum: 1 });
  });
  it('exclusiveMinimum -3, maximum 2', () => {
    const grammar = grammarOf({ type: 'number', exclusiveMinimum: -3, maximum: 2 });
    for (const s of ['-2.9', '-2', '0', '1.75', '2', '2.0', '-2.999']) expect(gbnfAccepts(grammar, s), s).toBe(true);
    for (const s of ['-3', '-3.5', '2.01', '3']) expect(gbnfAccepts(grammar, s), s).toBe(false);
    expectSamplesValid({ type: 'number', exclusiveMinimum: -3, maximum: 2 });
  });
  it('decimal bounds compare digit by digit: minimum 0.25, exclusiveMaximum 99.5; -1.5 .. -1.25', () => {
    const grammar = grammarOf({ type: 'number', minimum: 0.25, exclusiveMaximum: 99.5 });
    for (const s of ['0.25', '0.250', '0.26', '0.3', '1', '42.125', '99', '99.49999']) expect(gbnfAccepts(grammar, s), s).toBe(true);
    for (const s of ['0.2', '0.249', '0', '99.5', '99.50', '99.6', '100', '-1']) expect(gbnfAccepts(grammar, s), s).toBe(false);
    const narrow = grammarOf({ type: 'number', minimum: -1.5, maximum: -1.25 });
    for (const s of ['-1.5', '-1.3', '-1.25', '-1.4999']) expect(gbnfAccepts(narrow, s), s).toBe(true);
    for (const s of ['-1.51', '-1.2', '-1', '1.3', '-2']) expect(gbnfAccepts(narrow, s), s).toBe(false);
    expectSamplesValid({ type: 'number', minimum: 0.25, exclusiveMaximum: 99.5 });
    expectSamplesValid({ type: 'number', exclusiveMinimum: -1.5, maximum: -1.25 });
    // Close to a bound every value keeps at most 15 significant digits, so parsing cannot round onto it.
    expectSamplesValid({ type: 'number', exclusiveMinimum: 123456789012.5, exclusiveMaximum: 123456789013 }, 300);
  });
  it('multipleOf 0.01 with bounds: at most two decimals', () => {
    const schema = { type: 'number', minimum: -1, maximum: 1, multipleOf: 0.01 };
    const grammar = grammarOf(schema);
    for (const s of ['0.07', '-1', '0.5', '1']) expect(gbnfAccepts(grammar, s), s).toBe(true);
    for (const s of ['0.071', '1.01', '-1.5']) expect(gbnfAccepts(grammar, s), s).toBe(false);
    expectSamplesValid(schema);
  });
  it('integer multipleOf 7 (remainder automaton) and multipleOf 5 in a range (listed)', () => {
    const open = grammarOf({ type: 'integer', multipleOf: 7 });
    for (let n = -150; n <= 150; n++) expect(gbnfAccepts(open, String(n)), `${n}`).toBe(n % 7 === 0);
    expect(gbnfAccepts(open, '700000000000007')).toBe(true);
    const ranged = grammarOf({ type: 'integer', multipleOf: 5, minimum: 3, maximum: 40 });
    for (let n = -10; n <= 50; n++) expect(gbnfAccepts(ranged, String(n)), `${n}`).toBe(n % 5 === 0 && n >= 3 && n <= 40);
    const nonNegative = grammarOf({ type: 'integer', multipleOf: 4, minimum: -8 });
    for (let n = -20; n <= 20; n++) expect(gbnfAccepts(nonNegative, String(n)), `${n}`).toBe(n % 4 === 0 && n >= -8);
    const atLeast = grammarOf({ type: 'integer', multipleOf: 6, minimum: 13 });
    for (let n = -20; n <= 400; n++) expect(gbnfAccepts(atLeast, String(n)), `${n}`).toBe(n % 6 === 0 && n >= 13);
    const atMost = grammarOf({ type: 'integer', multipleOf: 3, exclusiveMaximum: -7 });
    for (let n = -400; n <= 20; n++) expect(gbnfAccepts(atMost, String(n)), `${n}`).toBe(n % 3 === 0 && n < -7);
    expectSamplesValid({ type: 'integer', multipleOf: 6, minimum: 13 });
    expectSamplesValid({ type: 'integer', multipleOf: 7 });
    // Every integer is a multiple of 0.5: nothing to enforce.
    expect(gbnfAccepts(grammarOf({ type: 'integer', multipleOf: 0.5 }), '3')).toBe(true);
  });
});

describe('strings: pattern (llama.cpp "simple regexp", "regexp escapes", "regexp quote", "regexp"), lengths, formats', () => {
  const matches = (pattern: string, candidates: string[]) => {
    const grammar = grammarOf({ type: 'string', pattern });
    const re = new RegExp(pattern, 'u');
    for (const s of candidates) expect(gbnfAccepts(grammar, JSON.stringify(s)), `${pattern} on ${JSON.stringify(s)}`).toBe(re.test(s));
  };
  it('anchored patterns accept exactly what the regular expression matches', () => {
    matches('^abc?d*efg+(hij)?kl$', ['abefgkl', 'abcddefgggkl', 'abefghijkl', 'abefkl', 'abcefgklx', 'xabefgkl']);
    matches('^\\[\\]\\{\\}\\(\\)\\|\\+\\*\\?$', ['[]{}()|+*?', '[]{}()|+*', '']);
    matches('^"$', ['"', "'", '""']);
    matches('^(\\([0-9]{1,3}\\))?[0-9]{3}-[0-9]{4} a{3,5}nd...$', [
      '(1)123-4567 aaand...',
      '123-4567 aaaaandxyz',
      '(1234)123-4567 aaand...',
      '123-4567 aand...',
    ]);
    matches('^[^a-c\\s]{2}\\d\\w$', ['xy1_', 'ab1_', 'x y1z', 'é中9Z']);
    matches('^(?:cat|dog)s?$', ['cat', 'dogs', 'cow', 'cats!']);
  });
  it('unanchored sides mean "anything may come before / after", as JSON Schema says (llama.cpp accepts any string)', () => {
    matches('ab|^c', ['xxab', 'abyy', 'cz', 'zc', 'a b']);
    matches('^id-[0-9]+', ['id-12', 'id-12 and more', 'xid-1']);
  });
  it('characters JSON must escape are generated escaped, so the output stays JSON', () => {
    const grammar = grammarOf({ type: 'string', pattern: '^a.b$' });
    expect(gbnfAccepts(grammar, JSON.stringify('a"b'))).toBe(true);
    expect(gbnfAccepts(grammar, '"a"b"')).toBe(false);
    expect(gbnfAccepts(grammar, JSON.stringify('a\tb'))).toBe(true);
    expect(gbnfAccepts(grammar, JSON.stringify('a\nb'))).toBe(false);
    expectSamplesValid({ type: 'string', pattern: '^a.b[\\s"\\\\]{1,3}$' });
    for (const pattern of ['^(\\([0-9]{1,3}\\))?[0-9]{3}-[0-9]{4} a{3,5}nd...$', 'ab|^c', '^[^a-c\\s]{2}\\d\\w$', '^(?:x|y\\u00e9){2,4}\\.$']) {
      expectSamplesValid({ type: 'string', pattern }, 60);
    }
  });
  it('minLength / maxLength count characters, escapes included', () => {
    const grammar = grammarOf({ type: 'string', minLength: 2, maxLength: 3 });
    for (const s of ['ab', 'a\nb', 'abc', '中文字']) expect(gbnfAccepts(grammar, JSON.stringify(s)), s).toBe(true);
    for (const s of ['a', 'abcd']) expect(gbnfAccepts(grammar, JSON.stringify(s)), s).toBe(false);
    expectSamplesValid({ type: 'string', minLength: 2, maxLength: 3 });
  });
  const formats: Array<{ format: string; valid: string[]; invalid: string[] }> = [
    { format: 'date', valid: ['2024-01-31', '1999-02-28', '2024-11-30'], invalid: ['2024-02-30', '2024-04-31', '2024-13-01', '24-01-01'] },
    { format: 'time', valid: ['23:59:59Z', '00:00:00.123+05:30'], invalid: ['24:00:00Z', '12:00:00', '12:60:00Z'] },
    { format: 'date-time', valid: ['2024-05-06T07:08:09Z'], invalid: ['2024-05-06 07:08:09Z', '2024-05-06T07:08:09'] },
    { format: 'uuid', valid: ['123e4567-e89b-12d3-a456-426614174000'], invalid: ['123e4567e89b12d3a456426614174000', '123e4567-e89b-12d3-a456-42661417400g'] },
    { format: 'email', valid: ['a.b@example.com', "!#$%&'*+.=?^_`{|}~-@a-b.co"], invalid: ['a@b', '.a@b.com', 'a@-b.com', 'a@@b.com'] },
    { format: 'hostname', valid: ['example', 'a-b.example.com'], invalid: ['-a.com', 'a_b.com', 'a..b'] },
    { format: 'ipv4', valid: ['0.0.0.0', '255.255.255.255', '192.168.1.10'], invalid: ['256.1.1.1', '01.1.1.1', '1.1.1'] },
    { format: 'ipv6', valid: ['::', '::1', '2001:db8::8a2e:370:7334', '1:2:3:4:5:6:7:8', '1::'], invalid: ['1:2:3:4:5:6:7:8:9', '1::2::3', ':1', 'g::'] },
    { format: 'duration', valid: ['P1Y2M3D', 'PT4H5M6S', 'P3W', 'P1DT2H'], invalid: ['P', 'PT', 'P1H', 'P1W2D', '1Y'] },
  ];
  for (const f of formats) {
    it(`format ${f.format}: accepts valid values, rejects invalid ones, and every sentence passes ajv-formats`, () => {
      const grammar = grammarOf({ type: 'string', format: f.format });
      const validate = ajv.compile({ type: 'string', format: f.format });
      for (const s of f.valid) {
        expect(validate(s), `ajv-formats agrees ${s} is valid`).toBe(true);
        expect(gbnfAccepts(grammar, JSON.stringify(s)), s).toBe(true);
      }
      for (const s of f.invalid) expect(gbnfAccepts(grammar, JSON.stringify(s)), s).toBe(false);
      expectSamplesValid({ type: 'string', format: f.format });
    });
  }
});

describe('objects, arrays, enum/const, anyOf/oneOf/allOf, $ref (llama.cpp test cases by name)', () => {
  it('"required + optional props each in original order"; no undeclared property unless additionalProperties says so', () => {
    const schema = {
      type: 'object',
      properties: { a: { type: 'integer' }, b: { type: 'boolean' }, c: { type: 'null' }, d: { const: 1 } },
      required: ['c', 'a'],
    };
    const grammar = grammarOf(schema);
    for (const s of ['{"a":1,"c":null}', '{"a":1,"c":null,"b":true}', '{"a":1,"c":null,"d":1}', '{"a":1,"c":null,"b":false,"d":1}', '{ "a": 1, "c": null }']) {
      expect(gbnfAccepts(grammar, s), s).toBe(true);
    }
    for (const s of ['{"a":1}', '{"c":null,"a":1,"x":2}', '{"a":1,"c":null,"e":1}', '{"a":1,"c":null,"d":2}']) expect(gbnfAccepts(grammar, s), s).toBe(false);
    expectSamplesValid({ ...schema, additionalProperties: false });
  });
  it('"additional props": extra keys never repeat a declared name, values follow additionalProperties', () => {
    const schema = { type: 'object', properties: { a: { type: 'boolean' } }, additionalProperties: { type: 'integer', minimum: 0, maximum: 9 } };
    const grammar = grammarOf(schema);
    expect(gbnfAccepts(grammar, '{"a":true,"ab":3,"x":9}')).toBe(true);
    expect(gbnfAccepts(grammar, '{"a":true,"a":3}')).toBe(false);
    expect(gbnfAccepts(grammar, '{"x":10}')).toBe(false);
    expectSamplesValid(schema);
    expectSamplesValid({ type: 'object', additionalProperties: { type: 'string', maxLength: 2 } });
  });
  it('minProperties / maxProperties by making optional properties required or dropping them', () => {
    expectSamplesValid({
      type: 'object',
      properties: { a: { type: 'null' }, b: { type: 'null' }, c: { type: 'null' } },
      minProperties: 2,
      maxProperties: 2,
      additionalProperties: false,
    });
  });
  it('arrays: minItems / maxItems ("minItems", "maxItems 0/1/2", "min + maxItems"), tuples ("tuple1", "tuple2")', () => {
    const grammar = grammarOf({ type: 'array', items: { type: 'boolean' }, minItems: 1, maxItems: 3 });
    for (const [s, ok] of [
      ['[]', false],
      ['[true]', true],
      ['[true,false,true]', true],
      ['[true,false,true,true]', false],
    ] as const) {
      expect(gbnfAccepts(grammar, s), s).toBe(ok);
    }
    expect(gbnfAccepts(grammarOf({ type: 'array', maxItems: 0 }), '[]')).toBe(true);
    expect(gbnfAccepts(grammarOf({ type: 'array', maxItems: 0 }), '[1]')).toBe(false);
    const tuple = grammarOf({
      type: 'array',
      prefixItems: [
        { type: 'string', maxLength: 1 },
        { type: 'integer', maximum: 3 },
      ],
      items: false,
    });
    expect(gbnfAccepts(tuple, '["a",3]')).toBe(true);
    expect(gbnfAccepts(tuple, '["a",4]')).toBe(false);
    expectSamplesValid({
      type: 'array',
      prefixItems: [{ type: 'string', format: 'uuid' }],
      items: { type: 'integer', minimum: 10, maximum: 12 },
      minItems: 2,
      maxItems: 4,
    });
    expectSamplesValid({ type: 'array', items: { type: 'number', minimum: -1, maximum: 1 }, minItems: 2, maxItems: 5 });
  });
  it('enum / const ("string const", "non-string const", "non-string enum", "literal string with escapes")', () => {
    const grammar = grammarOf({ enum: ['a"b', 1, null, { x: [true] }] });
    for (const s of ['"a\\"b"', '1', 'null', '{"x":[true]}']) expect(gbnfAccepts(grammar, s), s).toBe(true);
    expect(gbnfAccepts(grammar, '2')).toBe(false);
    expectSamplesValid({ type: 'object', properties: { code: { const: ' \r \n " \\ ', type: 'string' } }, required: ['code'] });
    // `type` beside enum keeps only the values of that type.
    expect(gbnfAccepts(grammarOf({ type: 'string', enum: ['a', 1] }), '1')).toBe(false);
  });
  it('anyOf / oneOf as alternatives ("anyOf", "anyOf $ref"), siblings applied to each branch', () => {
    const schema = {
      type: 'object',
      properties: { k: { type: 'integer' } },
      required: ['k'],
      additionalProperties: false,
      anyOf: [{ properties: { k: { const: 1 } } }, { properties: { k: { minimum: 5, maximum: 6 } } }],
    };
    const grammar = grammarOf(schema);
    for (const [s, ok] of [
      ['{"k":1}', true],
      ['{"k":5}', true],
      ['{"k":2}', false],
    ] as const) {
      expect(gbnfAccepts(grammar, s), s).toBe(ok);
    }
    expectSamplesValid(schema);
    expectSamplesValid({ oneOf: [{ type: 'string', format: 'ipv4' }, { type: 'integer', minimum: 0, maximum: 9 }, { type: 'null' }] });
  });
  it('allOf is merged ("mix of allOf, anyOf and $ref", "allOf with enum schema", "allOf with multiple enum schemas")', () => {
    const schema = {
      $defs: { base: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] } },
      allOf: [
        { $ref: '#/$defs/base' },
        { properties: { n: { type: 'integer', minimum: 1, maximum: 3 } }, required: ['n'] },
        { properties: { n: { maximum: 2 } } },
      ],
    };
    const grammar = grammarOf(schema);
    expect(gbnfAccepts(grammar, '{"id":"123e4567-e89b-12d3-a456-426614174000","n":2}')).toBe(true);
    expect(gbnfAccepts(grammar, '{"id":"123e4567-e89b-12d3-a456-426614174000","n":3}')).toBe(false);
    expectSamplesValid(schema);
    const enums = grammarOf({ allOf: [{ enum: ['a', 'b', 'c'] }, { enum: ['b', 'c', 'd'] }, { enum: ['c', 'b'] }] });
    expect(['"a"', '"b"', '"c"', '"d"'].map((s) => gbnfAccepts(enums, s))).toEqual([false, true, true, false]);
  });
  it('$ref: "top-level $ref", recursive definitions, JSON pointers', () => {
    const schema = {
      $defs: {
        node: {
          type: 'object',
          properties: { v: { type: 'integer', minimum: 0, maximum: 9 }, next: { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] } },
          required: ['v', 'next'],
          additionalProperties: false,
        },
      },
      $ref: '#/$defs/node',
    };
    const grammar = grammarOf(schema);
    expect(gbnfAccepts(grammar, '{"v":1,"next":{"v":2,"next":null}}')).toBe(true);
    expect(gbnfAccepts(grammar, '{"v":1,"next":{"v":12,"next":null}}')).toBe(false);
    expectSamplesValid(schema);
    expectSamplesValid({
      type: 'object',
      properties: { a: { type: 'integer', minimum: 3, maximum: 4 }, b: { $ref: '#/properties/a' } },
      required: ['a', 'b'],
      additionalProperties: false,
    });
  });
  it('"empty schema (object)", "description only (no type) treated as unconstrained", true: any JSON value', () => {
    for (const schema of [{}, { description: 'anything' }, true]) {
      const grammar = grammarOf(schema);
      for (const s of ['1', '"x"', '{"a":[1,{"b":null}]}', 'true']) expect(gbnfAccepts(grammar, s), s).toBe(true);
      expect(gbnfAccepts(grammar, '{a:1}')).toBe(false);
    }
    expectSamplesValid({ type: 'object' });
  });
});

describe('what the grammar cannot enforce is refused with the keyword and its JSON pointer', () => {
  const refusals: Array<{ schema: unknown; keyword: string; at: string }> = [
    { schema: { type: 'object', properties: { s: { type: 'string', pattern: '^(?=a)b$' } } }, keyword: 'pattern', at: '#/properties/s' },
    { schema: { type: 'string', pattern: '^(a)\\1$' }, keyword: 'pattern', at: '#' },
    { schema: { type: 'string', pattern: '\\bword' }, keyword: 'pattern', at: '#' },
    { schema: { type: 'string', pattern: '^a$', maxLength: 3 }, keyword: 'maxLength', at: '#' },
    { schema: { type: 'string', format: 'uri' }, keyword: 'format', at: '#' },
    { schema: { type: 'number', minimum: 1e-7 }, keyword: 'minimum', at: '#' },
    { schema: { type: 'number', exclusiveMaximum: 0.12345678901234566 }, keyword: 'exclusiveMaximum', at: '#' },
    { schema: { type: 'number', multipleOf: 0.25 }, keyword: 'multipleOf', at: '#' },
    { schema: { type: 'integer', multipleOf: 7, minimum: 123456 }, keyword: 'multipleOf', at: '#' },
    { schema: { type: 'integer', multipleOf: 1000, minimum: 0, maximum: 10_000_000 }, keyword: 'multipleOf', at: '#' },
    { schema: { type: 'array', items: { type: 'integer' }, uniqueItems: true }, keyword: 'uniqueItems', at: '#' },
    { schema: { type: 'array', contains: { type: 'integer' } }, keyword: 'contains', at: '#' },
    { schema: { not: { type: 'null' } }, keyword: 'not', at: '#' },
    { schema: { type: 'object', properties: { a: { if: { type: 'string' } } } }, keyword: 'if', at: '#/properties/a' },
    { schema: { type: 'object', patternProperties: { '^x': {} } }, keyword: 'patternProperties', at: '#' },
    { schema: { $ref: 'https://example.com/schema.json' }, keyword: '$ref', at: '#' },
    { schema: { $ref: '#/$defs/missing' }, keyword: '$ref', at: '#' },
    { schema: { allOf: [{ type: 'string', pattern: '^a' }, { pattern: '^b' }] }, keyword: 'pattern', at: '#/allOf/1' },
    { schema: { type: 'string', maxLength: 5000 }, keyword: 'maxLength', at: '#' },
    { schema: { type: 'object', properties: { x: { type: 'integer', minimum: 5, maximum: 4 } } }, keyword: 'maximum', at: '#/properties/x' },
    { schema: { type: 'string', unknownKeyword: 1 }, keyword: 'unknownKeyword', at: '#' },
    { schema: { type: 'object', properties: { 'a/b': false } }, keyword: 'false', at: '#/properties/a~1b' },
  ];
  for (const r of refusals) {
    it(`${JSON.stringify(r.schema)} -> '${r.keyword}' at ${r.at}`, () => {
      let error: unknown;
      try {
        jsonSchemaToGbnf(r.schema);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(SchemaNotExpressible);
      expect(error).toMatchObject({ keyword: r.keyword, at: r.at });
      expect((error as Error).message).toContain(r.at);
    });
  }
});

describe('GBNF parser (the checks llama.cpp applies, with the reason and position)', () => {
  const bad: Array<{ gbnf: string; message: RegExp }> = [
    { gbnf: 'root ::= foo', message: /undefined rule identifier 'foo' at line 1, column 10/ },
    { gbnf: 'root ::= "a', message: /unexpected end of input/ },
    { gbnf: 'x ::= "a"', message: /no 'root' rule/ },
    { gbnf: 'root ::= root "a" | "b"', message: /left recursion: rule 'root'/ },
    { gbnf: 'root ::= a\na ::= b? a "x"\nb ::= "y"', message: /left recursion: rule 'a'/ },
    { gbnf: 'root ::= "a"{2001}', message: /more than 2000 repetitions/ },
    // llama.cpp's parser (node-llama-cpp 3.21) never returns on this one (max - min underflows in
    // handle_repetitions), so it must be refused before llama.createGrammar sees it.
    { gbnf: 'root ::= "a"{2,1}', message: /maximum is below its minimum at line 1, column 13/ },
    { gbnf: 'root ::= ("a" "b"{0,50}){0,50}', message: /expands to 2550 rules/ },
    { gbnf: 'root :: "a"', message: /expecting ::= at line 1, column 6/ },
    { gbnf: 'root ::= "a" "\\q"', message: /unknown escape at line 1, column 15/ },
    { gbnf: 'root ::= ("a"', message: /expecting '\)'/ },
    { gbnf: 'root ::= <[1234]>', message: /token references/ },
    { gbnf: 'root ::= * "a"', message: /expecting an item before/ },
  ];
  for (const b of bad) {
    it(`refuses ${JSON.stringify(b.gbnf)}`, () => {
      expect(() => parseGbnf(b.gbnf)).toThrow(b.message);
    });
  }
  it('accepts comments, empty alternatives, nested groups and repetitions like llama.cpp', () => {
    const grammar = parseGbnf('# a comment\nroot ::= ( "x" | ) item{2,3} # trailing\nitem ::= [a-c]+ ( "," [^\\x00-\\x1F]? )*\n');
    expect(gbnfAccepts(grammar, 'xab,cc')).toBe(true);
    expect(gbnfAccepts(grammar, 'a')).toBe(false);
  });
});
