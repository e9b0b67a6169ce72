/**
 * The one place that maps OpenAI request fields to engine input and sampling options (like llama.cpp
 * server's single params mapper), and the policy for every field OpenAI defines:
 *
 * - `implemented`: it does what OpenAI documents (`maps` says onto what);
 * - `ignored`: accepted with any valid value and has no effect (`why` says why that is harmless);
 * - `refused`: accepted only with its neutral value (`neutral`); anything else is a 400 that says the
 *   field is not supported (`why`).
 *
 * `chatFieldPolicy` / `completionFieldPolicy` are typed over the request schemas' keys, so a field added to
 * `service/http/schemas.ts` does not compile without a policy; the README's field table is checked against
 * them, and each `example` is sent through the API by a test (ignored: 200; refused: 400).
 */
import {
  maxSeed,
  type ChatMessage,
  type EmbeddingInput,
  type GenerationInput,
  type LogitBias,
  type OutputGrammar,
  type SamplingOptions,
  type ToolCallRecord,
  type ToolsOption,
} from '../engine-port.js';
import { ApiError, badRequest } from '../errors.js';
import type { ChatCompletionBody, CompletionBody, EmbeddingBody, MessageBody, ResponseCreateBody } from '../schemas.js';
import { gbnfGrammarOrBadRequest, schemaGrammarOrBadRequest, toolParametersOrBadRequest } from './json-schema.js';

export type FieldPolicy =
  | { policy: 'implemented'; maps: string }
  | { policy: 'ignored'; why: string; example: unknown }
  | { policy: 'refused'; why: string; example: unknown; neutral: (value: unknown) => boolean; accepts: string };

export const isNull = (v: unknown) => v === null || v === undefined;
export const implemented = (maps: string): FieldPolicy => ({ policy: 'implemented', maps });
export const ignored = (why: string, example: unknown): FieldPolicy => ({ policy: 'ignored', why, example });
export const refused = (why: string, example: unknown, accepts: string, neutral: (v: unknown) => boolean = isNull): FieldPolicy => ({
  policy: 'refused',
  why,
  example,
  neutral,
  accepts,
});

const grammarMaps =
  "a GBNF grammar (llama.cpp's format, as llama-server accepts it) the output must follow; one that does not parse is a 400 `invalid_grammar` with the parser's message; not with `response_format`, tools or logprobs";

const shared = {
  model: implemented(
    'must name the served model (`GET /v1/models`); another name is 404 `model_not_found` unless `MODEL_NAMES=any`; absent or null means the served model',
  ),
  max_tokens: implemented('largest number of generated tokens; default and upper bound `MAX_COMPLETION_LENGTH`'),
  temperature: implemented('sampling temperature; default `DEFAULT_TEMPERATURE` (1)'),
  top_p: implemented('nucleus sampling; default `DEFAULT_TOP_P` (1 = off)'),
  stop: implemented('up to 4 stop strings; the answer ends before the first one'),
  seed: implemented(
    'sampler seed, an integer from 0 to 4294967294 (llama.cpp keeps 32 bits and reserves 4294967295 for "random"); -1, null or no seed: a fresh random seed per request (llama-server\'s -1); others are a 400',
  ),
  n: refused('one choice per request; send several requests instead', 2, '1 or null', (v) => isNull(v) || v === 1),
  stream: implemented('server-sent events ending with `data: [DONE]`'),
  stream_options: implemented('`include_usage` adds the usage chunk; `include_obfuscation` is ignored (no padding is added to chunks)'),
  frequency_penalty: implemented('node-llama-cpp `repeatPenalty.frequencyPenalty` over the generated tokens'),
  presence_penalty: implemented('node-llama-cpp `repeatPenalty.presencePenalty` over the generated tokens'),
  logit_bias: implemented('node-llama-cpp `TokenBias` (logit offsets; -100 bans the token); end-of-generation tokens cannot be biased'),
  user: ignored('an end-user id for OpenAI abuse monitoring; nothing here is monitored per user', 'user-1234'),
  // Not OpenAI's: llama-server's sampling fields (tools/server/README.md) and vLLM's `repetition_penalty`.
  top_k: implemented("llama-server's top-k: keep the k most likely tokens; 0 or less = off; default `DEFAULT_TOP_K` (40)"),
  min_p: implemented("llama-server's min-p: drop tokens below min_p x the top probability; default `DEFAULT_MIN_P` (0 = off)"),
  typical_p: refused(
    "locally typical sampling is not available: node-llama-cpp 3.21's sampler has no typical-p stage (llama/addon/AddonSampler.cpp)",
    0.9,
    '1 or null',
    (v) => isNull(v) || v === 1,
  ),
  repeat_penalty: implemented(
    "llama-server's multiplicative repetition penalty over the generated tokens (node-llama-cpp `repeatPenalty.penalty`); 1 or absent = off",
  ),
  repetition_penalty: implemented("vLLM's name for `repeat_penalty` (same effect); when both are sent they must be equal"),
} as const satisfies Record<string, FieldPolicy>;

