/**
 * GBNF for bounded numbers and for `multipleOf`, beyond llama.cpp (its converter builds ranges for
 * integers only and leaves `number` bounds as a TODO, `common/json-schema-to-grammar.cpp`).
 *
 * Numbers with bounds are written in plain decimal notation (no exponent), split into an integer part and
 * a fraction. For whole-number bounds the comparison only needs the integer part and whether the fraction
 * is zero: x >= L holds for every fraction once the integer part is >= L; x <= H holds for integer parts
 * below H with any fraction, and for H itself without a fraction; an exclusive bound moves the "any
 * fraction" range by one and allows the bound's own integer part with a non-zero fraction only. Bounds
 * that are not whole numbers are refused by the caller.
 *
 * `multipleOf` is expressible here when the value's digits can carry it:
 * - a power of ten below one (0.1, 0.01, ...): at most that many fraction digits;
 * - a whole number m: integers divisible by m, either listed (a finite range with few multiples) or
 *   recognised digit by digit by the remainder automaton (remainder r, digit d -> (10 r + d) mod m),
 *   one GBNF rule per remainder and number of digits left, capped at 15 digits so every value parses to
 *   exactly that integer in JavaScript (2^53 has 16 digits).
 */
import { gbnfLiteral, type GbnfRules } from './gbnf.js';
import { integerRangeGbnf } from './integer-range.js';

/** A bound on a number: its value and whether it is exclusive. */
export interface Bound {
  value: number;
  exclusive: boolean;
}

/** Fraction digits of an unconstrained number (llama.cpp's `decimal-part` allows 16). */
export const maxFractionDigits = 16;
/** Digits of a multiple recognised by the remainder automaton (exact in a JavaScript number). */
export const multipleDigits = 15;
/** Largest whole `multipleOf` for which the remainder automaton is built (rules: m x 15). */
export const maxAutomatonModulus = 100;
/** Most multiples listed one by one for a bounded range. */
export const maxListedMultiples = 1000;

const optionalFraction = (digits: number) => (digits === 0 ? '' : ` ("." [0-9]{1,${digits}})?`);
const nonZeroFraction = (digits: number) => (digits === 1 ? `"." [1-9]` : `"." [0-9]{0,${digits - 1}} [1-9]`);

/** Non-negative magnitudes y with low (<, <=) y (<, <=) high, whole-number endpoints; undefined if empty. */
function magnitude(low: Bound, high: Bound | undefined, fractionDigits: number): string | undefined {
  const alternatives: string[] = [];
  const anyFromInt = low.exclusive ? low.value + 1 : low.value;
  const anyToInt = high === undefined ? undefined : high.value - 1;
  if (anyToInt === undefined || anyFromInt <= anyToInt) {
    alternatives.push(`${integerRangeGbnf(anyFromInt, anyToInt) as string}${optionalFraction(fractionDigits)}`);
  }
  if (low.exclusive && fractionDigits > 0 && (high === undefined || high.value > low.value)) {
    alternatives.push(`${gbnfLiteral(String(low.value))} ${nonZeroFraction(fractionDigits)}`);
  }
  if (high !== undefined && !high.exclusive && (high.value > low.value || (high.value === low.value && !low.exclusive))) {
    alternatives.push(gbnfLiteral(String(high.value)));
  }
  return alternatives.length === 0 ? undefined : alternatives.join(' | ');
}

/**
 * Numbers (decimal notation) between whole-number bounds, with at most `fractionDigits` fraction digits
 * (0: whole numbers only). Returns undefined when no number qualifies.
 */
export function boundedNumberGbnf(min: Bound | undefined, max: Bound | undefined, fractionDigits: number): string | undefined {
  const parts: string[] = [];
  // x < 0: x = -y with y > 0; min (if negative) bounds y from above, max (if negative) from below.
  if (min === undefined || min.value < 0) {
    const low: Bound = max !== undefined && max.value < 0 ? { value: -max.value, exclusive: max.exclusive } : { value: 0, exclusive: true };
    const high: Bound | undefined = min === undefined ? undefined : { value: -min.value, exclusive: min.exclusive };
    const negative = magnitude(low, high, fractionDigits);
    if (negative !== undefined) parts.push(`"-" (${negative})`);
  }
  // x >= 0.
  if (max === undefined || max.value >= 0) {
    const low: Bound = min !== undefined && min.value >= 0 ? min : { value: 0, exclusive: false };
    const positive = magnitude(low, max, fractionDigits);
    if (positive !== undefined) parts.push(positive);
  }
  return parts.length === 0 ? undefined : `(${parts.join(' | ')})`;
}

/** The whole-number range [low, high] (either open) that integer bounds allow. */
export function integerLimits(min: Bound | undefined, max: Bound | undefined): { low?: number; high?: number } {
  const out: { low?: number; high?: number } = {};
  if (min !== undefined) out.low = min.exclusive ? Math.floor(min.value) + 1 : Math.ceil(min.value);
  if (max !== undefined) out.high = max.exclusive ? Math.ceil(max.value) - 1 : Math.floor(max.value);
  return out;
}

