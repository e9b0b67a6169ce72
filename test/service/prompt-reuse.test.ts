/**
 * Prompt reuse (PROMPT_CACHE) through the official `openai` client, with real inference on the random-weight
 * test model: a service with reuse and one without (PROMPT_CACHE=off) answer the same requests, and greedy
 * (temperature 0) answers must be identical, across multi-turn conversations, an aborted stream, a request
 * that timed out, a context-full completion, interleaved conversations on PARALLEL=2, and grammar, tool and
 * logprobs requests. `usage.prompt_tokens_details.cached_tokens` must equal the shared prefix, and
 * `llm_prompt_tokens_total{source}` must move by exactly what usage reports.
 *
 * The test model here has F16 weights: ggml's F16/F32 CPU kernels give a token the same KV cells whatever
 * batch it was evaluated in (of two or more tokens), so reuse must be exact; with Q8_0 weights the same
 * conversation measurably diverged after a few turns without reuse being wrong (see README, prompt reuse).
 */
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../service/config.js';
import { SlotPool } from '../../service/inference/queue.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { freePort, metricValue, postJson, scrape, spawnMain, startTestApp, waitFor, type TestApp } from './helpers.js';

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;
type ChatParams = OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;

const cachedOf = (usage: OpenAI.CompletionUsage | undefined | null) => usage?.prompt_tokens_details?.cached_tokens;

const contextSize = 512;

