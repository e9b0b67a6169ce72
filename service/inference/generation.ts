/**
 * One generation on one sequence: the request's prompt prepared with the model's chat template (or as a raw
 * completion prompt), the wait for a sequence, prompt reuse and prefill (slots.ts), then LlamaChat /
 * LlamaCompletion (or the scored path for log probabilities) while token chunks flow through the job's
 * EventChannel, and `done` once the sequence is back in the pool.
 *
 * Stopping: the caller's AbortSignal (client disconnect, timeout) or the consumer leaving its `for await`
 * loop aborts the generation within one token (node-llama-cpp `stopOnAbortSignal`).
 */
import { jsonSchemaToGbnf } from './grammar/index.js';
import { performance } from 'node:perf_hooks';
import {
  LlamaChat,
  LlamaCompletion,
  type ChatHistoryItem,
  type ChatWrapper,
  type Llama,
  type LlamaChatResponseChunk,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import type { Logger } from 'pino';
import { InvalidInputError, isTimeoutReason } from './errors.js';
import { chatPromptTokens, completionPromptTokens, toChatHistory } from './prompt.js';
import type { EventChannel, QueueTicket } from './queue.js';
import { generatorOptions, llamaSampling, scoredSamplingOptions } from './sampling.js';
import { generateScored } from './scored.js';
import type { SequenceSlots } from './slots.js';
import { chatFunctions, forcedCallChatWrapper, type ChatFunctions } from './tools.js';
import type { FinishReason, GenerationEvent, GenerationInput, OutputGrammar, SamplingOptions, TokenLogprob } from './types.js';
import type { WorkEstimate } from './work-estimate.js';

/** A request's input as the model will see it: `tokens` is the whole prompt after the template. */
export type Prepared =
  | { kind: 'chat'; history: ChatHistoryItem[]; tokens: Token[]; functions?: ChatFunctions; forceCall: boolean; maxParallelCalls?: number }
  | { kind: 'completion'; input: Token[]; tokens: Token[] };

/** Applies the chat template (chat) or tokenizes the prompt (completion); checks token-id prompts against the vocabulary. */
export function prepareInput(model: LlamaModel, chatWrapper: ChatWrapper, input: GenerationInput): Prepared {
  if (input.kind === 'chat') {
    const history = toChatHistory(input.messages);
    const functions = input.tools !== undefined && input.tools.tools.length > 0 ? chatFunctions(input.tools.tools) : undefined;
    return {
      kind: 'chat',
      history,
      tokens: chatPromptTokens(model, chatWrapper, history, functions),
      ...(functions !== undefined ? { functions } : {}),
      forceCall: functions !== undefined && input.tools?.mode === 'required',
      ...(input.tools?.maxParallelCalls !== undefined ? { maxParallelCalls: Math.max(1, input.tools.maxParallelCalls) } : {}),
    };
  }
  if (input.tokens !== undefined) {
    const vocabulary = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? Number.POSITIVE_INFINITY;
    const bad = input.tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= vocabulary);
    if (bad >= 0) {
      throw new InvalidInputError(`prompt[${bad}] is ${input.tokens[bad]}, not a token id of this model (0 to ${vocabulary - 1}).`, `prompt[${bad}]`);
    }
    const ids = input.tokens as Token[];
    // LlamaCompletion prepends the BOS token itself when the model wants one (as for a text prompt).
    const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
    return { kind: 'completion', input: ids, tokens: bos != null ? [bos, ...ids] : ids };
  }
  const { input: tokens, full } = completionPromptTokens(model, input.prompt);
  return { kind: 'completion', input: tokens, tokens: full };
}

/** One admitted generation, from admission to `done`. */
export interface GenerationJob {
  readonly prepared: Prepared;
  readonly maxTokens: number;
  readonly sampling: SamplingOptions;
  readonly external: AbortSignal;
  readonly controller: AbortController;
  readonly channel: EventChannel;
  readonly arrival: number;
  sequence: LlamaContextSequence | undefined;
  ticket: QueueTicket<LlamaContextSequence> | undefined;
  /** performance.now() when the job got its sequence (undefined while it waits). */
  startedAt?: number;
  /** Prompt tokens reused from the sequence's cache (known once the job has its sequence). */
  cachedTokens: number;
  finished?: Promise<void>;
}

