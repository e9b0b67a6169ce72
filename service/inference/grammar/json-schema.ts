/**
 * JSON Schema -> GBNF: a grammar whose every sentence is JSON valid against the schema.
 *
 * Modelled on llama.cpp's converter (`common/json-schema-to-grammar.cpp`, `common_schema_converter::visit`)
 * and its test cases (`tests/test-json-schema-to-grammar.cpp`): the same primitive rules (`value`,
 * `object`, `array`, `string` with its `char` rule, `number`, `integer`, `boolean`, `null`), the same
 * whitespace rule (`space`), properties generated in declaration order with the required ones first and
 * each optional one skippable, `additionalProperties` absent meaning "no other properties are generated",
 * `oneOf` generated like `anyOf`, `allOf` merged, integer ranges digit by digit, `minItems` / `maxItems`
 * and `minLength` / `maxLength` as repetitions, local `$ref`s as (possibly recursive) rules.
 *
 * Where llama.cpp silently loosens a schema (it warns and accepts any string for a pattern it cannot
 * translate, ignores `number` bounds, `multipleOf`, `uniqueItems`, `not`, unknown formats, a `required`
 * name missing from `properties`), this converter refuses instead: `SchemaNotExpressible` names the
 * keyword and its JSON pointer, and the HTTP layer answers 400. The grammar may generate a subset of what
 * the schema allows (fixed property order, no exponent in bounded numbers, capped lengths), never more.
 *
 * Known caveat shared with llama.cpp: `oneOf` is generated as `anyOf`; when two branches accept the same
 * value the output can match both, which `oneOf` forbids. Give branches a distinguishing `const` or type.
 */
import { gbnfLiteral, gbnfRepeat, GbnfRules, maxRepetition } from './gbnf.js';
import { formatRule, isSupportedFormat, supportedFormats } from './formats.js';
import { integerRangeGbnf } from './integer-range.js';
import { boundedNumberGbnf, integerLimits, maxFractionDigits, maxSignificantDigits, multipleOfIntegerGbnf, type Bound } from './numbers.js';
import { PatternNotExpressible, patternGbnf } from './regex.js';

/** A schema (or part of one) the grammar cannot enforce. */
export class SchemaNotExpressible extends Error {
  override name = 'SchemaNotExpressible';
  constructor(
    /** The keyword at fault. */
    readonly keyword: string,
    /** JSON pointer of the schema holding it ("#" is the root). */
    readonly at: string,
    message: string,
  ) {
    super(message);
  }
}

type Schema = Record<string, unknown>;
const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keywords that describe and never constrain. */
const annotations = new Set([
  'title',
  'description',
  '$schema',
  '$id',
  '$anchor',
  '$comment',
  'examples',
  'default',
  'deprecated',
  'readOnly',
  'writeOnly',
  'contentEncoding',
  'contentMediaType',
  '$defs',
  'definitions',
  // OpenAI's strict-mode flag inside schemas; nothing to enforce.
  'strict',
]);

const typeKeywords: Record<string, ReadonlySet<string>> = {
  string: new Set(['minLength', 'maxLength', 'pattern', 'format']),
  number: new Set(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf']),
  object: new Set(['properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties']),
  array: new Set(['items', 'prefixItems', 'minItems', 'maxItems', 'uniqueItems']),
};
typeKeywords.integer = typeKeywords.number as ReadonlySet<string>;
const jsonTypes = ['null', 'boolean', 'object', 'array', 'number', 'integer', 'string'] as const;
type JsonType = (typeof jsonTypes)[number];
const generic = new Set(['type', 'enum', 'const', 'anyOf', 'oneOf', 'allOf', '$ref']);

/** Keywords with no grammar equivalent, refused wherever they appear, and why. */
const refusedKeywords: Record<string, string> = {
  not: 'a grammar cannot exclude the values of a sub-schema',
  if: 'conditional schemas are not supported',
  then: 'conditional schemas are not supported',
  else: 'conditional schemas are not supported',
  patternProperties: 'property names matching a pattern are not supported',
  propertyNames: 'constraints on property names are not supported',
  dependentRequired: 'dependent properties are not supported',
  dependentSchemas: 'dependent schemas are not supported',
  dependencies: 'dependent properties are not supported',
  unevaluatedProperties: 'unevaluatedProperties is not supported',
  unevaluatedItems: 'unevaluatedItems is not supported',
  contains: 'a grammar cannot require one item to match while the others are free',
  minContains: 'contains is not supported',
  maxContains: 'contains is not supported',
  additionalItems: 'use prefixItems and items (draft 2020-12)',
  $dynamicRef: 'only local $ref is supported',
  $recursiveRef: 'only local $ref is supported',
};

const space = 'space';
/** llama.cpp's SPACE_RULE: nothing, a space, or one or two newlines and an indent. */
const spaceRule = '| " " | "\\n"{1,2} [ \\t]{0,20}';
/** One line: nothing or a space, as compact JSON (`{"a": 1}`) is written. */
const singleLineSpaceRule = '| " "';

/** How `jsonSchemaToGbnf` writes its grammar. */
export interface JsonGrammarOptions {
  /**
   * Newlines one whitespace between tokens may hold. Default 2, llama.cpp's rule. 0 (nothing or one space) for
   * tool call arguments: node-llama-cpp ends a call's params at "\n\n\n\n" (its `FunctionCallParamsGrammar` stop
   * trigger), which llama.cpp's rule allows inside an empty object (`"{" space space "}"`); and a program parses
   * them, so the indentation llama.cpp allows (up to 20 tabs per whitespace) only spends tokens: a random-weight
   * model spent a 200-token budget on it before closing the object.
   */
  maxNewlines?: 0 | 2;
}

function pointerEscape(name: string): string {
  return name.replace(/~/g, '~0').replace(/\//g, '~1');
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (isObject(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical(v[k])]),
    );
  return v;
}

function typeOfValue(v: unknown): JsonType {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'string') return 'string';
  return Array.isArray(v) ? 'array' : 'object';
}

