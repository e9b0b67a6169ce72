/**
 * InferenceEngine against real llama.cpp inference on the tiny random-weight test model
 * (tools/test-model): gibberish text, but real tokenization, chat template, sampling and batching.
 *
 * One shared engine (2 sequences x 1024 tokens, queue of 1) serves most tests; the last test drains
 * and closes it. ENGINE_TEST_THREADS overrides the thread count (default 2): llama.cpp's thread
 * barrier collapses when the cores are oversubscribed by other processes, 1 thread does not.
 */
import { copyFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InferenceEngine,
  ModelLoadError,
  NotAcceptingError,
  PromptTooLongError,
  QueueFullError,
  type EngineOptions,
  type GenerationEvent,
  type GenerationInput,
  type SamplingOptions,
} from '../../service/inference/engine.js';
import { EventChannel, SlotPool } from '../../service/inference/queue.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';

const threads = Number(process.env.ENGINE_TEST_THREADS ?? 2);
const log = pino({ level: process.env.ENGINE_TEST_LOG ?? 'silent' });
const contextSize = 1024;

type Timed = GenerationEvent & { at: number };

interface Run {
  events: Timed[];
  done: Extract<GenerationEvent, { type: 'done' }>;
  text: string;
  textTokens: number;
}

async function collect(events: AsyncIterable<GenerationEvent>, onEvent?: (event: GenerationEvent) => void): Promise<Run> {
  const out: Timed[] = [];
  for await (const event of events) {
    out.push({ ...event, at: performance.now() });
    onEvent?.(event);
  }
  const done = out.at(-1);
  if (done?.type !== 'done') throw new Error(`generation ended without a done event: ${JSON.stringify(out)}`);
  let text = '';
  let textTokens = 0;
  for (const event of out) {
    if (event.type === 'text') {
      text += event.text;
      textTokens += event.tokens;
    }
  }
  return { events: out, done, text, textTokens };
}

function first(run: Run, type: GenerationEvent['type']): Timed {
  const event = run.events.find((e) => e.type === type);
  if (event === undefined) throw new Error(`no ${type} event`);
  return event;
}

