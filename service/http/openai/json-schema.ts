/**
 * Schemas and grammars from requests, checked before they reach the engine.
 *
 * Structured output (`response_format` json_schema) and a raw GBNF `grammar` go through
 * service/inference/grammar: the schema is converted to GBNF here (`jsonSchemaToGbnf`, modelled on
 * llama.cpp's converter), so a keyword it cannot enforce is a 400 naming the keyword and its JSON pointer,
 * and a raw grammar is parsed (`parseGbnf`), so one that does not parse is a 400 with the parser's message.
 *
 * Tool parameters are different: node-llama-cpp's function calling (LlamaChat `functions`) builds the
 * call grammar itself from a `GbnfJsonSchema` and takes no GBNF, so they stay within the subset its
 * compiler (`llama.createGrammarForJsonSchema`) enforces, checked by `toGrammarSchema` below.
 *
 * That subset, modelled on node-llama-cpp 3.21 `dist/utils/gbnfJson/types.d.ts` (GbnfJsonSchema): `type`
 * (also as a list), `const`, `enum`, `oneOf`, `$defs` / `$ref` (local `#/$defs/...` only), strings with
 * `minLength` / `maxLength` / `format` (date-time, time, date), objects with `properties`, `required`,
 * `additionalProperties`, `minProperties` / `maxProperties`, arrays with `items`, `prefixItems`,
 * `minItems` / `maxItems`. The grammar generates every declared property, so output satisfies any
 * `required` list. `anyOf` is rewritten to `oneOf`: the grammar then produces a value matching one branch,
 * which satisfies `anyOf`. Annotations that constrain nothing (`title`, `$schema`, `$comment`, `examples`,
 * `default`, `deprecated`, `readOnly`, `writeOnly`, `$id`) are dropped. Any other keyword (`pattern`,
 * `minimum`, `multipleOf`, `allOf`, `not`, `if`, `uniqueItems`, `patternProperties`...) would be silently
 * loosened, so it is refused with a 400 naming the keyword and where it is.
 */
import { GbnfSyntaxError, jsonSchemaToGbnf, parseGbnf, SchemaNotExpressible } from '../../inference/grammar/index.js';
import type { OutputGrammar } from '../engine-port.js';
import { badRequest, type ApiError } from '../errors.js';

const annotations = new Set(['title', '$schema', '$comment', 'examples', 'default', 'deprecated', 'readOnly', 'writeOnly', '$id']);
const generic = new Set(['type', 'description', 'const', 'enum', 'oneOf', 'anyOf', '$defs', '$ref']);
const byType: Record<string, ReadonlySet<string>> = {
  string: new Set(['minLength', 'maxLength', 'format']),
  object: new Set(['properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties']),
  array: new Set(['items', 'prefixItems', 'minItems', 'maxItems']),
};
const allTyped = new Set(Object.values(byType).flatMap((s) => [...s]));
const formats = new Set(['date-time', 'time', 'date']);
const immutableTypes = new Set(['string', 'number', 'integer', 'boolean', 'null', 'object', 'array']);

