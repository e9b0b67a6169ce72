/**
 * Function calling through node-llama-cpp's LlamaChat with the model's own chat template.
 *
 * LlamaChat renders the functions into the prompt the way the template wants (Qwen: a `# Tools` system
 * section with `<tools>` signatures; see node-llama-cpp `chatWrappers/QwenChatWrapper.js`), detects the
 * template's call prefix (`<tool_call>` ...) in the generated text, and from there constrains the function
 * name and the arguments with grammars built from the declared schemas. It returns the calls without
 * running them (`metadata.stopReason === 'functionCalls'`).
 *
 * A forced call (`tool_choice: "required"` or a named function) uses the chat wrapper's
 * `noPrefixTrigger: { type: 'functionCall' }` hook (node-llama-cpp `LlamaChat.js`, `handlePrefixTriggers`):
 * with no prefix triggers to wait for, LlamaChat puts the call prefix into the context itself and enters
 * function-name mode at once, so the first generated tokens are already a grammar-constrained call.
 */
import type { ChatModelFunctions, ChatWrapper, ChatWrapperGenerateContextStateOptions, GbnfJsonSchema } from 'node-llama-cpp';
import { LlamaText } from 'node-llama-cpp';
import type { ToolDefinition } from './types.js';

export type ChatFunctions = ChatModelFunctions;

/** OpenAI tool definitions -> node-llama-cpp functions (name -> description + params schema). */
export function chatFunctions(tools: readonly ToolDefinition[]): ChatFunctions {
  const out: Record<string, { description?: string; params?: GbnfJsonSchema }> = {};
  for (const tool of tools) {
    out[tool.name] = {
      ...(tool.description !== undefined ? { description: tool.description } : {}),
      ...(tool.parameters !== undefined ? { params: tool.parameters as GbnfJsonSchema } : {}),
    };
  }
  return out;
}

const forcedWrappers = new WeakMap<ChatWrapper, ChatWrapper>();

/**
 * The same chat wrapper, except that its context state never waits for the model to choose between text and
 * a call: the generation starts inside a function call. Everything else (rendering, call syntax, parsing)
 * is the wrapped template's own.
 */
export function forcedCallChatWrapper(wrapper: ChatWrapper): ChatWrapper {
  const cached = forcedWrappers.get(wrapper);
  if (cached !== undefined) return cached;
  const forced = Object.create(wrapper) as ChatWrapper;
  forced.generateContextState = (options: ChatWrapperGenerateContextStateOptions) => {
    const state = wrapper.generateContextState(options);
    // A template that starts its answers inside a call already (Functionary) needs no forcing.
    if ('functionCall' in state && state.functionCall !== undefined) return state;
    return {
      contextText: state.contextText,
      stopGenerationTriggers: state.stopGenerationTriggers,
      noPrefixTrigger: { type: 'functionCall', inject: LlamaText([]) },
    };
  };
  forcedWrappers.set(wrapper, forced);
  return forced;
}
