/**
 * Grammars for constrained generation: JSON Schema -> GBNF (`jsonSchemaToGbnf`) and a GBNF parser that
 * says what is wrong with a grammar (`parseGbnf`), both in llama.cpp's terms, and a JSON Schema validator
 * (`compileJsonValidator`) that checks what a grammar generated.
 */
export { jsonSchemaToGbnf, SchemaNotExpressible, type JsonGrammarOptions } from './json-schema.js';
export { compileJsonValidator, SchemaNotCompilable, type JsonValidator } from './json-validator.js';
export { GbnfSyntaxError, parseGbnf } from './gbnf-parse.js';
