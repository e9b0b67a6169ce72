/**
 * The inference engine: one GGUF model, one llama.cpp context with `parallel` sequences, a bounded FIFO
 * queue in front of them, and token streaming as async iterables.
 *
 * Life cycle: idle -> loading -> ready (-> draining) -> closed, or loading -> failed.
 *
 * A request (`generate()`) is validated synchronously — state, prompt length, queue capacity — so the
 * HTTP layer can answer 503/400/429 before it commits to a status code. It then runs in the background:
 * wait for a sequence (FIFO), evaluate the prompt in batch-sized chunks (abortable between chunks),
 * emit `started`, generate with LlamaChat / LlamaCompletion while token chunks flow through an
 * EventChannel, emit `done` and hand the sequence to the oldest waiter.
 *
 * Prompt reuse (`promptReuse`, default on): a sequence keeps the prompt it evaluated after a request (not
 * the answer it generated). A request admitted while sequences are free takes the one whose kept tokens
 * share the longest prefix with its prompt, when that prefix is more than a tenth of the prompt (else, and
 * on ties, the least recently used), erases that sequence's tokens after the shared prefix, and evaluates
 * only the rest. A queued request takes the sequence released next, as before, so the queue stays FIFO. A
 * sequence whose request failed is cleared.
 *
 * Stopping: the caller's AbortSignal (client disconnect, timeout) or the consumer leaving its
 * `for await` loop aborts the generation within one token (node-llama-cpp `stopOnAbortSignal`).
 */
import { randomInt } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  InsufficientMemoryError,
  LlamaChat,
  LlamaCompletion,
  LlamaLogLevel,
  resolveChatWrapper,
  TokenBias,
  type ChatHistoryItem,
  type ChatWrapper,
  type LlamaChatResponseChunk,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import type { Logger } from 'pino';
import {
  GenerationAbortedError,
  InvalidInputError,
  isTimeoutReason,
  ModelLoadError,
  NotAcceptingError,
  PromptTooLongError,
  QueueFullError,
} from './errors.js';
import { acquireLlama, type LlamaLease } from './llama.js';
import { chatPromptTokens, completionPromptTokens, toChatHistory } from './prompt.js';
import { EmbeddingRunner, type EmbeddingInput, type EmbeddingResult } from './embedding.js';
import { EventChannel, SlotPool, type QueueTicket } from './queue.js';
import { jsonSchemaToGbnf } from './grammar/index.js';
import { generateScored } from './scored.js';
import { chatFunctions, forcedCallChatWrapper, type ChatFunctions } from './tools.js';
import { WorkEstimate } from './work-estimate.js';
import type {
  EngineOptions,
  EngineState,
  EngineStats,
  FinishReason,
  GenerationEvent,
  GenerationInput,
  LogitBias,
  OutputGrammar,
  SamplingOptions,
  TokenLogprob,
} from './types.js';
import { maxSeed } from './types.js';
import { kvCacheUse } from './kv-cache-use.js';

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
  ToolDefinition,
  ToolsOption,
  TokenLogprob,
} from './types.js';
export { maxSeed } from './types.js';
export type { EmbeddingInput, EmbeddingResult } from './embedding.js';
export { InvalidInputError, ModelLoadError, NotAcceptingError, PromptTooLongError, QueueFullError } from './errors.js';

type Prepared =
  | { kind: 'chat'; history: ChatHistoryItem[]; tokens: Token[]; functions?: ChatFunctions; forceCall: boolean; maxParallelCalls?: number }
  | { kind: 'completion'; input: Token[]; tokens: Token[] };

interface Job {
  readonly prepared: Prepared;
  readonly maxTokens: number;
  readonly sampling: SamplingOptions;
  readonly external: AbortSignal;
  readonly controller: AbortController;
  readonly channel: EventChannel;
  readonly arrival: number;
  sequence: LlamaContextSequence | undefined;
  ticket: QueueTicket<LlamaContextSequence> | undefined;
  /** performance.now() when the job got its sequence (undefined while it waits). */
  startedAt?: number;
  /** Prompt tokens reused from the sequence's cache (known once the job has its sequence). */
  cachedTokens: number;
  finished?: Promise<void>;
}
/**
 * Prompt tokens are always evaluated in batches of at least this many, and prompt reuse leaves at least this
 * many to evaluate. ggml's CPU matrix multiply takes a different path for a batch of one token (llamafile_sgemm
 * declines n < 2, ggml/src/ggml-cpu/llamafile/sgemm.cpp, and the row-by-row vec_dot runs instead), and the two
 * round differently: a token evaluated alone gets KV cells a batch would not give it, which is enough to change
 * a greedy answer. With F16/F32 weights, batches of two or more give every token the same cells whatever the
 * batch, so a prompt evaluated in pieces (reused prefix + rest) decodes exactly as one evaluated whole
 * (test/service/prompt-reuse.test.ts); with Q8_0 weights a conversation was measured to diverge after a few
 * turns all the same (README, "Prompt reuse").
 */
const minFreshTokens = 2;

