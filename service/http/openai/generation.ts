/**
 * Runs one generation for a route: admission errors to status codes, the request timeout, client
 * disconnects, shutdown, metrics and the access-log fields, then either one JSON body or an SSE stream.
 * What the bodies and chunks look like is the route's business (a `Renderer`); this module only decides
 * when to send what.
 *
 * - Errors the engine raises before generating map to status codes: queue full 429 + Retry-After (the
 *   engine's estimate of when the admitted work is done), prompt too long 400 `context_length_exceeded`,
 *   a bad token id 400, not ready / draining 503 + Retry-After.
 * - Streams send their headers as soon as the request is admitted (queued or started); while nothing is
 *   written for SSE_KEEPALIVE_MS (queue wait, prefill) an SSE comment keeps proxies from timing out.
 * - A client that disconnects aborts its generation at once, freeing the sequence within one token.
 * - REQUEST_TIMEOUT_MS (including queue time) stops the generation: the answer so far is returned with
 *   `finish_reason: "length"` (streams end normally with that final chunk and [DONE]); when nothing was
 *   generated yet, a non-streaming request gets 504 `timeout`. Generations cut by a shutdown after
 *   SHUTDOWN_GRACE_MS end the same way (nothing generated: 503).
 * - Prompt and completion text are logged at debug level only.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Config } from '../../config.js';
import {
  InvalidInputError,
  NotAcceptingError,
  PromptTooLongError,
  QueueFullError,
  type EnginePort,
  type FinishReason,
  type GenerationEvent,
  type TokenLogprob,
} from '../engine-port.js';
import { ApiError, badRequest } from '../errors.js';
import type { AbortReason, Lifecycle } from '../lifecycle.js';
import type { Metrics } from '../metrics.js';
import { SseWriter } from '../sse.js';
import type { Endpoint, Job } from './fields.js';

/** What the access log line reports about a generation (never the text). */
export interface GenerationLog {
  endpoint: Endpoint;
  stream: boolean;
  promptTokens?: number;
  completionTokens?: number;
  finishReason?: FinishReason;
  abortReason?: AbortReason;
  queuedMs?: number;
  ttftMs?: number;
  tokensPerSecond?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    generation: GenerationLog | null;
  }
}

export type Done = Extract<GenerationEvent, { type: 'done' }>;
export type ToolCallDelta = Extract<GenerationEvent, { type: 'tool_call' }>;
export type OpenAiFinish = 'stop' | 'length' | 'tool_calls';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** OpenAI's `CompletionUsage.PromptTokensDetails` (openai-node resources/completions.ts). */
  prompt_tokens_details: { cached_tokens: number };
}

/** Usage as OpenAI reports it: `cached_tokens` are the prompt tokens reused from the prompt cache (0 when none). */
export const usageOf = (promptTokens: number, completionTokens: number, cachedTokens = 0): Usage => ({
  prompt_tokens: promptTokens,
  completion_tokens: completionTokens,
  total_tokens: promptTokens + completionTokens,
  prompt_tokens_details: { cached_tokens: cachedTokens },
});

/** OpenAI has no finish reason for "cut short"; `length` (truncated) is the honest one. */
export const toOpenAiFinish = (r: FinishReason): OpenAiFinish => (r === 'stop' || r === 'tool_calls' ? r : 'length');

export const responseId = (prefix: string) => `${prefix}-${randomUUID().replaceAll('-', '')}`;

/** How one endpoint's responses look. One instance per request (it may keep ids and stream state). */
export interface Renderer {
  /** The whole non-streaming body. */
  body(done: Done, text: string): unknown;
  /** Chunks sent right after the headers (chat: the role chunk). */
  streamStart(): unknown[];
  /** One chunk, or an array of events (the Responses API opens an output item before its first delta). */
  streamText(text: string, logprobs?: readonly TokenLogprob[]): unknown;
  /** A tool-call delta (one chunk or an array of events); undefined when the endpoint has no tool calls. */
  streamToolCall(delta: ToolCallDelta): unknown;
  /** The last content chunk(s), carrying the finish reason. */
  streamFinish(done: Done): unknown[];
  /** The usage chunk (`stream_options.include_usage`). */
  streamUsage(done: Done): unknown;
  /**
   * How chunks are framed: `data` (OpenAI: `data:` lines, `data: [DONE]` at the end; the default) or `named`
   * (Anthropic: each chunk is sent as the event its `type` field names, and the stream ends without [DONE]).
   */
  readonly framing?: 'data' | 'named';
  /** Chunks sent when the engine starts the request (the prompt token counts are known then). */
  streamStarted?(promptTokens: number, cachedTokens: number): unknown[];
  /** The body of an error that ends a stream already started; default: the OpenAI error body. */
  streamError?(err: ApiError): unknown;
}

