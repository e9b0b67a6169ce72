/**
 * POST /v1/messages and POST /v1/messages/count_tokens: Anthropic's Messages API bodies and typed stream events,
 * as the `@anthropic-ai/sdk` client reads them (resources/messages/messages.ts `Message`,
 * `RawMessageStreamEvent`; lib/MessageStream.ts accumulates the events into `finalMessage()`).
 *
 * The request becomes a chat job (fields.ts), runs through the same generation runner as chat completions
 * (service/http/openai/generation.ts: queueing, timeouts, disconnects, metrics), and this module renders it:
 *
 * - body: `{id: "msg_...", type: "message", role: "assistant", model, content: [text and tool_use blocks],
 *   stop_reason, stop_sequence, usage}`;
 * - stream: `message_start` (sent when the engine starts the request, with the prompt's `input_tokens`), for
 *   each block `content_block_start`, `content_block_delta` (`text_delta` or `input_json_delta`),
 *   `content_block_stop`, then `message_delta` (stop_reason and usage) and `message_stop`. While the request
 *   waits in the queue or evaluates its prompt, SSE comments keep proxies from timing out (Anthropic sends
 *   `ping` events; the SDK skips both).
 *
 * Usage follows Anthropic's split: `input_tokens` are the prompt tokens evaluated for this request and
 * `cache_read_input_tokens` those reused from the prompt cache (PROMPT_CACHE), so their sum is what
 * count_tokens answers. llama-server's count_tokens (tools/server/server-context.cpp
 * `post_anthropic_count_tokens`) answers `{input_tokens}` the same way, from the rendered prompt.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { endpoints } from '../../contract.js';
import { NotAcceptingError } from '../engine-port.js';
import { ApiError } from '../errors.js';
import type { MapperSettings } from '../openai/fields.js';
import { runGeneration, unavailable, type Done, type GenerationContext, type Renderer, type ToolCallDelta } from '../openai/generation.js';
import { anthropicErrorBody } from './errors.js';
import { countTokensInput, messagesJob } from './fields.js';
import { CountTokensBody, MessagesBody } from './schemas.js';

const newId = (prefix: string) => `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 24)}`;

type AnthropicStopReason = 'end_turn' | 'stop_sequence' | 'max_tokens' | 'tool_use';

/**
 * `stop_reason` and `stop_sequence`. Anthropic has no reason for "cut short" (timeout, shutdown): `max_tokens`,
 * the answer is truncated.
 */
function stopOf(done: Done): { stop_reason: AnthropicStopReason; stop_sequence: string | null } {
  const r = done.finishReason;
  if (r === 'stop')
    return done.stopSequence !== undefined
      ? { stop_reason: 'stop_sequence', stop_sequence: done.stopSequence }
      : { stop_reason: 'end_turn', stop_sequence: null };
  return { stop_reason: r === 'tool_calls' ? 'tool_use' : 'max_tokens', stop_sequence: null };
}

type ContentBlock = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: unknown };

function parsedInput(args: string): unknown {
  try {
    return JSON.parse(args) as unknown;
  } catch {
    // Cut short (max_tokens) in the middle of the arguments: what was generated, unparsed.
    return {};
  }
}

/** Anthropic's usage: prompt tokens split into evaluated (`input_tokens`) and reused (`cache_read_input_tokens`). */
function usageOf(promptTokens: number, cachedTokens: number, outputTokens: number) {
  const cached = Math.min(promptTokens, cachedTokens);
  return { input_tokens: promptTokens - cached, output_tokens: outputTokens, cache_read_input_tokens: cached, cache_creation_input_tokens: 0 };
}

const doneUsage = (done: Done) => usageOf(done.promptTokens, done.cachedTokens ?? 0, done.completionTokens);

class MessagesRenderer implements Renderer {
  readonly framing = 'named' as const;
  private readonly id = newId('msg');
  private started = false;
  /** Index and kind of the content block open in the stream. */
  private open: { index: number; kind: 'text' | 'tool_use' } | undefined;
  private blocks = 0;
  /** Tool-use ids by the engine's call index (the body reuses those the stream announced). */
  private readonly toolIds: string[] = [];

  constructor(private readonly model: string) {}

