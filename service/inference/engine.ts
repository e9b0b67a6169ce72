/**
 * The inference engine: one GGUF model, one llama.cpp context with `parallel` sequences, a bounded FIFO
 * queue in front of them, and token streaming as async iterables. This module is the facade and the life
 * cycle; the work lives along its seams:
 *
 * - loading.ts: the file check, llama.cpp, the weights and the context, load errors that say why;
 * - slots.ts: which sequence a request gets, prompt reuse (PROMPT_CACHE), prefill, release;
 * - generation.ts: the chat template / completion prompt, one generation on one sequence;
 * - sampling.ts: SamplingOptions as node-llama-cpp options (one mapping for every generation path);
 * - embedding.ts: embedding requests on an embedding context.
 *
 * Life cycle: idle -> loading -> ready (-> draining) -> closed, or loading -> failed.
 *
 * A request (`generate()`) is validated synchronously — state, prompt length, queue capacity — so the
 * HTTP layer can answer 503/400/429 before it commits to a status code. It then runs in the background:
 * wait for a sequence (FIFO), evaluate the prompt in batch-sized chunks (abortable between chunks),
 * emit `started`, generate while token chunks flow through an EventChannel, emit `done` and hand the
 * sequence to the oldest waiter.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { LlamaContext, LlamaModel, Token } from 'node-llama-cpp';
import type { Logger } from 'pino';
import { GenerationAbortedError, InvalidInputError, ModelLoadError, NotAcceptingError, PromptTooLongError, QueueFullError } from './errors.js';
import type { EmbeddingInput, EmbeddingResult } from './embedding.js';
import { Generator, type GenerationJob } from './generation.js';
import { disposeLoaded, loadError, loadModel, NativeLog, type LoadedModel } from './loading.js';
import { EventChannel, type QueueTicket } from './queue.js';
import { SequenceSlots } from './slots.js';
import type { EngineOptions, EngineState, EngineStats, GenerationEvent, GenerationInput, SamplingOptions } from './types.js';
import { WorkEstimate } from './work-estimate.js';

export type {
  ChatMessage,
  EngineOptions,
  EngineState,
  EngineStats,
  FinishReason,
  GenerationEvent,
  GenerationInput,
  LogitBias,
  OutputGrammar,
  SamplingOptions,
  ToolCallRecord,
  ToolsOption,
  TokenLogprob,
} from './types.js';
export { maxSeed } from './types.js';
export type { EmbeddingInput, EmbeddingResult } from './embedding.js';
export { InvalidInputError, ModelLoadError, NotAcceptingError, PromptTooLongError, QueueFullError } from './errors.js';

/** What a chat engine holds once loaded. */
interface ChatRuntime {
  slots: SequenceSlots;
  generator: Generator;
}

export class InferenceEngine {
  private readonly opts: EngineOptions;
  private readonly log: Logger;
  private _state: EngineState = 'idle';
  private _progress = 0;
  /** The native objects, as far as the current load got (all of them once ready). */
  private loaded: Partial<LoadedModel> | undefined;
  private chat: ChatRuntime | undefined;
  private readonly jobs = new Set<GenerationJob>();
  private loadPromise: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;
  private loadAbort = new AbortController();
  private drainRequested = false;
  private readonly nativeLog: NativeLog;
  private readonly work = new WorkEstimate();
  /** The GGUF file; replaced by `resolveModelPath`'s answer when that is set. */
  private modelPath: string;

  constructor(opts: EngineOptions) {
    for (const [name, value] of [
      ['threads', opts.threads],
      ['contextSize', opts.contextSize],
      ['parallel', opts.parallel],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`EngineOptions.${name} must be a positive integer`);
    }
    if (!Number.isInteger(opts.maxQueue) || opts.maxQueue < 0) {
      throw new RangeError('EngineOptions.maxQueue must be a non-negative integer');
    }
    this.opts = opts;
    this.log = opts.log;
    this.modelPath = opts.modelPath;
    this.nativeLog = new NativeLog(opts.log);
  }

  private get model(): LlamaModel | undefined {
    return this.loaded?.model;
  }

