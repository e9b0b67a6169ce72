/**
 * GBNF for bounded numbers and for `multipleOf`, beyond llama.cpp (its converter builds ranges for
 * integers only and leaves `number` bounds as a TODO, `common/json-schema-to-grammar.cpp`).
 *
 * Numbers with bounds are written in plain decimal notation (no exponent), split into an integer part and
 * fraction digits. Against a bound B = Bi.Bf, a value I.F compares by its integer part first: I strictly
 * between the bounds' integer parts allows any fraction; I equal to a bound's integer part needs F
 * compared digit by digit with Bf (the `fractions` automaton). Where a value is close enough to a bound
 * for binary rounding to matter, it has at most 15 significant digits (float64 keeps 15 decimal digits
 * exactly, so the parsed value compares with the bound as the decimal does); bounds need the same.
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

/** Significant digits a JSON number may have here: float64 keeps 15 exactly (DBL_DIG), so comparisons hold. */
export const maxSignificantDigits = 15;

/** A bound on the fraction digits f, as 0.f compared with 0.digits (trailing zeros dropped). */
interface FractionBound {
  digits: string;
  strict: boolean;
}

/** The fraction digits strings f (0 to `left` digits; empty = no fraction) a pair of fraction bounds allows. */
interface FractionLanguage {
  /** The empty fraction (the number is written without "."). */
  empty: boolean;
  /** GBNF for the non-empty fraction digit strings, or undefined if there are none. */
  nonEmpty: string | undefined;
}

const trimZeros = (digits: string) => digits.replace(/0+$/, '');

/**
 * Digit strings f with low <= 0.f <= high (strict where the bound says), at most `left` digits, built digit
 * by digit: a digit above the lower bound's digit frees the rest from that bound, an equal one carries it
 * to the next digit, a lower one is impossible (mirrored for the upper bound).
 */
function fractions(low: FractionBound | undefined, high: FractionBound | undefined, left: number): FractionLanguage {
  if (high !== undefined && high.digits === '' && high.strict) return { empty: false, nonEmpty: undefined }; // 0.f < 0
  const empty = low === undefined || (low.digits === '' && !low.strict);
  if (left === 0) return { empty, nonEmpty: undefined };
  if (low === undefined && high === undefined) return { empty, nonEmpty: `[0-9]{1,${left}}` };
  const next = (bound: FractionBound | undefined, d: number, lower: boolean): FractionBound | undefined | 'dead' => {
    if (bound === undefined) return undefined;
    if (bound.digits === '') {
      // The rest compares with 0: a lower bound ">= 0" holds, "> 0" holds once a digit is not 0; an upper
      // bound "<= 0" allows only zeros.
      if (lower) return bound.strict && d === 0 ? bound : undefined;
      return d === 0 ? bound : 'dead';
    }
    const b = Number(bound.digits[0]);
    if (d === b) return { digits: trimZeros(bound.digits.slice(1)), strict: bound.strict };
    return (lower ? d > b : d < b) ? undefined : 'dead';
  };
  const groups = new Map<string, { digits: number[]; low: FractionBound | undefined; high: FractionBound | undefined }>();
  for (let d = 0; d <= 9; d++) {
    const l = next(low, d, true);
    const h = next(high, d, false);
    if (l === 'dead' || h === 'dead') continue;
    const key = JSON.stringify([l, h]);
    const group = groups.get(key) ?? { digits: [], low: l, high: h };
    group.digits.push(d);
    groups.set(key, group);
  }
  const alternatives: string[] = [];
  for (const group of groups.values()) {
    const rest = fractions(group.low, group.high, left - 1);
    if (!rest.empty && rest.nonEmpty === undefined) continue;
    const cls = `[${group.digits.join('')}]`;
    alternatives.push(rest.nonEmpty === undefined ? cls : `${cls} (${rest.nonEmpty})${rest.empty ? '?' : ''}`);
  }
  return { empty, nonEmpty: alternatives.length === 0 ? undefined : alternatives.join(' | ') };
}

/** A decimal bound split into its integer part and fraction digits (no exponent: the caller checked). */
function splitDecimal(value: number): { int: number; fraction: string } {
  const [int, fraction = ''] = String(value).split('.');
  return { int: Number(int), fraction: trimZeros(fraction) };
}

const digitsOf = (n: number) => String(n).length;

/** "I" or "I.F" for the integer-part GBNF `int` and the fraction language (undefined if none is possible). */
function withFraction(int: string, fraction: FractionLanguage): string | undefined {
  if (fraction.nonEmpty === undefined) return fraction.empty ? int : undefined;
  return `${int} ("." (${fraction.nonEmpty}))${fraction.empty ? '?' : ''}`;
}

/**
 * Non-negative magnitudes y with low (<, <=) y (<, <=) high, in decimal notation with at most
 * `fractionDigits` fraction digits and at most 15 significant digits wherever y is close enough to a
 * bound for rounding to matter. Undefined if none.
 */