class Converter {
  readonly rules = new GbnfRules();
  private readonly refRules = new Map<string, string>();
  private mergeDepth = 0;

  constructor(
    private readonly root: unknown,
    options: JsonGrammarOptions,
  ) {
    this.rules.set(space, options.maxNewlines === 0 ? singleLineSpaceRule : spaceRule);
  }

  fail(keyword: string, at: string, message: string): never {
    throw new SchemaNotExpressible(keyword, at, message);
  }

  // ---- primitives (llama.cpp PRIMITIVE_RULES) ----

  /** One character of a JSON string, escapes included; `\u` escapes never name a surrogate, so each is one character. */
  char(): string {
    return this.rules.add('char', '[^"\\\\\\x7F\\x00-\\x1F] | [\\\\] ( ["\\\\/bfnrt] | "u" ( [0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} ) )');
  }

  string(): string {
    return this.rules.add('string', `"\\"" ${this.char()}* "\\""`);
  }

  integralPart(): string {
    return this.rules.add('integral-part', '[0] | [1-9] [0-9]{0,15}');
  }

  number(): string {
    // Exponents of at most two digits: 1e999 would parse to Infinity, which is not a JSON number.
    return this.rules.add('number', `( "-"? ${this.integralPart()} ) ( "." [0-9]{1,${maxFractionDigits}} )? ( [eE] [-+]? [0-9]{1,2} )?`);
  }

  integer(): string {
    return this.rules.add('integer', `( "-"? ${this.integralPart()} )`);
  }

  boolean(): string {
    return this.rules.add('boolean', '( "true" | "false" )');
  }

  null(): string {
    return this.rules.add('null', '"null"');
  }

  value(): string {
    if (this.rules.has('value')) return 'value';
    const value = this.rules.reserve('value');
    const object = this.rules.add(
      'object',
      `"{" ${space} ( ${this.string()} ${space} ":" ${space} ${value} ( "," ${space} ${this.string()} ${space} ":" ${space} ${value} )* )? ${space} "}"`,
    );
    const array = this.rules.add('array', `"[" ${space} ( ${value} ( "," ${space} ${value} )* )? ${space} "]"`);
    this.rules.set(value, `${object} | ${array} | ${this.string()} | ${this.number()} | ${this.boolean()} | ${this.null()}`);
    return value;
  }

  // ---- schemas ----

  /** A GBNF term for the values `schema` accepts. */
  visit(schema: unknown, at: string, hint: string): string {
    if (schema === true) return this.value();
    if (schema === false) this.fail('false', at, `the schema at ${at} is false: no value satisfies it`);
    if (!isObject(schema)) this.fail('type', at, `the schema at ${at} must be an object or a boolean`);
    for (const key of Object.keys(schema)) {
      const why = refusedKeywords[key];
      if (why !== undefined) this.fail(key, at, `'${key}' (at ${at}) cannot be enforced by this server's grammar: ${why}`);
    }
    if ('$ref' in schema) {
      const { $ref, ...rest } = schema;
      if (Object.keys(rest).some((k) => !annotations.has(k))) return this.visit({ allOf: [{ $ref }, rest] }, at, hint);
      return this.ref($ref, at);
    }
    if ('allOf' in schema) return this.visit(this.mergeAllOf(schema, at), at, hint);
    if ('anyOf' in schema || 'oneOf' in schema) return this.union(schema, at, hint);
    if ('const' in schema || 'enum' in schema) return this.constants(schema, at, hint);
    const types = this.typesOf(schema, at);
    if (types === undefined) return this.value();
    const terms = types.map((t) => this.typed(schema, t, at, types.length === 1 ? hint : `${hint}-${t}`));
    return terms.length === 1 ? (terms[0] as string) : this.rules.add(hint, terms.join(' | '));
  }

