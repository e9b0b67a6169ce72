/**
 * A GBNF parser that reports what is wrong and where, modelled on llama.cpp's (`src/llama-grammar.cpp`,
 * `llama_grammar_parser::parse` and `llama_grammar_init_impl`): the same syntax (rules `name ::= ...`,
 * literals with `\x \u \U \t \r \n \\ \" \[ \] \-` escapes, character classes, `.`, groups, `* + ? {m}
 * {m,} {m,n}`, `#` comments) and the same rejections (undefined rule, no `root`, left recursion, more
 * than MAX_REPETITION_THRESHOLD repetitions).
 *
 * Why a second parser: node-llama-cpp's `llama.createGrammar` answers every parse failure with the same
 * "Failed to parse grammar" while llama.cpp prints the reason to stderr, so a client sending a raw
 * `grammar` would not learn what is wrong; and on a repetition whose maximum is below its minimum
 * (`"a"{2,1}`) llama.cpp's parser never returns (`max_times - min_times` underflows), which would hang
 * the server. The HTTP layer parses with this one first and answers 400 with its message. Token
 * references (`<...>`, `!<...>`) need the model's vocabulary and are refused.
 */

/** llama.cpp's MAX_REPETITION_THRESHOLD. */
export const repetitionThreshold = 2000;

export type GbnfTerm =
  | { kind: 'literal'; codePoints: number[] }
  | { kind: 'class'; negated: boolean; ranges: Array<[number, number]> }
  | { kind: 'any' }
  | { kind: 'ref'; name: string }
  | { kind: 'group'; alternatives: GbnfSequence[] };

export interface GbnfItem {
  term: GbnfTerm;
  min: number;
  /** undefined: unbounded. */
  max: number | undefined;
}

export type GbnfSequence = GbnfItem[];

/** Rule name -> its alternatives. */
export type GbnfGrammar = Map<string, GbnfSequence[]>;

export class GbnfSyntaxError extends Error {
  override name = 'GbnfSyntaxError';
}

const isWordChar = (c: string | undefined) => c !== undefined && /[a-zA-Z0-9-]/.test(c);

class Parser {
  private pos = 0;
  readonly rules: GbnfGrammar = new Map();
  private readonly referenced = new Map<string, number>();

  constructor(private readonly src: string) {}

  private where(at = this.pos): string {
    const before = this.src.slice(0, at);
    const line = before.split('\n').length;
    const column = at - before.lastIndexOf('\n');
    const excerpt = this.src.slice(at, at + 20).split('\n')[0] as string;
    return `line ${line}, column ${column}${excerpt === '' ? ' (end of line)' : ` ("${excerpt}")`}`;
  }

  private fail(message: string, at = this.pos): never {
    throw new GbnfSyntaxError(`${message} at ${this.where(at)}`);
  }

  private skipSpace(newlineOk: boolean): void {
    for (;;) {
      const c = this.src[this.pos];
      if (c === ' ' || c === '\t') this.pos++;
      else if (c === '#') {
        while (this.pos < this.src.length && this.src[this.pos] !== '\n' && this.src[this.pos] !== '\r') this.pos++;
      } else if (newlineOk && (c === '\n' || c === '\r')) this.pos++;
      else return;
    }
  }

  private name(): string {
    const start = this.pos;
    while (isWordChar(this.src[this.pos])) this.pos++;
    if (this.pos === start) this.fail('expecting a rule name');
    return this.src.slice(start, this.pos);
  }

  private int(): number {
    const m = /^\d+/.exec(this.src.slice(this.pos));
    if (m === null) this.fail('expecting an integer');
    this.pos += m[0].length;
    return Number(m[0]);
  }

  private hex(digits: number): number {
    const m = new RegExp(`^[0-9a-fA-F]{${digits}}`).exec(this.src.slice(this.pos));
    if (m === null) this.fail(`expecting ${digits} hex digits`);
    this.pos += digits;
    return parseInt(m[0], 16);
  }

  /** One character of a literal or class, escapes decoded. */
  private char(): number {
    const c = this.src[this.pos];
    if (c === undefined) this.fail('unexpected end of input');
    if (c !== '\\') {
      const cp = this.src.codePointAt(this.pos) as number;
      this.pos += cp > 0xffff ? 2 : 1;
      return cp;
    }
    const e = this.src[this.pos + 1];
    this.pos += 2;
    switch (e) {
      case 'x':
        return this.hex(2);
      case 'u':
        return this.hex(4);
      case 'U':
        return this.hex(8);
      case 't':
        return 9;
      case 'r':
        return 13;
      case 'n':
        return 10;
      case '\\':
      case '"':
      case '[':
      case ']':
      case '-':
        return e.codePointAt(0) as number;
      default:
        return this.fail('unknown escape', this.pos - 2);
    }
  }