export const chatFieldPolicy: Record<keyof ChatCompletionBody, FieldPolicy> = {
  ...shared,
  messages: implemented(
    "system, developer, user, assistant (with `tool_calls`) and tool messages, rendered with the model's own chat template; text content parts only",
  ),
  max_completion_tokens: implemented('same as `max_tokens`'),
  logprobs: implemented(
    "`true` adds each generated token's log probability (`choices[].logprobs.content`, streamed too): the distribution it was sampled from, after temperature, top-p/top-k, penalties and bias; not with tools, response_format or grammar",
  ),
  top_logprobs: implemented('0 to 20 most likely alternatives per token (with `logprobs: true`); alternatives the sampler removed are not listed'),
  response_format: implemented(
    '`text`; `json_object` (JSON grammar); `json_schema` (always strict: a GBNF grammar from the schema, converted as llama.cpp does with pattern, formats, bounds and more; a keyword it cannot enforce is a 400 naming it and its JSON pointer)',
  ),
  grammar: implemented(grammarMaps),
  tools: implemented(
    'functions rendered by the chat template; arguments generated under a grammar from `parameters` by the converter `json_schema` response formats use (pattern, formats, bounds and more; a keyword it cannot enforce is a 400 naming it and its JSON pointer)',
  ),
  tool_choice: implemented('`none`, `auto`, `required`, or a named function (the call is forced)'),
  parallel_tool_calls: implemented('`false` allows one call per answer; default several'),
  functions: refused('the deprecated functions API; send `tools`', [{ name: 'f' }], 'null'),
  function_call: refused('the deprecated functions API; send `tool_choice`', 'auto', 'null'),
  store: ignored('nothing is stored: there is no stored-completions API here', true),
  metadata: ignored('tags for stored completions; nothing is stored', { project: 'x' }),
  reasoning_effort: ignored("the model's chat template decides whether it reasons; there is no effort setting to map it to", 'low'),
  service_tier: ignored('there is one tier', 'flex'),
  modalities: refused('text is the only output', ['text', 'audio'], 'null or ["text"]', (v) => isNull(v) || (Array.isArray(v) && v.every((m) => m === 'text'))),
  verbosity: ignored("a length hint of OpenAI's own models; the prompt and `max_tokens` control length here", 'low'),
  prompt_cache_key: ignored('a cache-routing hint; every request is evaluated from its own prompt', 'key-1'),
  prompt_cache_retention: ignored('a cache-routing hint; every request is evaluated from its own prompt', '24h'),
  prompt_cache_options: ignored('a cache-routing hint; every request is evaluated from its own prompt', {}),
  safety_identifier: ignored('an end-user id for OpenAI abuse monitoring; nothing here is monitored per user', 'safety-1'),
  prediction: ignored('predicted output only speeds generation up, never changes it; no speculative decoding here', { type: 'content', content: 'x' }),
  audio: refused('audio output is not supported', { voice: 'alloy', format: 'wav' }, 'null'),
  web_search_options: refused('web search is not supported', {}, 'null'),
  moderation: refused('moderation is not supported', {}, 'null'),
};

export const completionFieldPolicy: Record<keyof CompletionBody, FieldPolicy> = {
  ...shared,
  prompt: implemented('a string, an array of one string, or one prompt as token ids; several prompts are a 400'),
  echo: refused('the prompt is not echoed', true, 'false or null', (v) => isNull(v) || v === false),
  best_of: refused('one candidate per request', 2, '1 or null', (v) => isNull(v) || v === 1),
  logprobs: implemented(
    "0 to 5: the sampled token's log probability and that many alternatives per token (`tokens`, `token_logprobs`, `top_logprobs`, `text_offset`), streamed too",
  ),
  suffix: refused('insertion (fill-in-the-middle) is not supported', 'end', 'null'),
  grammar: implemented(grammarMaps),
};

