/**
 * Turning an OpenAI-style request into the tokens the model will evaluate, exactly as node-llama-cpp does,
 * so the engine can count and check them before queueing and pre-evaluate them in abortable chunks.
 */
import type { ChatHistoryItem, ChatModelFunctionCall, ChatModelFunctions, ChatWrapper, LlamaModel, Token } from 'node-llama-cpp';
import type { ChatMessage } from './types.js';

/**
 * messages[] -> node-llama-cpp chat history, ending with the model turn to generate.
 * A trailing assistant message is continued (assistant prefill), as with LlamaChat itself.
 * An assistant message's tool calls become function-call items of the model response, carrying the results
 * of the `tool` messages that answered them (the template renders call and result in its own syntax).
 * Message text is plain text: special-token strings such as `<|im_end|>` inside a message are
 * tokenized as text, so a user cannot forge template tokens.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  for (const message of messages) {
    if (message.role === 'system') history.push({ type: 'system', text: message.content });
    else if (message.role === 'user') history.push({ type: 'user', text: message.content });
    else if (message.role === 'assistant') {
      const response: Array<string | ChatModelFunctionCall> = message.content === '' && message.toolCalls?.length ? [] : [message.content];
      message.toolCalls?.forEach((call, i) => {
        response.push({
          type: 'functionCall',
          name: call.name,
          params: call.arguments,
          result: call.result ?? '',
          ...(i === 0 ? { startsNewChunk: true } : {}),
        });
      });
      history.push({ type: 'model', response });
    }
  }
  // A trailing model response is continued: after text (prefill) or after function calls and their results
  // (the template renders the results, then the model goes on in the same turn, as LlamaChatSession does).
  if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
  return history;
}

/** The tokens LlamaChat.generateResponse evaluates for `history` (no context shift), with its functions documented. */
export function chatPromptTokens(model: LlamaModel, chatWrapper: ChatWrapper, history: ChatHistoryItem[], functions?: ChatModelFunctions): Token[] {
  const { contextText } = chatWrapper.generateContextState({
    chatHistory: history,
    ...(functions !== undefined ? { availableFunctions: functions, documentFunctionParams: true } : {}),
  });
  return contextText.tokenize(model.tokenizer);
}

export interface CompletionTokens {
  /** What to pass to LlamaCompletion.generateCompletion (it prepends the BOS token itself when needed). */
  input: Token[];
  /** What the sequence will contain: BOS (if the model wants one) + input. */
  full: Token[];
}

/**
 * Raw completion prompt. Special tokens in the text ARE parsed (like llama.cpp's server), so a caller can
 * send a hand-written template through /v1/completions. An empty prompt becomes the BOS (or EOS) token:
 * the model needs at least one token to predict from.
 */
export function completionPromptTokens(model: LlamaModel, prompt: string): CompletionTokens {
  const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
  let input = model.tokenize(prompt, true, bos != null ? 'trimLeadingSpace' : undefined);
  if (input.length === 0 && bos == null) {
    const fallback = model.tokens.bos ?? model.tokens.eos;
    if (fallback != null) input = [fallback];
  }
  return { input, full: bos != null ? [bos, ...input] : input };
}
