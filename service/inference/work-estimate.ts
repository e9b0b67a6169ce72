/**
 * How long queued and running generations will still take, from what past generations measured.
 *
 * A request's cost is its prompt (prefill, per prompt token) plus its completion (decode, per generated
 * token); how many tokens a request generates is estimated from the share of `max_tokens` past requests
 * used (stop strings and end-of-generation end many early). All three figures are exponentially weighted
 * averages of finished generations, so the estimate follows the load the service actually sees.
 *
 * The engine uses it for the 429 `Retry-After`: the time until the work already admitted (running and
 * queued) is done, spread over the parallel sequences. A shorter value makes clients retry into a full
 * queue again and use up their retries (the official SDKs retry twice).
 */

/** What one finished generation measured. */
export interface GenerationSample {
  promptTokens: number;
  completionTokens: number;
  maxTokens: number;
  /** Time from getting a sequence to the first generated token (prefill). */
  prefillMs: number;
  /** Time from the first generated token to the end. */
  decodeMs: number;
}

/** A generation that is running (elapsed > 0) or waiting (elapsed 0). */
export interface PendingGeneration {
  promptTokens: number;
  maxTokens: number;
  /** ms since it got its sequence; 0 while it waits. */
  elapsedMs: number;
}

/** Weight of the newest sample in the running averages. */
const weight = 0.2;

/**
 * Before anything was measured: the figures of the random-weight test model on 2 CPU cores are far
 * faster than any real model, so start from a deliberately slow 3B-class CPU guess (prefill 2 ms and
 * decode 100 ms per token) until the first generation replaces it.
 */
const initial = { prefillMsPerToken: 2, decodeMsPerToken: 100, completionShare: 1 };

export class WorkEstimate {
  private prefillMsPerToken = initial.prefillMsPerToken;
  private decodeMsPerToken = initial.decodeMsPerToken;
  private completionShare = initial.completionShare;
  private samples = 0;

  get measured(): number {
    return this.samples;
  }

  observe(sample: GenerationSample): void {
    const prefill = sample.promptTokens > 0 ? sample.prefillMs / sample.promptTokens : undefined;
    // The first token comes out of the prefill, the others each cost one decode step.
    const decode = sample.completionTokens > 1 ? sample.decodeMs / (sample.completionTokens - 1) : undefined;
    const share = sample.maxTokens > 0 ? Math.min(1, sample.completionTokens / sample.maxTokens) : undefined;
    const first = this.samples === 0;
    const mix = (old: number, value: number | undefined) =>
      value === undefined || !Number.isFinite(value) ? old : first ? value : old * (1 - weight) + value * weight;
    this.prefillMsPerToken = mix(this.prefillMsPerToken, prefill);
    this.decodeMsPerToken = mix(this.decodeMsPerToken, decode);
    this.completionShare = mix(this.completionShare, share);
    this.samples++;
  }

  /** Expected total duration of a generation with this prompt and max_tokens. */
  expectedMs(promptTokens: number, maxTokens: number): number {
    const completion = Math.max(1, Math.round(maxTokens * this.completionShare));
    return promptTokens * this.prefillMsPerToken + completion * this.decodeMsPerToken;
  }

  /** Time until every pending generation is done, with `parallel` of them running at a time. */
  drainMs(pending: readonly PendingGeneration[], parallel: number): number {
    let total = 0;
    for (const p of pending) total += Math.max(0, this.expectedMs(p.promptTokens, p.maxTokens) - p.elapsedMs);
    return total / Math.max(1, parallel);
  }
}