export const embeddingFieldPolicy: Record<keyof EmbeddingBody, FieldPolicy> = {
  input: implemented('a string, an array of strings, or token ids (one array or several); every input must fit the context; empty strings are a 400'),
  model: shared.model,
  encoding_format: implemented('`float` (default) or `base64` (little-endian float32, what the SDKs request and decode)'),
  dimensions: implemented(
    "only the model's own dimension: truncating a vector is meaningful only for models trained for it, which a GGUF file does not declare, so other values are a 400",
  ),
  user: shared.user,
};

/** Service settings the mapper applies. */
export interface MapperSettings {
  modelId: string;
  /** MODEL_NAMES: 'served' (default) refuses a `model` naming another model. */
  modelNames: 'served' | 'any';
  maxCompletionLength: number;
  defaults: { temperature: number; topP: number; topK: number; minP: number };
}

export type Endpoint = 'chat' | 'completion';

/** What a route hands to the generation runner. */
export interface Job {
  endpoint: Endpoint;
  input: GenerationInput;
  sampling: SamplingOptions;
  stream: boolean;
  includeUsage: boolean;
}

export function refuseUnsupported(body: Record<string, unknown>, policy: Record<string, FieldPolicy>): void {
  for (const [field, p] of Object.entries(policy)) {
    if (p.policy !== 'refused') continue;
    const value = body[field];
    if (!p.neutral(value)) {
      throw badRequest(`${field} is not supported by this server (${p.why}); it accepts only ${p.accepts}.`, field, 'unsupported_parameter');
    }
  }
}

export function checkModel(model: string | null | undefined, settings: MapperSettings): void {
  if (model == null || settings.modelNames === 'any' || model === settings.modelId) return;
  throw modelNotFound(model, settings.modelId);
}

export function modelNotFound(model: string, served: string): ApiError {
  return new ApiError(404, `The model '${model}' does not exist; this server serves '${served}'.`, 'invalid_request_error', 'model', 'model_not_found');
}

/** The `seed` value that asks for a random seed, as in llama-server. */
const randomSeedValue = -1;

type SamplingFields = Pick<
  ChatCompletionBody,
  | 'max_tokens'
  | 'temperature'
  | 'top_p'
  | 'stop'
  | 'seed'
  | 'frequency_penalty'
  | 'presence_penalty'
  | 'logit_bias'
  | 'top_k'
  | 'min_p'
  | 'repeat_penalty'
  | 'repetition_penalty'
> & { max_completion_tokens?: number | null };

/** `repeat_penalty` (llama-server) or its vLLM name `repetition_penalty`; both at once must agree. */
function repeatPenaltyOf(body: SamplingFields): number | undefined {
  const a = body.repeat_penalty ?? undefined;
  const b = body.repetition_penalty ?? undefined;
  if (a !== undefined && b !== undefined && a !== b) {
    throw badRequest(
      `repeat_penalty (${a}) and repetition_penalty (${b}) are two names of the same penalty; send one of them, or the same value in both.`,
      'repetition_penalty',
      'invalid_value',
    );
  }
  return a ?? b;
}

