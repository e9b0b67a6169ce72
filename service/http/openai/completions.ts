/** POST /v1/completions: `text_completion` bodies and streams. */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { endpoints } from '../../contract.js';
import { CompletionBody } from '../schemas.js';
import { completionJob, type MapperSettings } from './fields.js';
import type { TokenLogprob } from '../engine-port.js';
import { responseId, runGeneration, toOpenAiFinish, usageOf, type Done, type GenerationContext, type Renderer } from './generation.js';

class CompletionRenderer implements Renderer {
  private readonly id = responseId('cmpl');
  private readonly created = Math.floor(Date.now() / 1000);
  /** Characters of completion text streamed so far (`text_offset` counts from the start of the completion). */
  private offset = 0;

  constructor(
    private readonly model: string,
    private readonly includeUsage: boolean,
  ) {}

  /** OpenAI's legacy completions `logprobs` object (parallel arrays); offsets continue across chunks. */
  private logprobsOf(entries: readonly TokenLogprob[]) {
    const textOffset: number[] = [];
    for (const e of entries) {
      textOffset.push(this.offset);
      this.offset += e.token.length;
    }
    return {
      tokens: entries.map((e) => e.token),
      token_logprobs: entries.map((e) => e.logprob),
      top_logprobs: entries.map((e) => Object.fromEntries(e.top.map((a) => [a.token, a.logprob]))),
      text_offset: textOffset,
    };
  }

  private chunk(text: string, finishReason: string | null, logprobs?: readonly TokenLogprob[]): Record<string, unknown> {
    return {
      id: this.id,
      object: 'text_completion',
      created: this.created,
      model: this.model,
      choices: [{ text, index: 0, logprobs: logprobs !== undefined ? this.logprobsOf(logprobs) : null, finish_reason: finishReason }],
      ...(this.includeUsage ? { usage: null } : {}),
    };
  }

  body(done: Done, text: string): unknown {
    return {
      ...this.chunk(text, toOpenAiFinish(done.finishReason), done.logprobs),
      usage: usageOf(done.promptTokens, done.completionTokens, done.cachedTokens),
    };
  }

  streamStart(): unknown[] {
    return [];
  }

  streamText(text: string, logprobs?: readonly TokenLogprob[]): unknown {
    return this.chunk(text, null, logprobs);
  }

  streamToolCall(): unknown {
    return undefined;
  }

  streamFinish(done: Done): unknown[] {
    return [this.chunk('', toOpenAiFinish(done.finishReason))];
  }

  streamUsage(done: Done): unknown {
    return { ...this.chunk('', null), choices: [], usage: usageOf(done.promptTokens, done.completionTokens, done.cachedTokens) };
  }
}

export function completionRoutes(app: FastifyInstance, ctx: GenerationContext, settings: () => MapperSettings): void {
  app.withTypeProvider<TypeBoxTypeProvider>().post(endpoints.completions, { schema: { body: CompletionBody } }, async (request, reply) => {
    const job = completionJob(request.body, settings());
    return runGeneration(ctx, request, reply, job, new CompletionRenderer(ctx.engine.modelId, job.includeUsage));
  });
}
