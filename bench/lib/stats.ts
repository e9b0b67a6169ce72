/** Small statistics helpers; every function ignores non-finite samples. */

const finite = (xs: readonly number[]): number[] => xs.filter((x) => Number.isFinite(x));

/** Linear-interpolated percentile (p in 0..100) of the finite samples; NaN when there are none. */
export function percentile(xs: readonly number[], p: number): number {
  const s = finite(xs).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  if (s.length === 1) return s[0] as number;
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = s[lo] as number;
  const b = s[hi] as number;
  return a + (b - a) * (rank - lo);
}

export const median = (xs: readonly number[]): number => percentile(xs, 50);

export const max = (xs: readonly number[]): number => {
  const f = finite(xs);
  return f.length === 0 ? Number.NaN : Math.max(...f);
};

export const min = (xs: readonly number[]): number => {
  const f = finite(xs);
  return f.length === 0 ? Number.NaN : Math.min(...f);
};

/** Rounds to `digits` decimals; NaN / Infinity become null so JSON stays valid and explicit. */
export function round(x: number, digits = 2): number | null {
  if (!Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** a / b, or NaN when either is missing or b is 0. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN;
}
