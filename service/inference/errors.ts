/**
 * Errors the engine throws synchronously from `generate()` / `load()`, so the HTTP layer can map
 * them to status codes before it sends any response header.
 */

/** The queue in front of the busy sequences is full (HTTP 429 with Retry-After). */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
  constructor(
    /** Estimate from the average generation time and the queue length; at least 1. */
    readonly retryAfterSeconds: number,
    readonly queueDepth: number,
  ) {
    super(`Server busy: ${queueDepth} requests are already waiting; retry in about ${retryAfterSeconds} s`);
  }
}

/** The prompt alone does not fit in one sequence's context (HTTP 400). Checked before queueing. */
export class PromptTooLongError extends Error {
  override name = 'PromptTooLongError';
  constructor(
    readonly promptTokens: number,
    /** The per-sequence context size. */
    readonly limit: number,
    /** Largest prompt accepted: the context minus room for at least one generated token. */
    readonly maxPromptTokens: number,
  ) {
    super(
      `The prompt has ${promptTokens} tokens but the context window of a sequence is ${limit} tokens ` +
        `(at most ${maxPromptTokens} prompt tokens, leaving room to generate)`,
    );
  }
}

/** The input cannot be evaluated as given, e.g. a token id outside the vocabulary (HTTP 400). */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
  constructor(
    message: string,
    /** The request field at fault, in OpenAI's param form. */
    readonly param: string,
  ) {
    super(message);
  }
}

/** The engine is not ready (loading, failed), draining or closed (HTTP 503). */
export class NotAcceptingError extends Error {
  override name = 'NotAcceptingError';
}

/** The model could not be loaded; the message says why in one line. */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

/** Reason given to node-llama-cpp when the consumer stops iterating or the engine closes. */
export class GenerationAbortedError extends Error {
  override name = 'AbortError';
}

/** True when an abort reason means "timed out" (AbortSignal.timeout() or abort('timeout')). */
export function isTimeoutReason(reason: unknown): boolean {
  if (reason === 'timeout') return true;
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
}