export class SchemaNotSupported extends Error {
  constructor(
    readonly keyword: string,
    readonly at: string,
    detail?: string,
  ) {
    super(detail ?? `the JSON schema keyword '${keyword}' (at ${at}) cannot be enforced by this server's grammar`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A copy of `schema` in the supported subset; throws SchemaNotSupported naming the first keyword that is not. */
export function toGrammarSchema(schema: unknown, at = '#'): Record<string, unknown> {
  if (!isObject(schema)) throw new SchemaNotSupported(typeof schema, at, `the schema at ${at} must be an object`);
  if (!['type', 'const', 'enum', 'oneOf', 'anyOf', '$ref'].some((k) => k in schema)) {
    throw new SchemaNotSupported(
      'type',
      at,
      `the schema at ${at} has no "type" (nor const, enum, anyOf, oneOf or $ref): the grammar needs to know what to generate`,
    );
  }
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  for (const t of types) {
    if (typeof t !== 'string' || !immutableTypes.has(t)) throw new SchemaNotSupported('type', at, `unknown type ${JSON.stringify(t)} at ${at}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (annotations.has(key)) continue;
    if (!generic.has(key) && !allTyped.has(key)) throw new SchemaNotSupported(key, at);
    if (allTyped.has(key)) {
      const owner = Object.keys(byType).find((t) => byType[t]?.has(key)) as string;
      // A keyword of another type would be ignored by the grammar, i.e. silently loosened.
      if (types.length !== 1 || types[0] !== owner) {
        throw new SchemaNotSupported(key, at, `'${key}' (at ${at}) is supported only in a schema with "type": "${owner}"`);
      }
    }
    switch (key) {
      case 'format':
        if (typeof value !== 'string' || !formats.has(value)) {
          throw new SchemaNotSupported('format', at, `format ${JSON.stringify(value)} (at ${at}) is not supported; supported: ${[...formats].join(', ')}`);
        }
        out[key] = value;
        break;
      case 'anyOf':
      case 'oneOf':
        if (!Array.isArray(value) || value.length === 0) throw new SchemaNotSupported(key, at, `'${key}' at ${at} must be a non-empty array`);
        out.oneOf = value.map((v, i) => toGrammarSchema(v, `${at}/${key}/${i}`));
        break;
      case 'properties':
        if (!isObject(value)) throw new SchemaNotSupported(key, at, `'properties' at ${at} must be an object`);
        out[key] = Object.fromEntries(Object.entries(value).map(([name, v]) => [name, toGrammarSchema(v, `${at}/properties/${name}`)]));
        break;
      case '$defs':
        if (!isObject(value)) throw new SchemaNotSupported(key, at, `'$defs' at ${at} must be an object`);
        out[key] = Object.fromEntries(Object.entries(value).map(([name, v]) => [name, toGrammarSchema(v, `${at}/$defs/${name}`)]));
        break;
      case 'items':
        out[key] = toGrammarSchema(value, `${at}/items`);
        break;
      case 'prefixItems':
        if (!Array.isArray(value)) throw new SchemaNotSupported(key, at, `'prefixItems' at ${at} must be an array`);
        out[key] = value.map((v, i) => toGrammarSchema(v, `${at}/prefixItems/${i}`));
        break;
      case 'additionalProperties':
        out[key] = typeof value === 'boolean' ? value : toGrammarSchema(value, `${at}/additionalProperties`);
        break;
      case '$ref':
        if (typeof value !== 'string' || !value.startsWith('#/$defs/')) {
          throw new SchemaNotSupported('$ref', at, `only local references of the form "#/$defs/<name>" are supported ($ref at ${at})`);
        }
        out[key] = value;
        break;
      default:
        out[key] = value;
    }
  }
  return out;
}

/** toGrammarSchema as a 400 for `param`. */
export function grammarSchemaOrBadRequest(schema: unknown, param: string): Record<string, unknown> {
  try {
    return toGrammarSchema(schema);
  } catch (err) {
    if (err instanceof SchemaNotSupported) {
      const e: ApiError = badRequest(`Invalid schema for '${param}': ${err.message}.`, param, 'unsupported_schema_keyword');
      throw e;
    }
    throw err;
  }
}

/** The grammar for JSON matching `schema` (sent as `param`); a keyword it cannot enforce is a 400. */
export function schemaGrammarOrBadRequest(schema: unknown, param: string): OutputGrammar {
  try {
    return { kind: 'gbnf', gbnf: jsonSchemaToGbnf(schema) };
  } catch (err) {
    if (err instanceof SchemaNotExpressible) throw badRequest(`Invalid schema for '${param}': ${err.message}.`, param, 'unsupported_schema_keyword');
    throw err;
  }
}

/** A client's GBNF grammar (sent as `param`), parsed first; one that does not parse is a 400 saying why. */
export function gbnfGrammarOrBadRequest(gbnf: string, param: string): OutputGrammar {
  try {
    parseGbnf(gbnf);
  } catch (err) {
    if (err instanceof GbnfSyntaxError) throw badRequest(`Invalid GBNF in '${param}': ${err.message}.`, param, 'invalid_grammar');
    throw err;
  }
  return { kind: 'gbnf', gbnf };
}
