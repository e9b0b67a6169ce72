/**
 * OpenAI-compatible API: `/v1/models`, `/v1/chat/completions`, `/v1/completions`
 * (paths from `contract.endpoints`), usable by the official `openai` package.
 *
 * Behaviour worth knowing:
 * - `model` may be anything; responses always report the served model id.
 * - `max_tokens` / `max_completion_tokens` default to MAX_TOKENS_LIMIT and may not exceed it (400).
 * - `temperature` defaults to 1 and `top_p` to 1, OpenAI's defaults (the engine itself would be greedy).
 * - Errors the engine raises before generating map to status codes: queue full 429 + Retry-After,
 *   prompt too long 400 `context_length_exceeded`, not ready / draining 503 + Retry-After.
 * - Streams (`stream: true`) send their headers as soon as the request is admitted to the engine
 *   (queued or started), then `chat.completion.chunk` / `text_completion` chunks, an optional usage
 *   chunk (`stream_options.include_usage`) and `data: [DONE]`. While nothing is written for
 *   SSE_KEEPALIVE_MS (queue wait, prefill) an SSE comment keeps proxies from timing out.
 * - A client that disconnects aborts its generation at once, freeing the sequence within one token.
 * - REQUEST_TIMEOUT_MS (including queue time) stops the generation: the answer so far is returned
 *   with `finish_reason: "length"` (streams end normally with that final chunk and [DONE]);
 *   when nothing was generated yet, a non-streaming request gets 504 `timeout`.
 *   Generations cut by a shutdown after SHUTDOWN_GRACE_MS end the same way (nothing generated: 503).
 * - Prompt and completion text are logged at debug level only.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config.js';
import { endpoints } from '../contract.js';
import { bearerAuth } from './auth.js';
import {
  NotAcceptingError,
  PromptTooLongError,
  QueueFullError,
  type ChatMessage,
  type EnginePort,
  type FinishReason,
  type GenerationEvent,
  type GenerationInput,
  type SamplingOptions,
} from './engine-port.js';
import { ApiError, badRequest } from './errors.js';
import type { AbortReason, Lifecycle } from './lifecycle.js';
import type { Metrics } from './metrics.js';
import { ChatCompletionBody, CompletionBody } from './schemas.js';
import { SseWriter } from './sse.js';

export type Endpoint = 'chat' | 'completion';

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

export interface OpenAiOptions {
  engine: EnginePort;
  lifecycle: Lifecycle;
  metrics: Metrics;
  config: Pick<Config, 'apiKey' | 'maxTokensLimit' | 'requestTimeoutMs' | 'sseKeepAliveMs'>;
}

interface Job {
  endpoint: Endpoint;
  input: GenerationInput;
  sampling: SamplingOptions;
  stream: boolean;
  includeUsage: boolean;
}

type OpenAiFinish = 'stop' | 'length';

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

const usageOf = (promptTokens: number, completionTokens: number): Usage => ({
  prompt_tokens: promptTokens,
  completion_tokens: completionTokens,
  total_tokens: promptTokens + completionTokens,
});

/** OpenAI has no finish reason for "cut short"; `length` (truncated) is the honest one. */
const toOpenAiFinish = (r: FinishReason): OpenAiFinish => (r === 'stop' ? 'stop' : 'length');

function unavailable(message: string, code: string): ApiError {
  return new ApiError(503, message, 'service_unavailable_error', null, code, { 'retry-after': '5' });
}

// ---------------------------------------------------------------------------------------------
// Request → engine input
// ---------------------------------------------------------------------------------------------

function chatMessages(body: ChatCompletionBody): ChatMessage[] {
  return body.messages.map((m, i) => {
    let content: string;
    if (typeof m.content === 'string') {
      content = m.content;
    } else {
      content = m.content
        .map((part, j) => {
          if (part.type !== 'text' || typeof part.text !== 'string') {
            throw badRequest(
              `Only text content parts are supported; messages[${i}].content[${j}] has type '${part.type}'.`,
              `messages[${i}].content[${j}].type`,
              'unsupported_content',
            );
          }
          return part.text;
        })
        .join('');
    }
    return { role: m.role === 'developer' ? 'system' : m.role, content };
  });
}

type CommonBody = Pick<ChatCompletionBody, 'max_tokens' | 'temperature' | 'top_p' | 'stop' | 'seed' | 'n'> & {
  max_completion_tokens?: number | null;
};

function sampling(body: CommonBody, limit: number): SamplingOptions {
  if (body.n != null && body.n !== 1) {
    throw badRequest(`n=${body.n} is not supported: this server returns exactly one choice (n must be 1).`, 'n', 'unsupported_value');
  }
  const param = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const requested = body.max_completion_tokens ?? body.max_tokens ?? undefined;
  if (requested !== undefined && requested > limit) {
    throw badRequest(
      `${param} is too large: ${requested}. This server allows at most ${limit} completion tokens per request.`,
      param,
      'invalid_value',
    );
  }
  const stop = body.stop == null ? undefined : (Array.isArray(body.stop) ? body.stop : [body.stop]).filter((s) => s !== '');
  const out: SamplingOptions = { maxTokens: requested ?? limit, temperature: body.temperature ?? 1 };
  if (body.top_p != null) out.topP = body.top_p;
  if (body.seed != null) out.seed = body.seed;
  if (stop && stop.length > 0) out.stop = stop;
  return out;
}

