/**
 * Public types of the inference engine (re-exported by `engine.ts`, import them from there).
 */
import type { GgufFileInfo } from 'node-llama-cpp';
import type { Logger } from 'pino';
import type { JsonValidator } from './grammar/index.js';

export type EngineState = 'idle' | 'loading' | 'ready' | 'failed' | 'draining' | 'closed';

export interface EngineOptions {
  /** Local path of the GGUF file (with `resolveModelPath`: the path it will have, which names the model). */
  modelPath: string;
  /**
   * Called at the start of `load()` to make the file available (e.g. a download into the cache) and
   * return its local path. Acquisition then counts as loading: health endpoints already answer 503
   * `{state: 'loading'}` instead of refusing connections, and an error rejects `load()` unchanged.
   */
  resolveModelPath?: (signal: AbortSignal) => Promise<string>;
  /** CPU threads for llama.cpp (from service/runtime/threads.ts). Never left to node-llama-cpp's default. */
  threads: number;
  /**
   * Context size PER SEQUENCE, in tokens (prompt + completion of one request).
   * node-llama-cpp 3.22 gives every sequence its own `contextSize` cells: the KV cache holds
   * `contextSize * parallel` tokens in total (it is not split across sequences).
   */
  contextSize: number;
  /** Sequences of the one context that decode concurrently (PARALLEL). */
  parallel: number;
  /** Requests allowed to wait for a free sequence; one more throws QueueFullError. 0 = no waiting. */
  maxQueue: number;
  /** Layers to offload to a GPU; 0 = CPU only (the GPU backend is not even probed). */
  gpuLayers: number | 'auto' | 'max';
  /** llama.cpp batch size; default min(contextSize * parallel, 512). */
  batchSize?: number;
  /**
   * What the engine serves: 'chat' (default) = generation with `parallel` sequences; 'embedding' = one
   * embedding context of `contextSize` tokens (no generation, no KV cache for parallel sequences).
   */
  kind?: 'chat' | 'embedding';
  /**
   * Runs once the weights are mapped and before the context (KV cache, compute buffers) is allocated, with
   * the header node-llama-cpp read (the server's memory check, service/inference/memory-fit.ts); a
   * ModelLoadError it throws fails the load with its message unchanged.
   */
  checkBeforeContext?: (modelPath: string, fileInfo: GgufFileInfo) => Promise<void>;
  /**
   * Prompt reuse (PROMPT_CACHE): a sequence keeps the tokens it evaluated after a request, and a new request
   * goes to the free sequence whose kept tokens share the longest prefix with its prompt, so only the rest
   * is evaluated (a chat turn re-reads only the new messages). Default true; false clears every sequence
   * after each request (each prompt is evaluated in full).
   */
  promptReuse?: boolean;
  log: Logger;
}

/** A function call the model made earlier in the conversation, replayed with its result. */
export interface ToolCallRecord {
  /** The caller's id for the call (OpenAI `tool_call_id`); not rendered, the template has no place for it. */
  id: string;
  name: string;
  /** The arguments as the model produced them (parsed JSON; a string when they were not JSON). */
  arguments: unknown;
  /** What the tool returned (the matching `tool` message); undefined when the caller sent none. */
  result?: string;
}

export type ChatMessage = { role: 'system' | 'user'; content: string } | { role: 'assistant'; content: string; toolCalls?: ToolCallRecord[] };

/** A function the model may call: name, description and JSON schema of its arguments object. */
export interface ToolDefinition {
  name: string;
  description?: string;
  /** The arguments object: its schema, the grammar that generates it and the check; undefined = no arguments. */
  parameters?: ToolParameters;
}

/**
 * A tool's arguments schema and what the HTTP layer built from it (answering 400 for what the converter
 * cannot enforce), so the engine neither converts nor compiles anything per generation.
 */
export interface ToolParameters {
  /** The JSON schema as the client sent it: the chat template shows it to the model. */
  schema: Record<string, unknown>;
  /**
   * GBNF for the arguments JSON (root rule `root`) from service/inference/grammar's `jsonSchemaToGbnf` with
   * `maxNewlines: 0`: one line, so node-llama-cpp's end marker (four newlines) never occurs inside the JSON.
   */
  gbnf: string;
  /** The schema's validator (`compileJsonValidator`), run on the parsed arguments once generated. */
  validate: JsonValidator;
}

/**
 * Function calling for one chat generation.
 * - `auto`: the model may answer in text or call any of `tools` (the chat template decides how).
 * - `required`: the model must call one of `tools` (a call prefix is injected, the name and arguments are
 *   grammar-constrained); pass a one-element list to force a named function.
 */
export interface ToolsOption {
  tools: ToolDefinition[];
  mode: 'auto' | 'required';
  /** At most this many calls in one answer (1 = OpenAI's parallel_tool_calls: false); undefined = no limit but max_tokens. */
  maxParallelCalls?: number;
}