  private ref(ref: unknown, at: string): string {
    if (typeof ref !== 'string' || !ref.startsWith('#')) {
      this.fail('$ref', at, `$ref ${JSON.stringify(ref)} (at ${at}): only local references ("#", "#/$defs/<name>", any "#/<pointer>") are supported`);
    }
    const known = this.refRules.get(ref);
    if (known !== undefined) return known;
    const target = this.resolve(ref, at);
    const name = this.rules.reserve(`ref-${ref.slice(1)}`);
    this.refRules.set(ref, name);
    this.rules.set(name, this.visit(target, ref, name));
    return name;
  }

  private resolve(ref: string, at: string): unknown {
    const pointer = decodeURIComponent(ref.slice(1));
    let target: unknown = this.root;
    if (pointer === '') return target;
    if (!pointer.startsWith('/')) this.fail('$ref', at, `$ref ${JSON.stringify(ref)} (at ${at}) is not a JSON pointer ("#/...")`);
    for (const raw of pointer.slice(1).split('/')) {
      const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (Array.isArray(target) && /^\d+$/.test(part) && Number(part) < target.length) target = target[Number(part)];
      else if (isObject(target) && part in target) target = target[part];
      else this.fail('$ref', at, `$ref ${JSON.stringify(ref)} (at ${at}) points to nothing in this schema`);
    }
    return target;
  }

  /** The types to generate: `type` as given, or implied by the keywords present; undefined = any value. */
  private typesOf(schema: Schema, at: string): JsonType[] | undefined {
    const unknown = Object.keys(schema).find((k) => !annotations.has(k) && !generic.has(k) && !Object.values(typeKeywords).some((s) => s.has(k)));
    if (unknown !== undefined) this.fail(unknown, at, `the JSON schema keyword '${unknown}' (at ${at}) cannot be enforced by this server's grammar`);
    const declared = schema.type;
    if (declared !== undefined) {
      const list = Array.isArray(declared) ? declared : [declared];
      if (list.length === 0) this.fail('type', at, `"type" at ${at} is an empty list: no value satisfies it`);
      for (const t of list) if (!(jsonTypes as readonly unknown[]).includes(t)) this.fail('type', at, `unknown type ${JSON.stringify(t)} at ${at}`);
      // integer is a subset of number: generating both would only duplicate.
      const set = new Set(list as JsonType[]);
      if (set.has('number')) set.delete('integer');
      return [...set];
    }
    const implied = (['string', 'number', 'object', 'array'] as const).filter((t) => Object.keys(schema).some((k) => typeKeywords[t]?.has(k)));
    return implied.length === 0 ? undefined : implied;
  }

  private typed(schema: Schema, type: JsonType, at: string, hint: string): string {
    switch (type) {
      case 'null':
        return this.null();
      case 'boolean':
        return this.boolean();
      case 'string':
        return this.stringSchema(schema, at, hint);
      case 'integer':
      case 'number':
        return this.numberSchema(schema, type, at, hint);
      case 'array':
        return this.arraySchema(schema, at, hint);
      case 'object':
        return this.objectSchema(schema, at, hint);
    }
  }

  private count(schema: Schema, keyword: string, at: string): number | undefined {
    const v = schema[keyword];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(keyword, at, `'${keyword}' at ${at} must be a non-negative integer`);
    return v;
  }

  /** [min, max] of a min/max keyword pair; refuses max beyond what a GBNF repetition can hold. */
  private countRange(schema: Schema, minKey: string, maxKey: string, at: string): { min: number; max: number | undefined } {
    const min = this.count(schema, minKey, at) ?? 0;
    const max = this.count(schema, maxKey, at);
    if (max !== undefined && max < min) this.fail(maxKey, at, `'${maxKey}' (${max}) is below '${minKey}' (${min}) at ${at}: no value satisfies it`);
    if (min > maxRepetition || (max !== undefined && max > maxRepetition)) {
      const key = min > maxRepetition ? minKey : maxKey;
      this.fail(
        key,
        at,
        `'${key}' above ${maxRepetition} (at ${at}) cannot be enforced by this server's grammar (llama.cpp expands a repetition into one rule per count)`,
      );
    }
    return { min, max };
  }