describe('prompt reuse (PARALLEL=2, F16 test model)', () => {
  let reuse: TestApp;
  let plain: TestApp;
  let modelPath: string;
  let model: string;

  beforeAll(async () => {
    modelPath = await ensureTestModel({ quant: 'f16' });
    const env = { MODEL: modelPath, PARALLEL: '2', CONTEXT_SIZE: String(contextSize), MAX_COMPLETION_LENGTH: '1024' };
    [reuse, plain] = await Promise.all([startTestApp(env), startTestApp({ ...env, PROMPT_CACHE: 'off' })]);
    model = reuse.app.llm.engine.modelId;
  });
  afterAll(async () => {
    await Promise.all([reuse?.close(), plain?.close()]);
  });

  const chat = (t: TestApp, messages: Message[], extra: Partial<ChatParams> = {}) =>
    t.client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0, ...extra });
  const textOf = (r: OpenAI.Chat.Completions.ChatCompletion) => r.choices[0]?.message.content ?? '';

  /** One greedy chat request on both services: the answers must be equal; returns the reuse service's response. */
  async function both(messages: Message[], extra: Partial<ChatParams> = {}) {
    const withReuse = await chat(reuse, messages, extra);
    const without = await chat(plain, messages, extra);
    expect(textOf(withReuse)).toBe(textOf(without));
    expect(withReuse.usage?.prompt_tokens).toBe(without.usage?.prompt_tokens);
    expect(cachedOf(without.usage)).toBe(0);
    return withReuse;
  }

  function conversation(topic: string): Message[] {
    return [
      { role: 'system', content: `${topic}: you answer questions about ${topic} only. Keep every answer short and precise, and say so when you do not know.` },
    ];
  }

  it('a multi-turn conversation: the same greedy answers as without reuse and as a fresh service; cached_tokens = the previous prompt', async () => {
    const messages = conversation('rivers');
    let previousPrompt = 0;
    for (let turn = 1; turn <= 4; turn++) {
      messages.push({ role: 'user', content: `Turn ${turn}: name a river that is longer than ${turn * 100} kilometres, and say why.` });
      const before = await scrape(reuse.base);
      const r = await both(messages);
      const after = await scrape(reuse.base);
      const prompt = r.usage?.prompt_tokens ?? 0;
      // The earlier turns render identically, so the shared prefix is exactly the previous request's prompt
      // (the answer it generated is not kept: see service/inference/engine.ts, minFreshTokens).
      expect(cachedOf(r.usage), `turn ${turn}`).toBe(previousPrompt);
      const delta = (source: string) =>
        (metricValue(after, 'llm_prompt_tokens_total', { endpoint: 'chat', source }) ?? 0) -
        (metricValue(before, 'llm_prompt_tokens_total', { endpoint: 'chat', source }) ?? 0);
      expect(delta('cached')).toBe(previousPrompt);
      expect(delta('evaluated')).toBe(prompt - previousPrompt);
      previousPrompt = prompt;
      messages.push({ role: 'assistant', content: textOf(r) });
    }
    messages.push({ role: 'user', content: 'And one more?' });
    const fresh = await startTestApp({ MODEL: modelPath, PARALLEL: '2', CONTEXT_SIZE: String(contextSize) });
    try {
      const [again, first] = [await chat(reuse, messages), await chat(fresh, messages)];
      expect(cachedOf(again.usage)).toBe(previousPrompt);
      expect(cachedOf(first.usage)).toBe(0);
      expect(textOf(again)).toBe(textOf(first));
    } finally {
      await fresh.close();
    }
  });

  it('the streamed usage chunk reports cached_tokens too', async () => {
    const messages = [...conversation('streams'), { role: 'user' as const, content: 'Say something about streaming.' }];
    const first = await chat(reuse, messages);
    messages.push({ role: 'assistant', content: textOf(first) }, { role: 'user', content: 'And again, streamed?' });
    const stream = await reuse.client.chat.completions.create({
      model,
      messages,
      max_tokens: 8,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | undefined;
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(cachedOf(usage)).toBe(first.usage?.prompt_tokens);
    expect(text).toBe(textOf(await chat(plain, messages, { max_tokens: 8 })));
  });

  it('after an aborted stream the next turn reuses its prompt and answers as without reuse', async () => {
    const messages = [...conversation('aborts'), { role: 'user' as const, content: 'Talk at length about anything at all.' }];
    const ac = new AbortController();
    const stream = await reuse.client.chat.completions.create({ model, messages, max_tokens: 600, temperature: 0, stream: true }, { signal: ac.signal });
    let chunks = 0;
    try {
      for await (const chunk of stream) {
        if ((chunk.choices[0]?.delta.content ?? '') !== '' && ++chunks === 3) ac.abort();
      }
    } catch (err) {
      expect((err as Error).name).toMatch(/Abort/);
    }
    expect(chunks).toBe(3);
    const prompt = (await chat(plain, messages, { max_tokens: 1 })).usage?.prompt_tokens ?? 0;
    messages.push({ role: 'assistant', content: 'I was cut short.' }, { role: 'user', content: 'Then say it briefly.' });
    // The aborted sequence is freed within a token; the next request finds its prompt there.
    const r = await both(messages);
    expect(cachedOf(r.usage)).toBe(prompt);
  });

  it('after a request that timed out, and after a context-full completion, answers are unchanged and the prefix is reused', async () => {
    // REQUEST_TIMEOUT_MS 1 s against a 4,000-token answer: the answer is cut by the timeout ('length').
    const timed = await startTestApp({ MODEL: modelPath, PARALLEL: '2', CONTEXT_SIZE: '4096', MAX_COMPLETION_LENGTH: '4000', REQUEST_TIMEOUT_MS: '1000' });
    try {
      const messages = [...conversation('timeouts'), { role: 'user' as const, content: 'Write a very long essay.' }];
      const cut = await chat(timed, messages, { max_tokens: 4000 });
      expect(cut.choices[0]?.finish_reason).toBe('length');
      expect(cut.usage?.completion_tokens ?? 0).toBeLessThan(4000 - (cut.usage?.prompt_tokens ?? 0));
      messages.push({ role: 'assistant', content: textOf(cut).slice(0, 40) }, { role: 'user', content: 'Shorter, please.' });
      const after = await chat(timed, messages);
      expect(cachedOf(after.usage)).toBe(cut.usage?.prompt_tokens);
      expect(textOf(after)).toBe(textOf(await chat(plain, messages)));
    } finally {
      await timed.close();
    }

    // A token-array prompt 16 tokens short of the context: the completion stops at the context ('length').
    const full = Array.from({ length: contextSize - 16 }, (_, i) => 1000 + ((i * 37) % 5000));
    const complete = (t: TestApp, prompt: number[], max_tokens = 64) => t.client.completions.create({ model, prompt, max_tokens, temperature: 0 });
    const [a, b] = [await complete(reuse, full), await complete(plain, full)];
    expect(a.choices[0]?.finish_reason).toBe('length');
    expect(a.usage?.completion_tokens).toBe(16);
    expect(a.choices[0]?.text).toBe(b.choices[0]?.text);
    // A prompt sharing its first 250 tokens with the one that filled the sequence: exactly 250 are reused.
    const shared = [...full.slice(0, 250), 7, 8, 9, 10];
    const [c, d] = [await complete(reuse, shared, 8), await complete(plain, shared, 8)];
    expect(cachedOf(c.usage)).toBe(250);
    expect(c.choices[0]?.text).toBe(d.choices[0]?.text);
    // Another near-limit prompt still gets the whole context (reused cells are erased past the shared prefix).
    const other = full.map((token) => token + 1);
    const [e, f] = [await complete(reuse, other), await complete(plain, other)];
    expect(e.usage?.completion_tokens).toBe(16);
    expect(e.choices[0]?.text).toBe(f.choices[0]?.text);
  });

  it('interleaved conversations on PARALLEL=2: each turn finds its own conversation; the least recently used sequence is evicted', async () => {
    const a = conversation('mountains');
    const b = conversation('deserts, dunes and the animals that live in them');
    const last = { a: 0, b: 0 };
    for (let turn = 1; turn <= 3; turn++) {
      for (const [name, messages] of [
        ['a', a],
        ['b', b],
      ] as const) {
        messages.push({ role: 'user', content: `Question ${turn} for ${name}?` });
        const r = await both(messages);
        // Turn 1 shares only the template's system header with what other conversations left (under 10 % of
        // the prompt): it takes the least recently used sequence, reusing at most that header.
        if (turn === 1) expect(cachedOf(r.usage) ?? -1, `${name} turn 1`).toBeLessThan(0.1 * (r.usage?.prompt_tokens ?? 0));
        else expect(cachedOf(r.usage), `${name} turn ${turn}`).toBe(last[name]);
        last[name] = r.usage?.prompt_tokens ?? 0;
        messages.push({ role: 'assistant', content: textOf(r) });
      }
    }
    // Both at once: each request takes the sequence holding its own conversation.
    a.push({ role: 'user', content: 'Concurrently, a?' });
    b.push({ role: 'user', content: 'Concurrently, b?' });
    const [ra, rb] = await Promise.all([chat(reuse, a), chat(reuse, b)]);
    expect(cachedOf(ra.usage)).toBe(last.a);
    expect(cachedOf(rb.usage)).toBe(last.b);
    last.a = ra.usage?.prompt_tokens ?? 0;
    last.b = rb.usage?.prompt_tokens ?? 0;
    // Sequentially: b's sequence was released last (Promise.all resolves both; touch b again to be sure),
    // so an unrelated prompt evicts a's sequence and b's prompt survives.
    b.push({ role: 'assistant', content: textOf(rb) }, { role: 'user', content: 'b again.' });
    const rb2 = await both(b);
    expect(cachedOf(rb2.usage)).toBe(last.b);
    // An unrelated prompt shares at most the template's first tokens (under 10 %): it takes the least recently used.
    const unrelated = await chat(reuse, [{ role: 'user', content: 'Something unrelated entirely, '.repeat(8) }]);
    expect(cachedOf(unrelated.usage) ?? -1).toBeLessThan(0.1 * (unrelated.usage?.prompt_tokens ?? 0));
    b.push({ role: 'assistant', content: textOf(rb2) }, { role: 'user', content: 'b once more.' });
    expect(cachedOf((await chat(reuse, b)).usage)).toBe(rb2.usage?.prompt_tokens);
    a.push({ role: 'assistant', content: textOf(ra) }, { role: 'user', content: 'a again.' });
    // a's sequence was evicted: at most a template header is reused.
    const ra2 = await chat(reuse, a);
    expect(cachedOf(ra2.usage) ?? -1).toBeLessThan(0.1 * (ra2.usage?.prompt_tokens ?? 0));
  });

  it('after grammar, tool and logprobs requests the next turns answer as without reuse', async () => {
    const messages = [...conversation('formats'), { role: 'user' as const, content: 'Reply in JSON.' }];
    const json = await both(messages, { response_format: { type: 'json_object' } });
    messages.push({ role: 'assistant', content: textOf(json) }, { role: 'user', content: 'Now call a tool.' });
    const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'lookup',
          description: 'Look a word up',
          parameters: { type: 'object', properties: { word: { type: 'string' } }, required: ['word'] },
        },
      },
    ];
    const calls = async (t: TestApp) =>
      ((await chat(t, messages, { tools, tool_choice: 'required', max_tokens: 200 })).choices[0]?.message.tool_calls ?? []).map((c) =>
        c.type === 'function' ? [c.function.name, c.function.arguments] : [],
      );
    const called = await calls(reuse);
    expect(called.length).toBeGreaterThan(0);
    expect(called).toEqual(await calls(plain));
    messages.push({ role: 'user', content: 'Never mind the tool; with probabilities now.' });
    const scored = await both(messages, { logprobs: true, top_logprobs: 2 });
    expect(scored.choices[0]?.logprobs?.content?.map((c) => c.token).join('')).toBe(textOf(scored));
    messages.push({ role: 'assistant', content: textOf(scored) }, { role: 'user', content: 'And plainly again.' });
    const r = await both(messages);
    expect(cachedOf(r.usage)).toBeGreaterThan(0);
  });

  it('PROMPT_CACHE=off reports no cached tokens and counts every prompt token as evaluated', async () => {
    const messages = [...conversation('nothing'), { role: 'user' as const, content: 'Once.' }];
    await chat(plain, messages);
    const before = await scrape(plain.base);
    const r = await chat(plain, messages);
    const after = await scrape(plain.base);
    expect(cachedOf(r.usage)).toBe(0);
    const delta = (source: string) =>
      (metricValue(after, 'llm_prompt_tokens_total', { endpoint: 'chat', source }) ?? 0) -
      (metricValue(before, 'llm_prompt_tokens_total', { endpoint: 'chat', source }) ?? 0);
    expect(delta('cached')).toBe(0);
    expect(delta('evaluated')).toBe(r.usage?.prompt_tokens);
  });
});