function samplingFrom(body: SamplingFields, settings: MapperSettings): SamplingOptions {
  const limit = settings.maxCompletionLength;
  const param = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const requested = body.max_completion_tokens ?? body.max_tokens ?? undefined;
  if (requested !== undefined && requested > limit) {
    throw badRequest(`${param} is too large: ${requested}. This server allows at most ${limit} completion tokens per request.`, param, 'invalid_value');
  }
  // -1 is llama-server's "random seed" (tools/server/README.md `seed`: default -1, use a random seed).
  const seed = body.seed === randomSeedValue ? undefined : body.seed;
  if (seed != null && (seed < 0 || seed > maxSeed)) {
    throw badRequest(
      `seed ${seed} is out of range: this server's sampler keeps 32-bit seeds, so seed must be an integer from 0 to ${maxSeed} (distinct seeds in that range never collide), or -1 for a random one.`,
      'seed',
      'invalid_value',
    );
  }
  const stop = body.stop == null ? undefined : (Array.isArray(body.stop) ? body.stop : [body.stop]).filter((s) => s !== '');
  const out: SamplingOptions = {
    maxTokens: requested ?? limit,
    temperature: body.temperature ?? settings.defaults.temperature,
    topP: body.top_p ?? settings.defaults.topP,
    topK: body.top_k != null ? Math.max(0, body.top_k) : settings.defaults.topK,
    minP: body.min_p ?? settings.defaults.minP,
  };
  const repeatPenalty = repeatPenaltyOf(body);
  if (repeatPenalty !== undefined && repeatPenalty !== 1) out.repeatPenalty = repeatPenalty;
  if (seed != null) out.seed = seed;
  if (stop && stop.length > 0) out.stop = stop;
  if (body.presence_penalty != null && body.presence_penalty !== 0) out.presencePenalty = body.presence_penalty;
  if (body.frequency_penalty != null && body.frequency_penalty !== 0) out.frequencyPenalty = body.frequency_penalty;
  if (body.logit_bias != null) {
    const bias = new Map<number, number | 'never'>();
    for (const [token, value] of Object.entries(body.logit_bias)) bias.set(Number(token), value <= -100 ? 'never' : value);
    if (bias.size > 0) out.logitBias = bias satisfies LogitBias;
  }
  return out;
}

function textOf(content: MessageBody['content'], where: string): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part, j) => {
      if (part.type === 'text' && typeof part.text === 'string') return part.text;
      if (part.type === 'refusal' && typeof part.refusal === 'string') return part.refusal;
      throw badRequest(
        `Only text content parts are supported; ${where}.content[${j}] has type '${part.type}'.`,
        `${where}.content[${j}].type`,
        'unsupported_content',
      );
    })
    .join('');
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** messages[] -> engine messages: roles normalised, tool results attached to the calls they answer. */
export function chatMessages(messages: ChatCompletionBody['messages']): ChatMessage[] {
  const out: ChatMessage[] = [];
  const openCalls = new Map<string, ToolCallRecord>();
  messages.forEach((m, i) => {
    const where = `messages[${i}]`;
    if (m.role === 'function') {
      throw badRequest(
        `${where}: the deprecated 'function' role is not supported; send 'tool' messages with tool_call_id.`,
        `${where}.role`,
        'unsupported_value',
      );
    }
    for (const field of ['audio', 'function_call'] as const) {
      if (m[field] != null) throw badRequest(`${where}.${field} is not supported by this server.`, `${where}.${field}`, 'unsupported_parameter');
    }
    if (m.role !== 'assistant' && m.tool_calls != null) {
      throw badRequest(`${where}: only assistant messages may carry tool_calls (this one is '${m.role}').`, `${where}.tool_calls`, 'invalid_value');
    }
    if (m.role !== 'tool' && m.tool_call_id != null) {
      throw badRequest(`${where}: only tool messages carry tool_call_id (this one is '${m.role}').`, `${where}.tool_call_id`, 'invalid_value');
    }
    if (m.role === 'assistant') {
      const calls = (m.tool_calls ?? []).map(
        (c) => ({ id: c.id, name: c.function.name, arguments: parseArguments(c.function.arguments) }) satisfies ToolCallRecord,
      );
      if (m.content == null && calls.length === 0) {
        throw badRequest(
          `Missing required parameter: '${where}.content' (an assistant message needs content or tool_calls).`,
          `${where}.content`,
          'missing_required_parameter',
        );
      }
      for (const c of calls) openCalls.set(c.id, c);
      out.push({ role: 'assistant', content: textOf(m.content, where), ...(calls.length > 0 ? { toolCalls: calls } : {}) });
      return;
    }
    if (m.content == null) throw badRequest(`Missing required parameter: '${where}.content'.`, `${where}.content`, 'missing_required_parameter');
    const text = textOf(m.content, where);
    if (m.role === 'tool') {
      if (m.tool_call_id == null)
        throw badRequest(`Missing required parameter: '${where}.tool_call_id'.`, `${where}.tool_call_id`, 'missing_required_parameter');
      const call = openCalls.get(m.tool_call_id);
      if (call === undefined) {
        throw badRequest(
          `${where}: a 'tool' message must answer a tool call of an earlier assistant message; no call has id '${m.tool_call_id}'.`,
          `${where}.tool_call_id`,
          'invalid_value',
        );
      }
      call.result = text;
      openCalls.delete(m.tool_call_id);
      return;
    }
    out.push({ role: m.role === 'developer' ? 'system' : m.role, content: text });
  });
  return out;
}

