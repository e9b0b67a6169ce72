/**
 * A generation that needs node-llama-cpp's per-context lock while others decode gets it between two batches,
 * not after every other generation has ended.
 *
 * node-llama-cpp 3.21.1 as published decodes batch after batch inside one hold of the context's "context" lock
 * (`dispatchPendingBatch` loops while anything is queued, and a running generation always has its next token
 * queued). Everything else that takes that lock waits until no sequence generates: erasing a sequence's tokens
 * (prompt reuse erasing a kept prompt past the shared prefix, `clearHistory` when a request ends), so
 * - with prompt reuse, a request admitted while others stream got its first token only when they had all
 *   finished (the conformance memory-guard scenario: one of four streams stalled);
 * - without it, a sequence was handed to the next queued request only when every other generation had ended.
 * patches/node-llama-cpp+3.21.1.patch releases the lock after every batch (`_releaseLockBetweenBatches`).
 *
 * The checks are orderings, not timings: a short request started after a long one has begun must end first.
 * The last case switches the fix off to show that the check detects the defect.
 */
import pino from 'pino';
import type { LlamaContext } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceEngine, type GenerationEvent, type GenerationInput } from '../../service/inference/engine.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';

const longTokens = 160;
const shortTokens = 8;

const prompt = (topic: string): GenerationInput => ({ kind: 'chat', messages: [{ role: 'user', content: `Tell me about ${topic}, at length.` }] });

interface Run {
  /** Resolves with the `done` event once the generation ended. */
  done: Promise<Extract<GenerationEvent, { type: 'done' }>>;
  /** Resolves when the first text arrives. */
  firstText: Promise<void>;
  endedAt?: number;
}

let clock = 0;
function start(engine: InferenceEngine, input: GenerationInput, maxTokens: number): Run {
  let onFirst!: () => void;
  const firstText = new Promise<void>((resolve) => {
    onFirst = resolve;
  });
  const run: Run = { firstText, done: undefined as never };
  const events = engine.generate(input, { maxTokens, temperature: 0 }, new AbortController().signal);
  run.done = (async () => {
    for await (const event of events) {
      if (event.type === 'text') onFirst();
      if (event.type === 'done') {
        run.endedAt = ++clock;
        onFirst();
        return event;
      }
    }
    throw new Error('the generation ended without a done event');
  })();
  return run;
}

async function newEngine(promptReuse: boolean, parallel: number): Promise<InferenceEngine> {
  const engine = new InferenceEngine({
    modelPath: await ensureTestModel(),
    threads: 1,
    contextSize: 512,
    parallel,
    maxQueue: 2,
    gpuLayers: 0,
    promptReuse,
    log: pino({ level: 'silent' }),
  });
  await engine.load();
  return engine;
}

const contextOf = (engine: InferenceEngine) => (engine as unknown as { context: LlamaContext }).context as unknown as { _releaseLockBetweenBatches: boolean };

describe('the context lock between decode batches', () => {
  let reuse: InferenceEngine;
  let plain: InferenceEngine;

  beforeAll(async () => {
    [reuse, plain] = await Promise.all([newEngine(true, 3), newEngine(false, 3)]);
  });
  afterAll(async () => {
    await Promise.all([reuse?.close(), plain?.close()]);
  });

  /**
   * Two long generations streaming: with one alone, its next token is not queued yet when a batch ends and the
   * published loop happens to let go of the lock; with two, one of them always is.
   */
  async function twoLong(engine: InferenceEngine): Promise<[Run, Run]> {
    const runs: [Run, Run] = [start(engine, prompt('the sea'), longTokens), start(engine, prompt('the wind over the sea'), longTokens)];
    await Promise.all(runs.map((run) => run.firstText));
    return runs;
  }

  /** Prompt reuse: every sequence keeps a prompt, then a short request must erase one while two long ones stream. */
  async function reuseRound() {
    await Promise.all(['rivers', 'mountains', 'forests'].map((topic) => start(reuse, prompt(topic), 4).done));
    expect(
      reuse.idleSequenceTokenCounts().every((n) => n > 0),
      'every sequence keeps a prompt',
    ).toBe(true);
    const long = await twoLong(reuse);
    const short = start(reuse, prompt('a lighthouse keeper who counts ships'), shortTokens);
    const [longDone, shortDone] = await Promise.all([Promise.all(long.map((run) => run.done)), short.done]);
    return { long, short, longDone, shortDone };
  }

  const firstEnd = (runs: Run[]) => Math.min(...runs.map((run) => run.endedAt as number));

  it('prompt reuse: a request admitted while others stream erases its kept prompt and finishes first', async () => {
    const { long, short, longDone, shortDone } = await reuseRound();
    expect(longDone.map((done) => done.finishReason)).toEqual(['length', 'length']);
    expect(shortDone.finishReason).toBe('length');
    expect(shortDone.completionTokens).toBe(shortTokens);
    expect(shortDone.cachedTokens, 'the short request reused part of a kept prompt (it erased the rest)').toBeGreaterThan(0);
    expect(short.endedAt).toBeLessThan(firstEnd(long));
  });

  it('without reuse: a queued request gets the sequence the moment a short request ends, while two long ones stream', async () => {
    const long = await twoLong(plain);
    const short = start(plain, prompt('rivers'), shortTokens);
    const queued = start(plain, prompt('mountains'), shortTokens);
    const [longDone, , queuedDone] = await Promise.all([Promise.all(long.map((run) => run.done)), short.done, queued.done]);
    expect(longDone.map((done) => done.finishReason)).toEqual(['length', 'length']);
    expect(queuedDone.completionTokens).toBe(shortTokens);
    expect(queued.endedAt).toBeLessThan(firstEnd(long));
  });

  it('detects the defect when the fix is switched off (node-llama-cpp 3.21.1 as published)', async () => {
    const context = contextOf(reuse);
    expect(context._releaseLockBetweenBatches).toBe(true);
    context._releaseLockBetweenBatches = false;
    try {
      const { long, short } = await reuseRound();
      expect(short.endedAt).toBeGreaterThan(firstEnd(long));
    } finally {
      context._releaseLockBetweenBatches = true;
    }
  });
});
