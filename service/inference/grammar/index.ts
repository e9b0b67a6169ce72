/**
 * Grammars for constrained generation: JSON Schema -> GBNF (`jsonSchemaToGbnf`) and a GBNF parser that
 * says what is wrong with a grammar (`parseGbnf`), both in llama.cpp's terms.
 */
export { jsonSchemaToGbnf, SchemaNotExpressible } from './json-schema.js';
export { GbnfSyntaxError, parseGbnf } from './gbnf-parse.js';
