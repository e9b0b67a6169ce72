/**
 * JSON Schema `pattern` (an ECMA-262 regular expression, unanchored) -> GBNF for the content of a JSON
 * string.
 *
 * Modelled on llama.cpp's `_pattern_to_rule` (`common/json-schema-to-grammar.cpp`; cases "simple regexp",
 * "regexp escapes", "regexp quote", "regexp" in `tests/test-json-schema-to-grammar.cpp`): literals,
 * `.`, character classes, groups `( )` and `(?: )`, alternation, and the quantifiers `* + ? {n} {n,}
 * {n,m}`. Differences, each because the llama.cpp behaviour would let invalid output through:
 * - llama.cpp accepts any string for a pattern that is not wrapped in `^...$`; here an unanchored side
 *   means what JSON Schema says, "may be preceded / followed by anything", and is generated as such.
 * - Characters that JSON must escape (`"`, `\`, control characters) are generated in their escaped form,
 *   so the output stays valid JSON whose decoded string matches the pattern (llama.cpp's `.` would emit a
 *   raw `"` or control character).
 * - `\d \w \s` and their negations are supported (llama.cpp's current version refuses them).
 * Lookaround, backreferences, word boundaries, Unicode property escapes and anchors inside the pattern
 * have no grammar equivalent and are refused.
 */
import { gbnfCharClass, gbnfLiteral, maxRepetition, subtractRanges, type CodeRange, type GbnfRules } from './gbnf.js';

/** Thrown for a pattern this converter cannot express; `message` says what in the pattern. */
export class PatternNotExpressible extends Error {}

const allCodePoints: CodeRange[] = [
  [0, 0xd7ff],
  [0xe000, 0x10ffff],
];
const digit: CodeRange[] = [[0x30, 0x39]];
const word: CodeRange[] = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
// ECMA-262 WhiteSpace and LineTerminator code points.
const space: CodeRange[] = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
];
const lineTerminators: CodeRange[] = [
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
];
const shortEscapes: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** How a code point appears inside a JSON string (escaped where JSON requires it). */
export function jsonStringText(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    out += shortEscapes[ch] ?? (code < 0x20 ? `\\u${code.toString(16).padStart(4, '0')}` : ch);
  }
  return out;
}

/** A GBNF term for one code point of `ranges`, written as it appears inside a JSON string. */
export function jsonCharsTerm(ranges: readonly CodeRange[]): string {
  const raw = subtractRanges(ranges, [
    [0, 0x1f],
    [0x22, 0x22],
    [0x5c, 0x5c],
  ]);
  const escaped = subtractRanges(
    ranges,
    subtractRanges(allCodePoints, [
      [0, 0x1f],
      [0x22, 0x22],
      [0x5c, 0x5c],
    ]),
  );
  const alternatives: string[] = [];
  if (raw.length > 0) alternatives.push(gbnfCharClass(raw));
  for (const [a, b] of escaped) for (let c = a; c <= b; c++) alternatives.push(gbnfLiteral(jsonStringText(String.fromCodePoint(c))));
  if (alternatives.length === 0) throw new PatternNotExpressible('a character class that matches no character');
  return alternatives.length === 1 ? (alternatives[0] as string) : `(${alternatives.join(' | ')})`;
}

type Node =
  | { kind: 'chars'; ranges: CodeRange[] }
  | { kind: 'literal'; text: string }
  | { kind: 'seq'; items: Node[] }
  | { kind: 'alt'; options: Node[] }
  | { kind: 'repeat'; item: Node; min: number; max: number | undefined };