function toolsOption(body: ChatCompletionBody): ToolsOption | undefined {
  const tools = body.tools ?? [];
  const choice = body.tool_choice ?? (tools.length > 0 ? 'auto' : 'none');
  if (typeof choice === 'object' && choice.type === 'allowed_tools') {
    throw badRequest('tool_choice of type allowed_tools is not supported by this server; send the subset in tools.', 'tool_choice', 'unsupported_value');
  }
  if (choice === 'none') return undefined;
  if (tools.length === 0) {
    throw badRequest(`tool_choice '${typeof choice === 'string' ? choice : 'function'}' needs at least one entry in tools.`, 'tool_choice', 'invalid_value');
  }
  const names = new Set<string>();
  const definitions = tools.map((t, i) => {
    const f = t.function;
    if (names.has(f.name)) throw badRequest(`tools[${i}]: the function name '${f.name}' is declared twice.`, `tools[${i}].function.name`, 'invalid_value');
    names.add(f.name);
    return {
      name: f.name,
      ...(f.description != null ? { description: f.description } : {}),
      ...(f.parameters != null ? { parameters: toolParametersOrBadRequest(f.parameters, `tools[${i}].function.parameters`) } : {}),
    };
  });
  // OpenAI sets no number on parallel calls; node-llama-cpp's default (no limit) leaves it to max_tokens.
  const maxParallelCalls = body.parallel_tool_calls === false ? 1 : undefined;
  if (typeof choice === 'object') {
    const named = definitions.find((d) => d.name === (choice as { function: { name: string } }).function.name);
    if (named === undefined) {
      throw badRequest(
        `tool_choice names the function '${(choice as { function: { name: string } }).function.name}', which is not in tools.`,
        'tool_choice.function.name',
        'invalid_value',
      );
    }
    return { tools: [named], mode: 'required', ...(maxParallelCalls !== undefined ? { maxParallelCalls } : {}) };
  }
  return { tools: definitions, mode: choice, ...(maxParallelCalls !== undefined ? { maxParallelCalls } : {}) };
}

function grammarOf(body: ChatCompletionBody): OutputGrammar | undefined {
  const format = body.response_format;
  const raw = rawGrammarOf(body);
  if (format == null || format.type === 'text') return raw;
  if (raw !== undefined)
    throw badRequest('grammar cannot be combined with response_format json_object/json_schema; send one of them.', 'grammar', 'unsupported_value');
  if (format.type === 'json_object') return { kind: 'json' };
  const schema = format.json_schema.schema;
  if (schema == null) return { kind: 'json' };
  return schemaGrammarOrBadRequest(schema, 'response_format.json_schema.schema');
}

/** The raw GBNF `grammar` field (llama-server's); an empty string means none, as there. */
function rawGrammarOf(body: { grammar?: string | null }): OutputGrammar | undefined {
  if (body.grammar == null || body.grammar.trim() === '') return undefined;
  return gbnfGrammarOrBadRequest(body.grammar, 'grammar');
}

export function chatJob(body: ChatCompletionBody, settings: MapperSettings): Job {
  checkModel(body.model, settings);
  refuseUnsupported(body, chatFieldPolicy);
  const messages = chatMessages(body.messages);
  const tools = toolsOption(body);
  const grammar = grammarOf(body);
  if (tools !== undefined && grammar !== undefined) {
    // node-llama-cpp cannot combine a grammar with function calling in one generation.
    const param = body.grammar != null && body.grammar.trim() !== '' ? 'grammar' : 'response_format';
    throw badRequest(
      `${param === 'grammar' ? 'grammar' : 'response_format json_object/json_schema'} cannot be combined with tools on this server; send tool_choice "none" or drop ${param}.`,
      param,
      'unsupported_value',
    );
  }
  const sampling = samplingFrom(body, settings);
  if (grammar !== undefined) sampling.grammar = grammar;
  if (body.top_logprobs != null && body.top_logprobs > 0 && body.logprobs !== true) {
    throw badRequest('top_logprobs needs logprobs: true.', 'top_logprobs', 'invalid_value');
  }
  if (body.logprobs === true) {
    if (tools !== undefined || grammar !== undefined) {
      throw badRequest(
        'logprobs cannot be combined with tools, grammar or response_format json_object/json_schema on this server.',
        'logprobs',
        'unsupported_value',
      );
    }
    sampling.logprobs = { top: body.top_logprobs ?? 0 };
  }
  return {
    endpoint: 'chat',
    input: { kind: 'chat', messages, ...(tools !== undefined ? { tools } : {}) },
    sampling,
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
  };
}