/**
 * A request takes the sequence sharing the longest prefix with it only when that prefix is more than this
 * fraction of its prompt, else the least recently used sequence: llama.cpp's server does the same with its
 * default `--slot-prompt-similarity 0.1` (common/common.h `slot_prompt_similarity`, tools/server/
 * server-context.cpp `get_available_slot`).
 */
const minSharedFraction = 0.1;

/** Keep the last native (llama.cpp) warnings/errors of a load attempt to explain a failure. */
const maxLoadLogLines = 8;

export class InferenceEngine {
  private readonly opts: EngineOptions;
  private readonly log: Logger;
  private _state: EngineState = 'idle';
  private _progress = 0;
  private llamaLease: LlamaLease | undefined;
  private model: LlamaModel | undefined;
  private context: LlamaContext | undefined;
  private chatWrapper: ChatWrapper | undefined;
  private pool: SlotPool<LlamaContextSequence> | undefined;
  private embedder: EmbeddingRunner | undefined;
  private readonly jobs = new Set<Job>();
  private readonly embeddingRequests = new Set<AbortController>();
  private readonly embeddingPromises = new Set<Promise<unknown>>();
  private loadPromise: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;
  private loadAbort = new AbortController();
  private drainRequested = false;
  private loadLog: string[] = [];
  private readonly work = new WorkEstimate();
  /** The GGUF file; replaced by `resolveModelPath`'s answer when that is set. */
  private modelPath: string;
  private readonly promptReuse: boolean;
  /** When each sequence was last released (a counter, not a clock): least recently used goes first. */
  private readonly lastReleased = new Map<LlamaContextSequence, number>();
  private releases = 0;

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
    this.promptReuse = opts.promptReuse ?? true;
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
    return this.chatWrapper?.wrapperName;
  }

  stats(): EngineStats {
    const embedder = this.embedder;
    if (embedder !== undefined) return { parallel: 1, busySequences: embedder.busy, queueDepth: embedder.queueDepth, maxQueue: this.opts.maxQueue };
    const pool = this.pool;
    return {
      parallel: this.opts.parallel,
      busySequences: pool?.busy ?? 0,
      queueDepth: pool?.queueDepth ?? 0,
      maxQueue: this.opts.maxQueue,
      ...(pool !== undefined ? { kvCache: kvCacheUse(pool) } : {}),
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
    const { threads, contextSize, parallel, gpuLayers, batchSize } = this.opts;
    this._state = 'loading';
    this._progress = 0;
    this.loadLog = [];
    this.loadAbort = new AbortController();
    if (this.opts.resolveModelPath) {
      try {
        this.modelPath = await this.opts.resolveModelPath(this.loadAbort.signal);
      } catch (err) {
        if (this._state === 'loading') this._state = 'failed';
        throw err;
      }
    }
    const modelPath = this.modelPath;
    const t0 = performance.now();
    try {
      await checkGgufFile(modelPath);
      this.llamaLease = await acquireLlama({
        gpu: gpuLayers === 0 ? false : 'auto',
        maxThreads: threads,
        onLog: this.onNativeLog,
      });
      const llama = this.llamaLease.llama;
      // GPU_LAYERS=max (or a count) on a node where no GPU backend loads (CPU image, missing driver,
      // a device plugin that exposes nothing) would otherwise serve from a few CPU threads in a pod
      // sized for GPU-resident weights, with every probe green. Refuse instead; 'auto' may fall back.
      if (gpuLayers !== 'auto' && gpuLayers !== 0 && llama.gpu === false) {
        throw new ModelLoadError(
          `GPU_LAYERS=${gpuLayers} but no GPU backend is available (node-llama-cpp found none: wrong image, no driver, or no GPU assigned to the container). Use the -cuda image on a GPU node, or set GPU_LAYERS=0 (or auto) to run on the CPU`,
        );
      }
      this.model = await llama.loadModel({
        modelPath,
        gpuLayers,
        loadSignal: this.loadAbort.signal,
        onLoadProgress: (progress) => {
          // 1 is reported only when the context exists too.
          this._progress = Math.min(progress, 0.99);
        },
      });
      if (this.loadAbort.signal.aborted) throw new ModelLoadError('Model load aborted: the engine is closing');
      await this.opts.checkBeforeContext?.(modelPath, this.model.fileInfo);
      if (this.opts.kind === 'embedding') {
        const embeddingContext = await this.model.createEmbeddingContext({
          contextSize,
          threads,
          ...(batchSize !== undefined ? { batchSize } : {}),
          createSignal: this.loadAbort.signal,
        });
        this.embedder = new EmbeddingRunner(embeddingContext, this.model, contextSize, this.opts.maxQueue);
        if (this.loadAbort.signal.aborted) throw new ModelLoadError('Model load aborted: the engine is closing');
        this._progress = 1;
        this._state = this.drainRequested ? 'draining' : 'ready';
        this.log.info(
          {
            model: this.modelId,
            kind: 'embedding',
            architecture: this.model.fileInfo.metadata?.general?.architecture,
            sizeBytes: this.model.size,
            dimensions: this.embedder.dimensions,
            contextSize,
            threads,
            loadMs: Math.round(performance.now() - t0),
          },
          'model loaded',
        );
        return;
      }
      this.context = await this.model.createContext({
        contextSize,
        sequences: parallel,
        threads,
        ...(batchSize !== undefined ? { batchSize } : {}),
        // Fail clearly instead of silently retrying with a smaller context.
        failedCreationRemedy: false,
        createSignal: this.loadAbort.signal,
      });
      this.chatWrapper = resolveChatWrapper(this.model);
      const sequences: LlamaContextSequence[] = [];
      for (let i = 0; i < parallel; i++) sequences.push(this.context.getSequence());
      this.pool = new SlotPool(sequences, this.opts.maxQueue);
      if (this.loadAbort.signal.aborted) throw new ModelLoadError('Model load aborted: the engine is closing');
      this._progress = 1;
      this._state = this.drainRequested ? 'draining' : 'ready';
      this.log.info(
        {
          model: this.modelId,
          architecture: this.model.fileInfo.metadata?.general?.architecture,
          sizeBytes: this.model.size,
          trainedContextSize: this.model.trainContextSize,
          sequenceContextSize: this.context.contextSize,
          parallel,
          threads,
          batchSize: this.context.batchSize,
          gpu: llama.gpu,
          gpuLayers: this.model.gpuLayers,
          chatWrapper: this.chatWrapper.wrapperName,
          loadMs: Math.round(performance.now() - t0),
        },
        'model loaded',
      );
    } catch (err) {
      this.llamaLease?.markFailedLoad();
      // llama.cpp's log lines reach JS through a thread-safe callback, after the failed promise:
      // give them a moment so the error can say *why* (truncated file, unknown architecture...).
      await new Promise((resolve) => setTimeout(resolve, 50));
      const error = this.toLoadError(err);
      await this.disposeNative();
      this._progress = 0;
      if (this._state === 'loading') this._state = 'failed';
      this.log.error({ err: error, model: this.modelId }, 'model load failed');
      throw error;
    }
  }

  /** llama.cpp and node-llama-cpp log lines (warn and above, as configured) go to pino. */
  private readonly onNativeLog = (level: LlamaLogLevel, message: string): void => {
    const text = message.trim();
    if (text === '') return;
    if (this._state === 'loading' && (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal || level === LlamaLogLevel.warn)) {
      this.loadLog.push(text);
      if (this.loadLog.length > maxLoadLogLines) this.loadLog.shift();
    }
    if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) this.log.error({ source: 'llama.cpp' }, text);
    else if (level === LlamaLogLevel.warn) this.log.warn({ source: 'llama.cpp' }, text);
    else this.log.debug({ source: 'llama.cpp' }, text);
  };

  private toLoadError(err: unknown): ModelLoadError {
    const file = this.modelPath;
    if (err instanceof ModelLoadError) return err;
    const detail = err instanceof Error ? err.message : String(err);
    const native = [...new Set(this.loadLog)].join(' | ');
    const all = `${detail} ${native}`;
    const suffix = native !== '' && !detail.includes(native) ? ` (llama.cpp: ${native})` : '';
    let message: string;
    if (err instanceof InsufficientMemoryError || /out of memory|failed to allocate|insufficient memory|too large for the available/i.test(all)) {
      message = `Not enough memory to load ${file} with a context of ${this.opts.contextSize} tokens x ${this.opts.parallel} sequences: ${detail}`;
    } else if (/unknown model architecture|unsupported model architecture|unknown architecture/i.test(all)) {
      message = `Unsupported model architecture in ${file} (this llama.cpp build cannot run it): ${detail}`;
    } else if (/not within the file bounds|unexpected end|truncat|out of range|offset|EOF|corrupt|parse GGUF|read key-value/i.test(all)) {
      message = `${file} is truncated or corrupt: ${detail}`;
    } else if (/magic|not a gguf|invalid gguf/i.test(all)) {
      message = `${file} is not a GGUF file: ${detail}`;
    } else {
      message = `Failed to load ${file}: ${detail}`;
    }
    return new ModelLoadError(message + suffix, { cause: err });
  }

  private async disposeNative(): Promise<void> {
    const { context, model, llamaLease, embedder } = this;
    this.pool = undefined;
    this.embedder = undefined;
    this.context = undefined;
    this.model = undefined;
    this.llamaLease = undefined;
    this.chatWrapper = undefined;
    for (const dispose of [() => embedder?.dispose(), () => context?.dispose(), () => model?.dispose(), () => llamaLease?.release()]) {
      try {
        await dispose();
      } catch (err) {
        this.log.warn({ err }, 'error while disposing llama.cpp resources');
      }
    }
  }

  // ---------------------------------------------------------------- requests

  /** Prompt tokens of `input` after the chat template (what `started.promptTokens` will report). */
  countTokens(input: GenerationInput): number {
    return this.prepare(input).tokens.length;
  }

  /** Tokens of plain text (special tokens parsed), for the cheap pre-checks of input-bounds.ts; undefined before load. */
  countTextTokens(text: string): number | undefined {
    return this.model?.tokenize(text, true).length;
  }

  /**
   * Start a generation. Throws synchronously: NotAcceptingError (not ready / draining),
   * PromptTooLongError (before queueing), QueueFullError. Otherwise returns a single-use async
   * iterable of events ending with `done`; it throws only on an internal llama.cpp failure.
   * Breaking out of the iteration aborts the generation and frees the sequence.
   */
  generate(input: GenerationInput, sampling: SamplingOptions, signal: AbortSignal): AsyncIterable<GenerationEvent> {
    if (this._state !== 'ready') throw new NotAcceptingError(`Not accepting requests: the engine is ${this._state}`);
    if (this.embedder !== undefined) throw new NotAcceptingError('This engine serves embeddings, not generation');
    const pool = this.pool as SlotPool<LlamaContextSequence>;
    const arrival = performance.now();
    const prepared = this.prepare(input);
    const promptTokens = prepared.tokens.length;
    const limit = this.sequenceContextSize;
    // LlamaChat needs prompt + 1 free cell (< contextSize), LlamaCompletion prompt <= contextSize - 1: keep 2.
    const maxPromptTokens = limit - 2;
    if (promptTokens > maxPromptTokens) throw new PromptTooLongError(promptTokens, limit, maxPromptTokens);
    // node-llama-cpp treats maxTokens 0 as "unlimited": never pass it. Clamp to the room left, so the
    // generation ends with 'length' instead of a context shift.
    const requested = Number.isFinite(sampling.maxTokens) ? Math.floor(sampling.maxTokens) : limit;
    const maxTokens = Math.max(1, Math.min(requested, limit - promptTokens));

    const sequence = pool.tryAcquire(this.promptReuse ? (free) => this.pickSequence(free, prepared.tokens) : undefined);
    let ticket: QueueTicket<LlamaContextSequence> | undefined;
    if (sequence === undefined) {
      if (pool.queueFull) throw new QueueFullError(this.retryAfterSeconds(pool), pool.queueDepth);
      ticket = pool.enqueue();
    }
    const controller = new AbortController();
    const channel = new EventChannel(() => {
      controller.abort(new GenerationAbortedError('The consumer stopped reading the generation'));
    });
    const job: Job = { prepared, maxTokens, sampling, external: signal, controller, channel, arrival, sequence, ticket, cachedTokens: 0 };
    if (ticket !== undefined) channel.push({ type: 'queued', position: ticket.position });
    this.jobs.add(job);
    job.finished = this.run(job)
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
    return this.embedder?.dimensions;
  }

  /**
   * Embed inputs (embedding engines). Rejects with NotAcceptingError (not ready, draining, or a chat
   * engine), InvalidInputError (too long, bad token id) or QueueFullError before anything runs.
   */
  async embed(inputs: readonly EmbeddingInput[], signal: AbortSignal): Promise<EmbeddingResult> {
    const embedder = this.embedder;
    if (this._state !== 'ready' || embedder === undefined) {
      throw new NotAcceptingError(
        embedder === undefined && this._state === 'ready' ? 'This engine serves chat, not embeddings' : `Not accepting requests: the engine is ${this._state}`,
      );
    }
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal.reason);
    if (signal.aborted) ac.abort(signal.reason);
    else signal.addEventListener('abort', onAbort, { once: true });
    this.embeddingRequests.add(ac);
    const promise = embedder.embed(inputs, ac.signal);
    this.embeddingPromises.add(promise);
    try {
      return await promise;
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.embeddingRequests.delete(ac);
      this.embeddingPromises.delete(promise);
    }
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
    this.pool?.rejectAll(reason);
    this.embedder?.rejectWaiters(reason);
    for (const job of this.jobs) job.controller.abort(reason);
    for (const ac of this.embeddingRequests) ac.abort(reason);
    await Promise.allSettled([...this.embeddingPromises]);
    await Promise.allSettled([...this.jobs].map((job) => job.finished));
    await this.disposeNative();
    this._state = 'closed';
    this.log.info({ model: this.modelId }, 'inference engine closed');
  }

  /** Test hook: tokens held in the KV cache by each idle sequence (all 0 = every idle sequence is clean; with prompt reuse they keep what they evaluated). */
  idleSequenceTokenCounts(): number[] {
    return this.pool?.idleItems().map((sequence) => sequence.nextTokenIndex) ?? [];
  }

  private prepare(input: GenerationInput): Prepared {
    const model = this.model;
    const chatWrapper = this.chatWrapper;
    if (model === undefined || chatWrapper === undefined) {
      throw new NotAcceptingError(`Not accepting requests: the engine is ${this._state}`);
    }
    if (input.kind === 'chat') {
      const history = toChatHistory(input.messages);
      const functions = input.tools !== undefined && input.tools.tools.length > 0 ? chatFunctions(input.tools.tools) : undefined;
      return {
        kind: 'chat',
        history,
        tokens: chatPromptTokens(model, chatWrapper, history, functions),
        ...(functions !== undefined ? { functions } : {}),
        forceCall: functions !== undefined && input.tools?.mode === 'required',
        ...(input.tools?.maxParallelCalls !== undefined ? { maxParallelCalls: Math.max(1, input.tools.maxParallelCalls) } : {}),
      };
    }
    if (input.tokens !== undefined) {
      const vocabulary = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? Number.POSITIVE_INFINITY;
      const bad = input.tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= vocabulary);
      if (bad >= 0) {
        throw new InvalidInputError(`prompt[${bad}] is ${input.tokens[bad]}, not a token id of this model (0 to ${vocabulary - 1}).`, `prompt[${bad}]`);
      }
      const ids = input.tokens as Token[];
      // LlamaCompletion prepends the BOS token itself when the model wants one (as for a text prompt).
      const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
      return { kind: 'completion', input: ids, tokens: bos != null ? [bos, ...ids] : ids };
    }
    const { input: tokens, full } = completionPromptTokens(model, input.prompt);
    return { kind: 'completion', input: tokens, tokens: full };
  }

  /**
   * Seconds until the work already admitted (running and queued generations) is done, estimated from
   * measured prefill and decode rates (`WorkEstimate`): a client retrying after that finds room.
   */
  private retryAfterSeconds(pool: SlotPool<LlamaContextSequence>): number {
    const now = performance.now();
    const pending = [...this.jobs].map((job) => ({
      promptTokens: job.prepared.tokens.length - job.cachedTokens,
      maxTokens: job.maxTokens,
      elapsedMs: job.startedAt === undefined ? 0 : now - job.startedAt,
    }));
    const seconds = Math.ceil(this.work.drainMs(pending, pool.total) / 1000);
    return Math.min(3600, Math.max(1, seconds));
  }

  private async run(job: Job): Promise<void> {
    const { controller, channel, external, prepared } = job;
    const signal = controller.signal;
    const promptTokens = prepared.tokens.length;
    const onExternalAbort = () => controller.abort(external.reason);
    if (external.aborted) controller.abort(external.reason);
    else external.addEventListener('abort', onExternalAbort, { once: true });

    // 'done' is delivered after the sequence is back in the pool: when the consumer's loop ends,
    // stats() already shows the sequence free (or handed to the next waiter).
    let done: GenerationEvent | undefined;
    const logprobs: TokenLogprob[] | undefined = job.sampling.logprobs !== undefined ? [] : undefined;
    const finish = (finishReason: FinishReason, completionTokens: number, text: string, toolCalls?: Array<{ name: string; arguments: string }>) => {
      done = {
        type: 'done',
        finishReason,
        promptTokens,
        completionTokens,
        cachedTokens: job.cachedTokens,
        text,
        ...(toolCalls !== undefined && toolCalls.length > 0 ? { toolCalls } : {}),
        ...(logprobs !== undefined ? { logprobs } : {}),
      };
    };

    // A sequence whose generation failed is cleared: nothing guarantees its kept tokens match its KV cells.
    let keepTokens = this.promptReuse;
    try {
      if (job.sequence === undefined) {
        const ticket = job.ticket as QueueTicket<LlamaContextSequence>;
        const leave = () => ticket.cancel(signal.reason);
        signal.addEventListener('abort', leave, { once: true });
        if (signal.aborted) leave();
        try {
          job.sequence = await ticket.promise;
        } catch {
          finish(abortReason(signal), 0, '');
          return;
        } finally {
          signal.removeEventListener('abort', leave);
        }
      }
      const sequence = job.sequence;
      const started = performance.now();
      job.startedAt = started;
      if (this.promptReuse) job.cachedTokens = await this.keepSharedPrefix(sequence, prepared.tokens);
      await this.prefill(sequence, prepared.tokens, signal);
      if (signal.aborted) {
        finish(abortReason(signal), 0, '');
        return;
      }
      channel.push({ type: 'started', promptTokens, queuedMs: Math.round(started - job.arrival) });

      // Hot path state: one closure per request, a few field updates per token chunk.
      let text = '';
      let pendingTokens = 0;
      let emittedTokens = 0;
      let firstTokenAt: number | undefined;
      const onTokens = (count: number) => {
        firstTokenAt ??= performance.now();
        pendingTokens += count;
      };
      const onText = (chunk: string, scored?: TokenLogprob) => {
        if (chunk === '' && scored === undefined) return;
        text += chunk;
        emittedTokens += pendingTokens;
        if (scored !== undefined) logprobs?.push(scored);
        channel.pushText(chunk, pendingTokens, scored !== undefined ? [scored] : undefined);
        pendingTokens = 0;
      };
      const outputBefore = sequence.tokenMeter.usedOutputTokens;
      let outcome: GenerationOutcome;
      try {
        outcome = await this.generateOn(sequence, job, onTokens, onText);
      } catch (err) {
        keepTokens = false;
        if (!signal.aborted) throw err;
        outcome = { stopReason: 'abort' };
      }
      const { stopReason, toolCalls } = outcome;
      const sampled = sequence.tokenMeter.usedOutputTokens - outputBefore;
      const finishReason: FinishReason =
        toolCalls !== undefined && toolCalls.length > 0
          ? 'tool_calls'
          : stopReason === 'maxTokens'
            ? 'length'
            : stopReason === 'abort'
              ? abortReason(signal)
              : 'stop';
      const completionTokens = finishReason === 'length' ? job.maxTokens : Math.max(sampled, emittedTokens + pendingTokens);
      const ended = performance.now();
      const serviceMs = ended - started;
      if (finishReason !== 'abort' && finishReason !== 'timeout') {
        this.work.observe({
          // The prefill rate is per evaluated token: reused ones cost nothing.
          promptTokens: promptTokens - job.cachedTokens,
          completionTokens,
          maxTokens: job.maxTokens,
          prefillMs: (firstTokenAt ?? ended) - started,
          decodeMs: ended - (firstTokenAt ?? ended),
        });
      }
      this.log.debug(
        { promptTokens, cachedTokens: job.cachedTokens, completionTokens, finishReason, queuedMs: Math.round(started - job.arrival), serviceMs: Math.round(serviceMs) },
        'generation finished',
      );
      finish(finishReason, completionTokens, text, toolCalls);
    } catch (err) {
      keepTokens = false;
      throw err;
    } finally {
      external.removeEventListener('abort', onExternalAbort);
      if (job.sequence !== undefined) await this.recycle(job.sequence, keepTokens ? prepared.tokens : undefined);
      if (done !== undefined) {
        channel.push(done);
        channel.end();
      }
    }
  }

  /**
   * The free sequence to serve `tokens`: the one whose kept tokens share the longest prefix with them
   * (counted up to what reuse may keep, see `minFreshTokens`; ties broken by least recent use), provided
   * that prefix is more than `minSharedFraction` of the prompt; otherwise the least recently used one, so
   * a new conversation does not evict a kept one for the sake of a common template header.
   * `compareContextTokens` stops at the first difference, so this costs the shared length per free sequence.
   */
  private pickSequence(free: readonly LlamaContextSequence[], tokens: readonly Token[]): number {
    const usable = Math.max(0, tokens.length - minFreshTokens);
    let best = -1;
    let bestShared = -1;
    let bestReleased = Number.POSITIVE_INFINITY;
    let oldest = -1;
    let oldestReleased = Number.POSITIVE_INFINITY;
    free.forEach((sequence, i) => {
      const shared = Math.min(usable, sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex);
      const released = this.lastReleased.get(sequence) ?? -1;
      if (shared > bestShared || (shared === bestShared && released < bestReleased)) {
        best = i;
        bestShared = shared;
        bestReleased = released;
      }
      if (released < oldestReleased) {
        oldest = i;
        oldestReleased = released;
      }
    });
    return bestShared > minSharedFraction * tokens.length ? best : oldest;
  }

  /**
   * Erase what the sequence holds after its longest common prefix with `tokens` (at most all but the last
   * token: the generator must evaluate one token to sample from) and return how many prompt tokens were
   * kept without being evaluated again.
   *
   * node-llama-cpp (3.21, `LlamaContextSequence` in dist/evaluator/LlamaContext/LlamaContext.js):
   * `compareContextTokens` gives the first index where the sequence's tokens and `tokens` differ;
   * `eraseContextTokenRanges` removes those KV cells (`removeTokenCellsFromSequence`). When the cells
   * cannot be removed (a sliding-window or recurrent model whose cache no longer holds that position) it
   * re-evaluates what remains itself; the token meter counts that, and those tokens are not reported as
   * cached. LlamaChat and LlamaCompletion then align with the kept state the same way
   * (`alignCurrentSequenceStateWithCurrentTokens` / `adaptStateToTokens(tokens, false)`: evaluation
   * continues from the first difference), so the prompt is never evaluated twice.
   */
  private async keepSharedPrefix(sequence: LlamaContextSequence, tokens: readonly Token[]): Promise<number> {
    const shared = Math.min(Math.max(0, tokens.length - minFreshTokens), sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex);
    if (sequence.nextTokenIndex > shared) {
      const evaluatedBefore = sequence.tokenMeter.usedInputTokens;
      await sequence.eraseContextTokenRanges([{ start: shared, end: sequence.nextTokenIndex }]);
      const reEvaluated = sequence.tokenMeter.usedInputTokens - evaluatedBefore;
      return Math.max(0, Math.min(shared, sequence.nextTokenIndex) - reEvaluated);
    }
    return sequence.nextTokenIndex;
  }

  /**
   * Evaluate long prompts in abortable chunks from where the sequence's kept tokens end, leaving the last
   * batch (at least one token) to the generator: a prompt that fits one batch then costs one decode, not
   * two (measured 234 -> 220 ms time to first token on a 54-token prompt), and a long one still stops at
   * the next chunk on abort.
   */
  private async prefill(sequence: LlamaContextSequence, tokens: Token[], signal: AbortSignal): Promise<void> {
    const step = Math.max(minFreshTokens, this.context?.batchSize ?? 512);
    const end = Math.max(0, tokens.length - step);
    let i = sequence.nextTokenIndex;
    // Never a one-token chunk (see `minFreshTokens`): when the last chunk would hold one token, the first is one shorter.
    if (end > i && (end - i) % step === 1) {
      if (signal.aborted) return;
      await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(i, i + step - 1));
      i += step - 1;
    }
    for (; i < end; i += step) {
      if (signal.aborted) return;
      await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(i, Math.min(end, i + step)));
    }
  }

  private async generateOn(
    sequence: LlamaContextSequence,
    job: Job,
    onTokens: (count: number) => void,
    onText: (chunk: string, scored?: TokenLogprob) => void,
  ): Promise<GenerationOutcome> {
    const { sampling, prepared, maxTokens } = job;
    const model = this.model as LlamaModel;
    const stop = sampling.stop?.filter((s) => s !== '');
    const penalized = (sampling.presencePenalty ?? 0) !== 0 || (sampling.frequencyPenalty ?? 0) !== 0;
    const common = {
      maxTokens,
      temperature: sampling.temperature,
      // Explicit values: node-llama-cpp's own defaults (topP 0.95, topK 40) must never apply silently.
      topP: sampling.topP ?? 1,
      topK: sampling.topK ?? 0,
      minP: sampling.minP ?? 0,
      seed: sampling.seed ?? randomSeed(),
      customStopTriggers: stop !== undefined && stop.length > 0 ? stop : undefined,
      signal: job.controller.signal,
      stopOnAbortSignal: true,
      // OpenAI semantics: no multiplicative repetition penalty; presence/frequency penalties (llama.cpp's
      // penalties sampler: logit -= count * frequency + (count > 0) * presence) over every generated token.
      repeatPenalty: penalized
        ? {
            penalty: 1,
            presencePenalty: sampling.presencePenalty ?? 0,
            frequencyPenalty: sampling.frequencyPenalty ?? 0,
            lastTokens: maxTokens,
            penalizeNewLine: true,
          }
        : (false as const),
      tokenBias: sampling.logitBias !== undefined && sampling.logitBias.size > 0 ? tokenBiasOf(model, sampling.logitBias) : undefined,
    };
    if (sampling.logprobs !== undefined) {
      // The HTTP layer refuses logprobs together with tools or a grammar.
      const generatedTokens: Token[] = [];
      const result = await generateScored(
        model,
        sequence,
        prepared.tokens,
        {
          maxTokens,
          top: sampling.logprobs.top,
          stop: stop ?? [],
          signal: job.controller.signal,
          generated: generatedTokens,
          sampling: {
            temperature: common.temperature ?? 0,
            topP: common.topP,
            topK: common.topK,
            minP: common.minP,
            seed: common.seed,
            ...(common.tokenBias !== undefined ? { tokenBias: common.tokenBias } : {}),
            ...(penalized
              ? {
                  repeatPenalty: {
                    punishTokens: () => generatedTokens,
                    maxPunishTokens: maxTokens,
                    penalty: 1,
                    presencePenalty: sampling.presencePenalty ?? 0,
                    frequencyPenalty: sampling.frequencyPenalty ?? 0,
                  },
                }
              : {}),
          },
        },
        (piece, scored) => {
          onTokens(1);
          onText(piece, scored);
        },
      );
      return { stopReason: result.stopReason === 'stopString' ? 'customStopTrigger' : result.stopReason };
    }
    const grammar = sampling.grammar === undefined ? undefined : await this.grammarFor(sampling.grammar);
    if (prepared.kind === 'chat') {
      const wrapper = this.chatWrapper as ChatWrapper;
      const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: prepared.forceCall ? forcedCallChatWrapper(wrapper) : wrapper });
      const toolCallArgs: string[] = [];
      try {
        const onResponseChunk = (chunk: LlamaChatResponseChunk) => {
          onTokens(chunk.tokens.length);
          // Main response only; segments (e.g. thoughts of reasoning models) are counted, not emitted.
          if (chunk.type === undefined) onText(chunk.text);
        };
        if (prepared.functions !== undefined) {
          const result = await chat.generateResponse(prepared.history, {
            ...common,
            functions: prepared.functions,
            documentFunctionParams: true,
            ...(prepared.maxParallelCalls !== undefined ? { maxParallelFunctionCalls: prepared.maxParallelCalls } : {}),
            onResponseChunk,
            onFunctionCallParamsChunk: (chunk) => {
              const first = toolCallArgs[chunk.callIndex] === undefined;
              toolCallArgs[chunk.callIndex] = (toolCallArgs[chunk.callIndex] ?? '') + chunk.paramsChunk;
              if (first || chunk.paramsChunk !== '') {
                job.channel.push({ type: 'tool_call', index: chunk.callIndex, name: chunk.functionName, argumentsDelta: chunk.paramsChunk });
              }
            },
          });
          const calls = (result.functionCalls ?? []).map((call, i) => ({
            name: call.functionName,
            // The streamed text is what the client saw; fall back to re-serialising the parsed params.
            arguments: toolCallArgs[i] ?? JSON.stringify(call.params ?? {}),
          }));
          return { stopReason: result.metadata.stopReason, ...(calls.length > 0 ? { toolCalls: calls } : {}) };
        }
        const result = await chat.generateResponse(prepared.history, { ...common, ...(grammar ? { grammar } : {}), onResponseChunk });
        return { stopReason: result.metadata.stopReason };
      } finally {
        chat.dispose({ disposeSequence: false });
      }
    }
    const completion = new LlamaCompletion({ contextSequence: sequence });
    try {
      const result = await completion.generateCompletionWithMeta(prepared.input, {
        ...common,
        ...(grammar ? { grammar } : {}),
        onToken: (tokens) => onTokens(tokens.length),
        onTextChunk: onText,
        // Never drop the start of the prompt silently; the prompt was checked to fit.
        disableContextShift: true,
        contextShiftSize: 1,
      });
      return { stopReason: result.metadata.stopReason };
    } finally {
      completion.dispose({ disposeSequence: false });
    }
  }

  /** node-llama-cpp grammars are compiled per request (a GBNF grammar is cheap next to a generation). */
  private async grammarFor(grammar: OutputGrammar): Promise<LlamaGrammar> {
    const llama = (this.llamaLease as LlamaLease).llama;
    if (grammar.kind === 'json') return llama.getGrammarFor('json');
    // The HTTP layer converted the schema / parsed the GBNF first and answered 400 for what fails here.
    const gbnf = grammar.kind === 'gbnf' ? grammar.gbnf : jsonSchemaToGbnf(grammar.schema);
    return llama.createGrammar({ grammar: gbnf });
  }

  /**
   * Give the sequence to the oldest waiter (or back to the free list). Without prompt reuse, or after a
   * failed generation, its KV cache and token history are cleared first; with reuse they stay for the next
   * request that shares a prefix with them. Either way the sequence's cells are its own (llama.cpp gives
   * every sequence of a non-unified KV cache its own `contextSize` cells, `kv_unified` defaults to false in
   * src/llama-context.cpp and node-llama-cpp does not set it), so kept tokens never take room from another
   * sequence, and the next request erases them past the shared prefix before it evaluates: the context
   * check in generate() (prompt + max_tokens within one sequence's context) holds as before.
   */
  private async recycle(sequence: LlamaContextSequence, prompt: readonly Token[] | undefined): Promise<void> {
    try {
      if (prompt === undefined) await sequence.clearHistory();
      else {
        // Keep the prompt, drop what was generated: a generated token's KV cells were computed in a decode
        // step of its own, whose arithmetic differs from a prompt batch's (see `keepSharedPrefix`).
        const kept = sequence.compareContextTokens(prompt as Token[]).firstDifferentIndex;
        if (sequence.nextTokenIndex > kept) await sequence.eraseContextTokenRanges([{ start: kept, end: sequence.nextTokenIndex }]);
      }
    } catch (err) {
      if (this._state !== 'closed' && this.context !== undefined) this.log.warn({ err }, 'could not clear a sequence');
    }
    this.lastReleased.set(sequence, ++this.releases);
    this.pool?.release(sequence);
  }
}