class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  private peek(): string | undefined {
    return this.src[this.i];
  }

  private fail(what: string): never {
    throw new PatternNotExpressible(`${what} at offset ${this.i}`);
  }

  /** The whole pattern: top-level alternatives, each with its own optional `^` and `$`. */
  parseTop(): Array<{ node: Node; start: boolean; end: boolean }> {
    const out: Array<{ node: Node; start: boolean; end: boolean }> = [];
    for (;;) {
      const start = this.peek() === '^';
      if (start) this.i++;
      const node = this.parseSeq(true);
      let end = false;
      if (this.peek() === '$') {
        end = true;
        this.i++;
      }
      out.push({ node, start, end });
      if (this.i >= this.src.length) return out;
      if (this.peek() === '|') this.i++;
      else if (this.peek() === ')') this.fail('unbalanced ")"');
      else this.fail(`anchor "${this.peek() as string}" inside the pattern`);
    }
  }

  private parseAlt(): Node {
    const options = [this.parseSeq(false)];
    while (this.peek() === '|') {
      this.i++;
      options.push(this.parseSeq(false));
    }
    return options.length === 1 ? (options[0] as Node) : { kind: 'alt', options };
  }

  private parseSeq(topLevel: boolean): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === '|' || c === ')') break;
      if (c === '$' && topLevel) {
        const next = this.src[this.i + 1];
        if (next === undefined || next === '|') break;
      }
      if (c === '^' || c === '$') this.fail(`anchor "${c}" inside the pattern`);
      const atom = this.parseAtom();
      items.push(this.parseQuantifier(atom));
    }
    return items.length === 1 ? (items[0] as Node) : { kind: 'seq', items };
  }

  private parseQuantifier(atom: Node): Node {
    const c = this.peek();
    let min: number;
    let max: number | undefined;
    if (c === '*') [min, max] = [0, undefined];
    else if (c === '+') [min, max] = [1, undefined];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
      if (m === null) return atom; // a literal "{", as in ECMA-262 Annex B
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? undefined : Number(m[3]);
      if (max !== undefined && max < min) this.fail(`quantifier {${min},${max}} with max below min`);
      if (min > maxRepetition || (max !== undefined && max > maxRepetition)) this.fail(`repetition count above ${maxRepetition}`);
      this.i += m[0].length - 1;
    } else return atom;
    this.i++;
    if (this.peek() === '?') this.i++; // lazy: same language
    const next = this.peek();
    if (next === '*' || next === '+' || next === '?' || (next === '{' && /^\{\d+(,\d*)?\}/.test(this.src.slice(this.i))))
      this.fail('a quantifier directly after another');
    return { kind: 'repeat', item: atom, min, max };
  }

  private parseAtom(): Node {
    const c = this.peek() as string;
    if (c === '(') {
      this.i++;
      if (this.peek() === '?') {
        const rest = this.src.slice(this.i);
        if (rest.startsWith('?:')) this.i += 2;
        else if (/^\?<[A-Za-z_$][\w$]*>/.test(rest)) this.i = this.src.indexOf('>', this.i) + 1;
        else this.fail('lookaround or inline-flag group "(?"');
      }
      const inner = this.parseAlt();
      if (this.peek() !== ')') this.fail('unbalanced "("');
      this.i++;
      return inner;
    }
    if (c === '[') return this.parseClass();
    if (c === '.') {
      this.i++;
      return { kind: 'chars', ranges: subtractRanges(allCodePoints, lineTerminators) };
    }
    if (c === '\\') return this.parseEscape(false);
    if (c === '*' || c === '+' || c === '?') this.fail(`nothing to repeat before "${c}"`);
    const cp = this.src.codePointAt(this.i) as number;
    this.i += cp > 0xffff ? 2 : 1;
    return { kind: 'literal', text: String.fromCodePoint(cp) };
  }

  /** After a backslash: a class escape (\d ...) or one code point. */
  private parseEscape(inClass: boolean): Node {
    this.i++;
    const c = this.peek();
    if (c === undefined) this.fail('trailing backslash');
    this.i++;
    const single = (code: number): Node => ({ kind: 'chars', ranges: [[code, code]] });
    switch (c) {
      case 'd':
        return { kind: 'chars', ranges: digit };
      case 'D':
        return { kind: 'chars', ranges: subtractRanges(allCodePoints, digit) };
      case 'w':
        return { kind: 'chars', ranges: word };
      case 'W':
        return { kind: 'chars', ranges: subtractRanges(allCodePoints, word) };
      case 's':
        return { kind: 'chars', ranges: space };
      case 'S':
        return { kind: 'chars', ranges: subtractRanges(allCodePoints, space) };
      case 't':
        return single(9);
      case 'n':
        return single(10);
      case 'v':
        return single(11);
      case 'f':
        return single(12);
      case 'r':
        return single(13);
      case '0':
        if (/[0-9]/.test(this.peek() ?? '')) this.fail('octal escape');
        return single(0);
      case 'b':
        if (inClass) return single(8);
        return this.fail('word boundary "\\b"');
      case 'x': {
        const m = /^[0-9a-fA-F]{2}/.exec(this.src.slice(this.i));
        if (m === null) this.fail('"\\x" without two hex digits');
        this.i += 2;
        return single(parseInt(m[0], 16));
      }
      case 'u': {
        const braced = /^\{([0-9a-fA-F]{1,6})\}/.exec(this.src.slice(this.i));
        const plain = /^[0-9a-fA-F]{4}/.exec(this.src.slice(this.i));
        const m = braced ?? plain;
        if (m === null) this.fail('"\\u" without four hex digits');
        this.i += m[0].length;
        const code = parseInt(braced !== null ? (braced[1] as string) : m[0], 16);
        if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) this.fail('"\\u" escape of a surrogate or beyond U+10FFFF');
        return single(code);
      }
      case 'p':
      case 'P':
        return this.fail(`Unicode property escape "\\${c}"`);
      case 'B':
        return this.fail('non-word-boundary "\\B"');
      case 'c':
        return this.fail('control escape "\\c"');
      case 'k':
        return this.fail('backreference "\\k"');
      default:
        if (/[1-9]/.test(c)) this.fail(`backreference "\\${c}"`);
        if (/[A-Za-z]/.test(c)) this.fail(`unknown escape "\\${c}"`);
        return single(c.codePointAt(0) as number);
    }
  }

  private parseClass(): Node {
    this.i++;
    const negated = this.peek() === '^';
    if (negated) this.i++;
    const ranges: CodeRange[] = [];
    let first = true;
    const member = (): CodeRange[] | number => {
      if (this.peek() === '\\') {
        const node = this.parseEscape(true);
        const r = (node as { ranges: CodeRange[] }).ranges;
        return r.length === 1 && (r[0] as CodeRange)[0] === (r[0] as CodeRange)[1] ? (r[0] as CodeRange)[0] : r;
      }
      const cp = this.src.codePointAt(this.i) as number;
      this.i += cp > 0xffff ? 2 : 1;
      return cp;
    };
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail('unterminated character class');
      if (c === ']' && !first) break;
      if (c === ']' && first) {
        // "[]" matches nothing and "[^]" anything in ECMA-262.
        break;
      }
      first = false;
      const from = member();
      if (this.peek() === '-' && this.src[this.i + 1] !== ']' && this.src[this.i + 1] !== undefined) {
        this.i++;
        const to = member();
        if (typeof from !== 'number' || typeof to !== 'number') this.fail('a range with a class escape as an end');
        if (to < from) this.fail('a character range out of order');
        ranges.push([from, to]);
      } else if (typeof from === 'number') ranges.push([from, from]);
      else ranges.push(...from);
    }
    this.i++;
    const set = negated ? subtractRanges(allCodePoints, ranges) : ranges;
    if (set.length === 0) this.fail('a character class that matches no character');
    return { kind: 'chars', ranges: set };
  }
}