  /** The chat context (tests reach it to read node-llama-cpp's batching switches). */
  private get context(): LlamaContext | undefined {
    return this.loaded?.chat?.context;
  }

  get state(): EngineState {
    return this._state;
  }

  /** 0..1 while loading (model weights), 1 once ready. */
  get loadProgress(): number {
    return this._progress;
  }

  /** File name without `.gguf`: the OpenAI `model` id. */
  get modelId(): string {
    return path.basename(this.modelPath).replace(/\.gguf$/i, '');
  }

  /** The context length the model was trained with (GGUF metadata), once loaded. */
  get trainedContextSize(): number | undefined {
    return this.model?.trainContextSize;
  }

  /** Actual tokens per sequence (node-llama-cpp may pad the requested size up to a multiple of 256). */
  get sequenceContextSize(): number {
    return this.context?.contextSize ?? this.opts.contextSize;
  }

  /** Name of the chat template wrapper node-llama-cpp detected (e.g. "ChatML"), once loaded. */
  get chatWrapperName(): string | undefined {
    return this.loaded?.chat?.chatWrapper.wrapperName;
  }

  stats(): EngineStats {
    const embedder = this.loaded?.embedder;
    if (embedder !== undefined) return { parallel: 1, busySequences: embedder.busy, queueDepth: embedder.queueDepth, maxQueue: this.opts.maxQueue };
    const slots = this.chat?.slots;
    return {
      parallel: this.opts.parallel,
      busySequences: slots?.busy ?? 0,
      queueDepth: slots?.queueDepth ?? 0,
      maxQueue: this.opts.maxQueue,
      ...(slots !== undefined ? { kvCache: slots.kvCacheUse() } : {}),
    };
  }

  // ---------------------------------------------------------------- loading

  load(): Promise<void> {
    if (this._state === 'idle' || this._state === 'failed') {
      this.loadPromise = this.doLoad();
      return this.loadPromise;
    }
    if (this.loadPromise !== undefined && this._state !== 'closed') return this.loadPromise;
    return Promise.reject(new NotAcceptingError(`Cannot load: the engine is ${this._state}`));
  }

  private async doLoad(): Promise<void> {
    this._state = 'loading';
    this._progress = 0;
    this.nativeLog.startCapture();
    this.loadAbort = new AbortController();
    if (this.opts.resolveModelPath) {
      try {
        this.modelPath = await this.opts.resolveModelPath(this.loadAbort.signal);
      } catch (err) {
        this.nativeLog.stopCapture();
        if (this._state === 'loading') this._state = 'failed';
        throw err;
      }
    }
    const modelPath = this.modelPath;
    try {
      const loaded = await loadModel({
        opts: this.opts,
        modelPath,
        signal: this.loadAbort.signal,
        nativeLog: this.nativeLog,
        modelId: this.modelId,
        // 1 is reported only when the context exists too.
        onProgress: (progress) => {
          this._progress = Math.min(progress, 0.99);
        },
        onPartial: (partial) => {
          this.loaded = partial;
        },
      });
      if (loaded.chat !== undefined) {
        const { context, chatWrapper, sequences } = loaded.chat;
        const slots = new SequenceSlots(sequences, this.opts.maxQueue, this.opts.promptReuse ?? true, context.batchSize, this.log);
        const generator = new Generator(loaded.lease.llama, loaded.model, chatWrapper, slots, this.work, this.log, () => this._state === 'closed');
        this.chat = { slots, generator };
      }
      this.nativeLog.stopCapture();
      this._progress = 1;
      this._state = this.drainRequested ? 'draining' : 'ready';
    } catch (err) {
      this.loaded?.lease?.markFailedLoad();
      // llama.cpp's log lines reach JS through a thread-safe callback, after the failed promise:
      // give them a moment so the error can say *why* (truncated file, unknown architecture...).
      await new Promise((resolve) => setTimeout(resolve, 50));
      this.nativeLog.stopCapture();
      const error = loadError(err, modelPath, this.nativeLog.captured(), this.opts);
      await this.disposeNative();
      this._progress = 0;
      if (this._state === 'loading') this._state = 'failed';
      this.log.error({ err: error, model: this.modelId }, 'model load failed');
      throw error;
    }
  }

