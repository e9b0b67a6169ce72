/**
 * The decode-loop profiler (`npm run bench -- --only decode` runs it; bench/scenarios/decode.ts): node-llama-cpp
 * called directly, N concurrent greedy generations on one context, every native call of the batching loop
 * timed from JS.
 *
 * What a batch step is, in node-llama-cpp 3.21.1 (dist/evaluator/LlamaContext/LlamaContext.js,
 * `dispatchPendingBatch`): the queued decodes of all sequences go into one llama_batch (`_ctx.initBatch`,
 * `_ctx.addToBatch`), one `_ctx.decodeBatch()` runs llama_decode on a libuv worker thread
 * (llama/addon/AddonContext.cpp, `AddonContextDecodeBatchWorker`), then every sequence's logits are sampled
 * by one `_ctx.sampleToken()` each, again a libuv async worker (`AddonContextSampleTokenWorker`), and each
 * generation's JS (LlamaChat: detokenise, stop triggers, callbacks) runs before the sequence queues its next
 * token. The step after starts when all sequences have queued (`_scheduleDecode`: at once when every
 * sequence of the context has queued, otherwise on the next `setImmediate`).
 *
 * So each step is split here into:
 *  - decode:  decodeBatch() called -> its promise settled (llama_decode + llama_synchronize, the libuv
 *             queue and the completion callback);
 *  - sample:  decode settled -> the last sampleToken() of the step settled;
 *  - js:      that -> the next decodeBatch() call (the generations' own per-token work and the dispatch).
 * The calls are timed by bench/lib/batch-trace.ts (two performance.now() per native call).
 *
 * Variants run in the same process, interleaved (ABAB...) so machine load drifts over all alike:
 *  - chat:      LlamaChat.generateResponse per sequence, as the service generates;
 *  - evaluate:  LlamaContextSequence.evaluate() per sequence with a detokenise per token: the floor that
 *               node-llama-cpp's own batching loop sets without LlamaChat on top;
 *  - chat-ungathered, evaluate-ungathered: the same with the batching fix of patches/node-llama-cpp+3.21.1.patch
 *               switched off (`LlamaContext._gatherReturningSequences = false`), i.e. node-llama-cpp as published:
 *               the next batch is decoded as soon as the previous one has delivered its results, before the
 *               sequences that got them have queued their next token.
 *  - chat-reversed, chat-reversed-unordered: chat with the generations started from the highest sequence to the
 *               lowest (so they queue as 3, 2, 1, 0), with the ordering fix of the same patch on, and off
 *               (`LlamaContext._orderBatchBySequence = false`): published node-llama-cpp adds a batch in queue
 *               order, and llama.cpp then computes one graph per sequence (docs/decode-loop.md, finding 1c).
 *
 * Protocol: argv[2] is a JSON `DecodeWorkerJob`; one JSON line `@@{...}` on stdout at the end.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { getLlama, LlamaChat, LlamaLogLevel, resolveChatWrapper, type ChatHistoryItem, type LlamaContextOptions, type Token } from 'node-llama-cpp';
import { batchSizeHistogram, traceBatches, type NativeCall } from '../lib/batch-trace.js';

export type DecodeVariant = 'chat' | 'evaluate' | 'chat-ungathered' | 'evaluate-ungathered' | 'chat-reversed' | 'chat-reversed-unordered';

export interface DecodeWorkerJob {
  modelPath: string;
  threads: number;
  contextSize: number;
  sequences: number;
  streams: number;
  maxTokens: number;
  repetitions: number;
  variants: DecodeVariant[];
  /** Extra `createContext` options by name (JSON-safe), applied to every variant; e.g. `{"batchSize":128}`. */
  contextOptions?: Record<string, unknown>;
  /** `batching.dispatchSchedule`: node-llama-cpp's `nextCycle` (default) or `microtask` (queueMicrotask). */
  dispatchSchedule?: 'nextCycle' | 'microtask';
}

export interface StepRecord {
  tokens: number;
  decodeMs: number;
  sampleMs: number;
  jsMs: number;
  samples: number;
}

export interface VariantRun {
  variant: DecodeVariant;
  rep: number;
  /** Generated tokens (all streams) / (last token - first token of any stream), tokens/s. */
  aggregateTokPerS: number;
  perStreamTokPerS: number[];
  generatedTokens: number;
  /** Decode steps only (at most one token per stream), not prompt batches. */
  steps: StepRecord[];
  /** Decode calls by tokens in the batch (`{"4": 120, "1": 3}`), prefill included. */
  batchSizes: Record<string, number>;
  /** Medians over `steps`. */
  median: { decodeMs: number; sampleMs: number; jsMs: number; stepMs: number };
  /** Main-thread event-loop utilisation (0..1) over the run. */
  eventLoopUtilization: number;
  eventLoopDelayP99Ms: number;
  /** Process CPU time (user + system, all threads) per generated token, ms. */
  cpuMsPerToken: number;
  texts: string[];
}

const job = JSON.parse(process.argv[2] ?? '{}') as DecodeWorkerJob;

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Per-step split of a call log (see the file comment); only decode steps (at most one token per stream). */
function steps(calls: NativeCall[], streams: number): StepRecord[] {
  const decodes = calls.filter((c) => c.kind === 'decode').sort((a, b) => a.calledAt - b.calledAt);
  const samples = calls.filter((c) => c.kind === 'sample');
  const out: StepRecord[] = [];
  for (let i = 0; i + 1 < decodes.length; i++) {
    const d = decodes[i] as NativeCall;
    const next = decodes[i + 1] as NativeCall;
    // Prefill batches (more tokens than streams) are not decode steps.
    if (d.tokens > streams || next.tokens > streams) continue;
    const inStep = samples.filter((s) => s.calledAt >= d.settledAt && s.calledAt < next.calledAt);
    const lastSample = inStep.reduce((t, s) => Math.max(t, s.settledAt), d.settledAt);
    out.push({
      tokens: d.tokens,
      decodeMs: d.settledAt - d.calledAt,
      sampleMs: lastSample - d.settledAt,
      jsMs: next.calledAt - lastSample,
      samples: inStep.length,
    });
  }
  return out;
}

