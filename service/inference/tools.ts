/**
 * Function calling through node-llama-cpp's LlamaChat with the model's own chat template.
 *
 * LlamaChat renders the functions into the prompt the way the template wants (Qwen: a `# Tools` system
 * section with `<tools>` signatures; see node-llama-cpp `chatWrappers/QwenChatWrapper.js`), detects the
 * template's call prefix (`<tool_call>` ...) in the generated text, and from there constrains the function
 * name and the arguments with grammars. It returns the calls without running them
 * (`metadata.stopReason === 'functionCalls'`).
 *
 * The arguments grammar is the project's own (service/inference/grammar, the converter `response_format`
 * uses), not node-llama-cpp's GbnfJsonSchema compiler, which knows no `pattern`, `minimum`, `format: uuid`...:
 * each function definition carries it in `precomputedParamsGrammar`, which the project's patch of
 * node-llama-cpp (`FunctionCallParamsGrammar`, patches/node-llama-cpp+3.21.1.patch) uses in place of one
 * built from `params`, together with the validator it calls instead of its own. `params` keeps the client's
 * schema as sent, for the prompt.
 *
 * A forced call (`tool_choice: "required"` or a named function) uses the chat wrapper's
 * `noPrefixTrigger: { type: 'functionCall' }` hook (node-llama-cpp `LlamaChat.js`, `handlePrefixTriggers`):
 * with no prefix triggers to wait for, LlamaChat puts the call prefix into the context itself and enters
 * function-name mode at once, so the first generated tokens are already a grammar-constrained call.
 */
import type { ChatModelFunctions, ChatWrapper, ChatWrapperGenerateContextStateOptions, GbnfJsonSchema } from 'node-llama-cpp';
import { LlamaText } from 'node-llama-cpp';
import type { ToolDefinition } from './types.js';

/**
 * A function definition as the patched node-llama-cpp reads it: its own fields plus the grammar and validator
 * of the params (the `precomputedParamsGrammar` the patch adds to `FunctionCallParamsGrammar`).
 */
interface PatchedFunctionDefinition {
  description?: string;
  /** The client's schema: node-llama-cpp only renders it into the prompt once the grammar below is set. */
  params?: GbnfJsonSchema;
  precomputedParamsGrammar?: { gbnf: string; validate: (params: unknown) => string | undefined };
}

export type ChatFunctions = ChatModelFunctions & Readonly<Record<string, PatchedFunctionDefinition>>;

/** Tool definitions -> node-llama-cpp functions (name -> description, params schema and params grammar). */
export function chatFunctions(tools: readonly ToolDefinition[]): ChatFunctions {
  const out: Record<string, PatchedFunctionDefinition> = {};
  for (const tool of tools) {
    const parameters = tool.parameters;
    out[tool.name] = {
      ...(tool.description !== undefined ? { description: tool.description } : {}),
      ...(parameters !== undefined
        ? {
            // Templates that show the schema as JSON (Qwen, Jinja templates) show all of it; node-llama-cpp's
            // TypeScript-style renderers (getTypeScriptTypeStringForGbnfJsonSchema) print what GbnfJsonSchema
            // knows and leave the rest out (`anyOf`, `allOf` render as nothing), without failing.
            params: parameters.schema as GbnfJsonSchema,
            precomputedParamsGrammar: { gbnf: parameters.gbnf, validate: parameters.validate },
          }
        : {}),
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