interface GenerationOutcome {
  stopReason: string;
  toolCalls?: Array<{ name: string; arguments: string }>;
  /** The stop string that ended the answer (stopReason 'customStopTrigger'). */
  stopSequence?: string;
}

/**
 * Which stop string ended a node-llama-cpp generation: its metadata names the trigger that matched
 * (`customStopTrigger`, the trigger's parts; ours are strings only, passed as `customStopTriggers`).
 */
function stopSequenceOf(metadata: { stopReason: string; customStopTrigger?: ReadonlyArray<string | number> }): { stopSequence?: string } {
  if (metadata.stopReason !== 'customStopTrigger' || metadata.customStopTrigger === undefined) return {};
  return { stopSequence: metadata.customStopTrigger.filter((part): part is string => typeof part === 'string').join('') };
}

function abortReason(signal: AbortSignal): FinishReason {
  return isTimeoutReason(signal.reason) ? 'timeout' : 'abort';
}

/** Runs generation jobs on a loaded chat model's sequences. */
export class Generator {
  constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly chatWrapper: ChatWrapper,
    private readonly slots: SequenceSlots,
    private readonly work: WorkEstimate,
    private readonly log: Logger,
    /** True once the engine is closing: a sequence that cannot be cleared then is not worth a warning. */
    private readonly closing: () => boolean,
  ) {}

  prepare(input: GenerationInput): Prepared {
    return prepareInput(this.model, this.chatWrapper, input);
  }

  async run(job: GenerationJob): Promise<void> {
    const { controller, channel, external, prepared } = job;
    const signal = controller.signal;
    const promptTokens = prepared.tokens.length;
    const onExternalAbort = () => controller.abort(external.reason);
    if (external.aborted) controller.abort(external.reason);
    else external.addEventListener('abort', onExternalAbort, { once: true });

    // 'done' is delivered after the sequence is back in the pool: when the consumer's loop ends,
    // stats() already shows the sequence free (or handed to the next waiter).
    let done: GenerationEvent | undefined;
    const logprobs: TokenLogprob[] | undefined = job.sampling.logprobs !== undefined ? [] : undefined;
    const finish = (
      finishReason: FinishReason,
      completionTokens: number,
      text: string,
      toolCalls?: Array<{ name: string; arguments: string }>,
      stopSequence?: string,
    ) => {
      done = {
        type: 'done',
        finishReason,
        promptTokens,
        completionTokens,
        cachedTokens: job.cachedTokens,
        text,
        ...(toolCalls !== undefined && toolCalls.length > 0 ? { toolCalls } : {}),
        ...(finishReason === 'stop' && stopSequence !== undefined ? { stopSequence } : {}),
        ...(logprobs !== undefined ? { logprobs } : {}),
      };
    };

    // A sequence whose generation failed is cleared: nothing guarantees its kept tokens match its KV cells.
    let keepTokens = this.slots.promptReuse;
    try {
      if (job.sequence === undefined) {
        const ticket = job.ticket as QueueTicket<LlamaContextSequence>;
        const leave = () => ticket.cancel(signal.reason);
        signal.addEventListener('abort', leave, { once: true });
        if (signal.aborted) leave();
        try {
          job.sequence = await ticket.promise;
        } catch {
          finish(abortReason(signal), 0, '');
          return;
        } finally {
          signal.removeEventListener('abort', leave);
        }
      }
      const sequence = job.sequence;
      const started = performance.now();
      job.startedAt = started;
      if (this.slots.promptReuse) job.cachedTokens = await this.slots.keepSharedPrefix(sequence, prepared.tokens);
      await this.slots.prefill(sequence, prepared.tokens, signal);
      if (signal.aborted) {
        finish(abortReason(signal), 0, '');
        return;
      }
      channel.push({ type: 'started', promptTokens, cachedTokens: job.cachedTokens, queuedMs: Math.round(started - job.arrival) });

      // Hot path state: one closure per request, a few field updates per token chunk.
      let text = '';
      let pendingTokens = 0;
      let emittedTokens = 0;
      let firstTokenAt: number | undefined;
      const onTokens = (count: number) => {
        firstTokenAt ??= performance.now();
        pendingTokens += count;
      };
      const onText = (chunk: string, scored?: TokenLogprob) => {
        if (chunk === '' && scored === undefined) return;
        text += chunk;
        emittedTokens += pendingTokens;
        if (scored !== undefined) logprobs?.push(scored);
        channel.pushText(chunk, pendingTokens, scored !== undefined ? [scored] : undefined);
        pendingTokens = 0;
      };
      const outputBefore = sequence.tokenMeter.usedOutputTokens;
      let outcome: GenerationOutcome;
      try {
        outcome = await this.generateOn(sequence, job, onTokens, onText);
      } catch (err) {
        keepTokens = false;
        if (!signal.aborted) throw err;
        outcome = { stopReason: 'abort' };
      }
      const { stopReason, toolCalls, stopSequence } = outcome;
      const sampled = sequence.tokenMeter.usedOutputTokens - outputBefore;
      const finishReason: FinishReason =
        toolCalls !== undefined && toolCalls.length > 0
          ? 'tool_calls'
          : stopReason === 'maxTokens'
            ? 'length'
            : stopReason === 'abort'
              ? abortReason(signal)
              : 'stop';
      const completionTokens = finishReason === 'length' ? job.maxTokens : Math.max(sampled, emittedTokens + pendingTokens);
      const ended = performance.now();
      const serviceMs = ended - started;
      if (finishReason !== 'abort' && finishReason !== 'timeout') {
        this.work.observe({
          // The prefill rate is per evaluated token: reused ones cost nothing.
          promptTokens: promptTokens - job.cachedTokens,
          completionTokens,
          maxTokens: job.maxTokens,
          prefillMs: (firstTokenAt ?? ended) - started,
          decodeMs: ended - (firstTokenAt ?? ended),
        });
      }
      this.log.debug(
        {
          promptTokens,
          cachedTokens: job.cachedTokens,
          completionTokens,
          finishReason,
          queuedMs: Math.round(started - job.arrival),
          serviceMs: Math.round(serviceMs),
        },
        'generation finished',
      );
      finish(finishReason, completionTokens, text, toolCalls, stopSequence);
    } catch (err) {
      keepTokens = false;
      throw err;
    } finally {
      external.removeEventListener('abort', onExternalAbort);
      if (job.sequence !== undefined) await this.slots.release(job.sequence, keepTokens ? prepared.tokens : undefined, this.closing());
      if (done !== undefined) {
        channel.push(done);
        channel.end();
      }
    }
  }

  private async generateOn(
    sequence: LlamaContextSequence,
    job: GenerationJob,
    onTokens: (count: number) => void,
    onText: (chunk: string, scored?: TokenLogprob) => void,
  ): Promise<GenerationOutcome> {
    const { prepared, maxTokens } = job;
    const sampler = llamaSampling(job.sampling, this.model);
    if (job.sampling.logprobs !== undefined) {
      // The HTTP layer refuses logprobs together with tools or a grammar.
      const generatedTokens: Token[] = [];
      const result = await generateScored(
        this.model,
        sequence,
        prepared.tokens,
        {
          maxTokens,
          top: job.sampling.logprobs.top,
          stop: sampler.stop ?? [],
          signal: job.controller.signal,
          generated: generatedTokens,
          sampling: scoredSamplingOptions(sampler, maxTokens, generatedTokens),
        },
        (piece, scored) => {
          onTokens(1);
          onText(piece, scored);
        },
      );
      return result.stopReason === 'stopString'
        ? { stopReason: 'customStopTrigger', ...(result.stopString !== undefined ? { stopSequence: result.stopString } : {}) }
        : { stopReason: result.stopReason };
    }
    const common = generatorOptions(sampler, maxTokens, job.controller.signal);
    const grammar = job.sampling.grammar === undefined ? undefined : await this.grammarFor(job.sampling.grammar);
    if (prepared.kind === 'chat') {
      const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: prepared.forceCall ? forcedCallChatWrapper(this.chatWrapper) : this.chatWrapper });
      const toolCallArgs: string[] = [];
      const heldNewlines: string[] = [];
      try {
        const onResponseChunk = (chunk: LlamaChatResponseChunk) => {
          onTokens(chunk.tokens.length);
          // Main response only; segments (e.g. thoughts of reasoning models) are counted, not emitted.
          if (chunk.type === undefined) onText(chunk.text);
        };
        if (prepared.functions !== undefined) {
          const result = await chat.generateResponse(prepared.history, {
            ...common,
            functions: prepared.functions,
            documentFunctionParams: true,
            ...(prepared.maxParallelCalls !== undefined ? { maxParallelFunctionCalls: prepared.maxParallelCalls } : {}),
            onResponseChunk,
            onFunctionCallParamsChunk: (chunk) => {
              const index = chunk.callIndex;
              const first = toolCallArgs[index] === undefined;
              // node-llama-cpp ends the arguments with four newlines (the end marker of FunctionCallParamsGrammar),
              // which its chunks include: trailing newlines wait until more text follows, and the last chunk's
              // trailing whitespace (nothing may follow the JSON) is dropped.
              const text = (heldNewlines[index] ?? '') + chunk.paramsChunk;
              const delta = chunk.done ? text.trimEnd() : text.replace(/\n+$/, '');
              heldNewlines[index] = chunk.done ? '' : text.slice(delta.length);
              toolCallArgs[index] = (toolCallArgs[index] ?? '') + delta;
              if (first || delta !== '') job.channel.push({ type: 'tool_call', index, name: chunk.functionName, argumentsDelta: delta });
            },
          });
          const calls = (result.functionCalls ?? []).map((call, i) => ({
            name: call.functionName,
            // The streamed text is what the client saw; fall back to re-serialising the parsed params.
            arguments: toolCallArgs[i] ?? JSON.stringify(call.params ?? {}),
          }));
          return { stopReason: result.metadata.stopReason, ...stopSequenceOf(result.metadata), ...(calls.length > 0 ? { toolCalls: calls } : {}) };
        }
        const result = await chat.generateResponse(prepared.history, { ...common, ...(grammar ? { grammar } : {}), onResponseChunk });
        return { stopReason: result.metadata.stopReason, ...stopSequenceOf(result.metadata) };
      } finally {
        chat.dispose({ disposeSequence: false });
      }
    }
    const completion = new LlamaCompletion({ contextSequence: sequence });
    try {
      const result = await completion.generateCompletionWithMeta(prepared.input, {
        ...common,
        ...(grammar ? { grammar } : {}),
        onToken: (tokens) => onTokens(tokens.length),
        onTextChunk: onText,
        // Never drop the start of the prompt silently; the prompt was checked to fit.
        disableContextShift: true,
        contextShiftSize: 1,
      });
      return { stopReason: result.metadata.stopReason, ...stopSequenceOf(result.metadata) };
    } finally {
      completion.dispose({ disposeSequence: false });
    }
  }

  /** node-llama-cpp grammars are compiled per request (a GBNF grammar is cheap next to a generation). */
  private async grammarFor(grammar: OutputGrammar): Promise<LlamaGrammar> {
    if (grammar.kind === 'json') return this.llama.getGrammarFor('json');
    // The HTTP layer converted the schema / parsed the GBNF first and answered 400 for what fails here.
    const gbnf = grammar.kind === 'gbnf' ? grammar.gbnf : jsonSchemaToGbnf(grammar.schema);
    return this.llama.createGrammar({ grammar: gbnf });
  }
}
