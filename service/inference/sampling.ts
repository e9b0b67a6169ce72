/**
 * The one place where the engine's `SamplingOptions` become node-llama-cpp options. Both generation paths use
 * it: LlamaChat / LlamaCompletion (`generateResponse`, `generateCompletionWithMeta`) and the scored path that
 * reports log probabilities (`sequence.evaluateWithMetadata`, scored.ts), so a sampler setting cannot apply
 * to one and be forgotten in the other. The HTTP side (OpenAI fields -> SamplingOptions) is
 * service/http/openai/fields.ts.
 */
import { randomInt } from 'node:crypto';
import { TokenBias, type LlamaModel, type Token } from 'node-llama-cpp';
import { maxSeed, type LogitBias, type SamplingOptions } from './types.js';

/** The sampler settings both generation paths pass to node-llama-cpp, resolved once per generation. */
export interface LlamaSampling {
  temperature: number | undefined;
  topP: number;
  topK: number;
  minP: number;
  seed: number;
  /** Non-empty stop strings, or undefined when there are none. */
  stop: string[] | undefined;
  tokenBias: TokenBias | undefined;
  /** The repetition penalties, or undefined when every one is neutral (the penalties sampler is then skipped). */
  penalties: { penalty: number; presencePenalty: number; frequencyPenalty: number } | undefined;
}

export function llamaSampling(sampling: SamplingOptions, model: LlamaModel): LlamaSampling {
  const stop = sampling.stop?.filter((s) => s !== '');
  const penalty = sampling.repeatPenalty ?? 1;
  const presencePenalty = sampling.presencePenalty ?? 0;
  const frequencyPenalty = sampling.frequencyPenalty ?? 0;
  const penalized = penalty !== 1 || presencePenalty !== 0 || frequencyPenalty !== 0;
  return {
    temperature: sampling.temperature,
    // Explicit values: node-llama-cpp's own defaults (topP 0.95, topK 40) must never apply silently.
    topP: sampling.topP ?? 1,
    topK: sampling.topK ?? 0,
    minP: sampling.minP ?? 0,
    seed: sampling.seed ?? randomSeed(),
    stop: stop !== undefined && stop.length > 0 ? stop : undefined,
    tokenBias: sampling.logitBias !== undefined && sampling.logitBias.size > 0 ? tokenBiasOf(model, sampling.logitBias) : undefined,
    // OpenAI semantics by default: no multiplicative repetition penalty (llama-server's `repeat_penalty` 1);
    // presence/frequency penalties are llama.cpp's penalties sampler: logit -= count * frequency + (count > 0) * presence.
    penalties: penalized ? { penalty, presencePenalty, frequencyPenalty } : undefined,
  };
}

/** Options for LlamaChat.generateResponse / LlamaCompletion.generateCompletionWithMeta. */
export function generatorOptions(s: LlamaSampling, maxTokens: number, signal: AbortSignal) {
  return {
    maxTokens,
    temperature: s.temperature,
    topP: s.topP,
    topK: s.topK,
    minP: s.minP,
    seed: s.seed,
    customStopTriggers: s.stop,
    signal,
    stopOnAbortSignal: true,
    // The penalties apply over every generated token (lastTokens = maxTokens), newlines included.
    repeatPenalty: s.penalties !== undefined ? { ...s.penalties, lastTokens: maxTokens, penalizeNewLine: true } : (false as const),
    tokenBias: s.tokenBias,
  };
}

/** Options for `sequence.evaluateWithMetadata` (scored.ts): the same sampler, penalties over `generated`. */
export function scoredSamplingOptions(s: LlamaSampling, maxTokens: number, generated: readonly Token[]) {
  return {
    temperature: s.temperature ?? 0,
    topP: s.topP,
    topK: s.topK,
    minP: s.minP,
    seed: s.seed,
    ...(s.tokenBias !== undefined ? { tokenBias: s.tokenBias } : {}),
    ...(s.penalties !== undefined ? { repeatPenalty: { ...s.penalties, punishTokens: () => generated as Token[], maxPunishTokens: maxTokens } } : {}),
  };
}

/** A fresh seed per unseeded generation, from the range llama.cpp keeps (see `maxSeed`). */
export function randomSeed(): number {
  return randomInt(0, maxSeed + 1);
}

/** OpenAI logit_bias (token id -> offset) as a node-llama-cpp TokenBias (logit offsets, 'never' = banned). */
function tokenBiasOf(model: LlamaModel, bias: LogitBias): TokenBias {
  const tokenBias = new TokenBias(model.tokenizer);
  for (const [token, value] of bias) tokenBias.set(token as Token, value === 'never' ? 'never' : { logit: value });
  return tokenBias;
}