describe('PROMPT_CACHE', () => {
  it('accepts on and off (any case); unset means on; anything else names the variable and the choices', () => {
    expect(loadConfig({})).not.toHaveProperty('promptCache');
    expect(loadConfig({ PROMPT_CACHE: 'OFF' }).promptCache).toBe('off');
    expect(loadConfig({ PROMPT_CACHE: 'on' }).promptCache).toBe('on');
    expect(() => loadConfig({ PROMPT_CACHE: 'maybe' })).toThrow(ConfigError);
    expect(() => loadConfig({ PROMPT_CACHE: 'maybe' })).toThrow('PROMPT_CACHE="maybe" is invalid: expected one of on, off');
  });
});

describe('SlotPool.tryAcquire(pick)', () => {
  it('takes the free item pick names; a waiter keeps its place and gets the next released item', () => {
    const pool = new SlotPool(['a', 'b', 'c'], 2);
    expect(pool.tryAcquire((free) => free.indexOf('a'))).toBe('a');
    // An index outside the free list falls back to the most recently freed item instead of failing.
    expect(pool.tryAcquire(() => 99)).toBe('c');
    expect(pool.tryAcquire((free) => free.indexOf('b'))).toBe('b');
    expect(pool.tryAcquire(() => 0)).toBeUndefined();
    const ticket = pool.enqueue();
    // The released item goes straight to the oldest waiter: a later request never picks it ahead of the queue.
    pool.release('c');
    expect(pool.busy).toBe(3);
    expect(pool.queueDepth).toBe(0);
    expect(pool.tryAcquire(() => 0)).toBeUndefined();
    return expect(ticket.promise).resolves.toBe('c');
  });
});

