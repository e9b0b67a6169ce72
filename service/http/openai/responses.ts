/**
 * POST /v1/responses: OpenAI's Responses API, stateless (`store` must be false or absent and
 * `previous_response_id` is refused: the client sends the conversation in `input`). The request becomes a
 * chat job through fields.ts (`responsesJob`, the same mapping as chat completions); this module renders the
 * `response` object and, with `stream: true`, the typed server-sent events the `openai` SDK's
 * `client.responses.stream` accumulates (openai-node resources/responses/responses.ts event types):
 * response.created, response.in_progress, response.output_item.added, response.content_part.added,
 * response.output_text.delta, response.function_call_arguments.delta, ...done, response.completed.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { endpoints } from '../../contract.js';
import { ResponseCreateBody } from '../schemas.js';
import { responsesJob, type MapperSettings } from './fields.js';
import { runGeneration, type Done, type GenerationContext, type Renderer, type ToolCallDelta } from './generation.js';

const newId = (prefix: string) => `${prefix}_${randomUUID().replaceAll('-', '')}`;

type OutputItem =
  | {
      type: 'message';
      id: string;
      status: 'in_progress' | 'completed';
      role: 'assistant';
      content: Array<{ type: 'output_text'; text: string; annotations: never[]; logprobs: never[] }>;
    }
  | { type: 'function_call'; id: string; call_id: string; name: string; arguments: string; status: 'in_progress' | 'completed' };

class ResponsesRenderer implements Renderer {
  private readonly id = newId('resp');
  private readonly createdAt = Math.floor(Date.now() / 1000);
  private sequence = 0;
  private readonly output: OutputItem[] = [];
  private message: Extract<OutputItem, { type: 'message' }> | undefined;
  private readonly calls = new Map<number, Extract<OutputItem, { type: 'function_call' }>>();

  constructor(
    private readonly model: string,
    private readonly request: ResponseCreateBody,
  ) {}

  private event(type: string, fields: Record<string, unknown>): Record<string, unknown> {
    return { type, sequence_number: this.sequence++, ...fields };
  }

  private response(status: 'in_progress' | 'completed' | 'incomplete', done?: Done): Record<string, unknown> {
    const b = this.request;
    return {
      id: this.id,
      object: 'response',
      created_at: this.createdAt,
      status,
      error: null,
      incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      instructions: b.instructions ?? null,
      max_output_tokens: b.max_output_tokens ?? null,
      model: this.model,
      output: this.output,
      parallel_tool_calls: b.parallel_tool_calls ?? true,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      store: false,
      temperature: b.temperature ?? null,
      text: { format: b.text?.format ?? { type: 'text' } },
      tool_choice: b.tool_choice ?? 'auto',
      tools: b.tools ?? [],
      top_p: b.top_p ?? null,
      truncation: 'disabled',
      usage:
        done === undefined
          ? null
          : {
              input_tokens: done.promptTokens,
              input_tokens_details: { cached_tokens: done.cachedTokens ?? 0 },
              output_tokens: done.completionTokens,
              output_tokens_details: { reasoning_tokens: 0 },
              total_tokens: done.promptTokens + done.completionTokens,
            },
      metadata: b.metadata ?? {},
    };
  }

  private statusOf(done: Done): 'completed' | 'incomplete' {
    return done.finishReason === 'stop' || done.finishReason === 'tool_calls' ? 'completed' : 'incomplete';
  }

  body(done: Done, text: string): unknown {
    if (text !== '' || done.toolCalls === undefined) {
      this.output.push({
        type: 'message',
        id: newId('msg'),
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
      });
    }
    for (const call of done.toolCalls ?? []) {
      this.output.push({ type: 'function_call', id: newId('fc'), call_id: newId('call'), name: call.name, arguments: call.arguments, status: 'completed' });
    }
    return this.response(this.statusOf(done), done);
  }

  streamStart(): unknown[] {
    return [
      this.event('response.created', { response: this.response('in_progress') }),
      this.event('response.in_progress', { response: this.response('in_progress') }),
    ];
  }

  streamText(text: string): unknown[] {
    const events: unknown[] = [];
    if (this.message === undefined) {
      this.message = { type: 'message', id: newId('msg'), status: 'in_progress', role: 'assistant', content: [] };
      this.output.push(this.message);
      const index = this.output.length - 1;
      events.push(this.event('response.output_item.added', { output_index: index, item: { ...this.message, content: [] } }));
      this.message.content.push({ type: 'output_text', text: '', annotations: [], logprobs: [] });
      events.push(
        this.event('response.content_part.added', {
          item_id: this.message.id,
          output_index: index,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [] },
        }),
      );
    }
    const part = this.message.content[0] as { text: string };
    part.text += text;
    events.push(
      this.event('response.output_text.delta', {
        item_id: this.message.id,
        output_index: this.output.indexOf(this.message),
        content_index: 0,
        delta: text,
        logprobs: [],
      }),
    );
    return events;
  }

  streamToolCall(delta: ToolCallDelta): unknown[] {
    const events: unknown[] = [];
    let call = this.calls.get(delta.index);
    if (call === undefined) {
      call = { type: 'function_call', id: newId('fc'), call_id: newId('call'), name: delta.name, arguments: '', status: 'in_progress' };
      this.calls.set(delta.index, call);
      this.output.push(call);
      events.push(this.event('response.output_item.added', { output_index: this.output.length - 1, item: { ...call } }));
    }
    call.arguments += delta.argumentsDelta;
    if (delta.argumentsDelta !== '') {
      events.push(
        this.event('response.function_call_arguments.delta', { item_id: call.id, output_index: this.output.indexOf(call), delta: delta.argumentsDelta }),
      );
    }
    return events;
  }

  streamFinish(done: Done): unknown[] {
    const events: unknown[] = [];
    this.output.forEach((item, index) => {
      if (item.type === 'message') {
        const text = item.content[0]?.text ?? '';
        events.push(this.event('response.output_text.done', { item_id: item.id, output_index: index, content_index: 0, text, logprobs: [] }));
        events.push(
          this.event('response.content_part.done', {
            item_id: item.id,
            output_index: index,
            content_index: 0,
            part: { type: 'output_text', text, annotations: [] },
          }),
        );
      } else {
        events.push(this.event('response.function_call_arguments.done', { item_id: item.id, output_index: index, name: item.name, arguments: item.arguments }));
      }
      item.status = 'completed';
      events.push(this.event('response.output_item.done', { output_index: index, item }));
    });
    const status = this.statusOf(done);
    events.push(this.event(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: this.response(status, done) }));
    return events;
  }

  streamUsage(): unknown {
    return undefined;
  }
}

export function responsesRoutes(app: FastifyInstance, ctx: GenerationContext, settings: () => MapperSettings): void {
  app.withTypeProvider<TypeBoxTypeProvider>().post(endpoints.responses, { schema: { body: ResponseCreateBody } }, async (request, reply) => {
    const job = { ...responsesJob(request.body, settings()), includeUsage: false };
    return runGeneration(ctx, request, reply, job, new ResponsesRenderer(ctx.engine.modelId, request.body));
  });
}