  private stringSchema(schema: Schema, at: string, hint: string): string {
    const constraints = ['pattern', 'format'].filter((k) => k in schema);
    const lengths = ['minLength', 'maxLength'].filter((k) => k in schema);
    if (constraints.length + (lengths.length > 0 ? 1 : 0) > 1) {
      const [a, b] = [...constraints, ...lengths];
      this.fail(
        b as string,
        at,
        `'${a as string}' and '${b as string}' together (at ${at}) cannot be enforced by this server's grammar; use one of them (a pattern can bound the length itself, e.g. "^.{3,8}$")`,
      );
    }
    if ('pattern' in schema) {
      const pattern = schema.pattern;
      if (typeof pattern !== 'string') this.fail('pattern', at, `'pattern' at ${at} must be a string`);
      try {
        return this.rules.add(hint, `"\\"" ${patternGbnf(pattern, this.rules, hint, this.char())} "\\""`);
      } catch (err) {
        if (err instanceof PatternNotExpressible) {
          this.fail('pattern', at, `the pattern ${JSON.stringify(pattern)} (at ${at}) cannot be enforced by this server's grammar: ${err.message}`);
        }
        throw err;
      }
    }
    if ('format' in schema) {
      const format = schema.format;
      if (typeof format !== 'string' || !isSupportedFormat(format)) {
        this.fail(
          'format',
          at,
          `format ${JSON.stringify(format)} (at ${at}) cannot be enforced by this server's grammar; supported: ${supportedFormats.join(', ')}`,
        );
      }
      return this.rules.add(hint, `"\\"" ${formatRule(this.rules, format)} "\\""`);
    }
    if (lengths.length > 0) {
      const { min, max } = this.countRange(schema, 'minLength', 'maxLength', at);
      return this.rules.add(hint, `"\\"" ${gbnfRepeat(this.char(), min, max)} "\\""`);
    }
    return this.string();
  }

  private bound(schema: Schema, keyword: string, at: string): number | undefined {
    const v = schema[keyword];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(keyword, at, `'${keyword}' at ${at} must be a number`);
    if (Math.abs(v) >= 1e15) this.fail(keyword, at, `'${keyword}' ${v} (at ${at}) is beyond what this server's grammar enforces (|bound| < 10^15)`);
    return v;
  }

  private numberSchema(schema: Schema, type: 'integer' | 'number', at: string, hint: string): string {
    const tighter = (a: Bound | undefined, b: Bound | undefined, lower: boolean): Bound | undefined => {
      if (a === undefined) return b;
      if (b === undefined) return a;
      if (a.value !== b.value) return a.value > b.value === lower ? a : b;
      return a.exclusive ? a : b;
    };
    const mk = (key: string, exclusive: boolean): Bound | undefined => {
      const value = this.bound(schema, key, at);
      return value === undefined ? undefined : { value, exclusive };
    };
    const min = tighter(mk('minimum', false), mk('exclusiveMinimum', true), true);
    const max = tighter(mk('maximum', false), mk('exclusiveMaximum', true), false);
    const multipleOf = schema.multipleOf;
    if (multipleOf !== undefined && (typeof multipleOf !== 'number' || !(multipleOf > 0)))
      this.fail('multipleOf', at, `'multipleOf' at ${at} must be a number above 0`);
    const minKey = min === undefined ? 'minimum' : min.exclusive ? 'exclusiveMinimum' : 'minimum';
    const maxKey = max === undefined ? 'maximum' : max.exclusive ? 'exclusiveMaximum' : 'maximum';

    // Whole numbers: integers, and numbers whose multipleOf is a whole number.
    const wholeMultiple = typeof multipleOf === 'number' && Number.isInteger(multipleOf);
    if (type === 'integer' || wholeMultiple) {
      const { low, high } = integerLimits(min, max);
      if (low !== undefined && high !== undefined && low > high) this.fail(maxKey, at, `no integer lies between the bounds at ${at}`);
      // Every integer is a multiple of 1/k (0.5, 0.25, 0.1, ...).
      const dividesOne = typeof multipleOf === 'number' && Number.isInteger(1 / multipleOf);
      if (typeof multipleOf === 'number' && !dividesOne) {
        if (!wholeMultiple) {
          this.fail('multipleOf', at, `'multipleOf' ${multipleOf} on an integer (at ${at}) cannot be enforced by this server's grammar; use a whole number`);
        }
        const result = multipleOfIntegerGbnf(this.rules, multipleOf, low, high);
        if ('refused' in result) this.fail('multipleOf', at, `'multipleOf' (at ${at}) cannot be enforced by this server's grammar: ${result.refused}`);
        return this.rules.add(hint, result.gbnf);
      }
      if (low === undefined && high === undefined) return this.integer();
      return this.rules.add(hint, integerRangeGbnf(low, high) as string);
    }

    // Numbers with a fraction: a multipleOf must be a power of ten (0.1, 0.01, ...): at most that many digits.
    let fractionDigits = maxFractionDigits;
    if (typeof multipleOf === 'number') {
      const digits = Math.round(-Math.log10(multipleOf));
      if (digits < 1 || digits > maxFractionDigits || Number(`1e-${digits}`) !== multipleOf) {
        this.fail(
          'multipleOf',
          at,
          `'multipleOf' ${multipleOf} on a number (at ${at}) cannot be enforced by this server's grammar; supported: whole numbers, and 0.1, 0.01, ... (at most that many decimals)`,
        );
      }
      fractionDigits = digits;
    }
    for (const [b, key] of [
      [min, minKey],
      [max, maxKey],
    ] as const) {
      const written = b === undefined ? '' : String(Math.abs(b.value));
      if (written.includes('e') || written.replace('.', '').replace(/^0+/, '').length > maxSignificantDigits) {
        this.fail(
          key,
          at,
          `'${key}' ${b?.value} on a number (at ${at}) cannot be enforced by this server's grammar: a number bound needs at most ${maxSignificantDigits} significant digits`,
        );
      }
    }
    if (min === undefined && max === undefined) {
      if (fractionDigits === maxFractionDigits) return this.number();
      return this.rules.add(hint, `( "-"? ${this.integralPart()} ) ( "." [0-9]{1,${fractionDigits}} )?`);
    }
    const body = boundedNumberGbnf(min, max, fractionDigits);
    if (body === undefined) this.fail(maxKey, at, `no number lies between the bounds at ${at}`);
    return this.rules.add(hint, body);
  }

