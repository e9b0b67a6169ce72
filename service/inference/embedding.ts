/**
 * Embeddings through one node-llama-cpp embedding context (`model.createEmbeddingContext()`).
 *
 * node-llama-cpp's LlamaEmbeddingContext evaluates one input at a time on its single sequence (it erases
 * the sequence, evaluates the tokens with the model's pooling and reads the pooled vector), so a request's
 * inputs run one after another and requests wait in the same bounded FIFO as generations do (429 with
 * Retry-After beyond MAX_QUEUE). Each input gets the model's own begin/end tokens (CLS/SEP for BERT) the
 * way `getEmbeddingFor` adds them, and token counts are taken the same way (`calculateInputLength`).
 *
 * Vectors are L2-normalised, as OpenAI's embeddings are (clients compare them by dot product).
 */
import { performance } from 'node:perf_hooks';
import type { LlamaEmbeddingContext, LlamaModel, Token } from 'node-llama-cpp';
import { GenerationAbortedError, InvalidInputError, QueueFullError } from './errors.js';
import { SlotPool } from './queue.js';

/** One input: text, or token ids. */
export type EmbeddingInput = string | readonly number[];

export interface EmbeddingResult {
  /** One unit vector per input, in input order. */
  vectors: Float32Array[];
  /** Tokens evaluated over all inputs (begin/end tokens included). */
  promptTokens: number;
}

/** Before anything was measured, assume one input takes this long (a small CPU embedding model). */
const initialMsPerInput = 200;

export class EmbeddingRunner {
  private readonly pool: SlotPool<LlamaEmbeddingContext>;
  private msPerInput = initialMsPerInput;
  private pendingInputs = 0;
  /** Requests admitted through `request()`, so `closeAll()` can abort them and wait for them. */
  private readonly requests = new Map<AbortController, Promise<unknown>>();

  constructor(
    private readonly context: LlamaEmbeddingContext,
    private readonly model: LlamaModel,
    /** Usable tokens per input (the embedding context's size). */
    private readonly contextSize: number,
    maxQueue: number,
  ) {
    this.pool = new SlotPool([context], maxQueue);
  }

  /** Length of the vectors this model produces. */
  get dimensions(): number {
    return this.model.embeddingVectorSize;
  }

  get busy(): number {
    return this.pool.busy;
  }

  get queueDepth(): number {
    return this.pool.queueDepth;
  }

  /** Prompt tokens of one input as it will be evaluated; throws InvalidInputError / PromptTooLongError. */
  private tokensOf(input: EmbeddingInput, index: number): number {
    if (typeof input !== 'string') {
      const vocabulary = this.model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? Number.POSITIVE_INFINITY;
      const bad = input.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= vocabulary);
      if (bad >= 0)
        throw new InvalidInputError(`input[${index}][${bad}] is ${input[bad]}, not a token id of this model (0 to ${vocabulary - 1}).`, `input[${index}]`);
    }
    const count = this.context.calculateInputLength(typeof input === 'string' ? input : (input.slice() as Token[]));
    // getEmbeddingFor refuses inputs of contextSize tokens or more.
    if (count >= this.contextSize) {
      throw new InvalidInputError(
        `input[${index}] has ${count} tokens; this model embeds at most ${this.contextSize - 1} tokens per input. Please shorten or split it.`,
        `input[${index}]`,
      );
    }
    return count;
  }

  /**
   * Embed every input in order. Validation (lengths, token ids, queue room) happens before anything runs,
   * so a request either fails at once or is admitted whole. `signal` stops between inputs.
   */
  async embed(inputs: readonly EmbeddingInput[], signal: AbortSignal): Promise<EmbeddingResult> {
    let promptTokens = 0;
    inputs.forEach((input, i) => {
      promptTokens += this.tokensOf(input, i);
    });
    let context = this.pool.tryAcquire();
    if (context === undefined) {
      if (this.pool.queueFull) throw new QueueFullError(this.retryAfterSeconds(inputs.length), this.pool.queueDepth);
      const ticket = this.pool.enqueue();
      const leave = () => ticket.cancel(new GenerationAbortedError('The client went away while waiting'));
      signal.addEventListener('abort', leave, { once: true });
      this.pendingInputs += inputs.length;
      try {
        context = await ticket.promise;
      } finally {
        this.pendingInputs -= inputs.length;
        signal.removeEventListener('abort', leave);
      }
    }
    this.pendingInputs += inputs.length;
    try {
      const vectors: Float32Array[] = [];
      for (const input of inputs) {
        if (signal.aborted) throw new GenerationAbortedError('The embedding request was aborted');
        const started = performance.now();
        const embedding = await context.getEmbeddingFor(typeof input === 'string' ? input : (input.slice() as Token[]));
        this.msPerInput = this.msPerInput * 0.8 + (performance.now() - started) * 0.2;
        vectors.push(normalised(embedding.vector));
      }
      return { vectors, promptTokens };
    } finally {
      this.pendingInputs -= inputs.length;
      this.pool.release(context);
    }
  }

  /** Seconds until the inputs already admitted are embedded, from the measured time per input. */
  private retryAfterSeconds(newInputs: number): number {
    const ms = (this.pendingInputs + newInputs) * this.msPerInput;
    return Math.min(3600, Math.max(1, Math.ceil(ms / 1000)));
  }

  /**
   * `embed()` for one HTTP request: `signal` (the client's) is linked to a controller of our own, so that
   * `closeAll()` can stop every request in flight and wait until each has let go of the context.
   */
  async request(inputs: readonly EmbeddingInput[], signal: AbortSignal): Promise<EmbeddingResult> {
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal.reason);
    if (signal.aborted) ac.abort(signal.reason);
    else signal.addEventListener('abort', onAbort, { once: true });
    const promise = this.embed(inputs, ac.signal);
    this.requests.set(ac, promise);
    try {
      return await promise;
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.requests.delete(ac);
    }
  }

  /** Rejects the waiters, aborts the running requests with `reason` and resolves once all of them ended. */
  async closeAll(reason: unknown): Promise<void> {
    this.pool.rejectAll(reason);
    const running = [...this.requests];
    for (const [ac] of running) ac.abort(reason);
    await Promise.allSettled(running.map(([, promise]) => promise));
  }

  dispose(): Promise<void> {
    return this.context.dispose();
  }
}

function normalised(vector: readonly number[]): Float32Array {
  let sum = 0;
  for (const x of vector) sum += x * x;
  const norm = Math.sqrt(sum);
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = norm > 0 ? (vector[i] as number) / norm : 0;
  return out;
}
