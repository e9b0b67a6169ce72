/**
 * GBNF for the string `format`s the converter enforces (the content between the quotes).
 *
 * llama.cpp (`common/json-schema-to-grammar.cpp`, STRING_FORMAT_RULES and the `uuid` primitive; test case
 * "exotic formats" in `tests/test-json-schema-to-grammar.cpp`) has grammars for `date`, `time`,
 * `date-time` and `uuid` and treats every other format as a plain string. Here:
 * - `uuid`, `time`: llama.cpp's grammars (8-4-4-4-12 hex digits; HH:MM:SS, optional milliseconds, and a
 *   `Z` or ±HH:MM offset).
 * - `date`, `date-time`: llama.cpp's grammar allows day 31 in every month (2024-02-31); this one allows
 *   only days every year has (no February 29), so the output is always a real calendar date.
 * - `email`, `hostname`, `ipv4`, `ipv6`, `duration`: llama.cpp has none; these are written from the
 *   definitions ajv-formats checks (RFC 5321 dot-atom local part with a hostname; RFC 1123 hostname, labels
 *   of at most 63 characters, at most 3 labels so the 253-character limit holds; dotted-quad IPv4 without
 *   leading zeros; RFC 4291 IPv6, eight groups or fewer with one `::`; RFC 3339 appendix A durations).
 *   Lengths that the standards leave open are capped (a local-part atom at 16 characters, a duration
 *   figure at 6 digits) so a generation always ends.
 */
import { gbnfCharClass, type CodeRange, type GbnfRules } from './gbnf.js';

export const supportedFormats = ['date', 'time', 'date-time', 'uuid', 'email', 'hostname', 'ipv4', 'ipv6', 'duration'] as const;
export type SupportedFormat = (typeof supportedFormats)[number];

export function isSupportedFormat(format: string): format is SupportedFormat {
  return (supportedFormats as readonly string[]).includes(format);
}

const charsOf = (chars: string): CodeRange[] => [...chars].map((c) => [c.codePointAt(0) as number, c.codePointAt(0) as number] as const);

const bodies: Record<SupportedFormat, (rule: (name: SupportedFormat | 'fmt-label' | 'fmt-octet' | 'fmt-h16') => string) => string> = {
  date: () =>
    '[0-9]{4} "-" ( ( "0" [13578] | "1" [02] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] ) | ( "0" [469] | "11" ) "-" ( "0" [1-9] | [12] [0-9] | "30" ) | "02-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ) )',
  time: () => '( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{3} )? ( "Z" | [+\\-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )',
  'date-time': (rule) => `${rule('date')} "T" ${rule('time')}`,
  uuid: () => '[0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12}',
  email: (rule) => {
    const atom = `${gbnfCharClass(charsOf("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-"))}{1,16}`;
    return `${atom} ( "." ${atom} ){0,3} "@" ${rule('fmt-label')} ( "." ${rule('fmt-label')} ){1,2}`;
  },
  hostname: (rule) => `${rule('fmt-label')} ( "." ${rule('fmt-label')} ){0,2}`,
  ipv4: (rule) => `${rule('fmt-octet')} "." ${rule('fmt-octet')} "." ${rule('fmt-octet')} "." ${rule('fmt-octet')}`,
  ipv6: (rule) => {
    const h = rule('fmt-h16');
    const groups = (n: number) => (n === 0 ? '' : n === 1 ? h : `${h} ( ":" ${h} ){${n - 1}}`);
    const upTo = (n: number) => (n === 0 ? '' : `( ${h} ( ":" ${h} ){0,${n - 1}} )?`);
    // Eight groups, or `left` groups, "::", and at most 7 - left more.
    const compressed = Array.from({ length: 8 }, (_, left) => [groups(left), '"::"', upTo(7 - left)].filter((p) => p !== '').join(' '));
    return `( ${groups(8)} | ${compressed.join(' | ')} )`;
  },
  duration: () => {
    const n = '[0-9]{1,6}';
    const date = `( ${n} "Y" ( ${n} "M" )? ( ${n} "D" )? | ${n} "M" ( ${n} "D" )? | ${n} "D" )`;
    const time = `"T" ( ${n} "H" ( ${n} "M" )? ( ${n} "S" )? | ${n} "M" ( ${n} "S" )? | ${n} "S" )`;
    return `"P" ( ${date} ( ${time} )? | ${time} | ${n} "W" )`;
  },
};

const helpers = {
  'fmt-label': '[a-zA-Z0-9] ( [a-zA-Z0-9\\-]{0,61} [a-zA-Z0-9] )?',
  'fmt-octet': '"25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9] [0-9] | [0-9]',
  'fmt-h16': '[0-9a-fA-F]{1,4}',
} as const;

/** Adds the rule for `format` (and the rules it uses) to `rules`; returns its name. */
export function formatRule(rules: GbnfRules, format: SupportedFormat): string {
  const rule = (name: SupportedFormat | keyof typeof helpers): string =>
    name in helpers ? rules.add(name, helpers[name as keyof typeof helpers]) : formatRule(rules, name as SupportedFormat);
  return rules.add(`fmt-${format}`, bodies[format](rule));
}