export interface GenerationContext {
  engine: EnginePort;
  lifecycle: Lifecycle;
  metrics: Metrics;
  config: Pick<Config, 'requestTimeoutMs' | 'sseKeepAliveMs'>;
}

export function unavailable(message: string, code: string): ApiError {
  return new ApiError(503, message, 'service_unavailable_error', null, code, { 'retry-after': '5' });
}

function engineError(ctx: GenerationContext, err: unknown, job: Job): unknown {
  const { metrics, lifecycle, engine } = ctx;
  if (err instanceof QueueFullError) {
    metrics.rejected.inc({ reason: 'queue_full' });
    const after = String(Math.max(1, Math.ceil(err.retryAfterSeconds)));
    return new ApiError(429, err.message, 'rate_limit_error', null, 'queue_full', { 'retry-after': after });
  }
  if (err instanceof PromptTooLongError) {
    metrics.rejected.inc({ reason: 'prompt_too_long' });
    const what = job.endpoint === 'chat' ? 'messages' : 'prompt';
    return badRequest(
      `This model's maximum context length is ${err.limit} tokens. However, your ${what} resulted in ` +
        `${err.promptTokens} tokens (at most ${err.maxPromptTokens} prompt tokens fit). Please reduce the length of the ${what}.`,
      what,
      'context_length_exceeded',
    );
  }
  if (err instanceof InvalidInputError) return badRequest(err.message, err.param, 'invalid_value');
  if (err instanceof NotAcceptingError) {
    if (lifecycle.draining || engine.state === 'draining' || engine.state === 'closed') {
      metrics.rejected.inc({ reason: 'draining' });
      return unavailable('The server is shutting down; retry on another replica.', 'draining');
    }
    metrics.rejected.inc({ reason: 'not_ready' });
    return unavailable(`The model is not ready (state: ${engine.state}, loaded ${Math.round(engine.loadProgress * 100)}%).`, 'model_not_ready');
  }
  return err;
}

