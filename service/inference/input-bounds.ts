/**
 * Bounds on what a request may cost before the engine tokenizes and templates it.
 *
 * Tokenizing is a synchronous native call on the event loop: measured here with the Qwen2 tokenizer,
 * ~0.6 µs per byte (1 MiB of text: 690 ms; 128 KiB: 73 ms; 16 KiB: 15 ms). A request that cannot fit the
 * context anyway must not get to spend that: three cheap checks stop it first.
 *
 * 1. Body size (`bodyLimitFor`), checked by Fastify from Content-Length before a byte is read: a request
 *    can use at most CONTEXT_SIZE tokens, so it needs at most CONTEXT_SIZE x `bodyBytesPerToken` bytes plus
 *    `bodyOverheadBytes` for the JSON around the text. Measured bytes per token of JSON-encoded text with
 *    the Qwen2 tokenizer: English prose 5.1, source code 2.9, Chinese 5.0 as UTF-8 and 10.0 when the
 *    client escapes non-ASCII (`\uXXXX`, Python's json default). 16 is that worst case with a 1.6x margin.
 * 2. Message count: every non-empty message is at least one token, so more non-empty messages than prompt
 *    tokens cannot fit, whatever the chat template adds. No tokenizing.
 * 3. Token count with an early exit (`tokensAtLeast`): the texts are tokenized in slices of
 *    `sliceChars`, yielding to the event loop between slices, and counting stops as soon as the prompt
 *    cannot fit. The cost is bounded by the context size, not by the input size, and no slice blocks
 *    the loop for more than ~1 ms. Slices end at a space between two words where one exists: the
 *    tokenizer's pre-tokenizer splits there anyway, so counts add up; elsewhere `forcedSliceSlack` tokens
 *    per cut are subtracted, so the sum stays a lower bound of the real count.
 * Before 3, a bound that costs no tokenizing at all: every maximal run of letters needs at least one token
 * of its own, because tokenizers do not merge letters across the spaces and punctuation between words
 * (BPE pre-tokenizers split there; SentencePiece pieces do not span words). That is a property of the
 * loaded tokenizer, so `letterRunsAreLowerBound` checks it against the real count on sample texts before it
 * is used; a tokenizer that fails the check just goes without it.
 * What passes is tokenized exactly by the engine (which still refuses a prompt that does not fit).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';

/** Request body bytes allowed per token of context (see 1. above). */
export const bodyBytesPerToken = 16;
/** JSON around the text: field names, sampling parameters, message wrappers, stop strings. */
export const bodyOverheadBytes = 64 * 1024;

/** Largest request body for a context of `contextSize` tokens (413 beyond it). 4096 tokens: 128 KiB. */
export function bodyLimitFor(contextSize: number): number {
  return contextSize * bodyBytesPerToken + bodyOverheadBytes;
}

/** Characters tokenized per slice: ~0.6 ms of tokenizing at the measured rate. */
export const sliceChars = 1024;
/** Tokens subtracted per cut inside a word (merges across the cut that slicing prevented). */
export const forcedSliceSlack = 16;

/** Counts tokens of plain text (special-token strings parsed, which only lowers the count). */
export type CountTokens = (text: string) => number;

/** Maximal runs of letters (any script) in `text`. */
export function letterRuns(text: string): number {
  const re = /\p{L}+/gu;
  let n = 0;
  while (re.exec(text) !== null) n++;
  return n;
}

/** Texts on which `letterRuns` must not exceed the real token count before it may be used as a bound. */
const letterRunSamples = [
  'The lighthouse keeper climbed the stairs at dusk, counting each step; e.g. "one, two, three".',
  "It's the keeper's log: don't, won't, I'm, we've, they'll, she'd. U.S.A., e.g., i.e., a.m.",
  'function add(a, b) { return a + b; } // x=1;y=2;z=a.b.c;foo_bar-baz/qux\nconst xs = [1, 2, 3];',
  'https://example.com/path/to/file.gguf?user=a&token=b#frag mail: a.b@c.de',
  '我们今天去公园散步，天气很好。 Ünïcödé naïve café façade — Straße, ÅÄÖ, Ελληνικά, русский текст.',
  'a b c d e f g h i j k l m n o p q r s t u v w x y z A-B-C-D x.y.z x/y/z x_y_z x:y:z',
];

