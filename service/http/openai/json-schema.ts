/**
 * Schemas and grammars from requests, checked before they reach the engine.
 *
 * Structured output (`response_format` json_schema, the Responses API's `text.format`, Anthropic's
 * `output_config.format`), tool parameters (OpenAI `tools[].function.parameters`, Responses function
 * tools' `parameters`, Anthropic `input_schema`) and a raw GBNF `grammar` go through
 * service/inference/grammar: a schema is converted to GBNF here (`jsonSchemaToGbnf`, modelled on
 * llama.cpp's converter), so a keyword it cannot enforce is a 400 naming the keyword and its JSON pointer,
 * and a raw grammar is parsed (`parseGbnf`), so one that does not parse is a 400 with the parser's message.
 * docs/structured-output.md has the keyword table.
 */
import {
  compileJsonValidator,
  GbnfSyntaxError,
  jsonSchemaToGbnf,
  parseGbnf,
  SchemaNotCompilable,
  SchemaNotExpressible,
  type JsonGrammarOptions,
} from '../../inference/grammar/index.js';
import type { OutputGrammar } from '../engine-port.js';
import type { ToolParameters } from '../../inference/types.js';
import { badRequest } from '../errors.js';

/** jsonSchemaToGbnf, with what it cannot enforce as a 400 for `param`. */
function gbnfOrBadRequest(schema: unknown, param: string, options?: JsonGrammarOptions): string {
  try {
    return jsonSchemaToGbnf(schema, options);
  } catch (err) {
    if (err instanceof SchemaNotExpressible) throw badRequest(`Invalid schema for '${param}': ${err.message}.`, param, 'unsupported_schema_keyword');
    throw err;
  }
}

/**
 * A tool's arguments schema (sent as `param`) with its grammar and validator (see ToolParameters); a keyword
 * the grammar cannot enforce, or a schema that is not valid JSON Schema, is a 400.
 *
 * Arguments are an object in every API (OpenAI parses `arguments` into keyword arguments, Anthropic's `input`
 * is an object), so the grammar and the validator get the schema with `type: "object"` at the root: a schema
 * without `type` (`{}`, a bare `properties`) then generates an object, and one whose `type` excludes objects
 * is a 400. JSON pointers in refusals are unchanged: the other keywords stay where they were.
 */
export function toolParametersOrBadRequest(schema: object, param: string): ToolParameters {
  // The request schema admits objects only (service/http/schemas.ts `AnyObject`).
  const sent = schema as Record<string, unknown>;
  const types = sent.type === undefined ? ['object'] : Array.isArray(sent.type) ? (sent.type as unknown[]) : [sent.type];
  if (!types.includes('object')) {
    throw badRequest(
      `Invalid schema for '${param}': the arguments are a JSON object, but the schema's type is ${JSON.stringify(sent.type)}; use "type": "object".`,
      param,
      'invalid_schema',
    );
  }
  const asObject = { ...sent, type: 'object' };
  const gbnf = gbnfOrBadRequest(asObject, param, { maxNewlines: 0 });
  try {
    return { schema: sent, gbnf, validate: compileJsonValidator(asObject) };
  } catch (err) {
    if (err instanceof SchemaNotCompilable) throw badRequest(`Invalid schema for '${param}': ${err.message}.`, param, 'invalid_schema');
    throw err;
  }
}

/** The grammar for JSON matching `schema` (sent as `param`); a keyword it cannot enforce is a 400. */
export function schemaGrammarOrBadRequest(schema: unknown, param: string): OutputGrammar {
  return { kind: 'gbnf', gbnf: gbnfOrBadRequest(schema, param) };
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