export async function runGeneration(ctx: GenerationContext, request: FastifyRequest, reply: FastifyReply, job: Job, render: Renderer): Promise<unknown> {
  const { engine, lifecycle, metrics, config } = ctx;
  if (engine.kind === 'embedding') {
    throw new ApiError(
      404,
      'This service serves embeddings (SERVICE_KIND=embedding), not generation; use /v1/embeddings.',
      'invalid_request_error',
      null,
      'unsupported_endpoint',
    );
  }
  const arrival = performance.now() - reply.elapsedTime;
  const log: GenerationLog = { endpoint: job.endpoint, stream: job.stream };
  request.generation = log;
  if (lifecycle.draining) {
    metrics.rejected.inc({ reason: 'draining' });
    throw unavailable('The server is shutting down; retry on another replica.', 'draining');
  }
  request.log.debug({ input: job.input, sampling: job.sampling }, 'generation input');

  const ac = new AbortController();
  let events: AsyncIterable<GenerationEvent>;
  try {
    events = engine.generate(job.input, job.sampling, ac.signal);
  } catch (err) {
    throw engineError(ctx, err, job);
  }

  const untrack = lifecycle.track(ac);
  const timer = setTimeout(() => ac.abort('timeout' satisfies AbortReason), config.requestTimeoutMs);
  const onClose = (): void => {
    if (!reply.raw.writableFinished) ac.abort('client_disconnect' satisfies AbortReason);
  };
  reply.raw.on('close', onClose);

  // Timing and accounting shared by both response modes.
  let firstTokenAt: number | undefined;
  let lastTokenAt: number | undefined;
  let text = '';
  let done: Done | undefined;
  const observe = (ev: GenerationEvent): void => {
    if (ev.type === 'started') {
      log.promptTokens = ev.promptTokens;
      log.queuedMs = Math.round(ev.queuedMs);
      metrics.queueWait.observe(ev.queuedMs / 1000);
    } else if (ev.type === 'text' || ev.type === 'tool_call') {
      const now = performance.now();
      if (firstTokenAt === undefined) {
        firstTokenAt = now;
        log.ttftMs = Math.round(now - arrival);
        metrics.timeToFirstToken.observe({ endpoint: job.endpoint }, (now - arrival) / 1000);
      }
      lastTokenAt = now;
      if (ev.type === 'text') text += ev.text;
    } else if (ev.type === 'done') {
      done = ev;
    }
  };
  const finish = (): Done => {
    const reason = ac.signal.aborted ? (ac.signal.reason as AbortReason) : undefined;
    const d = done ?? {
      type: 'done' as const,
      finishReason: reason === 'timeout' ? ('timeout' as const) : ('abort' as const),
      promptTokens: log.promptTokens ?? 0,
      completionTokens: 0,
      text,
    };
    log.promptTokens = d.promptTokens;
    log.completionTokens = d.completionTokens;
    log.finishReason = d.finishReason;
    if (reason && d.finishReason !== 'stop' && d.finishReason !== 'length' && d.finishReason !== 'tool_calls') log.abortReason = reason;
    const cached = Math.min(d.promptTokens, d.cachedTokens ?? 0);
    metrics.promptTokens.inc({ endpoint: job.endpoint, source: 'cached' }, cached);
    metrics.promptTokens.inc({ endpoint: job.endpoint, source: 'evaluated' }, d.promptTokens - cached);
    metrics.generatedTokens.inc({ endpoint: job.endpoint }, d.completionTokens);
    metrics.generations.inc({ endpoint: job.endpoint, finish_reason: d.finishReason });
    if (firstTokenAt !== undefined && lastTokenAt !== undefined && d.completionTokens >= 2 && lastTokenAt > firstTokenAt) {
      const tps = (d.completionTokens - 1) / ((lastTokenAt - firstTokenAt) / 1000);
      log.tokensPerSecond = Math.round(tps * 10) / 10;
      metrics.tokensPerSecond.observe({ endpoint: job.endpoint }, tps);
    }
    request.log.debug({ text: d.text || text, toolCalls: d.toolCalls }, 'generation output');
    return d;
  };

  try {
    if (job.stream) return await streamResponse();
    return await jsonResponse();
  } finally {
    clearTimeout(timer);
    reply.raw.off('close', onClose);
    untrack();
  }

  async function jsonResponse(): Promise<unknown> {
    let collected = '';
    try {
      for await (const ev of events) {
        observe(ev);
        if (ev.type === 'text') collected += ev.text;
      }
    } catch (err) {
      if (!ac.signal.aborted) throw engineError(ctx, err, job);
    }
    const d = finish();
    const reason = ac.signal.aborted ? (ac.signal.reason as AbortReason) : undefined;
    if (d.completionTokens === 0 && d.finishReason !== 'stop' && d.finishReason !== 'length' && d.finishReason !== 'tool_calls') {
      if (reason === 'shutdown') throw unavailable('The server shut down before the request could run.', 'draining');
      if (reason === 'client_disconnect') return reply.code(499).send();
      throw new ApiError(
        504,
        `The request timed out after ${config.requestTimeoutMs} ms before any token was generated (queue wait included).`,
        'timeout_error',
        null,
        'timeout',
      );
    }
    return reply.send(render.body(d, d.text || collected));
  }

  async function streamResponse(): Promise<unknown> {
    // The engine admitted the request (errors it raises come from generate() itself), so commit to 200 now.
    reply.hijack();
    const sse = new SseWriter(reply.raw, config.sseKeepAliveMs);
    const named = render.framing === 'named';
    const send = (chunks: unknown): void => {
      for (const c of [chunks].flat()) {
        if (named) sse.event(String((c as { type?: unknown }).type), c);
        else sse.data(c);
      }
    };
    sse.open({});
    send(render.streamStart());
    try {
      for await (const ev of events) {
        observe(ev);
        if (ev.type === 'queued') sse.comment(`queued position=${ev.position}`);
        else if (ev.type === 'started' && render.streamStarted !== undefined) send(render.streamStarted(ev.promptTokens, ev.cachedTokens ?? 0));
        else if (ev.type === 'text' && (ev.text !== '' || ev.logprobs !== undefined)) send(render.streamText(ev.text, ev.logprobs));
        else if (ev.type === 'tool_call') send(render.streamToolCall(ev));
      }
    } catch (err) {
      if (!ac.signal.aborted) {
        const e = engineError(ctx, err, job);
        const apiErr = e instanceof ApiError ? e : new ApiError(500, 'The server had an error while generating.', 'server_error');
        if (!(e instanceof ApiError)) reply.log.error({ err }, 'generation failed mid-stream');
        finish();
        const body = render.streamError?.(apiErr) ?? apiErr.toBody();
        if (named) sse.event('error', body);
        else sse.data(body);
        sse.end();
        return reply;
      }
    }
    const d = finish();
    send(render.streamFinish(d));
    if (job.includeUsage) send(render.streamUsage(d));
    if (named) sse.end();
    else sse.done();
    return reply;
  }
}