/** When the done event arrived. */
function end(run: Run): number {
  return (run.events.at(-1) as Timed).at;
}

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<number> {
  const t0 = performance.now();
  while (!condition()) {
    if (performance.now() - t0 > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return performance.now() - t0;
}

const chat: GenerationInput = {
  kind: 'chat',
  messages: [
    { role: 'system', content: 'You are a terse assistant.' },
    { role: 'user', content: 'Name three colours.' },
  ],
};
const completion: GenerationInput = { kind: 'completion', prompt: 'Once upon a time, in a land far away,' };
const never = new AbortController().signal;

let modelPath: string;
let tmp: string;
let engine: InferenceEngine;
const loadTrace: { states: string[]; progress: number[]; loadMs: number } = { states: [], progress: [], loadMs: 0 };

function options(overrides: Partial<EngineOptions> = {}): EngineOptions {
  return { modelPath, threads, contextSize, parallel: 2, maxQueue: 1, gpuLayers: 0, log, ...overrides };
}

beforeAll(async () => {
  modelPath = await ensureTestModel({ shape: 'tiny' });
  tmp = await mkdtemp(path.join(tmpdir(), 'engine-test-'));
  engine = new InferenceEngine(options());
  loadTrace.states.push(engine.state);
  const t0 = performance.now();
  const loading = engine.load();
  loadTrace.states.push(engine.state);
  const timer = setInterval(() => loadTrace.progress.push(engine.loadProgress), 2);
  try {
    await loading;
  } finally {
    clearInterval(timer);
  }
  loadTrace.loadMs = performance.now() - t0;
  loadTrace.states.push(engine.state);
  loadTrace.progress.push(engine.loadProgress);
});

afterAll(async () => {
  await engine?.close();
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
});

describe('queue building blocks (no model)', () => {
  it('SlotPool hands freed items to the oldest waiter; a cancelled waiter leaves at once', async () => {
    const pool = new SlotPool(['s1'], 2);
    expect(pool.tryAcquire()).toBe('s1');
    const w1 = pool.enqueue();
    const w2 = pool.enqueue();
    expect([w1.position, w2.position, pool.queueDepth, pool.queueFull]).toEqual([1, 2, 2, true]);
    expect(w1.cancel('gone')).toBe(true);
    await expect(w1.promise).rejects.toBe('gone');
    expect(pool.queueDepth).toBe(1);
    const w3 = pool.enqueue();
    pool.release('s1');
    await expect(w2.promise).resolves.toBe('s1');
    expect(w2.cancel('late')).toBe(false);
    pool.release('s1');
    await expect(w3.promise).resolves.toBe('s1');
    pool.release('s1');
    expect([pool.busy, pool.idleItems()]).toEqual([0, ['s1']]);
  });

  it('EventChannel merges text the consumer has not pulled yet and reports an early stop', async () => {
    let cancelled = 0;
    const channel = new EventChannel(() => cancelled++);
    channel.push({ type: 'started', promptTokens: 3, queuedMs: 0 });
    channel.pushText('a', 1);
    channel.pushText('b', 2);
    const iterator = channel[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toMatchObject({ type: 'started' });
    expect((await iterator.next()).value).toEqual({ type: 'text', text: 'ab', tokens: 3 });
    const pending = iterator.next();
    channel.pushText('c', 1);
    expect((await pending).value).toEqual({ type: 'text', text: 'c', tokens: 1 });
    await iterator.return?.();
    expect(cancelled).toBe(1);

    const finished = new EventChannel(() => cancelled++);
    finished.pushText('x', 1);
    finished.end();
    const events: GenerationEvent[] = [];
    for await (const event of finished) events.push(event);
    expect(events).toEqual([{ type: 'text', text: 'x', tokens: 1 }]);
    expect(cancelled).toBe(1);
  });
});

describe('load', () => {
  it('goes idle -> loading -> ready with progress reaching 1', () => {
    expect(loadTrace.states).toEqual(['idle', 'loading', 'ready']);
    expect(loadTrace.progress.at(-1)).toBe(1);
    for (let i = 1; i < loadTrace.progress.length; i++) {
      expect(loadTrace.progress[i]).toBeGreaterThanOrEqual(loadTrace.progress[i - 1] as number);
    }
    expect(engine.modelId).toBe(path.basename(modelPath, '.gguf'));
    expect(engine.trainedContextSize).toBe(4096);
    expect(engine.sequenceContextSize).toBe(contextSize);
    expect(engine.stats()).toEqual({
      parallel: 2,
      busySequences: 0,
      queueDepth: 0,
      maxQueue: 1,
      kvCache: { usedCells: 0, cells: 2 * engine.sequenceContextSize },
    });
  });

  it('rejects a truncated copy of the model with ModelLoadError, quickly', async () => {
    const file = path.join(tmp, 'truncated.gguf');
    await copyFile(modelPath, file);
    await truncate(file, Math.floor((await stat(file)).size * 0.6));
    const broken = new InferenceEngine(options({ modelPath: file, parallel: 1 }));
    const t0 = performance.now();
    const error = await broken.load().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toMatch(/truncated or corrupt/);
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(broken.state).toBe('failed');
    await broken.close();
    expect(broken.state).toBe('closed');
  });

  it('names an unsupported architecture', async () => {
    // Same file with general.architecture renamed (same length, so the header stays valid).
    const bytes = await readFile(modelPath);
    const key = Buffer.from('general.architecture');
    const at = bytes.indexOf(key);
    expect(bytes.readUInt32LE(at + key.length)).toBe(8); // GGUF string
    expect(bytes.toString('latin1', at + key.length + 12, at + key.length + 17)).toBe('qwen2');
    bytes.write('zzzz9', at + key.length + 12, 'latin1');
    const file = path.join(tmp, 'unknown-arch.gguf');
    await writeFile(file, bytes);
    const broken = new InferenceEngine(options({ modelPath: file, parallel: 1 }));
    await expect(broken.load()).rejects.toThrow(/Unsupported model architecture.*zzzz9/);
    await broken.close();
  });

  it('rejects a file that is not a GGUF with ModelLoadError naming the problem', async () => {
    const file = path.join(tmp, 'not-a-model.gguf');
    await writeFile(file, '<html>404 Not Found</html>\n');
    const broken = new InferenceEngine(options({ modelPath: file }));
    await expect(broken.load()).rejects.toThrow(/not a GGUF file/);
    await expect(broken.load()).rejects.toBeInstanceOf(ModelLoadError);
    const missing = new InferenceEngine(options({ modelPath: path.join(tmp, 'missing.gguf') }));
    await expect(missing.load()).rejects.toThrow(/not found/);
    await Promise.all([broken.close(), missing.close()]);
  });
});

describe('generation', () => {
  let reference: Run;

  it('chat generates exactly maxTokens tokens and reports length', async () => {
    const run = await collect(engine.generate(chat, { maxTokens: 10, temperature: 0.7, seed: 7 }, never));
    reference = run;
    expect(run.events[0]?.type).toBe('started');
    const started = first(run, 'started') as Extract<GenerationEvent, { type: 'started' }>;
    expect(started.promptTokens).toBe(engine.countTokens(chat));
    expect(run.done).toMatchObject({ finishReason: 'length', completionTokens: 10, promptTokens: started.promptTokens });
    expect(run.done.text).toBe(run.text);
    expect(run.text.length).toBeGreaterThan(0);
    // Chunks cover the generated tokens (a trailing partial UTF-8 character may be held back).
    expect(run.textTokens).toBeLessThanOrEqual(10);
    expect(run.textTokens).toBeGreaterThanOrEqual(8);
  });

  it('completion generates exactly maxTokens tokens and reports length', async () => {
    const run = await collect(engine.generate(completion, { maxTokens: 9 }, never));
    expect(run.done).toMatchObject({ finishReason: 'length', completionTokens: 9, promptTokens: engine.countTokens(completion) });
    expect(run.done.text).toBe(run.text);
    expect(run.textTokens).toBeGreaterThanOrEqual(7);
  });

  it('the chat template is applied: a chat prompt counts more tokens than its text', () => {
    const bare = engine.countTokens({ kind: 'completion', prompt: 'You are a terse assistant.Name three colours.' });
    expect(engine.countTokens(chat)).toBeGreaterThan(bare + 6);
  });

  it('a seed makes sampling (temperature > 0) deterministic', async () => {
    const sampling: SamplingOptions = { maxTokens: 8, temperature: 0.9, topP: 0.95, seed: 1234 };
    const a = await collect(engine.generate(completion, sampling, never));
    const b = await collect(engine.generate(completion, sampling, never));
    const c = await collect(engine.generate(completion, { ...sampling, seed: 99 }, never));
    expect(b.text).toBe(a.text);
    expect(c.text).not.toBe(a.text);
  });

  it('stop strings end the generation early with finishReason stop', async () => {
    const sampling: SamplingOptions = { maxTokens: 16, temperature: 0.8, seed: 5 };
    const full = await collect(engine.generate(completion, sampling, never));
    // A stop string taken from the middle of what this seed generates: its first occurrence.
    const at = Math.floor(full.text.length / 2);
    let stop = full.text.slice(at, at + 4);
    if (stop.trim().length < 2) stop = full.text.slice(at - 4, at);
    const index = full.text.indexOf(stop);
    expect(index).toBeGreaterThan(0);
    const stopped = await collect(engine.generate(completion, { ...sampling, stop: ['NEVER-GENERATED-Ω', stop] }, never));
    expect(stopped.done.finishReason).toBe('stop');
    expect(stopped.done.text).toBe(full.text.slice(0, index));
    expect(stopped.done.text).not.toContain(stop);
    expect(stopped.done.completionTokens).toBeLessThan(16);
  });

  it('a reused sequence carries nothing from the previous request but its prompt (prompt reuse)', async () => {
    // Fill a sequence with a long, different prompt, then repeat the first chat request: same output.
    const lorem: GenerationInput = { kind: 'completion', prompt: 'lorem ipsum dolor '.repeat(60) };
    await collect(engine.generate(lorem, { maxTokens: 4 }, never));
    // The sequence keeps exactly its prompt; the generated tokens are dropped.
    expect(engine.idleSequenceTokenCounts()).toContain(engine.countTokens(lorem));
    const again = await collect(engine.generate(chat, { maxTokens: 10, temperature: 0.7, seed: 7 }, never));
    expect(again.text).toBe(reference.text);
    expect(engine.idleSequenceTokenCounts().sort((a, b) => a - b)).toEqual([engine.countTokens(chat), engine.countTokens(lorem)].sort((a, b) => a - b));
  });
});

describe('context limits', () => {
  it('a prompt longer than the per-sequence context throws PromptTooLongError before queueing', () => {
    const long: GenerationInput = { kind: 'completion', prompt: 'alpha beta gamma delta '.repeat(300) };
    const tokens = engine.countTokens(long);
    expect(tokens).toBeGreaterThan(contextSize);
    let error: unknown;
    try {
      engine.generate(long, { maxTokens: 4 }, never);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PromptTooLongError);
    expect(error).toMatchObject({ promptTokens: tokens, limit: contextSize });
    expect((error as Error).message).toContain(String(contextSize));
    expect(() =>
      engine.generate({ kind: 'chat', messages: [{ role: 'user', content: 'alpha beta gamma delta '.repeat(300) }] }, { maxTokens: 4 }, never),
    ).toThrow(PromptTooLongError);
    expect(engine.stats()).toMatchObject({ busySequences: 0, queueDepth: 0 });
  });

  it('maxTokens is clamped to the room left in the sequence and reports length', async () => {
    let prompt = 'one two three four five six seven eight nine ten '.repeat(100);
    while (engine.countTokens({ kind: 'completion', prompt }) > contextSize - 8) prompt = prompt.slice(0, -4);
    const promptTokens = engine.countTokens({ kind: 'completion', prompt });
    const run = await collect(engine.generate({ kind: 'completion', prompt }, { maxTokens: 500 }, never));
    expect(run.done).toMatchObject({ finishReason: 'length', promptTokens, completionTokens: contextSize - promptTokens });
  });
});

describe('parallel sequences and the queue', () => {
  it('two generations overlap, a third waits in the queue, a fourth is refused', async () => {
    const a = engine.generate(chat, { maxTokens: 10, temperature: 0.5, seed: 1 }, never);
    const b = engine.generate(completion, { maxTokens: 10, temperature: 0.5, seed: 2 }, never);
    expect(engine.stats()).toMatchObject({ busySequences: 2, queueDepth: 0 });
    const c = engine.generate(completion, { maxTokens: 3 }, never);
    expect(engine.stats()).toMatchObject({ busySequences: 2, queueDepth: 1 });
    let refused: unknown;
    try {
      engine.generate(completion, { maxTokens: 3 }, never);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(QueueFullError);
    expect((refused as QueueFullError).retryAfterSeconds).toBeGreaterThanOrEqual(1);

    let maxBusy = 0;
    const observe = () => {
      maxBusy = Math.max(maxBusy, engine.stats().busySequences);
    };
    const [ra, rb, rc] = await Promise.all([collect(a, observe), collect(b, observe), collect(c, observe)]);
    expect(maxBusy).toBe(2);
    expect(rc.events[0]).toMatchObject({ type: 'queued', position: 1 });
    // Overlap: each started before the other finished, and their text events interleave.
    expect(first(ra, 'started').at).toBeLessThan(end(rb));
    expect(first(rb, 'started').at).toBeLessThan(end(ra));
    expect(first(ra, 'text').at).toBeLessThan(end(rb));
    expect(first(rb, 'text').at).toBeLessThan(end(ra));
    // The queued one started only when a sequence freed up.
    const firstDone = Math.min(end(ra), end(rb));
    expect(first(rc, 'started').at).toBeGreaterThanOrEqual(firstDone);
    for (const run of [ra, rb, rc]) expect(run.done.finishReason).toBe('length');
    expect(engine.stats()).toMatchObject({ busySequences: 0, queueDepth: 0 });
  });
});

describe('abort', () => {
  it('aborting a generating request frees its sequence for the queued one; timeout is reported', async () => {
    const abortA = new AbortController();
    const abortB = new AbortController();
    const long: SamplingOptions = { maxTokens: 5_000, temperature: 0.8, seed: 3 };
    const a = engine.generate(completion, long, abortA.signal);
    const b = engine.generate(chat, long, abortB.signal);
    const c = engine.generate(completion, { maxTokens: 3 }, never);
    expect(engine.stats()).toMatchObject({ busySequences: 2, queueDepth: 1 });

    let abortedAt = 0;
    const runA = collect(a, (event) => {
      if (event.type === 'text' && abortedAt === 0) {
        abortedAt = performance.now();
        abortA.abort();
      }
    });
    const runC = collect(c);
    const ra = await runA;
    const abortLatency = end(ra) - abortedAt;
    expect(ra.done.finishReason).toBe('abort');
    expect(ra.done.completionTokens).toBeLessThan(100);
    expect(abortLatency).toBeLessThan(2_000);
    const rc = await runC;
    expect(rc.events[0]).toMatchObject({ type: 'queued' });
    expect(rc.done.finishReason).toBe('length');

    abortB.abort('timeout');
    const rb = await collect(b);
    expect(rb.done.finishReason).toBe('timeout');
    await waitFor(() => engine.stats().busySequences === 0, 2_000);
  });

  it('AbortSignal.timeout() maps to finishReason timeout', async () => {
    const run = await collect(engine.generate(completion, { maxTokens: 5_000 }, AbortSignal.timeout(50)));
    expect(run.done.finishReason).toBe('timeout');
    expect(run.done.completionTokens).toBeLessThan(5_000);
  });

  it('aborting a queued request removes it from the queue at once', async () => {
    const stopAll = new AbortController();
    const a = engine.generate(completion, { maxTokens: 5_000 }, stopAll.signal);
    const b = engine.generate(completion, { maxTokens: 5_000 }, stopAll.signal);
    const queuedAbort = new AbortController();
    const c = engine.generate(chat, { maxTokens: 5 }, queuedAbort.signal);
    expect(engine.stats().queueDepth).toBe(1);
    queuedAbort.abort();
    expect(engine.stats().queueDepth).toBe(0);
    const rc = await collect(c);
    expect(rc.events.map((e) => e.type)).toEqual(['queued', 'done']);
    expect(rc.done).toMatchObject({ finishReason: 'abort', completionTokens: 0, promptTokens: engine.countTokens(chat) });
    stopAll.abort();
    const [ra, rb] = await Promise.all([collect(a), collect(b)]);
    expect(ra.done.finishReason).toBe('abort');
    expect(rb.done.finishReason).toBe('abort');
    await waitFor(() => engine.stats().busySequences === 0, 2_000);
  });

  it('breaking out of for-await stops the generation and frees the sequence', async () => {
    let texts = 0;
    for await (const event of engine.generate(chat, { maxTokens: 5_000, temperature: 1, seed: 11 }, never)) {
      if (event.type === 'text' && ++texts === 2) break;
    }
    const freedMs = await waitFor(() => engine.stats().busySequences === 0, 2_000);
    expect(freedMs).toBeLessThan(2_000);
    // The stopped sequence keeps its prompt (prompt reuse) and nothing it generated.
    expect(engine.idleSequenceTokenCounts()).toContain(engine.countTokens(chat));
    // And the engine still works afterwards.
    const run = await collect(engine.generate(completion, { maxTokens: 3 }, never));
    expect(run.done.completionTokens).toBe(3);
  });
});

describe('drain and close', () => {
  it('drain() rejects new requests while in-flight ones finish; close() aborts, disposes and is idempotent', async () => {
    const short = engine.generate(completion, { maxTokens: 6 }, never);
    const long = engine.generate(chat, { maxTokens: 5_000 }, never);
    engine.drain();
    expect(engine.state).toBe('draining');
    expect(() => engine.generate(completion, { maxTokens: 1 }, never)).toThrow(NotAcceptingError);

    const longRun = collect(long);
    const shortRun = await collect(short);
    expect(shortRun.done).toMatchObject({ finishReason: 'length', completionTokens: 6 });

    const closing = engine.close();
    expect(engine.close()).toBe(closing);
    await closing;
    const aborted = await longRun;
    expect(aborted.done.finishReason).toBe('abort');
    expect(engine.state).toBe('closed');
    await engine.close();
    expect(() => engine.generate(completion, { maxTokens: 1 }, never)).toThrow(NotAcceptingError);
    expect(() => engine.countTokens(completion)).toThrow(NotAcceptingError);
  });
});