function magnitude(low: Bound, high: Bound | undefined, fractionDigits: number): string | undefined {
  const lo = splitDecimal(low.value);
  const hi = high === undefined ? undefined : splitDecimal(high.value);
  const cap = (intDigits: number) => Math.min(fractionDigits, Math.max(0, maxSignificantDigits - intDigits));
  const lowBound: FractionBound = { digits: lo.fraction, strict: low.exclusive };
  const highBound: FractionBound | undefined = hi === undefined || high === undefined ? undefined : { digits: hi.fraction, strict: high.exclusive };
  const alternatives: string[] = [];
  const add = (gbnf: string | undefined) => {
    if (gbnf !== undefined) alternatives.push(gbnf);
  };
  if (hi !== undefined && hi.int === lo.int) {
    add(withFraction(gbnfLiteral(String(lo.int)), fractions(lowBound, highBound, cap(digitsOf(lo.int)))));
    return alternatives.length === 0 ? undefined : alternatives.join(' | ');
  }
  if (hi !== undefined && hi.int < lo.int) return undefined;
  // The lower bound's own integer part, with a fraction at least the bound's.
  add(withFraction(gbnfLiteral(String(lo.int)), fractions(lowBound, undefined, cap(digitsOf(lo.int)))));
  // Integer parts strictly between: any fraction (capped so a value just below the upper bound cannot round onto it).
  const anyTo = hi === undefined ? undefined : hi.int - 1;
  if (anyTo === undefined || lo.int + 1 <= anyTo) {
    add(
      withFraction(integerRangeGbnf(lo.int + 1, anyTo) as string, fractions(undefined, undefined, hi === undefined ? fractionDigits : cap(digitsOf(hi.int)))),
    );
  }
  // The upper bound's own integer part, with a fraction at most the bound's.
  if (hi !== undefined) add(withFraction(gbnfLiteral(String(hi.int)), fractions(undefined, highBound, cap(digitsOf(hi.int)))));
  return alternatives.length === 0 ? undefined : alternatives.join(' | ');
}

/**
 * Numbers (decimal notation) between decimal bounds, with at most `fractionDigits` fraction digits
 * (0: whole numbers only). Bounds must be written without exponent with at most 15 significant digits
 * (the caller checks). Returns undefined when no number qualifies.
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
function remainderAutomaton(rules: GbnfRules, modulus: number, minDigits = 1): string {
  const prefix = minDigits === 1 ? `mod${modulus}` : `mod${modulus}-min${minDigits}`;
  const name = (remainder: number, left: number) => `${prefix}-r${remainder}-d${left}`;
  // state(r, k): the digits so far leave remainder r and at most k more digits may follow (so
  // multipleDigits - k have been written). It may end when r is 0 and at least minDigits were written. A
  // state is live when some continuation may end; only live states and transitions into them are written.
  const mayEnd = (r: number, left: number) => r === 0 && multipleDigits - left >= minDigits;
  const live: boolean[][] = [Array.from({ length: modulus }, (_, r) => mayEnd(r, 0))];
  for (let left = 1; left < multipleDigits; left++) {
    const below = live[left - 1] as boolean[];
    live.push(Array.from({ length: modulus }, (_, r) => mayEnd(r, left) || Array.from({ length: 10 }, (_, d) => below[(r * 10 + d) % modulus]).some(Boolean)));
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
      const alternatives = [...(mayEnd(r, left) ? [''] : []), ...(left > 0 ? transitions(r, left, allDigits) : [])];
      rules.set(name(r, left), alternatives.join(' | '));
    }
  }
  // The first digit is 1-9 (no leading zeros); "0" alone is the multiple zero.
  return rules.add(prefix, [...(minDigits === 1 ? ['"0"'] : []), ...transitions(0, multipleDigits, allDigits.slice(1))].join(' | '));
}

/**
 * Integers that are multiples of `modulus` (a whole number >= 2) within [low, high] (either open), or a
 * string saying why they cannot be expressed. Undefined bounds are open.
 */
export function multipleOfIntegerGbnf(
  rules: GbnfRules,
  modulus: number,
  low: number | undefined,
  high: number | undefined,
): { gbnf: string } | { refused: string } {
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
    return {
      refused: `multipleOf ${modulus} with a range of more than ${maxListedMultiples} multiples; this server enumerates up to ${maxListedMultiples} multiples, or recognises multiples of whole numbers up to ${maxAutomatonModulus} when the range is open on the side away from zero`,
    };
  }
  if (low !== undefined && high !== undefined) {
    return {
      refused: `multipleOf ${modulus} between ${low} and ${high}: more than ${maxListedMultiples} multiples to list, and the digit automaton cannot also enforce both bounds`,
    };
  }
  const automaton = remainderAutomaton(rules, modulus);
  if (low === undefined && high === undefined) return { gbnf: `("-"? ${automaton})` };
  if (low !== undefined && low <= 0) {
    // Every non-negative multiple, plus the listed negative ones down to low.
    const negatives = low < 0 ? multiplesIn(low, -1) : [];
    if (negatives.length > maxListedMultiples)
      return { refused: `multipleOf ${modulus} with minimum ${low}: more than ${maxListedMultiples} negative multiples to list` };
    return { gbnf: `(${[automaton, ...listed(negatives)].join(' | ')})` };
  }
  if (high !== undefined && high >= 0) {
    const positives = high > 0 ? multiplesIn(1, high) : [];
    if (positives.length > maxListedMultiples)
      return { refused: `multipleOf ${modulus} with maximum ${high}: more than ${maxListedMultiples} positive multiples to list` };
    return { gbnf: `(${[`"-" ${automaton}`, ...listed(positives)].join(' | ')})` };
  }
  // A bound away from zero (minimum 1, maximum -10): magnitudes with as many digits as the bound are
  // listed, longer ones come from the automaton with a minimum length.
  const magnitude = low !== undefined ? low : -(high as number);
  const digits = String(magnitude).length;
  const sameLength = multiplesIn(magnitude, 10 ** digits - 1);
  if (sameLength.length > maxListedMultiples || digits >= multipleDigits) {
    return {
      refused: `multipleOf ${modulus} with ${low !== undefined ? `minimum ${low}` : `maximum ${high}`}: more than ${maxListedMultiples} multiples of the bound's length to list`,
    };
  }
  const longer = remainderAutomaton(rules, modulus, digits + 1);
  const positive = `(${[longer, ...listed(sameLength)].join(' | ')})`;
  return { gbnf: low !== undefined ? positive : `("-" ${positive})` };
}