  private async disposeNative(): Promise<void> {
    const loaded = this.loaded;
    this.loaded = undefined;
    this.chat = undefined;
    await disposeLoaded(loaded, this.log);
  }

  // ---------------------------------------------------------------- requests

  /** Prompt tokens of `input` after the chat template (what `started.promptTokens` will report). */
  countTokens(input: GenerationInput): number {
    return this.generator().prepare(input).tokens.length;
  }

  /** Tokens of plain text (special tokens parsed), for the cheap pre-checks of input-bounds.ts; undefined before load. */
  countTextTokens(text: string): number | undefined {
    return this.model?.tokenize(text, true).length;
  }

  /**
   * Tokens of `text` as llama-server's /tokenize gives them: `addSpecial` adds the begin/end tokens the model's
   * vocabulary asks for (llama.cpp `add_special`), `parseSpecial` reads special-token text such as
   * `<|im_start|>` as those tokens. Undefined before load.
   */
  tokenize(text: string, opts: { addSpecial: boolean; parseSpecial: boolean }): number[] | undefined {
    const model = this.model;
    if (model === undefined) return undefined;
    const tokens: number[] = model.tokenize(text, opts.parseSpecial);
    if (opts.addSpecial) {
      const { bos, eos, shouldPrependBosToken, shouldAppendEosToken } = model.tokens;
      if (shouldPrependBosToken && bos != null) tokens.unshift(bos);
      if (shouldAppendEosToken && eos != null) tokens.push(eos);
    }
    return tokens;
  }