  private arraySchema(schema: Schema, at: string, hint: string): string {
    const { min, max } = this.countRange(schema, 'minItems', 'maxItems', at);
    if (schema.uniqueItems === true && (max === undefined || max > 1)) {
      this.fail(
        'uniqueItems',
        at,
        `'uniqueItems' (at ${at}) cannot be enforced by this server's grammar (a grammar cannot compare items); drop it or set maxItems to 1`,
      );
    }
    let prefix: unknown[] = [];
    let items: unknown = schema.items;
    if (Array.isArray(items)) {
      // Draft 4-2019 tuple form.
      prefix = items;
      items = undefined;
    }
    if (schema.prefixItems !== undefined) {
      if (!Array.isArray(schema.prefixItems)) this.fail('prefixItems', at, `'prefixItems' at ${at} must be an array`);
      prefix = schema.prefixItems;
    }
    // Generated: the first min(prefix, max) tuple items, then the count of `items` that min/max need.
    const tupleCount = max === undefined ? prefix.length : Math.min(prefix.length, max);
    const tupleTerms = prefix
      .slice(0, tupleCount)
      .map((p, i) => this.visit(p, `${at}/${Array.isArray(schema.items) ? 'items' : 'prefixItems'}/${i}`, `${hint}-tuple-${i}`));
    const restMin = Math.max(0, min - tupleCount);
    const restMax = max === undefined ? undefined : max - tupleCount;
    let restTerm: string | undefined;
    if (items === false) {
      if (restMin > 0) this.fail('minItems', at, `'minItems' ${min} at ${at} needs more items than prefixItems declares, and items is false`);
    } else if (restMax !== 0 && (prefix.length === 0 || restMin > 0 || items !== undefined)) {
      restTerm = this.visit(items ?? true, `${at}/items`, `${hint}-item`);
    }
    // Items beyond the tuple only when the schema declares them or minItems needs them (the subset rule).
    const restCount = restTerm === undefined ? { min: 0, max: 0 } : { min: restMin, max: prefix.length > 0 && items === undefined ? restMin : restMax };
    const sequence = [...tupleTerms];
    let body: string;
    const restRep = restTerm === undefined ? '' : gbnfRepeat(restTerm, restCount.min, restCount.max, `"," ${space}`);
    if (sequence.length === 0) body = restRep;
    else {
      body = sequence.join(` "," ${space} `);
      if (restRep !== '') {
        const more = restCount.min > 0 ? `"," ${space} ${restRep}` : `( "," ${space} ${gbnfRepeat(restTerm as string, 1, restCount.max, `"," ${space}`)} )?`;
        body = `${body} ${more}`;
      }
    }
    return this.rules.add(hint, `"[" ${space} ${body === '' ? '' : `${body} `}${space} "]"`);
  }

  private objectSchema(schema: Schema, at: string, hint: string): string {
    const properties = schema.properties ?? {};
    if (!isObject(properties)) this.fail('properties', at, `'properties' at ${at} must be an object`);
    const required = schema.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) this.fail('required', at, `'required' at ${at} must be an array of strings`);
    const additional = schema.additionalProperties;
    if (additional !== undefined && typeof additional !== 'boolean' && !isObject(additional)) {
      this.fail('additionalProperties', at, `'additionalProperties' at ${at} must be a boolean or a schema`);
    }
    // llama.cpp: `{"type": "object"}` alone is any object ("additional props (implicit)").
    if (Object.keys(properties).length === 0 && required.length === 0 && (additional === undefined || additional === true) && !('minProperties' in schema)) {
      this.value();
      return 'object';
    }
    const names = Object.keys(properties);
    const requiredSet = new Set(required as string[]);
    for (const name of requiredSet) {
      if (!(name in properties) && additional === false) {
        this.fail('required', at, `required property '${name}' (at ${at}) is not in properties and additionalProperties is false: no object satisfies it`);
      }
    }
    const kv = (name: string, valueSchema: unknown, where: string) =>
      this.rules.add(`${hint}-${name}-kv`, `${gbnfLiteral(JSON.stringify(name))} ${space} ":" ${space} ${this.visit(valueSchema, where, `${hint}-${name}`)}`);
    const extraSchema = isObject(additional) ? additional : true;
    const requiredKvs = [
      ...names.filter((n) => requiredSet.has(n)).map((n) => kv(n, properties[n], `${at}/properties/${pointerEscape(n)}`)),
      ...[...requiredSet].filter((n) => !(n in properties)).map((n) => kv(n, extraSchema, `${at}/additionalProperties`)),
    ];
    let optionalNames = names.filter((n) => !requiredSet.has(n));
    let extras = additional === true || isObject(additional);