  private toolId(index: number): string {
    return (this.toolIds[index] ??= newId('toolu'));
  }

  body(done: Done, text: string): unknown {
    const content: ContentBlock[] = [];
    if (text !== '' || done.toolCalls === undefined) content.push({ type: 'text', text });
    done.toolCalls?.forEach((call, i) => content.push({ type: 'tool_use', id: this.toolId(i), name: call.name, input: parsedInput(call.arguments) }));
    return {
      id: this.id,
      type: 'message',
      role: 'assistant',
      model: this.model,
      content,
      ...stopOf(done),
      usage: doneUsage(done),
    };
  }

  streamStart(): unknown[] {
    return [];
  }

  streamStarted(promptTokens: number, cachedTokens: number): unknown[] {
    return this.messageStart(promptTokens, cachedTokens);
  }

  private messageStart(promptTokens: number, cachedTokens: number): unknown[] {
    if (this.started) return [];
    this.started = true;
    const message = {
      id: this.id,
      type: 'message',
      role: 'assistant',
      model: this.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: usageOf(promptTokens, cachedTokens, 0),
    };
    return [{ type: 'message_start', message }];
  }

  private closeOpen(): unknown[] {
    if (this.open === undefined) return [];
    const stop = { type: 'content_block_stop', index: this.open.index };
    this.open = undefined;
    return [stop];
  }

  private openBlock(kind: 'text' | 'tool_use', contentBlock: ContentBlock): unknown[] {
    const events = this.closeOpen();
    this.open = { index: this.blocks++, kind };
    events.push({ type: 'content_block_start', index: this.open.index, content_block: contentBlock });
    return events;
  }

  streamText(text: string): unknown[] {
    const events = this.messageStart(0, 0);
    if (this.open?.kind !== 'text') events.push(...this.openBlock('text', { type: 'text', text: '' }));
    events.push({ type: 'content_block_delta', index: this.open?.index, delta: { type: 'text_delta', text } });
    return events;
  }

  streamToolCall(delta: ToolCallDelta): unknown[] {
    const events = this.messageStart(0, 0);
    if (this.toolIds[delta.index] === undefined) {
      events.push(...this.openBlock('tool_use', { type: 'tool_use', id: this.toolId(delta.index), name: delta.name, input: {} }));
    }
    if (delta.argumentsDelta !== '') {
      events.push({ type: 'content_block_delta', index: this.open?.index, delta: { type: 'input_json_delta', partial_json: delta.argumentsDelta } });
    }
    return events;
  }

  streamFinish(done: Done): unknown[] {
    const events = this.messageStart(done.promptTokens, done.cachedTokens ?? 0);
    // The body has a text block when nothing else was generated; so has the stream.
    if (this.blocks === 0) events.push(...this.openBlock('text', { type: 'text', text: '' }));
    events.push(...this.closeOpen());
    events.push({ type: 'message_delta', delta: stopOf(done), usage: doneUsage(done) });
    events.push({ type: 'message_stop' });
    return events;
  }

  streamUsage(): unknown {
    return undefined;
  }

  streamError(err: ApiError): unknown {
    return anthropicErrorBody(err);
  }
}

export function messagesRoutes(app: FastifyInstance, ctx: GenerationContext, settings: () => MapperSettings): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  typed.post(endpoints.messages, { schema: { body: MessagesBody } }, async (request, reply) => {
    const job = messagesJob(request.body, settings());
    return runGeneration(ctx, request, reply, job, new MessagesRenderer(ctx.engine.modelId));
  });

  typed.post(endpoints.messagesCountTokens, { schema: { body: CountTokensBody } }, async (request) => {
    const { engine } = ctx;
    if (engine.countTokens === undefined || engine.kind === 'embedding') {
      throw new ApiError(
        404,
        'This service serves embeddings (SERVICE_KIND=embedding), not generation; use /v1/embeddings.',
        'invalid_request_error',
        null,
        'unsupported_endpoint',
      );
    }
    const input = countTokensInput(request.body, settings());
    try {
      return { input_tokens: engine.countTokens(input) };
    } catch (err) {
      if (err instanceof NotAcceptingError) throw unavailable(`The model is not ready (state: ${engine.state}).`, 'model_not_ready');
      throw err;
    }
  });
}