  /** Text of token ids, special tokens as their text (llama-server's /detokenize); InvalidInputError for an id outside the vocabulary. */
  detokenize(tokens: readonly number[]): string | undefined {
    const model = this.model;
    if (model === undefined) return undefined;
    const vocabulary = this.vocabularySize ?? Number.POSITIVE_INFINITY;
    const bad = tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= vocabulary);
    if (bad >= 0) throw new InvalidInputError(`tokens[${bad}] is ${tokens[bad]}, not a token id of this model (0 to ${vocabulary - 1}).`, `tokens[${bad}]`);
    return model.detokenize(tokens as Token[], true);
  }

  /** Number of tokens in the model's vocabulary, once loaded. */
  get vocabularySize(): number | undefined {
    return this.model?.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
  }

  private generator(): Generator {
    const generator = this.chat?.generator;
    if (generator === undefined) throw new NotAcceptingError(`Not accepting requests: the engine is ${this._state}`);
    return generator;
  }

  /**
   * Start a generation. Throws synchronously: NotAcceptingError (not ready / draining),
   * PromptTooLongError (before queueing), QueueFullError. Otherwise returns a single-use async
   * iterable of events ending with `done`; it throws only on an internal llama.cpp failure.
   * Breaking out of the iteration aborts the generation and frees the sequence.
   */
  generate(input: GenerationInput, sampling: SamplingOptions, signal: AbortSignal): AsyncIterable<GenerationEvent> {
    if (this._state !== 'ready') throw new NotAcceptingError(`Not accepting requests: the engine is ${this._state}`);
    if (this.loaded?.embedder !== undefined) throw new NotAcceptingError('This engine serves embeddings, not generation');
    const { slots, generator } = this.chat as ChatRuntime;
    const arrival = performance.now();
    const prepared = generator.prepare(input);
    const promptTokens = prepared.tokens.length;
    const limit = this.sequenceContextSize;
    // LlamaChat needs prompt + 1 free cell (< contextSize), LlamaCompletion prompt <= contextSize - 1: keep 2.
    const maxPromptTokens = limit - 2;
    if (promptTokens > maxPromptTokens) throw new PromptTooLongError(promptTokens, limit, maxPromptTokens);
    // node-llama-cpp treats maxTokens 0 as "unlimited": never pass it. Clamp to the room left, so the
    // generation ends with 'length' instead of a context shift.
    const requested = Number.isFinite(sampling.maxTokens) ? Math.floor(sampling.maxTokens) : limit;
    const maxTokens = Math.max(1, Math.min(requested, limit - promptTokens));

    const sequence = slots.tryAcquire(prepared.tokens);
    let ticket: QueueTicket<NonNullable<typeof sequence>> | undefined;
    if (sequence === undefined) {
      if (slots.queueFull) throw new QueueFullError(this.retryAfterSeconds(slots), slots.queueDepth);
      ticket = slots.enqueue();
    }
    const controller = new AbortController();
    const channel = new EventChannel(() => {
      controller.abort(new GenerationAbortedError('The consumer stopped reading the generation'));
    });
    const job: GenerationJob = { prepared, maxTokens, sampling, external: signal, controller, channel, arrival, sequence, ticket, cachedTokens: 0 };
    if (ticket !== undefined) channel.push({ type: 'queued', position: ticket.position });
    this.jobs.add(job);
    job.finished = generator
      .run(job)
      .catch((err: unknown) => {
        this.log.error({ err }, 'generation failed');
        channel.fail(err);
      })
      .finally(() => {
        this.jobs.delete(job);
      });
    return channel;
  }

  /** What this engine serves (EngineOptions.kind). */
  get kind(): 'chat' | 'embedding' {
    return this.opts.kind ?? 'chat';
  }

  /** Length of the embedding vectors (embedding engines, once loaded). */
  get embeddingDimensions(): number | undefined {
    return this.loaded?.embedder?.dimensions;
  }

  /**
   * Embed inputs (embedding engines). Rejects with NotAcceptingError (not ready, draining, or a chat
   * engine), InvalidInputError (too long, bad token id) or QueueFullError before anything runs.
   */
  async embed(inputs: readonly EmbeddingInput[], signal: AbortSignal): Promise<EmbeddingResult> {
    const embedder = this.loaded?.embedder;
    if (this._state !== 'ready' || embedder === undefined) {
      throw new NotAcceptingError(
        embedder === undefined && this._state === 'ready' ? 'This engine serves chat, not embeddings' : `Not accepting requests: the engine is ${this._state}`,
      );
    }
    return embedder.request(inputs, signal);
  }

  /** State -> 'draining': new generate() calls throw NotAcceptingError; accepted ones (queued too) finish. */
  drain(): void {
    if (this._state === 'ready') this._state = 'draining';
    else if (this._state === 'idle' || this._state === 'loading') this.drainRequested = true;
  }

  /** Abort everything, dispose context, model and llama. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    if (this._state === 'ready') this._state = 'draining';
    this.loadAbort.abort(new ModelLoadError('Model load aborted: the engine is closing'));
    if (this.loadPromise !== undefined) await this.loadPromise.catch(() => undefined);
    const reason = new GenerationAbortedError('The engine is closing');
    this.chat?.slots.rejectAll(reason);
    const embeddings = this.loaded?.embedder?.closeAll(reason);
    for (const job of this.jobs) job.controller.abort(reason);
    await embeddings;
    await Promise.allSettled([...this.jobs].map((job) => job.finished));
    await this.disposeNative();
    this._state = 'closed';
    this.log.info({ model: this.modelId }, 'inference engine closed');
  }

  /** Test hook: tokens held in the KV cache by each idle sequence (all 0 = every idle sequence is clean; with prompt reuse they keep what they evaluated). */
  idleSequenceTokenCounts(): number[] {
    return this.chat?.slots.idleTokenCounts() ?? [];
  }

  /**
   * Seconds until the work already admitted (running and queued generations) is done, estimated from
   * measured prefill and decode rates (`WorkEstimate`): a client retrying after that finds room.
   */
  private retryAfterSeconds(slots: SequenceSlots): number {
    const now = performance.now();
    const pending = [...this.jobs].map((job) => ({
      promptTokens: job.prepared.tokens.length - job.cachedTokens,
      maxTokens: job.maxTokens,
      elapsedMs: job.startedAt === undefined ? 0 : now - job.startedAt,
    }));
    const seconds = Math.ceil(this.work.drainMs(pending, slots.total) / 1000);
    return Math.min(3600, Math.max(1, seconds));
  }
}