export function completionJob(body: CompletionBody, settings: MapperSettings): Job {
  checkModel(body.model, settings);
  refuseUnsupported(body, completionFieldPolicy);
  const p = body.prompt;
  let input: GenerationInput;
  if (typeof p === 'string') input = { kind: 'completion', prompt: p };
  else if (p.length > 1 && p.every((x) => typeof x !== 'number')) {
    throw badRequest(`prompt holds ${p.length} prompts; this server completes one prompt per request.`, 'prompt', 'unsupported_value');
  } else if (typeof p[0] === 'string') input = { kind: 'completion', prompt: p[0] };
  else if (typeof p[0] === 'number') input = { kind: 'completion', prompt: '', tokens: p as number[] };
  else input = { kind: 'completion', prompt: '', tokens: p[0] as number[] };
  const sampling = samplingFrom(body, settings);
  const grammar = rawGrammarOf(body);
  if (grammar !== undefined) {
    if (body.logprobs != null) throw badRequest('logprobs cannot be combined with grammar on this server.', 'logprobs', 'unsupported_value');
    sampling.grammar = grammar;
  }
  if (body.logprobs != null) sampling.logprobs = { top: body.logprobs };
  return {
    endpoint: 'completion',
    input,
    sampling,
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
  };
}

/**
 * The Responses API's fields, as far as they are not the same as chat's: `store` (nothing is stored: only
 * false), `previous_response_id` (stateless: the client sends the conversation), `background`, `truncation:
 * auto` and `include` are refused; `reasoning`, `metadata`, `user`, `safety_identifier`, `prompt_cache_key`,
 * `service_tier`, `text.verbosity` are ignored as in chat.
 */
export const responsesFieldPolicy: Partial<Record<keyof ResponseCreateBody, FieldPolicy>> = {
  store: refused('nothing is stored: this server keeps no responses (send the conversation in input)', true, 'false or null', (v) => isNull(v) || v === false),
  previous_response_id: refused('this server is stateless and keeps no responses; send the whole conversation in input', 'resp_1', 'null'),
  background: refused('background responses need stored state, which this server does not keep', true, 'false or null', (v) => isNull(v) || v === false),
  truncation: refused(
    'the conversation is never truncated silently; a too long input is a 400 (trim it with POST /tokenize)',
    'auto',
    "'disabled' or null",
    (v) => isNull(v) || v === 'disabled',
  ),
  include: refused(
    'no extra output data (encrypted reasoning, logprobs, search results) is available',
    ['reasoning.encrypted_content'],
    'an empty list or null',
    (v) => isNull(v) || (Array.isArray(v) && v.length === 0),
  ),
  reasoning: ignored("the model's chat template decides whether it reasons; there is no effort setting to map it to", { effort: 'low' }),
};

const inputText = (content: string | Array<{ type: string; text?: string | undefined }>, where: string): string =>
  typeof content === 'string'
    ? content
    : content
        .map((part, j) => {
          if ((part.type === 'input_text' || part.type === 'output_text') && typeof part.text === 'string') return part.text;
          throw badRequest(
            `Only text content parts are supported; ${where}.content[${j}] has type '${part.type}'.`,
            `${where}.content[${j}].type`,
            'unsupported_content',
          );
        })
        .join('');

/**
 * A Responses API request as the chat completion it amounts to, so that both go through `chatJob` (one
 * mapping from OpenAI fields to the engine): `instructions` becomes the system message, `input` items become
 * messages (`function_call` items become assistant tool calls, `function_call_output` items tool messages),
 * `max_output_tokens` is `max_completion_tokens`, `text.format` is `response_format`, function `tools` keep
 * their schema.
 */