function chatJob(body: ChatCompletionBody, limit: number): Job {
  if (body.logprobs === true) throw badRequest('logprobs is not supported by this server.', 'logprobs', 'unsupported_value');
  if (body.response_format && body.response_format.type !== 'text') {
    throw badRequest(
      `response_format type '${body.response_format.type}' is not supported; only 'text' is.`,
      'response_format.type',
      'unsupported_value',
    );
  }
  return {
    endpoint: 'chat',
    input: { kind: 'chat', messages: chatMessages(body) },
    sampling: sampling(body, limit),
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
  };
}

function completionJob(body: CompletionBody, limit: number): Job {
  if (body.echo === true) throw badRequest('echo is not supported by this server.', 'echo', 'unsupported_value');
  if (body.best_of != null && body.best_of !== 1) throw badRequest('best_of must be 1.', 'best_of', 'unsupported_value');
  if (body.logprobs != null) throw badRequest('logprobs is not supported by this server.', 'logprobs', 'unsupported_value');
  if (body.suffix != null) throw badRequest('suffix is not supported by this server.', 'suffix', 'unsupported_value');
  const prompt = typeof body.prompt === 'string' ? body.prompt : (body.prompt[0] ?? '');
  return {
    endpoint: 'completion',
    input: { kind: 'completion', prompt },
    sampling: sampling(body, limit),
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
  };
}

// ---------------------------------------------------------------------------------------------
// The plugin
// ---------------------------------------------------------------------------------------------

