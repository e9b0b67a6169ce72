/**
 * Whether a GBNF grammar (parsed by service/inference/grammar's `parseGbnf`) accepts a whole string from
 * its `root` rule: the language a llama.cpp grammar sampler would allow, checked without a model, so the
 * converter's grammars can be tested on chosen strings (inside and just outside a range, a format, a
 * pattern). Every parse is explored (sets of end positions, memoised per rule and position); llama.cpp
 * refuses left-recursive grammars, so the recursion always consumes input and ends.
 */
import type { GbnfGrammar, GbnfItem, GbnfSequence, GbnfTerm } from '../../service/inference/grammar/gbnf-parse.js';

export function gbnfAccepts(grammar: GbnfGrammar, text: string): boolean {
  const input = [...text].map((c) => c.codePointAt(0) as number);
  const memo = new Map<string, Set<number>>();

  const rule = (name: string, pos: number): Set<number> => {
    const key = `${name}@${pos}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const out = alternatives(grammar.get(name) ?? [], pos);
    memo.set(key, out);
    return out;
  };
  const alternatives = (alts: GbnfSequence[], pos: number): Set<number> => {
    const out = new Set<number>();
    for (const seq of alts) for (const end of sequence(seq, pos)) out.add(end);
    return out;
  };
  const sequence = (seq: GbnfSequence, pos: number): Set<number> => {
    let positions = new Set([pos]);
    for (const item of seq) {
      const next = new Set<number>();
      for (const p of positions) for (const end of repeated(item, p)) next.add(end);
      positions = next;
      if (positions.size === 0) break;
    }
    return positions;
  };
  const repeated = (item: GbnfItem, pos: number): Set<number> => {
    const out = new Set<number>();
    let frontier = new Set([pos]);
    const seen = new Set<string>();
    for (let count = 0; frontier.size > 0; count++) {
      if (count >= item.min) for (const p of frontier) out.add(p);
      if (item.max !== undefined && count >= item.max) break;
      const next = new Set<number>();
      for (const p of frontier) {
        for (const end of term(item.term, p)) {
          // Past the minimum, a repetition that consumes nothing adds nothing new.
          const key = `${end}`;
          if (count + 1 > item.min && seen.has(key)) continue;
          seen.add(key);
          next.add(end);
        }
      }
      frontier = next;
    }
    return out;
  };
  const term = (t: GbnfTerm, pos: number): Set<number> => {
    const c = input[pos];
    switch (t.kind) {
      case 'literal': {
        for (let i = 0; i < t.codePoints.length; i++) if (input[pos + i] !== t.codePoints[i]) return new Set();
        return new Set([pos + t.codePoints.length]);
      }
      case 'class': {
        if (c === undefined) return new Set();
        const inside = t.ranges.some(([a, b]) => c >= a && c <= b);
        return inside !== t.negated ? new Set([pos + 1]) : new Set();
      }
      case 'any':
        return c === undefined ? new Set() : new Set([pos + 1]);
      case 'ref':
        return rule(t.name, pos);
      case 'group':
        return alternatives(t.alternatives, pos);
    }
  };
  return rule('root', 0).has(input.length);
}

/** A deterministic pseudo-random source (mulberry32), so a failing sample can be reproduced by seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Code points a negated class or `.` may produce: printable ASCII, a Latin-1 letter, a CJK one and an emoji.
const samplePool = [...Array.from({ length: 95 }, (_, i) => 0x20 + i), 0xe9, 0x4e2d, 0x1f600];

/**
 * A random string of the grammar's language (a random walk from `root`). Past a depth, the walk takes the
 * alternative that ends soonest and the fewest repetitions, so recursive grammars (any JSON value) end.
 */
export function gbnfSample(grammar: GbnfGrammar, random: () => number): string {
  // height: the smallest derivation depth of each rule, to know which alternative ends soonest.
  const height = new Map<string, number>();
  const seqHeight = (seq: GbnfSequence): number => Math.max(0, ...seq.filter((i) => i.min > 0).map((i) => termHeight(i.term)));
  const termHeight = (t: GbnfTerm): number =>
    t.kind === 'ref' ? (height.get(t.name) ?? Infinity) + 1 : t.kind === 'group' ? Math.min(...t.alternatives.map(seqHeight)) + 1 : 0;
  for (let changed = true; changed;) {
    changed = false;
    for (const [name, alts] of grammar) {
      const h = Math.min(...alts.map(seqHeight));
      if (h < (height.get(name) ?? Infinity)) {
        height.set(name, h);
        changed = true;
      }
    }
  }
  const out: number[] = [];
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const walkAlternatives = (alts: GbnfSequence[], depth: number) => {
    const seq = depth > 12 ? alts.reduce((best, s) => (seqHeight(s) < seqHeight(best) ? s : best)) : pick(alts);
    for (const item of seq) {
      const extra = depth > 12 ? 0 : Math.floor(random() * 4);
      const count = item.max === undefined ? item.min + extra : Math.min(item.max, item.min + extra);
      for (let i = 0; i < count; i++) walkTerm(item.term, depth + 1);
    }
  };
  const walkTerm = (t: GbnfTerm, depth: number): void => {
    switch (t.kind) {
      case 'literal':
        out.push(...t.codePoints);
        return;
      case 'class': {
        if (!t.negated) {
          const [a, b] = pick(t.ranges);
          out.push(a + Math.floor(random() * (b - a + 1)));
          return;
        }
        out.push(pick(samplePool.filter((c) => !t.ranges.some(([a, b]) => c >= a && c <= b))));
        return;
      }
      case 'any':
        out.push(pick(samplePool));
        return;
      case 'ref':
        walkAlternatives(grammar.get(t.name) ?? [], depth);
        return;
      case 'group':
        walkAlternatives(t.alternatives, depth);
    }
  };
  walkAlternatives(grammar.get('root') ?? [], 0);
  return String.fromCodePoint(...out);
}
