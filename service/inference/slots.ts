/**
 * The context's sequences as slots: which free sequence a request gets, what of its kept prompt it reuses,
 * how the rest of the prompt is evaluated, and what a sequence keeps when it is handed back.
 *
 * Prompt reuse (`promptReuse`, default on): a sequence keeps the prompt it evaluated after a request (not
 * the answer it generated). A request admitted while sequences are free takes the one whose kept tokens
 * share the longest prefix with its prompt, when that prefix is more than a tenth of the prompt (else, and
 * on ties, the least recently used), erases that sequence's tokens after the shared prefix, and evaluates
 * only the rest. A queued request takes the sequence released next, so the queue stays FIFO. A sequence
 * whose request failed is cleared.
 */
import { kvCacheUse } from './kv-cache-use.js';
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import type { Logger } from 'pino';
import { SlotPool, type QueueTicket } from './queue.js';

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

export class SequenceSlots {
  private readonly pool: SlotPool<LlamaContextSequence>;
  /** When each sequence was last released (a counter, not a clock): least recently used goes first. */
  private readonly lastReleased = new Map<LlamaContextSequence, number>();
  private releases = 0;

  constructor(
    sequences: LlamaContextSequence[],
    maxQueue: number,
    /** PROMPT_CACHE: keep evaluated prompts for the next request (EngineOptions.promptReuse). */
    readonly promptReuse: boolean,
    /** The context's batch size (prompt chunks are this long). */
    private readonly batchSize: number,
    private readonly log: Logger,
  ) {
    this.pool = new SlotPool(sequences, maxQueue);
  }

  get total(): number {
    return this.pool.total;
  }

  /** KV cells held by running generations over all cells (the gateway-routing gauge; kv-cache-use.ts). */
  kvCacheUse(): { usedCells: number; cells: number } {
    return kvCacheUse(this.pool);
  }

  get busy(): number {
    return this.pool.busy;
  }

  get queueDepth(): number {
    return this.pool.queueDepth;
  }

  get queueFull(): boolean {
    return this.pool.queueFull;
  }

  /** A free sequence for a prompt of `tokens` (the best reuse candidate with prompt reuse), or undefined when none is free. */
  tryAcquire(tokens: readonly Token[]): LlamaContextSequence | undefined {
    return this.pool.tryAcquire(this.promptReuse ? (free) => this.pickSequence(free, tokens) : undefined);
  }

  /** A place in the FIFO for the next released sequence. */
  enqueue(): QueueTicket<LlamaContextSequence> {
    return this.pool.enqueue();
  }

  rejectAll(reason: unknown): void {
    this.pool.rejectAll(reason);
  }

  /** Tokens held in the KV cache by each idle sequence. */
  idleTokenCounts(): number[] {
    return this.pool.idleItems().map((sequence) => sequence.nextTokenIndex);
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
  async keepSharedPrefix(sequence: LlamaContextSequence, tokens: readonly Token[]): Promise<number> {
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
  async prefill(sequence: LlamaContextSequence, tokens: Token[], signal: AbortSignal): Promise<void> {
    const step = Math.max(minFreshTokens, this.batchSize);
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

  /**
   * Give the sequence to the oldest waiter (or back to the free list). Without prompt reuse, or after a
   * failed generation (`prompt` undefined), its KV cache and token history are cleared first; with reuse they
   * stay for the next request that shares a prefix with them. Either way the sequence's cells are its own
   * (llama.cpp gives every sequence of a non-unified KV cache its own `contextSize` cells, `kv_unified`
   * defaults to false in src/llama-context.cpp and node-llama-cpp does not set it), so kept tokens never take
   * room from another sequence, and the next request erases them past the shared prefix before it evaluates:
   * the context check in generate() (prompt + max_tokens within one sequence's context) holds as before.
   * `quiet` (the engine is closing) drops the warning a failed clear would log.
   */
  async release(sequence: LlamaContextSequence, prompt: readonly Token[] | undefined, quiet: boolean): Promise<void> {
    try {
      if (prompt === undefined) await sequence.clearHistory();
      else {
        // Keep the prompt, drop what was generated: a generated token's KV cells were computed in a decode
        // step of its own, whose arithmetic differs from a prompt batch's (see `keepSharedPrefix`).
        const kept = sequence.compareContextTokens(prompt as Token[]).firstDifferentIndex;
        if (sequence.nextTokenIndex > kept) await sequence.eraseContextTokenRanges([{ start: kept, end: sequence.nextTokenIndex }]);
      }
    } catch (err) {
      if (!quiet) this.log.warn({ err }, 'could not clear a sequence');
    }
    this.lastReleased.set(sequence, ++this.releases);
    this.pool.release(sequence);
  }
}
