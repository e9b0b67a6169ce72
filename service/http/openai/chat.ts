/**
 * POST /v1/chat/completions: `chat.completion` bodies and `chat.completion.chunk` streams, with tool calls
 * (`message.tool_calls`, `finish_reason: "tool_calls"`, incremental `delta.tool_calls`).
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { randomUUID } from 'node:crypto';
import { endpoints } from '../../contract.js';
import { ChatCompletionBody } from '../schemas.js';
import { chatJob, type MapperSettings } from './fields.js';
import type { TokenLogprob } from '../engine-port.js';
import { responseId, runGeneration, toOpenAiFinish, usageOf, type Done, type GenerationContext, type Renderer, type ToolCallDelta } from './generation.js';

const bytesOf = (token: string) => [...Buffer.from(token, 'utf8')];

/** OpenAI's chat `logprobs` object for some tokens. */
function chatLogprobs(entries: readonly TokenLogprob[]) {
  return {
    content: entries.map((e) => ({
      token: e.token,
      logprob: e.logprob,
      bytes: bytesOf(e.token),
      top_logprobs: e.top.map((a) => ({ token: a.token, logprob: a.logprob, bytes: bytesOf(a.token) })),
    })),
    refusal: null,
  };
}

const toolCallId = () => `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`;

class ChatRenderer implements Renderer {
  private readonly id = responseId('chatcmpl');
  private readonly created = Math.floor(Date.now() / 1000);
  /** Ids of the tool calls streamed so far, by call index (reused for the final message). */
  private readonly callIds: string[] = [];

  constructor(
    private readonly model: string,
    private readonly includeUsage: boolean,
  ) {}

  private callId(index: number): string {
    return (this.callIds[index] ??= toolCallId());
  }

  body(done: Done, text: string): unknown {
    const toolCalls = done.toolCalls?.map((call, i) => ({
      id: this.callId(i),
      type: 'function' as const,
      function: { name: call.name, arguments: call.arguments },
    }));
    return {
      id: this.id,
      object: 'chat.completion',
      created: this.created,
      model: this.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: toolCalls !== undefined && text === '' ? null : text,
            refusal: null,
            ...(toolCalls !== undefined ? { tool_calls: toolCalls } : {}),
          },
          logprobs: done.logprobs !== undefined ? chatLogprobs(done.logprobs) : null,
          finish_reason: toOpenAiFinish(done.finishReason),
        },
      ],
      usage: usageOf(done.promptTokens, done.completionTokens, done.cachedTokens),
    };
  }

  private chunk(delta: Record<string, unknown>, finishReason: string | null, logprobs?: readonly TokenLogprob[]): Record<string, unknown> {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, logprobs: logprobs !== undefined ? chatLogprobs(logprobs) : null, finish_reason: finishReason }],
      ...(this.includeUsage ? { usage: null } : {}),
    };
  }

  streamStart(): unknown[] {
    return [this.chunk({ role: 'assistant', content: '' }, null)];
  }

  streamText(text: string, logprobs?: readonly TokenLogprob[]): unknown {
    return this.chunk({ content: text }, null, logprobs);
  }

  streamToolCall(delta: ToolCallDelta): unknown {
    // OpenAI's shape: the first delta of a call carries id, type and name; later ones only argument text.
    const first = this.callIds[delta.index] === undefined;
    const call = first
      ? { index: delta.index, id: this.callId(delta.index), type: 'function', function: { name: delta.name, arguments: delta.argumentsDelta } }
      : { index: delta.index, function: { arguments: delta.argumentsDelta } };
    return this.chunk({ tool_calls: [call] }, null);
  }

  streamFinish(done: Done): unknown[] {
    return [this.chunk({}, toOpenAiFinish(done.finishReason))];
  }

  streamUsage(done: Done): unknown {
    return { ...this.chunk({}, null), choices: [], usage: usageOf(done.promptTokens, done.completionTokens, done.cachedTokens) };
  }
}

export function chatRoutes(app: FastifyInstance, ctx: GenerationContext, settings: () => MapperSettings): void {
  app.withTypeProvider<TypeBoxTypeProvider>().post(endpoints.chatCompletions, { schema: { body: ChatCompletionBody } }, async (request, reply) => {
    const job = chatJob(request.body, settings());
    return runGeneration(ctx, request, reply, job, new ChatRenderer(ctx.engine.modelId, job.includeUsage));
  });
}