export type GenerationInput =
  | { kind: 'chat'; messages: ChatMessage[]; tools?: ToolsOption }
  /** `tokens`, when given, is the prompt as token ids (OpenAI's token-array prompt) and `prompt` is ignored. */
  | { kind: 'completion'; prompt: string; tokens?: readonly number[] };

/** A node-llama-cpp logit bias: token id -> logit offset, or 'never' (the token is banned). */
export type LogitBias = ReadonlyMap<number, number | 'never'>;

/**
 * Output constraint: `json` = any JSON value (node-llama-cpp's built-in JSON grammar); `schema` = JSON that
 * matches this schema (converted by service/inference/grammar's `jsonSchemaToGbnf`, which throws
 * SchemaNotExpressible for what it cannot enforce: callers convert first to answer 400); `gbnf` = text in
 * llama.cpp's grammar format (`llama.createGrammar`), already checked with `parseGbnf`.
 */
export type OutputGrammar = { kind: 'json' } | { kind: 'schema'; schema: Record<string, unknown> } | { kind: 'gbnf'; gbnf: string };

export interface SamplingOptions {
  /** Clamped to the room left in the sequence's context; values below 1 count as 1. */
  maxTokens: number;
  /** Undefined or 0 = greedy (node-llama-cpp's default, not OpenAI's 1.0: the caller applies API defaults). */
  temperature?: number;
  /** Nucleus sampling; undefined = 1 (off). node-llama-cpp's own default (0.95) never applies. */
  topP?: number;
  /** Top-k sampling; undefined or 0 = off. node-llama-cpp's own default (40) never applies. */
  topK?: number;
  /** Min-p sampling; undefined or 0 = off. */
  minP?: number;
  /**
   * Sampler seed, an integer in [0, maxSeed]. Undefined = a fresh random seed for this generation
   * (node-llama-cpp would use the current second, so concurrent unseeded requests would repeat each other).
   */
  seed?: number;
  stop?: string[];
  /** OpenAI presence_penalty (-2..2): subtracted once from the logit of every token already generated. */
  presencePenalty?: number;
  /** OpenAI frequency_penalty (-2..2): subtracted from a token's logit once per time it was generated. */
  frequencyPenalty?: number;
  /**
   * llama.cpp's multiplicative repetition penalty (llama-server `repeat_penalty`, vLLM `repetition_penalty`):
   * a generated token's positive logit is divided by it, a negative one multiplied. Undefined or 1 = off
   * (OpenAI has no such penalty).
   */
  repeatPenalty?: number;
  logitBias?: LogitBias;
  grammar?: OutputGrammar;
  /** Report each generated token's log probability and this many alternatives (0..20). */
  logprobs?: { top: number };
}

/** One generated token's log probability and the most likely alternatives (see inference/scored.ts). */
export interface TokenLogprob {
  token: string;
  logprob: number;
  top: Array<{ token: string; logprob: number }>;
}

/**
 * Largest seed llama.cpp's sampler keeps: seeds are uint32 and 0xFFFFFFFF (LLAMA_DEFAULT_SEED) means
 * "pick a random one" (include/llama.h, src/llama-sampler.cpp get_rng_seed), so 0..2^32-2 are the seeds
 * that repeat. The addon converts with Uint32Value (mod 2^32), hence the HTTP layer refuses anything outside.
 */
export const maxSeed = 0xfffffffe;

export type FinishReason = 'stop' | 'length' | 'abort' | 'timeout' | 'tool_calls';

export type GenerationEvent =
  | { type: 'queued'; position: number }
  /** `cachedTokens`: the prompt tokens reused from the sequence's cache (as in 'done'); absent counts as 0. */
  | { type: 'started'; promptTokens: number; cachedTokens?: number; queuedMs: number }
  /** `logprobs`: one entry per token of `text` when the request asked for them. */
  | { type: 'text'; text: string; tokens: number; logprobs?: TokenLogprob[] }
  /** Part of the arguments of function call `index` (the name arrives with the first part). */
  | { type: 'tool_call'; index: number; name: string; argumentsDelta: string }
  | {
      type: 'done';
      finishReason: FinishReason;
      promptTokens: number;
      completionTokens: number;
      /**
       * Prompt tokens whose evaluation was reused from the sequence's cache (a prefix of the prompt; 0 when
       * nothing was reused). Absent from engines that do not reuse prompts; counts as 0.
       */
      cachedTokens?: number;
      text: string;
      /** Every generated token's log probabilities, when the request asked for them. */
      logprobs?: TokenLogprob[];
      /** The function calls of the answer, complete (finishReason 'tool_calls'). */
      toolCalls?: Array<{ name: string; arguments: string }>;
      /** The stop string (SamplingOptions.stop) that ended the answer; absent when it ended otherwise. */
      stopSequence?: string;
    };

export interface EngineStats {
  parallel: number;
  busySequences: number;
  queueDepth: number;
  maxQueue: number;
  /**
   * KV cache cells held by running generations and the cells of every sequence (chat engines, once loaded).
   * A kept prompt on an idle sequence (PROMPT_CACHE) is not counted: the next request reuses or clears it.
   */
  kvCache?: { usedCells: number; cells: number };
}
