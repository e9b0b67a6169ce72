/**
 * Concurrent generations share every decode step: with N sequences generating, each llama_decode of the
 * steady state carries N tokens, one per generation.
 *
 * node-llama-cpp 3.21.1 as published decodes the next batch as soon as the previous one has delivered its
 * results (`dispatchPendingBatch` loops while anything is queued), before the sequences that got those results
 * have queued their next token: with 4 generations every step carried 3 tokens and one generation waited a
 * step in turn, so a step of nearly the same cost did three quarters of the work (docs/benchmarks.md, "Decode
 * loop"). patches/node-llama-cpp+3.21.1.patch waits one event-loop turn so they join the batch.
 *
 * Measured through the engine the service runs (LlamaChat for chat, LlamaCompletion for completions), every
 * native decode timed by bench/lib/batch-trace.ts. The second case switches the fix off to show that the
 * check detects the defect.
 */
import pino from 'pino';
import { getLlama, LlamaLogLevel, type LlamaContext, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchSizeHistogram, traceBatches, type NativeCall } from '../../bench/lib/batch-trace.js';
import { InferenceEngine, type GenerationInput } from '../../service/inference/engine.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';

const parallel = 4;
const maxTokens = 24;

function input(i: number): GenerationInput {
  const text = `request ${i}: ${'tell me about the sea and the lighthouse '.repeat(1 + i)}`;
  return i % 2 === 0 ? { kind: 'chat', messages: [{ role: 'user', content: text }] } : { kind: 'completion', prompt: text };
}

describe('decode batching across concurrent generations', () => {
  let engine: InferenceEngine;
  let context: LlamaContext;
  let calls: ReturnType<typeof traceBatches>;

  beforeAll(async () => {
    engine = new InferenceEngine({
      modelPath: await ensureTestModel(),
      threads: 1,
      contextSize: 512,
      parallel,
      maxQueue: parallel,
      gpuLayers: 0,
      log: pino({ level: 'silent' }),
    });
    await engine.load();
    // The engine's one context (private): the tracer wraps its native calls.
    context = (engine as unknown as { context: LlamaContext }).context;
    calls = traceBatches(context);
  });

  afterAll(async () => {
    await engine?.close();
  });

  /** Runs `parallel` greedy generations at once; returns the decode calls and the tokens generated. */
  async function round(): Promise<{ decodes: NativeCall[]; generated: number }> {
    calls.length = 0;
    const counts = await Promise.all(
      Array.from({ length: parallel }, async (_, i) => {
        let completionTokens = 0;
        for await (const event of engine.generate(input(i), { maxTokens, temperature: 0 }, new AbortController().signal)) {
          if (event.type === 'done') completionTokens = event.completionTokens;
        }
        return completionTokens;
      }),
    );
    return { decodes: calls.filter((c) => c.kind === 'decode'), generated: counts.reduce((a, b) => a + b, 0) };
  }

  /** Decode steps of the steady state (one token per generation or fewer): prompt batches are larger. */
  const tokenSteps = (decodes: NativeCall[]) => decodes.filter((d) => d.tokens <= parallel);

  it(`puts one token of each of ${parallel} generations into every steady-state decode`, async () => {
    await round(); // warm-up
    const { decodes, generated } = await round();
    expect(generated).toBe(parallel * maxTokens);
    const steps = tokenSteps(decodes);
    const full = steps.filter((d) => d.tokens === parallel).length;
    // The generations start and end within a step or two of each other (prompts differ in length, chat and
    // completion prefill differently): allow those few short steps, nothing more.
    expect(full, JSON.stringify(batchSizeHistogram(decodes))).toBeGreaterThanOrEqual(maxTokens - 4);
    expect(steps.length - full, JSON.stringify(batchSizeHistogram(decodes))).toBeLessThanOrEqual(4);
  });

  it('detects the defect when the fix is switched off (node-llama-cpp 3.21.1 as published)', async () => {
    const flag = context as unknown as { _gatherReturningSequences: boolean };
    expect(flag._gatherReturningSequences).toBe(true);
    flag._gatherReturningSequences = false;
    try {
      const { decodes, generated } = await round();
      expect(generated).toBe(parallel * maxTokens);
      const steps = tokenSteps(decodes);
      const short = steps.filter((d) => d.tokens < parallel).length;
      expect(short, JSON.stringify(batchSizeHistogram(decodes))).toBeGreaterThan(steps.length / 2);
    } finally {
      flag._gatherReturningSequences = true;
    }
  });
});