/**
 * Rule for the non-negative multiples of `modulus` in decimal (no leading zeros), at most
 * `multipleDigits` digits, added to `rules`; returns its name.
 */
function remainderAutomaton(rules: GbnfRules, modulus: number): string {
  const name = (remainder: number, left: number) => `mod${modulus}-r${remainder}-d${left}`;
  // state(r, k): the digits so far leave remainder r and at most k more digits may follow. A state is live
  // when some continuation ends on remainder 0; only live states and transitions into them are written.
  const live: boolean[][] = [Array.from({ length: modulus }, (_, r) => r === 0)];
  for (let left = 1; left < multipleDigits; left++) {
    const below = live[left - 1] as boolean[];
    live.push(Array.from({ length: modulus }, (_, r) => r === 0 || Array.from({ length: 10 }, (_, d) => below[(r * 10 + d) % modulus]).some(Boolean)));
  }
  const transitions = (r: number, left: number, digits: readonly number[]): string[] => {
    const byNext = new Map<number, number[]>();
    for (const d of digits) {
      const next = (r * 10 + d) % modulus;
      if (live[left - 1]?.[next] === true) byNext.set(next, [...(byNext.get(next) ?? []), d]);
    }
    return [...byNext].map(([next, ds]) => `[${ds.join('')}] ${name(next, left - 1)}`);
  };
  const allDigits = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  for (let left = 0; left < multipleDigits; left++) {
    for (let r = 0; r < modulus; r++) {
      if (live[left]?.[r] !== true) continue;
      const alternatives = [...(r === 0 ? [''] : []), ...(left > 0 ? transitions(r, left, allDigits) : [])];
      rules.set(name(r, left), alternatives.join(' | '));
    }
  }
  // The first digit is 1-9 (no leading zeros); "0" alone is the multiple zero.
  return rules.add(`mod${modulus}`, ['"0"', ...transitions(0, multipleDigits, allDigits.slice(1))].join(' | '));
}

/**
 * Integers that are multiples of `modulus` (a whole number >= 2) within [low, high] (either open), or a
 * string saying why they cannot be expressed. Undefined bounds are open.
 */
export function multipleOfIntegerGbnf(rules: GbnfRules, modulus: number, low: number | undefined, high: number | undefined): { gbnf: string } | { refused: string } {
  const multiplesIn = (from: number, to: number): number[] => {
    const out: number[] = [];
    for (let v = Math.ceil(from / modulus) * modulus; v <= to; v += modulus) out.push(v === 0 ? 0 : v);
    return out;
  };
  const listed = (values: number[]) => values.map((v) => gbnfLiteral(String(v)));
  if (low !== undefined && high !== undefined) {
    const count = Math.floor(high / modulus) - Math.ceil(low / modulus) + 1;
    if (count <= 0) return { refused: `no multiple of ${modulus} lies between the bounds` };
    if (count <= maxListedMultiples) return { gbnf: `(${listed(multiplesIn(low, high)).join(' | ')})` };
  }
  if (!Number.isInteger(modulus) || modulus > maxAutomatonModulus) {
    return { refused: `multipleOf ${modulus} with a range of more than ${maxListedMultiples} multiples; this server enumerates up to ${maxListedMultiples} multiples, or recognises multiples of whole numbers up to ${maxAutomatonModulus} when the range is open on the side away from zero` };
  }
  if (low !== undefined && high !== undefined) {
    return { refused: `multipleOf ${modulus} between ${low} and ${high}: more than ${maxListedMultiples} multiples to list, and the digit automaton cannot also enforce both bounds` };
  }
  const automaton = remainderAutomaton(rules, modulus);
  if (low === undefined && high === undefined) return { gbnf: `("-"? ${automaton})` };
  if (low !== undefined && low <= 0) {
    // Every non-negative multiple, plus the listed negative ones down to low.
    const negatives = low < 0 ? multiplesIn(low, -1) : [];
    if (negatives.length > maxListedMultiples) return { refused: `multipleOf ${modulus} with minimum ${low}: more than ${maxListedMultiples} negative multiples to list` };
    return { gbnf: `(${[automaton, ...listed(negatives)].join(' | ')})` };
  }
  if (high !== undefined && high >= 0) {
    const positives = high > 0 ? multiplesIn(1, high) : [];
    if (positives.length > maxListedMultiples) return { refused: `multipleOf ${modulus} with maximum ${high}: more than ${maxListedMultiples} positive multiples to list` };
    return { gbnf: `(${[`"-" ${automaton}`, ...listed(positives)].join(' | ')})` };
  }
  return {
    refused: `multipleOf ${modulus} with ${low !== undefined ? `minimum ${low}` : `maximum ${high}`}: the digit automaton enforces divisibility but not a bound that excludes zero; give both bounds (at most ${maxListedMultiples} multiples between them)`,
  };
}