export async function openAiPlugin(app: FastifyInstance, opts: OpenAiOptions): Promise<void> {
  const { engine, lifecycle, metrics, config } = opts;
  const createdAt = Math.floor(Date.now() / 1000);
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  if (config.apiKey) app.addHook('onRequest', bearerAuth(config.apiKey));

  const modelObject = () => ({ id: engine.modelId, object: 'model' as const, created: createdAt, owned_by: 'gguf-on-k8s' });

  api.get(endpoints.models, async () => ({ object: 'list', data: [modelObject()] }));
  api.get(`${endpoints.models}/*`, async (request) => {
    const id = decodeURIComponent((request.params as { '*': string })['*']);
    if (id === engine.modelId) return modelObject();
    throw new ApiError(404, `The model '${id}' does not exist; this server serves '${engine.modelId}'.`, 'invalid_request_error', 'model', 'model_not_found');
  });

  api.post(endpoints.chatCompletions, { schema: { body: ChatCompletionBody } }, async (request, reply) =>
    run(request, reply, chatJob(request.body, config.maxTokensLimit)),
  );
  api.post(endpoints.completions, { schema: { body: CompletionBody } }, async (request, reply) =>
    run(request, reply, completionJob(request.body, config.maxTokensLimit)),
  );

  function engineError(err: unknown, job: Job): unknown {
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
    if (err instanceof NotAcceptingError) {
      if (lifecycle.draining || engine.state === 'draining' || engine.state === 'closed') {
        metrics.rejected.inc({ reason: 'draining' });
        return unavailable('The server is shutting down; retry on another replica.', 'draining');
      }
      metrics.rejected.inc({ reason: 'not_ready' });
      return unavailable(
        `The model is not ready (state: ${engine.state}, loaded ${Math.round(engine.loadProgress * 100)}%).`,
        'model_not_ready',
      );
    }
    return err;
  }

  async function run(request: FastifyRequest, reply: FastifyReply, job: Job): Promise<unknown> {
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
      throw engineError(err, job);
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
    let done: Extract<GenerationEvent, { type: 'done' }> | undefined;
    const observe = (ev: GenerationEvent): void => {
      if (ev.type === 'started') {
        log.promptTokens = ev.promptTokens;
        log.queuedMs = Math.round(ev.queuedMs);
        metrics.queueWait.observe(ev.queuedMs / 1000);
      } else if (ev.type === 'text') {
        const now = performance.now();
        if (firstTokenAt === undefined) {
          firstTokenAt = now;
          log.ttftMs = Math.round(now - arrival);
          metrics.timeToFirstToken.observe({ endpoint: job.endpoint }, (now - arrival) / 1000);
        }
        lastTokenAt = now;
        text += ev.text;
      } else if (ev.type === 'done') {
        done = ev;
      }
    };
    const finish = (): Extract<GenerationEvent, { type: 'done' }> => {
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
      if (reason && d.finishReason !== 'stop' && d.finishReason !== 'length') log.abortReason = reason;
      metrics.promptTokens.inc({ endpoint: job.endpoint }, d.promptTokens);
      metrics.generatedTokens.inc({ endpoint: job.endpoint }, d.completionTokens);
      metrics.generations.inc({ endpoint: job.endpoint, finish_reason: d.finishReason });
      if (firstTokenAt !== undefined && lastTokenAt !== undefined && d.completionTokens >= 2 && lastTokenAt > firstTokenAt) {
        const tps = (d.completionTokens - 1) / ((lastTokenAt - firstTokenAt) / 1000);
        log.tokensPerSecond = Math.round(tps * 10) / 10;
        metrics.tokensPerSecond.observe({ endpoint: job.endpoint }, tps);
      }
      request.log.debug({ text: d.text || text }, 'generation output');
      return d;
    };

    try {
      if (job.stream) return await streamResponse(reply, job, events, observe, finish, ac);
      return await jsonResponse(reply, job, events, observe, finish, ac);
    } finally {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
      untrack();
    }
  }

  async function jsonResponse(
    reply: FastifyReply,
    job: Job,
    events: AsyncIterable<GenerationEvent>,
    observe: (ev: GenerationEvent) => void,
    finish: () => Extract<GenerationEvent, { type: 'done' }>,
    ac: AbortController,
  ): Promise<unknown> {
    let text = '';
    try {
      for await (const ev of events) {
        observe(ev);
        if (ev.type === 'text') text += ev.text;
      }
    } catch (err) {
      if (!ac.signal.aborted) throw engineError(err, job);
    }
    const d = finish();
    const reason = ac.signal.aborted ? (ac.signal.reason as AbortReason) : undefined;
    if (d.completionTokens === 0 && d.finishReason !== 'stop' && d.finishReason !== 'length') {
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
    const content = d.text || text;
    const usage = usageOf(d.promptTokens, d.completionTokens);
    const created = Math.floor(Date.now() / 1000);
    const finishReason = toOpenAiFinish(d.finishReason);
    if (job.endpoint === 'chat') {
      return reply.send({
        id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
        object: 'chat.completion',
        created,
        model: engine.modelId,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content, refusal: null },
            logprobs: null,
            finish_reason: finishReason,
          },
        ],
        usage,
      });
    }
    return reply.send({
      id: `cmpl-${randomUUID().replaceAll('-', '')}`,
      object: 'text_completion',
      created,
      model: engine.modelId,
      choices: [{ text: content, index: 0, logprobs: null, finish_reason: finishReason }],
      usage,
    });
  }

  async function streamResponse(
    reply: FastifyReply,
    job: Job,
    events: AsyncIterable<GenerationEvent>,
    observe: (ev: GenerationEvent) => void,
    finish: () => Extract<GenerationEvent, { type: 'done' }>,
    ac: AbortController,
  ): Promise<unknown> {
    // The engine admitted the request (errors it raises come from generate() itself), so commit to 200 now.
    reply.hijack();
    const sse = new SseWriter(reply.raw, config.sseKeepAliveMs);
    sse.open({});
    const chat = job.endpoint === 'chat';
    const id = chat ? `chatcmpl-${randomUUID().replaceAll('-', '')}` : `cmpl-${randomUUID().replaceAll('-', '')}`;
    const created = Math.floor(Date.now() / 1000);
    const model = engine.modelId;
    const usageField = job.includeUsage ? { usage: null } : {};
    const chunk = (piece: string | null, finishReason: OpenAiFinish | null, role = false) =>
      chat
        ? {
            id,
            object: 'chat.completion.chunk',
            created,
            model,
            choices: [
              {
                index: 0,
                delta: role ? { role: 'assistant', content: '' } : piece === null ? {} : { content: piece },
                logprobs: null,
                finish_reason: finishReason,
              },
            ],
            ...usageField,
          }
        : {
            id,
            object: 'text_completion',
            created,
            model,
            choices: [{ text: piece ?? '', index: 0, logprobs: null, finish_reason: finishReason }],
            ...usageField,
          };

    if (chat) sse.data(chunk(null, null, true));
    try {
      for await (const ev of events) {
        observe(ev);
        if (ev.type === 'queued') sse.comment(`queued position=${ev.position}`);
        else if (ev.type === 'text' && ev.text !== '') sse.data(chunk(ev.text, null));
      }
    } catch (err) {
      if (!ac.signal.aborted) {
        const e = engineError(err, job);
        const apiErr =
          e instanceof ApiError ? e : new ApiError(500, 'The server had an error while generating.', 'server_error');
        if (!(e instanceof ApiError)) reply.log.error({ err }, 'generation failed mid-stream');
        finish();
        sse.data(apiErr.toBody());
        sse.end();
        return reply;
      }
    }
    const d = finish();
    sse.data(chunk(null, toOpenAiFinish(d.finishReason)));
    if (job.includeUsage) {
      const base = chunk(null, null);
      sse.data({ ...base, choices: [], usage: usageOf(d.promptTokens, d.completionTokens) });
    }
    sse.done();
    return reply;
  }
}