  parse(): GbnfGrammar {
    this.skipSpace(true);
    while (this.pos < this.src.length) this.rule();
    for (const [name, at] of this.referenced) if (!this.rules.has(name)) this.fail(`undefined rule identifier '${name}'`, at);
    if (!this.rules.has('root')) throw new GbnfSyntaxError("the grammar has no 'root' rule (generation starts there)");
    return this.rules;
  }

  private rule(): void {
    const name = this.name();
    this.skipSpace(false);
    if (!this.src.startsWith('::=', this.pos)) this.fail('expecting ::=');
    this.pos += 3;
    this.skipSpace(true);
    const alternatives = this.alternatives(false);
    // As in llama.cpp, a later definition of a name replaces the earlier one.
    this.rules.set(name, alternatives);
    const c = this.src[this.pos];
    if (c === '\r') this.pos += this.src[this.pos + 1] === '\n' ? 2 : 1;
    else if (c === '\n') this.pos++;
    else if (c !== undefined) this.fail('expecting newline or end');
    this.skipSpace(true);
  }

  private alternatives(nested: boolean): GbnfSequence[] {
    const out = [this.sequence(nested)];
    while (this.src[this.pos] === '|') {
      this.pos++;
      this.skipSpace(true);
      out.push(this.sequence(nested));
    }
    return out;
  }

  private sequence(nested: boolean): GbnfSequence {
    const items: GbnfSequence = [];
    // llama.cpp: the rules a repetition of the previous item expands to, multiplied along the sequence.
    let previousRules = 1;
    for (;;) {
      const c = this.src[this.pos];
      const start = this.pos;
      if (c === '"') {
        this.pos++;
        const codePoints: number[] = [];
        while (this.src[this.pos] !== '"') codePoints.push(this.char());
        this.pos++;
        items.push({ term: { kind: 'literal', codePoints }, min: 1, max: 1 });
        previousRules = 1;
      } else if (c === '[') {
        this.pos++;
        const negated = this.src[this.pos] === '^';
        if (negated) this.pos++;
        const ranges: Array<[number, number]> = [];
        while (this.src[this.pos] !== ']') {
          const from = this.char();
          if (this.src[this.pos] === '-' && this.src[this.pos + 1] !== ']') {
            this.pos++;
            ranges.push([from, this.char()]);
          } else ranges.push([from, from]);
        }
        this.pos++;
        items.push({ term: { kind: 'class', negated, ranges }, min: 1, max: 1 });
        previousRules = 1;
      } else if (c === '<' || (c === '!' && this.src[this.pos + 1] === '<')) {
        this.fail('token references (<...>) are not supported by this server');
      } else if (isWordChar(c)) {
        const name = this.name();
        if (!this.referenced.has(name)) this.referenced.set(name, start);
        items.push({ term: { kind: 'ref', name }, min: 1, max: 1 });
        previousRules = 1;
      } else if (c === '(') {
        this.pos++;
        this.skipSpace(true);
        const alternatives = this.alternatives(true);
        if (this.src[this.pos] !== ')') this.fail("expecting ')'");
        this.pos++;
        items.push({ term: { kind: 'group', alternatives }, min: 1, max: 1 });
        previousRules = Math.max(1, 1 + generatedRules(alternatives));
      } else if (c === '.') {
        this.pos++;
        items.push({ term: { kind: 'any' }, min: 1, max: 1 });
        previousRules = 1;
      } else if (c === '*' || c === '+' || c === '?' || c === '{') {
        let last = items[items.length - 1];
        if (last === undefined) this.fail('expecting an item before */+/?/{');
        if (last.min !== 1 || last.max !== 1) {
          // A repetition of a repetition ("a"{2}?) applies to the repeated item as a whole.
          last = { term: { kind: 'group', alternatives: [[last]] }, min: 1, max: 1 };
          items[items.length - 1] = last;
        }
        let min: number;
        let max: number | undefined;
        if (c === '{') {
          this.pos++;
          this.skipSpace(nested);
          min = this.int();
          this.skipSpace(nested);
          if (this.src[this.pos] === '}') max = min;
          else if (this.src[this.pos] === ',') {
            this.pos++;
            this.skipSpace(nested);
            max = /\d/.test(this.src[this.pos] ?? '') ? this.int() : undefined;
            this.skipSpace(nested);
            if (this.src[this.pos] !== '}') this.fail("expecting '}'");
          } else this.fail("expecting ',' or '}'");
          if (min > repetitionThreshold) this.fail(`more than ${repetitionThreshold} repetitions`, start);
          if (max !== undefined && max < min) this.fail('a repetition whose maximum is below its minimum', start);
          // llama.cpp treats a maximum above the threshold as unbounded.
          if (max !== undefined && max > repetitionThreshold) max = undefined;
        } else [min, max] = c === '*' ? [0, undefined] : c === '+' ? [1, undefined] : [0, 1];
        this.pos++;
        const total = max !== undefined && max > 0 ? max : min > 0 ? min : 1;
        if (previousRules * total >= repetitionThreshold) {
          this.fail(
            `a repetition that expands to ${previousRules * total} rules (llama.cpp allows fewer than ${repetitionThreshold}); reduce the count or the repeated group`,
            start,
          );
        }
        previousRules *= total;
        last.min = min;
        last.max = max;
      } else break;
      this.skipSpace(nested);
    }
    return items;
  }
}

