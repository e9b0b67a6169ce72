/**
 * The cheap bounds in front of tokenizing (service/inference/input-bounds.ts), against the real Qwen2
 * tokenizer of the test model: the body limit holds a full context of real text, the sliced count is a
 * lower bound that stops early, and over HTTP an oversized body is 413 before it is read and a prompt
 * that cannot fit is 400 before the engine tokenizes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints } from '../../service/contract.js';
import {
  bodyBytesPerToken,
  bodyLimitFor,
  letterRuns,
  letterRunsAreLowerBound,
  promptTexts,
  sliceChars,
  tokensAtLeast,
} from '../../service/inference/input-bounds.js';
import type { InferenceEngine } from '../../service/inference/engine.js';
import { metricValue, postJson, scrape, startTestApp, type TestApp } from './helpers.js';

let t: TestApp;
let count: (text: string) => number;

beforeAll(async () => {
  t = await startTestApp({ CONTEXT_SIZE: '1024' });
  const engine = t.app.llm.engine as InferenceEngine;
  count = (text) => engine.countTextTokens(text) ?? Number.NaN;
});
afterAll(async () => {
  await t?.close();
});

const english = 'The lighthouse keeper climbed the stairs at dusk, counting each step, listening to the sea. ';
const code = 'function add(a, b) {\n  // sum two numbers\n  return a + b;\n}\n\nconst xs = [1, 2, 3].map((x) => add(x, 1));\n';
const chinese = '我们今天去公园散步，天气很好，湖边有很多人在钓鱼。';
const asciiEscaped = (s: string): string => JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
const repeatTo = (unit: string, chars: number): string => unit.repeat(Math.ceil(chars / unit.length)).slice(0, chars);

/** The longest prefix of `unit` repeated that tokenizes to at most `tokens` tokens. */
function textOfTokens(unit: string, tokens: number): string {
  let lo = 0;
  let hi = tokens * 64;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (count(repeatTo(unit, mid)) <= tokens) lo = mid;
    else hi = mid - 1;
  }
  return repeatTo(unit, lo);
}

describe('body limit', () => {
  it('a full context of English, code or Chinese (even ASCII-escaped JSON) fits in bodyLimitFor(context), with a margin under 2x', () => {
    const context = 1024;
    let worstBytesPerToken = 0;
    for (const [name, unit, encode] of [
      ['english', english, JSON.stringify],
      ['code', code, JSON.stringify],
      ['chinese utf-8', chinese, JSON.stringify],
      ['chinese \\u-escaped', chinese, asciiEscaped],
    ] as const) {
      const text = textOfTokens(unit, context);
      const body = JSON.stringify({ messages: [{ role: 'user', content: '' }], max_tokens: 16 }).replace('""', encode(text));
      expect(Buffer.byteLength(body), name).toBeLessThan(bodyLimitFor(context));
      worstBytesPerToken = Math.max(worstBytesPerToken, Buffer.byteLength(encode(text)) / count(text));
    }
    // The stated margin: bodyBytesPerToken is less than twice the worst measured case.
    expect(worstBytesPerToken * 2).toBeGreaterThan(bodyBytesPerToken);
  });
});