export function responsesJob(body: ResponseCreateBody, settings: MapperSettings): Job {
  refuseUnsupported(body, responsesFieldPolicy as Record<string, FieldPolicy>);
  // Built as plain objects: the same values the chat schema accepts (checked again by chatMessages).
  interface PlainMessage {
    role: string;
    content: string | null;
    tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
    tool_call_id?: string;
  }
  const messages: PlainMessage[] = [];
  if (body.instructions != null && body.instructions !== '') messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  else {
    body.input.forEach((item, i) => {
      const where = `input[${i}]`;
      if (item.type === 'function_call') {
        const last = messages.at(-1);
        const call = { id: item.call_id, type: 'function' as const, function: { name: item.name, arguments: item.arguments } };
        // Consecutive calls belong to one assistant turn (parallel calls).
        if (last?.role === 'assistant' && last.tool_calls != null && (last.content == null || last.content === '')) last.tool_calls.push(call);
        else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
      } else if (item.type === 'function_call_output') {
        messages.push({ role: 'tool', content: item.output, tool_call_id: item.call_id });
      } else {
        messages.push({ role: item.role, content: inputText(item.content, where) });
      }
    });
  }
  const format = body.text?.format;
  // Checked here for an error that names the Responses field; chatJob converts the same schema again.
  if (format?.type === 'json_schema' && format.schema != null) schemaGrammarOrBadRequest(format.schema, 'text.format.schema');
  const choice = body.tool_choice;
  const chat: ChatCompletionBody = {
    messages: messages as unknown as ChatCompletionBody['messages'],
    ...(body.model !== undefined ? { model: body.model } : {}),
    ...(body.max_output_tokens != null ? { max_completion_tokens: body.max_output_tokens } : {}),
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { top_p: body.top_p } : {}),
    ...(body.top_k != null ? { top_k: body.top_k } : {}),
    ...(body.min_p != null ? { min_p: body.min_p } : {}),
    ...(body.repeat_penalty != null ? { repeat_penalty: body.repeat_penalty } : {}),
    ...(body.seed != null ? { seed: body.seed } : {}),
    ...(body.parallel_tool_calls != null ? { parallel_tool_calls: body.parallel_tool_calls } : {}),
    ...(body.tools != null && body.tools.length > 0
      ? {
          tools: body.tools.map((t, i) => {
            // Checked here for an error that names the Responses field; chatJob converts the same schema again.
            if (t.parameters != null) toolParametersOrBadRequest(t.parameters, `tools[${i}].parameters`);
            return {
              type: 'function' as const,
              function: {
                name: t.name,
                ...(t.description != null ? { description: t.description } : {}),
                ...(t.parameters != null ? { parameters: t.parameters } : {}),
              },
            };
          }),
        }
      : {}),
    ...(choice != null ? { tool_choice: typeof choice === 'string' ? choice : { type: 'function' as const, function: { name: choice.name } } } : {}),
    ...(format != null
      ? {
          response_format:
            format.type === 'json_schema'
              ? {
                  type: 'json_schema' as const,
                  json_schema: { name: format.name, schema: format.schema, ...(format.strict != null ? { strict: format.strict } : {}) },
                }
              : format,
        }
      : {}),
    stream: body.stream === true,
  };
  return chatJob(chat, settings);
}

/** What the embeddings route hands to the engine. */
export interface EmbeddingJob {
  inputs: EmbeddingInput[];
  encoding: 'float' | 'base64';
}

export function embeddingJob(body: EmbeddingBody, settings: MapperSettings, dimensions: number): EmbeddingJob {
  checkModel(body.model, settings);
  if (body.dimensions != null && body.dimensions !== dimensions) {
    throw badRequest(
      `dimensions ${body.dimensions} is not supported: this model's embeddings have ${dimensions} dimensions, and shortening them is meaningful only for models trained for it.`,
      'dimensions',
      'unsupported_value',
    );
  }
  const input = body.input;
  let inputs: EmbeddingInput[];
  if (typeof input === 'string') inputs = [input];
  else if (input.every((x) => typeof x === 'number')) inputs = [input as number[]];
  else inputs = input as Array<string | number[]>;
  inputs.forEach((x, i) => {
    if (x === '' || (typeof x === 'string' && x.trim() === '')) {
      throw badRequest(`input[${i}] is empty; every input must contain text to embed.`, typeof input === 'string' ? 'input' : `input[${i}]`, 'invalid_value');
    }
  });
  return { inputs, encoding: body.encoding_format ?? 'float' };
}