/** Rules llama.cpp synthesises for groups and repetitions inside `alternatives` (what its counter sees). */
function generatedRules(alternatives: GbnfSequence[]): number {
  let n = 0;
  for (const seq of alternatives) {
    for (const item of seq) {
      if (item.term.kind === 'group') n += 1 + generatedRules(item.term.alternatives);
      if (item.min !== 1 || item.max !== 1) n += item.max === undefined ? 1 : Math.max(item.max - item.min, 0);
    }
  }
  return n;
}

/** Rules that can match the empty string. */
function nullableRules(grammar: GbnfGrammar): Set<string> {
  const nullable = new Set<string>();
  const seqNullable = (seq: GbnfSequence): boolean => seq.every((item) => item.min === 0 || termNullable(item.term));
  const termNullable = (term: GbnfTerm): boolean =>
    term.kind === 'literal'
      ? term.codePoints.length === 0
      : term.kind === 'ref'
        ? nullable.has(term.name)
        : term.kind === 'group'
          ? term.alternatives.some(seqNullable)
          : false;
  for (let changed = true; changed;) {
    changed = false;
    for (const [name, alternatives] of grammar) {
      if (!nullable.has(name) && alternatives.some(seqNullable)) {
        nullable.add(name);
        changed = true;
      }
    }
  }
  return nullable;
}

/** The first rule found that can reach itself without consuming input (llama.cpp refuses such grammars). */
function leftRecursiveRule(grammar: GbnfGrammar): string | undefined {
  const nullable = nullableRules(grammar);
  const termNullable = (term: GbnfTerm): boolean =>
    term.kind === 'literal'
      ? term.codePoints.length === 0
      : term.kind === 'ref'
        ? nullable.has(term.name)
        : term.kind === 'group'
          ? term.alternatives.some((s) => s.every((i) => i.min === 0 || termNullable(i.term)))
          : false;
  const leftmost = (alternatives: GbnfSequence[], out: Set<string>) => {
    for (const seq of alternatives) {
      for (const item of seq) {
        if (item.term.kind === 'ref') out.add(item.term.name);
        if (item.term.kind === 'group') leftmost(item.term.alternatives, out);
        if (!(item.min === 0 || termNullable(item.term))) break;
      }
    }
  };
  const edges = new Map<string, Set<string>>();
  for (const [name, alternatives] of grammar) {
    const out = new Set<string>();
    leftmost(alternatives, out);
    edges.set(name, out);
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const dfs = (name: string): string | undefined => {
    if (state.get(name) === 'visiting') return name;
    if (state.get(name) === 'done') return undefined;
    state.set(name, 'visiting');
    for (const next of edges.get(name) ?? []) {
      const found = dfs(next);
      if (found !== undefined) return found;
    }
    state.set(name, 'done');
    return undefined;
  };
  for (const name of grammar.keys()) {
    const found = dfs(name);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Parses GBNF text; throws GbnfSyntaxError saying what is wrong and where. */
export function parseGbnf(text: string): GbnfGrammar {
  const grammar = new Parser(text).parse();
  const recursive = leftRecursiveRule(grammar);
  if (recursive !== undefined)
    throw new GbnfSyntaxError(`left recursion: rule '${recursive}' can reach itself without consuming input (llama.cpp refuses left-recursive grammars)`);
  return grammar;
}