interface GenerationOutcome {
  stopReason: string;
  toolCalls?: Array<{ name: string; arguments: string }>;
}

/** A fresh seed per unseeded generation, from the range llama.cpp keeps (see `maxSeed`). */
function randomSeed(): number {
  return randomInt(0, maxSeed + 1);
}

/** OpenAI logit_bias (token id -> offset) as a node-llama-cpp TokenBias (logit offsets, 'never' = banned). */
function tokenBiasOf(model: LlamaModel, bias: LogitBias): TokenBias {
  const tokenBias = new TokenBias(model.tokenizer);
  for (const [token, value] of bias) tokenBias.set(token as Token, value === 'never' ? 'never' : { logit: value });
  return tokenBias;
}

function abortReason(signal: AbortSignal): FinishReason {
  return isTimeoutReason(signal.reason) ? 'timeout' : 'abort';
}

/** Fail fast with a clear message before handing the file to llama.cpp. */
async function checkGgufFile(file: string): Promise<void> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ModelLoadError(`Model file not found: ${file}`, { cause: err });
    if (code === 'EACCES') throw new ModelLoadError(`Model file is not readable (permissions): ${file}`, { cause: err });
    throw new ModelLoadError(`Cannot open model file ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new ModelLoadError(`Model path is not a regular file: ${file}`);
    const magic = Buffer.alloc(4);
    const { bytesRead } = await handle.read(magic, 0, 4, 0);
    if (bytesRead < 4 || magic.toString('latin1') !== 'GGUF') {
      throw new ModelLoadError(
        `${file} is not a GGUF file (it starts with ${JSON.stringify(magic.subarray(0, bytesRead).toString('latin1'))}, ` +
          `expected "GGUF"; ${stat.size} bytes)`,
      );
    }
  } finally {
    await handle.close();
  }
}