/** GBNF for a node, as a single term (rule name, literal, class or parenthesised group). */
function emit(node: Node, rules: GbnfRules, hint: string): string {
  switch (node.kind) {
    case 'literal':
      return gbnfLiteral(jsonStringText(node.text));
    case 'chars':
      return jsonCharsTerm(node.ranges);
    case 'seq': {
      // Merge runs of literals, as llama.cpp's join_seq does.
      const parts: string[] = [];
      let text = '';
      for (const item of node.items) {
        if (item.kind === 'literal') text += item.text;
        else {
          if (text !== '') parts.push(gbnfLiteral(jsonStringText(text)));
          text = '';
          parts.push(emit(item, rules, hint));
        }
      }
      if (text !== '') parts.push(gbnfLiteral(jsonStringText(text)));
      return parts.length === 1 ? (parts[0] as string) : `(${parts.join(' ')})`;
    }
    case 'alt':
      return `(${node.options.map((o) => (o.kind === 'seq' && o.items.length === 0 ? '""' : emit(o, rules, hint))).join(' | ')})`;
    case 'repeat': {
      const inner = emit(node.item, rules, hint);
      // A repeated group becomes a rule of its own: llama.cpp's parser multiplies the rules a repeated
      // group expands to by the repetition count and refuses products of 2000 and more.
      const term = inner.startsWith('(') ? rules.add(`${hint}-part`, inner) : inner;
      if (node.max === undefined) return node.min === 0 ? `${term}*` : node.min === 1 ? `${term}+` : `${term}{${node.min},}`;
      if (node.min === 0 && node.max === 1) return `${term}?`;
      if (node.min === node.max) return `${term}{${node.min}}`;
      return `${term}{${node.min},${node.max}}`;
    }
  }
}

/**
 * GBNF (one term) for the JSON-escaped content of strings matching `pattern` (without the quotes).
 * `anyChar` is the rule for one JSON string character, used for the unanchored sides.
 */
export function patternGbnf(pattern: string, rules: GbnfRules, hint: string, anyChar: string): string {
  const top = new Parser(pattern).parseTop();
  const alternatives = top.map(({ node, start, end }) => {
    const isEmpty = node.kind === 'seq' && node.items.length === 0;
    const parts = [...(start ? [] : [`${anyChar}*`]), ...(isEmpty ? [] : [emit(node, rules, hint)]), ...(end ? [] : [`${anyChar}*`])];
    return parts.length === 0 ? '""' : parts.join(' ');
  });
  return alternatives.length === 1 ? `(${alternatives[0] as string})` : `(${alternatives.join(' | ')})`;
}
