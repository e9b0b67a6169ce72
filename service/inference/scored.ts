/**
 * Generation that reports log probabilities (OpenAI `logprobs` / `top_logprobs`).
 *
 * node-llama-cpp's LlamaChat and LlamaCompletion do not expose what the sampler saw, so this loop drives
 * the sequence directly with `sequence.evaluateWithMetadata(tokens, { probabilities: true }, options)`
 * (node-llama-cpp `LlamaContext.js`, `_evaluate`): for every generated token it returns the distribution
 * the token was drawn from, after temperature, top-p/top-k/min-p, penalties and logit bias (llama.cpp's
 * sampler chain), sorted from the most likely token down. The loop ends at an end-of-generation token
 * (the chat template's end of turn is one), at `maxTokens`, at a stop string, or when `signal` aborts.
 *
 * Chosen tokens always have a probability > 0; alternatives the sampler removed (probability 0) are not
 * listed, since a log probability of -infinity cannot be written in JSON.
 */
import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';

export interface TokenAlternative {
  token: string;
  logprob: number;
}

export interface TokenLogprob extends TokenAlternative {
  /** The `top` most likely tokens at this position (probability > 0), most likely first. */
  top: TokenAlternative[];
}

export interface ScoredOptions {
  maxTokens: number;
  /** Alternatives to report per token (0..20). */
  top: number;
  stop: readonly string[];
  signal: AbortSignal;
  /** Receives the generated token ids as they come (the penalties read it). */
  generated?: Token[];
  /** node-llama-cpp sampling options (temperature, topP, topK, minP, seed, penalties, tokenBias). */
  sampling: Parameters<LlamaContextSequence['evaluateWithMetadata']>[2];
}

export interface ScoredResult {
  stopReason: 'eogToken' | 'maxTokens' | 'stopString' | 'abort';
  tokens: number;
  /** The stop string that ended the generation (stopReason 'stopString'). */
  stopString?: string;
}

/**
 * Generate after the prompt (the part of `prompt` not yet in the sequence is evaluated first). `onToken`
 * receives each token's text and log probabilities once no stop string can start in it any more.
 */
export async function generateScored(
  model: LlamaModel,
  sequence: LlamaContextSequence,
  prompt: readonly Token[],
  opts: ScoredOptions,
  onToken: (text: string, logprob: TokenLogprob) => void,
): Promise<ScoredResult> {
  const pending = prompt.slice(sequence.nextTokenIndex);
  const input = pending.length > 0 ? pending : prompt.slice(-1);
  const generated: Token[] = opts.generated ?? [];
  const held: Array<{ text: string; logprob: TokenLogprob }> = [];
  const longestStop = Math.max(0, ...opts.stop.map((s) => s.length));
  let heldText = '';
  let stopReason: ScoredResult['stopReason'] = 'eogToken';
  let stopString: string | undefined;
  const flush = (keep: number) => {
    // Release held tokens while the text after them is still long enough to hold any stop string's start.
    while (held.length > 0 && heldText.length - (held[0]?.text.length ?? 0) >= keep) {
      const first = held.shift() as { text: string; logprob: TokenLogprob };
      heldText = heldText.slice(first.text.length);
      onToken(first.text, first.logprob);
    }
  };
  // The full distribution is a Map over the whole vocabulary per token (costly with 150k tokens): ask for it
  // only when alternatives are wanted; the chosen token's probability alone is `confidence`.
  const iterator = sequence.evaluateWithMetadata(input as Token[], { probabilities: opts.top > 0, confidence: true }, opts.sampling);
  try {
    for await (const output of iterator) {
      // `probabilities` is present exactly when it was asked for (opts.top > 0).
      const step = output as { token: Token; confidence?: number; probabilities?: Map<Token, number> };
      if (opts.signal.aborted) {
        stopReason = 'abort';
        break;
      }
      const token = step.token;
      const text = model.detokenize([token], false, generated.slice(-16));
      generated.push(token);
      const probability = step.confidence ?? step.probabilities?.get(token) ?? 0;
      const top: TokenAlternative[] = [];
      if (opts.top > 0 && step.probabilities !== undefined) {
        for (const [alternative, p] of step.probabilities) {
          if (p <= 0 || top.length >= opts.top) break;
          top.push({ token: model.detokenize([alternative], false, generated.slice(-17, -1)), logprob: Math.log(p) });
        }
      }
      held.push({ text, logprob: { token: text, logprob: Math.log(Math.max(probability, Number.MIN_VALUE)), top } });
      heldText += text;
      const hit = opts.stop.map((s) => heldText.indexOf(s)).filter((i) => i >= 0);
      if (hit.length > 0) {
        // Emit the tokens that end before the stop string; the stop string and what follows are dropped.
        const cut = Math.min(...hit);
        stopString = opts.stop.find((s) => heldText.indexOf(s) === cut);
        let used = 0;
        while (held.length > 0 && used + (held[0]?.text.length ?? 0) <= cut) {
          const first = held.shift() as { text: string; logprob: TokenLogprob };
          used += first.text.length;
          onToken(first.text, first.logprob);
        }
        held.length = 0;
        heldText = '';
        stopReason = 'stopString';
        break;
      }
      flush(longestStop > 0 ? longestStop - 1 : 0);
      if (generated.length >= opts.maxTokens) {
        stopReason = 'maxTokens';
        break;
      }
    }
  } finally {
    await iterator.return();
  }
  flush(0);
  return { stopReason, tokens: generated.length, ...(stopString !== undefined ? { stopString } : {}) };
}
