/**
 * Building blocks of GBNF text (llama.cpp's grammar format, `grammars/README.md` in ggml-org/llama.cpp):
 * literals, character classes over code-point ranges, bounded repetition, and a rule set that names rules.
 *
 * Limits follow llama.cpp's parser (`src/llama-grammar.cpp`): a repetition `{m,n}` is expanded into up to
 * n rules, and a bound above `MAX_REPETITION_THRESHOLD` (2000) is an error (min) or silently becomes
 * "unbounded" (max); the converter therefore never writes a bound above `maxRepetition`.
 */

/** Largest repetition bound the converter writes (half of llama.cpp's MAX_REPETITION_THRESHOLD, 2000). */
export const maxRepetition = 1000;

/** An inclusive range of Unicode code points. */
export type CodeRange = readonly [number, number];

function escapeLiteralChar(ch: string): string {
  switch (ch) {
    case '"':
      return '\\"';
    case '\\':
      return '\\\\';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default: {
      const code = ch.codePointAt(0) as number;
      return code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : ch;
    }
  }
}

/** A GBNF string literal matching exactly `text`. */
export function gbnfLiteral(text: string): string {
  let out = '"';
  for (const ch of text) out += escapeLiteralChar(ch);
  return `${out}"`;
}

function classChar(code: number): string {
  const ch = String.fromCodePoint(code);
  if (/^[A-Za-z0-9 ]$/.test(ch)) return ch;
  if (code <= 0xff) return `\\x${code.toString(16).toUpperCase().padStart(2, '0')}`;
  if (code <= 0xffff) return `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return `\\U${code.toString(16).toUpperCase().padStart(8, '0')}`;
}

/** Sorted, merged copy of `ranges`. */
export function normaliseRanges(ranges: readonly CodeRange[]): CodeRange[] {
  const sorted = [...ranges].filter(([a, b]) => a <= b).sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** `universe` minus `ranges` (both as code-point ranges). */
export function subtractRanges(universe: readonly CodeRange[], ranges: readonly CodeRange[]): CodeRange[] {
  let current = normaliseRanges(universe);
  for (const [a, b] of normaliseRanges(ranges)) {
    const next: CodeRange[] = [];
    for (const [x, y] of current) {
      if (b < x || a > y) next.push([x, y]);
      else {
        if (x < a) next.push([x, a - 1]);
        if (b < y) next.push([b + 1, y]);
      }
    }
    current = next;
  }
  return current;
}

/** A GBNF character class matching one code point of `ranges` (which must not be empty). */
export function gbnfCharClass(ranges: readonly CodeRange[]): string {
  const merged = normaliseRanges(ranges);
  if (merged.length === 0) throw new Error('empty character class');
  return `[${merged.map(([a, b]) => (a === b ? classChar(a) : `${classChar(a)}-${classChar(b)}`)).join('')}]`;
}

/**
 * `item` repeated min..max times (max undefined = unbounded), items separated by `separator` if given.
 * Written with GBNF's own `{m,n}`, `*`, `+` and `?`. `item` must be a single GBNF term (a rule name,
 * literal, class or parenthesised group).
 */
export function gbnfRepeat(item: string, min: number, max: number | undefined, separator?: string): string {
  if (max === 0) return '';
  if (separator === undefined) {
    if (max === undefined) return min === 0 ? `${item}*` : min === 1 ? `${item}+` : `${item}{${min},}`;
    if (min === 0 && max === 1) return `${item}?`;
    if (min === max) return min === 1 ? item : `${item}{${min}}`;
    return `${item}{${min},${max}}`;
  }
  const rest = gbnfRepeat(`(${separator} ${item})`, Math.max(min - 1, 0), max === undefined ? undefined : max - 1);
  const body = rest === '' ? item : `${item} ${rest}`;
  return min === 0 ? `(${body})?` : body;
}

/** GBNF rule names are `[a-zA-Z0-9-]+` (llama.cpp `is_word_char`). */
function ruleName(hint: string): string {
  const cleaned = hint.replace(/[^a-zA-Z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  return cleaned === '' ? 'r' : cleaned;
}

/**
 * The rules of one grammar. `add` returns the name the rule got: the hint when free or already holding
 * the same body, else the hint with a number appended, so equal sub-schemas share a rule.
 */
export class GbnfRules {
  private readonly rules = new Map<string, string>();

  add(hint: string, body: string): string {
    const base = ruleName(hint);
    for (let i = 0; ; i++) {
      const name = i === 0 ? base : `${base}${i}`;
      const existing = this.rules.get(name);
      if (existing === undefined) {
        this.rules.set(name, body);
        return name;
      }
      if (existing === body) return name;
    }
  }

  /** Reserve `name` for a rule whose body is set later (recursive references). */
  reserve(hint: string): string {
    const base = ruleName(hint);
    for (let i = 0; ; i++) {
      const name = i === 0 ? base : `${base}${i}`;
      if (!this.rules.has(name)) {
        this.rules.set(name, '');
        return name;
      }
    }
  }

  set(name: string, body: string): void {
    this.rules.set(name, body);
  }

  has(name: string): boolean {
    return this.rules.has(name);
  }

  /** The grammar text, `root` first, then the other rules in name order. */
  text(): string {
    const names = [...this.rules.keys()].sort((a, b) => (a === 'root' ? -1 : b === 'root' ? 1 : a < b ? -1 : a > b ? 1 : 0));
    // An empty body would let the parser read the next line as part of this rule.
    return names.map((n) => `${n} ::= ${this.rules.get(n) || '""'}`).join('\n') + '\n';
  }
}