/**
 * With a KV cache per sequence (node-llama-cpp always creates the context so) llama.cpp computes a batch as one
 * graph only over sequences of consecutive, increasing ids in batch order (`split_equal(n_ubatch, sequential)`,
 * src/llama-batch.cpp); node-llama-cpp 3.21.1 adds a batch's items in the order they were queued, so four
 * generations that happened to queue as sequences 3, 2, 1, 0 were computed as four one-token graphs: every decode
 * step read the weights four times (bench decode scenario, variants `chat-reversed-unordered` vs `chat-reversed`:
 * 101 vs 58 ms per 4-token step on the bench model; docs/decode-loop.md). patches/node-llama-cpp+3.21.1.patch
 * adds them in sequence id order (`_orderBatchBySequence`).
 */
describe('decode batches in sequence id order', () => {
  let model: LlamaModel;
  let context: LlamaContext;
  let calls: ReturnType<typeof traceBatches>;

  beforeAll(async () => {
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
    model = await llama.loadModel({ modelPath: await ensureTestModel(), gpuLayers: 0 });
    context = await model.createContext({ contextSize: 256, sequences: parallel, threads: 1 });
    calls = traceBatches(context);
  });
  afterAll(async () => {
    await context?.dispose();
    await model?.dispose();
  });

  /**
   * Greedy generations on every sequence, started from the highest sequence to the lowest, each once the one before
   * has its first token: every new generation joins the queue behind the running ones, so the published queue order
   * is 3, 2, 1, 0 on every step (started all at once, the order the four reached the queue depended on timing).
   */
  async function generateInReverse(): Promise<number[][]> {
    calls.length = 0;
    const sequences = Array.from({ length: parallel }, () => context.getSequence());
    try {
      const runs: Array<Promise<void>> = [];
      for (const [i, sequence] of [...sequences].reverse().entries()) {
        let firstToken!: () => void;
        const started = new Promise<void>((resolve) => (firstToken = resolve));
        runs.push(
          (async () => {
            const prompt = model.tokenize(`story ${i}: the sea and the lighthouse`);
            let n = 0;
            for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
              void token;
              if (++n === 1) firstToken();
              if (n >= 12) break;
            }
          })(),
        );
        await started;
      }
      await Promise.all(runs);
    } finally {
      await Promise.all(sequences.map((sequence) => sequence.dispose()));
    }
    return calls.filter((c) => c.kind === 'decode' && (c.sequences?.length ?? 0) > 1).map((c) => c.sequences ?? []);
  }
  const ascending = (ids: number[]) => ids.every((id, i) => i === 0 || id > (ids[i - 1] as number));

  it('adds every batch of several sequences in increasing sequence id order', async () => {
    const batches = await generateInReverse();
    expect(batches.length).toBeGreaterThan(8);
    expect(
      batches.filter((ids) => !ascending(ids)),
      JSON.stringify(batches.slice(0, 4)),
    ).toEqual([]);
  });

  it('detects the defect when the fix is switched off (node-llama-cpp 3.21.1 as published)', async () => {
    const flag = context as unknown as { _orderBatchBySequence: boolean };
    expect(flag._orderBatchBySequence).toBe(true);
    flag._orderBatchBySequence = false;
    try {
      const batches = await generateInReverse();
      expect(batches.filter((ids) => !ascending(ids)).length, JSON.stringify(batches.slice(0, 4))).toBeGreaterThan(batches.length / 2);
    } finally {
      flag._orderBatchBySequence = true;
    }
  });
});