/** True when `count` (the loaded tokenizer) gives at least one token per letter run on every sample. */
export function letterRunsAreLowerBound(count: CountTokens): boolean {
  return letterRunSamples.every((t) => letterRuns(t) <= count(t) && letterRuns(t.repeat(3)) <= count(t.repeat(3)));
}

/** Where to cut `text` near `end`: after the last "word space word" in the second half of the window. */
function cutPoint(text: string, start: number, end: number): { at: number; clean: boolean } {
  if (end >= text.length) return { at: text.length, clean: true };
  for (let i = end; i > start + (end - start) / 2; i--) {
    if (text.charCodeAt(i) === 32 && text.charCodeAt(i - 1) > 32 && text.charCodeAt(i + 1) > 32) return { at: i, clean: true };
  }
  // Do not cut a UTF-16 surrogate pair.
  const code = text.charCodeAt(end - 1);
  return { at: code >= 0xd800 && code <= 0xdbff ? end + 1 : end, clean: false };
}

/**
 * A lower bound of the tokens in `texts`, counted slice by slice; returns as soon as it exceeds `limit`
 * (so the result is either the full lower bound, or some value > limit). Yields to the event loop between
 * slices; when `stopped()` turns true (the client left) it returns undefined without counting further.
 */
export async function tokensAtLeast(
  texts: readonly string[],
  count: CountTokens,
  limit: number,
  stopped: () => boolean = () => false,
  lettersBound = false,
): Promise<number | undefined> {
  // 2. Every non-empty text is at least one token: decided without tokenizing.
  const nonEmpty = texts.reduce((n, t) => n + (t.length > 0 ? 1 : 0), 0);
  if (nonEmpty > limit) return nonEmpty;
  // Letter runs, when the tokenizer was checked to need a token per run: still no tokenizing.
  if (lettersBound) {
    let runs = 0;
    for (const t of texts) {
      runs += letterRuns(t);
      if (runs > limit) return runs;
    }
  }
  let total = 0;
  for (const text of texts) {
    for (let start = 0; start < text.length;) {
      const { at, clean } = cutPoint(text, start, start + sliceChars);
      const n = count(text.slice(start, at));
      total += at < text.length && !clean ? Math.max(0, n - forcedSliceSlack) : n;
      if (total > limit) return total;
      start = at;
      if (start < text.length) {
        await yieldToLoop();
        if (stopped()) return undefined;
      }
    }
  }
  return total;
}

/** The texts a chat or completion body will put in the prompt (what the engine tokenizes). */
export function promptTexts(body: unknown): string[] | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const b = body as { messages?: unknown; prompt?: unknown };
  if (Array.isArray(b.messages)) {
    return b.messages.map((m: unknown) => {
      const content = (m as { content?: unknown } | null)?.content;
      if (typeof content === 'string') return content;
      if (Array.isArray(content)) {
        return content
          .map((p: unknown) => (p as { text?: unknown } | null)?.text ?? '')
          .filter((t): t is string => typeof t === 'string')
          .join('');
      }
      return '';
    });
  }
  if (typeof b.prompt === 'string') return [b.prompt];
  if (Array.isArray(b.prompt) && typeof b.prompt[0] === 'string') return [b.prompt[0]];
  return undefined;
}

/** The texts of a Responses API body the chat template will render: instructions and input (a string, or message / function call items). */
export function responsesPromptTexts(body: unknown): string[] | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const r = body as { input?: unknown; instructions?: unknown };
  const instructions = typeof r.instructions === 'string' ? [r.instructions] : [];
  if (typeof r.input === 'string') return [...instructions, r.input];
  if (Array.isArray(r.input)) {
    return [
      ...instructions,
      ...r.input.map((item: unknown) => {
        const i = (item ?? {}) as { content?: unknown; arguments?: unknown; output?: unknown };
        if (typeof i.content === 'string') return i.content;
        if (Array.isArray(i.content))
          return i.content
            .map((p: unknown) => (p as { text?: unknown } | null)?.text ?? '')
            .filter((t): t is string => typeof t === 'string')
            .join('');
        return typeof i.arguments === 'string' ? i.arguments : typeof i.output === 'string' ? i.output : '';
      }),
    ];
  }
  return undefined;
}