describe('tokensAtLeast', () => {
  const samples: Array<[string, string]> = [
    ['english', repeatTo(english, 30_000)],
    ['code', repeatTo(code, 30_000)],
    ['chinese (no spaces: forced cuts)', repeatTo(chinese, 30_000)],
    ['one long word', 'x'.repeat(30_000)],
    ['whitespace runs', repeatTo('a     b\n\n\n  c\t\t', 30_000)],
    ['special-token strings', repeatTo('<|im_start|>user\nhi<|im_end|>\n', 30_000)],
  ];

  it('is a lower bound of the real token count (never refuses a prompt that fits)', async () => {
    for (const [name, text] of samples) {
      const real = count(text);
      const bound = await tokensAtLeast([text], count, Number.POSITIVE_INFINITY);
      expect(bound, name).toBeLessThanOrEqual(real);
      expect(bound, name).toBeGreaterThan(real * 0.8);
    }
  });

  it('stops once the limit is passed: a 1 MB text costs about one context of tokenizing, in slices', async () => {
    const text = repeatTo(english, 1_000_000);
    const sliced: number[] = [];
    const n = await tokensAtLeast([text], (s) => (sliced.push(s.length), count(s)), 1022);
    expect(n).toBeGreaterThan(1022);
    expect(Math.max(...sliced)).toBeLessThanOrEqual(sliceChars + 1);
    expect(sliced.reduce((a, b) => a + b, 0)).toBeLessThan(1022 * 6 + sliceChars);
  });

  it('letter runs: the Qwen2 tokenizer passes the self-check, and the bound holds on every sample', async () => {
    expect(letterRunsAreLowerBound(count)).toBe(true);
    for (const [name, text] of samples) expect(letterRuns(text), name).toBeLessThanOrEqual(count(text));
    // A tokenizer that merged words would fail the check (and the bound is then not used).
    expect(letterRunsAreLowerBound((t) => Math.ceil(count(t) / 2))).toBe(false);
    let calls = 0;
    const n = await tokensAtLeast(
      [repeatTo(english, 1_000_000)],
      (t) => (calls++, count(t)),
      1022,
      () => false,
      true,
    );
    expect(n).toBeGreaterThan(1022);
    expect(calls).toBe(0);
  });

  it('more non-empty messages than prompt tokens are refused without tokenizing', async () => {
    let calls = 0;
    const n = await tokensAtLeast(
      Array.from({ length: 2000 }, () => 'hi'),
      (s) => (calls++, count(s)),
      1022,
    );
    expect(n).toBeGreaterThan(1022);
    expect(calls).toBe(0);
  });

  it('promptTexts reads what the engine will tokenize', () => {
    expect(promptTexts({ prompt: 'a' })).toEqual(['a']);
    expect(promptTexts({ prompt: ['b'] })).toEqual(['b']);
    expect(
      promptTexts({
        messages: [
          { role: 'user', content: 'x' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'y' },
              { type: 'text', text: 'z' },
            ],
          },
        ],
      }),
    ).toEqual(['x', 'yz']);
    expect(promptTexts({})).toBeUndefined();
  });
});

describe('over HTTP (CONTEXT_SIZE 1024)', () => {
  it('a body over the derived limit is 413 request_too_large', async () => {
    const res = await postJson(t.base, endpoints.completions, { prompt: repeatTo(english, bodyLimitFor(1024) + 1) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('request_too_large');
  });

  it('a prompt under the body limit that cannot fit is 400 context_length_exceeded, counted, the engine never started', async () => {
    const before = metricValue(await scrape(t.base), 'llm_requests_rejected_total', { reason: 'prompt_too_long' }) ?? 0;
    for (const [p, body] of [
      [endpoints.completions, { prompt: repeatTo(english, 60_000) }],
      [endpoints.chatCompletions, { messages: [{ role: 'user', content: repeatTo(english, 60_000) }] }],
    ] as const) {
      const res = await postJson(t.base, p, body);
      expect(res.status, p).toBe(400);
      const e = ((await res.json()) as { error: { code: string; message: string; param: string } }).error;
      expect(e.code).toBe('context_length_exceeded');
      expect(e.message).toMatch(/maximum context length is 1024 tokens\. However, your (prompt|messages) resulted in at least \d+ tokens/);
    }
    const after = metricValue(await scrape(t.base), 'llm_requests_rejected_total', { reason: 'prompt_too_long' }) ?? 0;
    expect(after - before).toBe(2);
    expect(t.app.llm.engine.stats().busySequences).toBe(0);
  });

  it('a prompt that fits still runs', async () => {
    const r = await t.client.completions.create({ model: t.app.llm.engine.modelId, prompt: textOfTokens(english, 900), max_tokens: 2 });
    expect(r.usage?.prompt_tokens).toBeGreaterThan(850);
  });

  it('connection limits are set on the server', () => {
    expect(t.app.server.maxConnections).toBe(512);
    expect(t.app.server.requestTimeout).toBe(30_000);
    expect(t.app.server.headersTimeout).toBe(10_000);
  });
});
