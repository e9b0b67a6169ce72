/**
 * GBNF for the decimal integers of a range, digit by digit, as llama.cpp's `build_min_max_int` does
 * (`common/json-schema-to-grammar.cpp`; expected grammars in `tests/test-json-schema-to-grammar.cpp`,
 * cases "min 0" ... "min -10 max 10"). The approach is the classic one for numeric ranges in regular
 * languages: split the range by number of digits, then at the first digit where the bounds differ take
 * the lower bound's digit followed by "at least the rest of the lower bound", the digits strictly between
 * followed by any digits, and the upper bound's digit followed by "at most the rest of the upper bound".
 *
 * Numbers are written without leading zeros and without "-0", as JSON requires. Like llama.cpp's
 * `integral-part`, an open range stops at 16 digits.
 */
import { gbnfLiteral } from './gbnf.js';

/** Most digits of an integer without an upper bound (llama.cpp's `integral-part` allows 16). */
export const maxIntegerDigits = 16;

const digitClass = (from: number, to: number) => (from === to ? `[${from}]` : `[${from}-${to}]`);
const anyDigits = (n: number) => (n === 0 ? '' : n === 1 ? '[0-9]' : `[0-9]{${n}}`);

/** Strings of digits of equal length (leading zeros allowed) from `low` to `high`, as GBNF alternatives. */
function sameLength(low: string, high: string): string {
  if (low === high) return gbnfLiteral(low);
  let i = 0;
  while (low[i] === high[i]) i++;
  const prefix = i > 0 ? `${gbnfLiteral(low.slice(0, i))} ` : '';
  const a = Number(low[i]);
  const b = Number(high[i]);
  const rest = low.length - i - 1;
  if (rest === 0) return `${prefix}${digitClass(a, b)}`;
  const lowTail = low.slice(i + 1);
  const highTail = high.slice(i + 1);
  const zeros = '0'.repeat(rest);
  const nines = '9'.repeat(rest);
  const alternatives: string[] = [];
  let start = a;
  let end = b;
  if (lowTail !== zeros) {
    alternatives.push(`[${a}] (${sameLength(lowTail, nines)})`);
    start = a + 1;
  }
  if (highTail !== nines) end = b - 1;
  if (start <= end) alternatives.push(`${digitClass(start, end)} ${anyDigits(rest)}`);
  if (highTail !== nines) alternatives.push(`[${b}] (${sameLength(zeros, highTail)})`);
  const body = alternatives.join(' | ');
  return prefix === '' ? body : `${prefix}(${body})`;
}

/** Non-negative integers from `low` to `high` (undefined: up to `maxIntegerDigits` digits), as GBNF. */
function nonNegative(low: number, high: number | undefined): string {
  const lowDigits = String(low).length;
  const highDigits = high === undefined ? maxIntegerDigits : String(high).length;
  const alternatives: string[] = [];
  for (let digits = lowDigits; digits <= highDigits; digits++) {
    if (high === undefined && digits > lowDigits) {
      // Every longer number qualifies: one alternative for all remaining lengths.
      alternatives.push(digits === maxIntegerDigits ? `[1-9] ${anyDigits(digits - 1)}` : `[1-9] [0-9]{${digits - 1},${maxIntegerDigits - 1}}`);
      break;
    }
    const from = digits === lowDigits ? String(low) : `1${'0'.repeat(digits - 1)}`;
    const to = high !== undefined && digits === highDigits ? String(high) : '9'.repeat(digits);
    alternatives.push(sameLength(from, to));
  }
  return alternatives.join(' | ');
}

/**
 * GBNF (a parenthesised alternation) for the integers from `min` to `max` inclusive; either may be
 * undefined (open). Bounds must be safe integers with at most 15 digits; returns undefined when the range
 * is empty.
 */
export function integerRangeGbnf(min: number | undefined, max: number | undefined): string | undefined {
  const parts: string[] = [];
  // Negative numbers: "-" and a magnitude from max(1, -max) to -min.
  if (min === undefined || min < 0) {
    const low = max !== undefined && max < 0 ? -max : 1;
    const high = min === undefined ? undefined : -min;
    if (high === undefined || low <= high) parts.push(`"-" (${nonNegative(low, high)})`);
  }
  if (max === undefined || max >= 0) {
    const low = Math.max(0, min ?? 0);
    if (max === undefined || low <= max) parts.push(nonNegative(low, max));
  }
  return parts.length === 0 ? undefined : `(${parts.join(' | ')})`;
}
