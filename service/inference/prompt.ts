/**
 * Turning an OpenAI-style request into the tokens the model will evaluate, exactly as node-llama-cpp does,
 * so the engine can count and check them before queueing and pre-evaluate them in abortable chunks.
 */
import type { ChatHistoryItem, ChatWrapper, LlamaModel, Token } from 'node-llama-cpp';
import type { ChatMessage } from './types.js';

/**
 * messages[] -> node-llama-cpp chat history, ending with the model turn to generate.
 * A trailing assistant message is continued (assistant prefill), as with LlamaChat itself.
 * Message text is plain text: special-token strings such as `<|im_end|>` inside a message are
 * tokenized as text, so a user cannot forge template tokens.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  for (const message of messages) {
    if (message.role === 'system') history.push({ type: 'system', text: message.content });
    else if (message.role === 'user') history.push({ type: 'user', text: message.content });
    else history.push({ type: 'model', response: [message.content] });
  }
  if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
  return history;
}

/** The tokens LlamaChat.generateResponse evaluates for `history` (no functions, no context shift). */
export function chatPromptTokens(model: LlamaModel, chatWrapper: ChatWrapper, history: ChatHistoryItem[]): Token[] {
  const { contextText } = chatWrapper.generateContextState({ chatHistory: history });
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