    // minProperties / maxProperties: make optional properties required, or generate fewer, when needed.
    const { min: minProps, max: maxProps } = this.countRange(schema, 'minProperties', 'maxProperties', at);
    while (requiredKvs.length < minProps && optionalNames.length > 0) {
      const name = optionalNames.shift() as string;
      requiredKvs.push(kv(name, properties[name], `${at}/properties/${pointerEscape(name)}`));
    }
    if (requiredKvs.length < minProps) {
      this.fail(
        'minProperties',
        at,
        `'minProperties' ${minProps} at ${at} needs more properties than declared; this server's grammar generates only declared properties for it`,
      );
    }
    if (maxProps !== undefined) {
      if (requiredKvs.length > maxProps)
        this.fail('maxProperties', at, `'maxProperties' ${maxProps} at ${at} is below the number of required properties: no object satisfies it`);
      optionalNames = optionalNames.slice(0, maxProps - requiredKvs.length);
      if (requiredKvs.length + optionalNames.length >= maxProps) extras = false;
      else if (extras)
        this.fail(
          'maxProperties',
          at,
          `'maxProperties' together with additional properties (at ${at}) cannot be enforced by this server's grammar; set additionalProperties to false`,
        );
    }
    const optionalKvs = optionalNames.map((n) => kv(n, properties[n], `${at}/properties/${pointerEscape(n)}`));
    if (extras) {
      const key = this.rules.add(`${hint}-additional-k`, this.keyNotIn([...names, ...requiredSet]));
      const value = this.visit(extraSchema, `${at}/additionalProperties`, `${hint}-additional-value`);
      optionalKvs.push(this.rules.add(`${hint}-additional-kv`, `${key} ${space} ":" ${space} ${value}`));
    }
    const extraKv = extras ? optionalKvs[optionalKvs.length - 1] : undefined;
    // Optional members in declaration order, each skippable: "the rest after member i" is a rule of its own.
    const restAfter = (i: number): string => {
      const parts: string[] = [];
      for (let j = i; j < optionalKvs.length; j++) {
        const member = optionalKvs[j] as string;
        parts.push(`( "," ${space} ${member} )${member === extraKv ? '*' : '?'}`);
      }
      return parts.join(' ');
    };
    const startingAt = optionalKvs.map((member, i) => {
      const rest = i + 1 < optionalKvs.length ? ` ${this.rules.add(`${hint}-rest-${i + 1}`, restAfter(i + 1))}` : '';
      const repeat = member === extraKv ? ` ( "," ${space} ${member} )*` : '';
      return `${member}${repeat}${rest}`;
    });
    let body = requiredKvs.join(` "," ${space} `);
    if (startingAt.length > 0) {
      const optional = startingAt.length === 1 ? startingAt[0] : `( ${startingAt.join(' | ')} )`;
      body = body === '' ? `( ${optional as string} )?` : `${body} ( "," ${space} ${optional as string} )?`;
    }
    return this.rules.add(hint, `"{" ${space} ${body === '' ? '' : `${body} `}${space} "}"`);
  }

  /**
   * A JSON string key that is none of `names` (so extra properties never repeat a declared one). Extra
   * keys are generated from letters, digits, `_` and `-` only; names with other characters cannot collide.
   * Built as llama.cpp's `_not_strings` does, on a trie of the names.
   */
  private keyNotIn(names: string[]): string {
    const safe = /^[A-Za-z0-9_-]$/;
    const safeClass = '[A-Za-z0-9_\\-]';
    interface Trie {
      end: boolean;
      next: Map<string, Trie>;
    }
    const root: Trie = { end: false, next: new Map() };
    for (const name of new Set(names)) {
      if (![...name].every((c) => safe.test(c))) continue;
      let node = root;
      for (const c of name) {
        let child = node.next.get(c);
        if (child === undefined) {
          child = { end: false, next: new Map() };
          node.next.set(c, child);
        }
        node = child;
      }
      node.end = true;
    }
    // L(node) = the suffixes s (safe characters) with prefix+s not a name; at the root s is never empty.
    const visit = (node: Trie, isRoot: boolean): string => {
      const alternatives: string[] = [];
      if (!node.end && !isRoot) alternatives.push('""');
      for (const [c, child] of node.next) alternatives.push(`"${c}" ${visit(child, false)}`);
      const others = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'].filter((c) => !node.next.has(c));
      if (others.length > 0) {
        const cls = node.next.size === 0 ? safeClass : `[${others.map((c) => (c === '-' ? '\\-' : c)).join('')}]`;
        alternatives.push(`${cls} ${safeClass}{0,31}`);
      }
      return `( ${alternatives.join(' | ')} )`;
    };
    return `"\\"" ${visit(root, true)} "\\""`;
  }

  private union(schema: Schema, at: string, hint: string): string {
    if ('anyOf' in schema && 'oneOf' in schema) this.fail('oneOf', at, `'anyOf' and 'oneOf' together (at ${at}) cannot be enforced by this server's grammar`);
    const keyword = 'anyOf' in schema ? 'anyOf' : 'oneOf';
    const branches = schema[keyword];
    if (!Array.isArray(branches) || branches.length === 0) this.fail(keyword, at, `'${keyword}' at ${at} must be a non-empty array`);
    const { [keyword]: _, ...siblings } = schema;
    const constraining = Object.keys(siblings).some((k) => !annotations.has(k));
    // {siblings, anyOf: [A, B]} = anyOf: [allOf(siblings, A), allOf(siblings, B)].
    const terms = branches.map((branch, i) => this.visit(constraining ? { allOf: [siblings, branch] } : branch, `${at}/${keyword}/${i}`, `${hint}-${i}`));
    return this.rules.add(hint, terms.join(' | '));
  }

  private constants(schema: Schema, at: string, hint: string): string {
    let values: unknown[];
    let keyword = 'enum';
    if ('const' in schema) {
      keyword = 'const';
      values = [schema.const];
      if ('enum' in schema) {
        if (!Array.isArray(schema.enum)) this.fail('enum', at, `'enum' at ${at} must be an array`);
        values = values.filter((v) => (schema.enum as unknown[]).some((e) => deepEqual(e, v)));
      }
    } else {
      if (!Array.isArray(schema.enum) || schema.enum.length === 0) this.fail('enum', at, `'enum' at ${at} must be a non-empty array`);
      values = schema.enum;
    }
    const other = Object.keys(schema).find((k) => !annotations.has(k) && k !== 'const' && k !== 'enum' && k !== 'type');
    if (other !== undefined) {
      this.fail(other, at, `'${other}' beside '${keyword}' (at ${at}) cannot be enforced by this server's grammar: list only values that satisfy it`);
    }
    if (schema.type !== undefined) {
      const types = new Set(Array.isArray(schema.type) ? schema.type : [schema.type]);
      values = values.filter((v) => types.has(typeOfValue(v)) || (typeOfValue(v) === 'integer' && types.has('number')));
    }
    if (values.length === 0) this.fail(keyword, at, `no value of '${keyword}' at ${at} satisfies the rest of the schema`);
    return this.rules.add(hint, `( ${values.map((v) => gbnfLiteral(JSON.stringify(v))).join(' | ')} )`);
  }

  /**
   * allOf as one schema, as llama.cpp merges allOf parts: properties and required lists are united (a
   * property in two parts gets both schemas), bounds take the tighter value, enum/const intersect,
   * `type` intersects; any other keyword set differently by two parts is refused.
   */
  private mergeAllOf(schema: Schema, at: string): Schema {
    if (++this.mergeDepth > 64) this.fail('allOf', at, `allOf at ${at} nests or refers to itself too deeply to merge`);
    try {
      const { allOf, ...own } = schema;
      if (!Array.isArray(allOf) || allOf.length === 0) this.fail('allOf', at, `'allOf' at ${at} must be a non-empty array`);
      const parts: Array<{ schema: Schema; at: string }> = [{ schema: own, at }];
      const flatten = (part: unknown, where: string, depth: number): void => {
        if (depth > 64) this.fail('allOf', where, `allOf at ${where} refers to itself`);
        if (part === true) return;
        if (part === false) this.fail('allOf', where, `the schema at ${where} is false: no value satisfies it`);
        if (!isObject(part)) this.fail('allOf', where, `the schema at ${where} must be an object or a boolean`);
        const { $ref, allOf: inner, ...rest } = part;
        if ($ref !== undefined) {
          if (typeof $ref !== 'string' || !$ref.startsWith('#'))
            this.fail('$ref', where, `$ref ${JSON.stringify($ref)} (at ${where}): only local references are supported`);
          flatten(this.resolve($ref, where), $ref, depth + 1);
        }
        if (inner !== undefined) {
          if (!Array.isArray(inner)) this.fail('allOf', where, `'allOf' at ${where} must be an array`);
          inner.forEach((p, i) => flatten(p, `${where}/allOf/${i}`, depth + 1));
        }
        parts.push({ schema: rest, at: where });
      };
      allOf.forEach((p, i) => flatten(p, `${at}/allOf/${i}`, 0));
      return this.mergeParts(parts, at);
    } finally {
      this.mergeDepth--;
    }
  }

  private mergeParts(parts: Array<{ schema: Schema; at: string }>, at: string): Schema {
    const out: Schema = {};
    const propertySchemas = new Map<string, unknown[]>();
    for (const { schema, at: where } of parts) {
      for (const [key, value] of Object.entries(schema)) {
        if (annotations.has(key)) continue;
        const why = refusedKeywords[key];
        if (why !== undefined) this.fail(key, where, `'${key}' (at ${where}) cannot be enforced by this server's grammar: ${why}`);
        const prev = out[key];
        switch (key) {
          case 'properties':
            if (!isObject(value)) this.fail(key, where, `'properties' at ${where} must be an object`);
            for (const [name, s] of Object.entries(value)) propertySchemas.set(name, [...(propertySchemas.get(name) ?? []), s]);
            break;
          case 'required':
            if (!Array.isArray(value)) this.fail(key, where, `'required' at ${where} must be an array`);
            out.required = [...new Set([...((prev as string[] | undefined) ?? []), ...(value as string[])])];
            break;
          case 'type': {
            const mine = new Set(Array.isArray(value) ? value : [value]);
            if (prev === undefined) out.type = [...mine];
            else {
              const both = (prev as string[]).flatMap((t) =>
                mine.has(t) ? [t] : t === 'number' && mine.has('integer') ? ['integer'] : t === 'integer' && mine.has('number') ? ['integer'] : [],
              );
              if (both.length === 0) this.fail('type', where, `allOf parts at ${at} require different types: no value satisfies them`);
              out.type = [...new Set(both)];
            }
            break;
          }
          case 'enum':
          case 'const': {
            const mine = key === 'const' ? [value] : Array.isArray(value) ? value : this.fail('enum', where, `'enum' at ${where} must be an array`);
            const current = out.enum as unknown[] | undefined;
            out.enum = current === undefined ? mine : current.filter((v) => mine.some((m) => deepEqual(m, v)));
            if ((out.enum as unknown[]).length === 0) this.fail(key, where, `allOf parts at ${at} allow no common value`);
            break;
          }
          case 'minimum':
          case 'exclusiveMinimum':
          case 'minLength':
          case 'minItems':
          case 'minProperties':
            out[key] = prev === undefined ? value : Math.max(prev as number, value as number);
            break;
          case 'maximum':
          case 'exclusiveMaximum':
          case 'maxLength':
          case 'maxItems':
          case 'maxProperties':
            out[key] = prev === undefined ? value : Math.min(prev as number, value as number);
            break;
          case 'anyOf':
          case 'oneOf':
            if (prev !== undefined || (key === 'anyOf' ? 'oneOf' : 'anyOf') in out) {
              this.fail(key, where, `allOf at ${at} combines several anyOf/oneOf lists; this server's grammar merges at most one`);
            }
            out[key] = value;
            break;
          case 'additionalProperties':
            if (prev !== undefined && !deepEqual(prev, value)) {
              out[key] = prev === false || value === false ? false : prev === true ? value : value === true ? prev : { allOf: [prev, value] };
            } else out[key] = value;
            break;
          case 'items':
            out[key] = prev === undefined || deepEqual(prev, value) ? value : { allOf: [prev, value] };
            break;
          default:
            if (prev !== undefined && !deepEqual(prev, value)) {
              this.fail(key, where, `'${key}' at ${where} differs from another allOf part's (allOf at ${at}); this server's grammar cannot enforce both`);
            }
            out[key] = value;
        }
      }
    }
    // A part with additionalProperties other than true constrains the properties other parts declare.
    for (const { schema, at: where } of parts) {
      const extra = schema.additionalProperties;
      if (extra === undefined || extra === true) continue;
      const own = isObject(schema.properties) ? schema.properties : {};
      for (const name of propertySchemas.keys()) {
        if (name in own) continue;
        if (extra === false)
          this.fail(
            'additionalProperties',
            where,
            `allOf at ${at}: property '${name}' is declared by another part, but the part at ${where} has additionalProperties false`,
          );
        propertySchemas.set(name, [...(propertySchemas.get(name) ?? []), extra]);
      }
    }
    if (propertySchemas.size > 0) {
      out.properties = Object.fromEntries([...propertySchemas].map(([name, list]) => [name, list.length === 1 ? list[0] : { allOf: list }]));
    }
    if (Array.isArray(out.type) && out.type.length === 1) out.type = out.type[0];
    if (Array.isArray(out.enum) && out.enum.length === 1) {
      out.const = out.enum[0];
      delete out.enum;
    }
    return out;
  }
}

/** GBNF for JSON matching `schema`; throws SchemaNotExpressible for what the grammar cannot enforce. */
export function jsonSchemaToGbnf(schema: unknown, options: JsonGrammarOptions = {}): string {
  const converter = new Converter(schema, options);
  const root = converter.visit(schema, '#', 'root');
  if (root !== 'root') converter.rules.set('root', root);
  return converter.rules.text();
}