const prompts = (n: number): string[] =>
  Array.from(
    { length: n },
    (_, i) =>
      `Request ${i}: write a short story about a lighthouse keeper who finds a message in a bottle. ` +
      'Use vivid imagery, three paragraphs, and end with a twist.',
  );

async function main(): Promise<void> {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.warn, maxThreads: job.threads });
  const model = await llama.loadModel({ modelPath: job.modelPath, gpuLayers: 0 });
  const chatWrapper = resolveChatWrapper(model);
  const options: LlamaContextOptions = {
    contextSize: job.contextSize,
    sequences: job.sequences,
    threads: job.threads,
    ...(job.contextOptions ?? {}),
    ...(job.dispatchSchedule === 'microtask' ? { batching: { dispatchSchedule: (dispatch: () => void) => queueMicrotask(dispatch) } } : {}),
  };
  const context = await model.createContext(options);
  const calls = traceBatches(context);
  const sequences = Array.from({ length: job.streams }, () => context.getSequence());
  const runs: VariantRun[] = [];

  const runOnce = async (variant: DecodeVariant, rep: number): Promise<VariantRun> => {
    calls.length = 0;
    const flags = context as unknown as { _gatherReturningSequences: boolean; _orderBatchBySequence: boolean };
    flags._gatherReturningSequences = !variant.endsWith('-ungathered');
    flags._orderBatchBySequence = !variant.endsWith('-unordered');
    const reversed = variant.startsWith('chat-reversed');
    const texts = prompts(job.streams).map((p) => `${variant}-${rep}: ${p}`);
    const tokenTimes: number[][] = texts.map(() => []);
    const out: string[] = texts.map(() => '');
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    await Promise.all(
      texts.map(async (userText, i) => {
        const sequence = sequences[reversed ? texts.length - 1 - i : i] as NonNullable<(typeof sequences)[number]>;
        const history: ChatHistoryItem[] = [
          { type: 'system', text: 'You are a helpful assistant.' },
          { type: 'user', text: userText },
          { type: 'model', response: [] },
        ];
        const times = tokenTimes[i] as number[];
        if (variant.startsWith('chat')) {
          const chat = new LlamaChat({ contextSequence: sequence, chatWrapper });
          try {
            await chat.generateResponse(history, {
              maxTokens: job.maxTokens,
              temperature: 0,
              repeatPenalty: false,
              onToken: (tokens) => {
                const now = performance.now();
                for (let k = 0; k < tokens.length; k++) times.push(now);
              },
              onTextChunk: (text) => {
                out[i] += text;
              },
            });
          } finally {
            chat.dispose({ disposeSequence: false });
          }
        } else {
          const prompt = chatWrapper.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer);
          const generated: Token[] = [];
          for await (const token of sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
            times.push(performance.now());
            generated.push(token);
            out[i] += model.detokenize([token]);
            if (generated.length >= job.maxTokens) break;
          }
        }
        await sequence.clearHistory();
      }),
    );
    delay.disable();
    process.stderr.write(`decode-worker: ${variant} rep ${rep} done, ${tokenTimes.map((t) => t.length).join('/')} tokens\n`);
    const cpu = process.cpuUsage(cpu0);
    const elu = performance.eventLoopUtilization(elu0);
    const first = Math.min(...tokenTimes.map((t) => t[0] ?? Number.POSITIVE_INFINITY));
    const last = Math.max(...tokenTimes.map((t) => t.at(-1) ?? 0));
    const generated = tokenTimes.reduce((n, t) => n + t.length, 0);
    const stepList = steps(calls, job.streams);
    return {
      variant,
      rep,
      aggregateTokPerS: ((generated - job.streams) / (last - first)) * 1000,
      perStreamTokPerS: tokenTimes.map((t) => (t.length > 1 ? ((t.length - 1) / ((t.at(-1) as number) - (t[0] as number))) * 1000 : 0)),
      generatedTokens: generated,
      steps: stepList,
      batchSizes: batchSizeHistogram(calls),
      median: {
        decodeMs: median(stepList.map((s) => s.decodeMs)),
        sampleMs: median(stepList.map((s) => s.sampleMs)),
        jsMs: median(stepList.map((s) => s.jsMs)),
        stepMs: median(stepList.map((s) => s.decodeMs + s.sampleMs + s.jsMs)),
      },
      eventLoopUtilization: elu.utilization,
      eventLoopDelayP99Ms: delay.percentile(99) / 1e6,
      cpuMsPerToken: (cpu.user + cpu.system) / 1000 / generated,
      texts: out.map((t) => t.slice(0, 120)),
    };
  };

  // Warm-up (touches the weights, JIT-compiles the loop), not recorded.
  for (const variant of job.variants) await runOnce(variant, -1);
  for (let rep = 0; rep < job.repetitions; rep++) {
    const order = rep % 2 === 0 ? job.variants : [...job.variants].reverse();
    for (const variant of order) runs.push(await runOnce(variant, rep));
  }
  const rss = process.memoryUsage();
  await Promise.all(sequences.map((s) => s.dispose()));
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  process.stdout.write(`@@${JSON.stringify({ ok: true, runs, memory: { rss: rss.rss, heapTotal: rss.heapTotal, external: rss.external } })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stdout.write(`@@${JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) })}\n`);
    process.exit(1);
  },
);
