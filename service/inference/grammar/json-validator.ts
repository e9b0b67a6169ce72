/**
 * JSON Schema validation of generated JSON, independent of the grammar that generated it.
 *
 * A function call's arguments are generated under the GBNF grammar `jsonSchemaToGbnf` builds, and then
 * checked again here before the call is returned: node-llama-cpp checks them with its own validator
 * (`validateObjectAgainstGbnfSchema`), which knows only its GbnfJsonSchema subset and throws on `pattern`,
 * `minimum`, `format: uuid` and the like, so the project's patch (patches/node-llama-cpp+3.21.1.patch,
 * `FunctionCallParamsGrammar`) calls this validator instead. A failure here means the grammar let through
 * something the schema forbids (a converter bug), never a bad request.
 *
 * ajv with draft 2020-12 and ajv-formats, the same validator the tests use; `strict: false` because the
 * schemas are the clients' and may carry keywords ajv does not know (OpenAI's `strict`), which the
 * converter has already accepted or refused.
 */
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';

/** Checks a value: undefined when it is valid, else what is wrong and where (JSON pointer). */
export type JsonValidator = (value: unknown) => string | undefined;

/** A schema ajv cannot compile (invalid against the JSON Schema meta-schema, an unresolvable `$ref`...). */
export class SchemaNotCompilable extends Error {
  override name = 'SchemaNotCompilable';
}

// ajv-formats' default export is typed for CommonJS interop; under NodeNext it is the plugin function itself.
const addFormats = addFormatsPlugin as unknown as (ajv: Ajv2020) => Ajv2020;

const ajv = addFormats(
  new Ajv2020({
    strict: false,
    allErrors: false,
    // A client's `$id` must not register the schema in this shared instance: a second request with the same
    // `$id` would then fail to compile ("already exists").
    addUsedSchema: false,
    // 0.07 / 0.01 is 7.000000000000001 in binary floating point; the grammar writes decimal multiples exactly.
    multipleOfPrecision: 9,
  }),
);

function describe(errors: readonly ErrorObject[] | null | undefined): string {
  const first = errors?.[0];
  if (first === undefined) return 'does not match the schema';
  return `${first.instancePath === '' ? 'the value' : first.instancePath} ${first.message ?? 'is invalid'} (schema ${first.schemaPath})`;
}

/** A validator for `schema`; throws SchemaNotCompilable when ajv cannot compile it. */
export function compileJsonValidator(schema: Record<string, unknown>): JsonValidator {
  let validate: ReturnType<Ajv2020['compile']>;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    throw new SchemaNotCompilable(err instanceof Error ? err.message : String(err));
  } finally {
    // ajv caches every compiled schema by object identity, forever: each request brings a new object.
    ajv.removeSchema(schema);
  }
  return (value) => (validate(value) ? undefined : describe(validate.errors));
}