describe('PROMPT_CACHE through the production entry (service/main.ts)', () => {
  // One child process (a start-up costs seconds): the off switch, which the entry once dropped; the
  // default (on) is the same expression, `config.promptCache !== 'off'`, and every in-process test runs it.
  it('PROMPT_CACHE=off turns reuse off in the process the container runs', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const child = spawnMain({
      MODEL: await ensureTestModel(),
      HOST: '127.0.0.1',
      PORT: String(port),
      THREADS: '1',
      PARALLEL: '1',
      CONTEXT_SIZE: '512',
      LOG_LEVEL: 'warn',
      PROMPT_CACHE: 'off',
    });
    try {
      await waitFor('the server to become ready', async () => (await fetch(`${base}/health/ready`).catch(() => undefined))?.status === 200, 60_000, 50);
      const ask = async () => {
        const res = await postJson(base, '/v1/chat/completions', {
          messages: [{ role: 'user', content: 'The same question twice.' }],
          max_tokens: 2,
          temperature: 0,
        });
        return ((await res.json()) as { usage: OpenAI.CompletionUsage }).usage;
      };
      await ask();
      // The same prompt again on the one sequence: with reuse it would find all but two tokens there.
      const again = await ask();
      expect(again.prompt_tokens).toBeGreaterThan(2);
      expect(cachedOf(again)).toBe(0);
    } finally {
      child.proc.kill('SIGTERM');
      await child.exited;
    }
  });
});
