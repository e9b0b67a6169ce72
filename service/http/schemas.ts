/**
 * JSON schemas (TypeBox) of the OpenAI-compatible request bodies.
 *
 * Every field of OpenAI's chat and text completion requests is in these schemas, with its `null` form
 * where OpenAI allows one (several SDKs send explicit nulls). What the server does with each field —
 * implemented, accepted and ignored, or refused with a 400 that says it is not supported — is decided in
 * ONE place, `service/http/openai/fields.ts`, and listed in the README's field table (a test keeps the
 * three in step). Fields OpenAI does not define are rejected (`additionalProperties: false`, with
 * Fastify's ajv told not to strip them) with OpenAI's own wording: "Unrecognized request argument supplied: x".
 *
 * Messages are one object schema with the union of the roles' fields (rather than a union of per-role
 * schemas): a union makes ajv report every branch's complaint, and the role-specific rules are checked
 * in the field mapper with messages that name the role.
 */
import { Type, type Static, type TSchema } from '@fastify/type-provider-typebox';

const Nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));

/** A free-form object (OpenAI metadata, options we accept and ignore). */
const AnyObject = Type.Object({}, { additionalProperties: true });

const StreamOptions = Type.Object(
  {
    include_usage: Nullable(Type.Boolean()),
    include_obfuscation: Nullable(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** Parameters shared by chat and text completions. */
const common = {
  model: Nullable(Type.String({ maxLength: 512 })),
  max_tokens: Nullable(Type.Integer({ minimum: 1 })),
  temperature: Nullable(Type.Number({ minimum: 0, maximum: 2 })),
  top_p: Nullable(Type.Number({ minimum: 0, maximum: 1 })),
  stop: Nullable(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 4 })])),
  seed: Nullable(Type.Integer()),
  n: Nullable(Type.Integer({ minimum: 1 })),
  stream: Nullable(Type.Boolean()),
  stream_options: Nullable(StreamOptions),
  frequency_penalty: Nullable(Type.Number({ minimum: -2, maximum: 2 })),
  presence_penalty: Nullable(Type.Number({ minimum: -2, maximum: 2 })),
  /** Token id (as a string key) -> bias in [-100, 100]. */
  logit_bias: Nullable(Type.Record(Type.String({ pattern: '^[0-9]+$' }), Type.Number({ minimum: -100, maximum: 100 }))),
  user: Nullable(Type.String()),
  // Sampling fields of llama-server (tools/server/README.md) and vLLM that local-model clients send beside OpenAI's.
  /** <= 0 turns top-k off (llama.cpp's top-k sampler is a no-op for k <= 0). */
  top_k: Nullable(Type.Integer()),
  min_p: Nullable(Type.Number({ minimum: 0, maximum: 1 })),
  typical_p: Nullable(Type.Number({ minimum: 0, maximum: 1 })),
  repeat_penalty: Nullable(Type.Number({ exclusiveMinimum: 0, maximum: 100 })),
  repetition_penalty: Nullable(Type.Number({ exclusiveMinimum: 0, maximum: 100 })),
};

/** A content part: text (and refusal, in replayed assistant messages); other types are refused by the mapper. */
const ContentPart = Type.Object(
  { type: Type.String(), text: Type.Optional(Type.String()), refusal: Type.Optional(Type.String()) },
  { additionalProperties: true },
);

const ToolCall = Type.Object(
  {
    id: Type.String(),
    type: Type.Literal('function'),
    function: Type.Object({ name: Type.String(), arguments: Type.String() }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);

export const messageRoles = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const;

const Message = Type.Object(
  {
    role: Type.Union(messageRoles.map((r) => Type.Literal(r))),
    // Required for every role except an assistant message that carries tool calls (checked in the mapper).
    content: Nullable(Type.Union([Type.String(), Type.Array(ContentPart, { minItems: 1 })])),
    name: Nullable(Type.String()),
    // Assistant messages replayed from an OpenAI-style API.
    refusal: Nullable(Type.String()),
    annotations: Nullable(Type.Array(Type.Unknown())),
    audio: Nullable(AnyObject),
    tool_calls: Nullable(Type.Array(ToolCall)),
    function_call: Nullable(AnyObject),
    // Tool messages.
    tool_call_id: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type MessageBody = Static<typeof Message>;

const FunctionDefinition = Type.Object(
  {
    name: Type.String({ pattern: '^[a-zA-Z0-9_-]{1,64}$' }),
    description: Nullable(Type.String()),
    parameters: Nullable(AnyObject),
    strict: Nullable(Type.Boolean()),
  },
  { additionalProperties: false },
);

const Tool = Type.Object({ type: Type.Literal('function'), function: FunctionDefinition }, { additionalProperties: false });

const ToolChoice = Type.Union([
  Type.Union([Type.Literal('none'), Type.Literal('auto'), Type.Literal('required')]),
  Type.Object(
    { type: Type.Literal('function'), function: Type.Object({ name: Type.String() }, { additionalProperties: false }) },
    { additionalProperties: false },
  ),
  // OpenAI's allowed_tools form is accepted by the schema so the mapper can refuse it by name.
  Type.Object({ type: Type.Literal('allowed_tools') }, { additionalProperties: true }),
]);

const ResponseFormat = Type.Union([
  Type.Object({ type: Type.Literal('text') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('json_object') }, { additionalProperties: false }),
  Type.Object(
    {
      type: Type.Literal('json_schema'),
      json_schema: Type.Object(
        {
          name: Type.String({ pattern: '^[a-zA-Z0-9_-]{1,64}$' }),
          description: Nullable(Type.String()),
          schema: Nullable(AnyObject),
          strict: Nullable(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  ),
]);

export const ChatCompletionBody = Type.Object(
  {
    ...common,
    messages: Type.Array(Message, { minItems: 1 }),
    max_completion_tokens: Nullable(Type.Integer({ minimum: 1 })),
    logprobs: Nullable(Type.Boolean()),
    top_logprobs: Nullable(Type.Integer({ minimum: 0, maximum: 20 })),
    response_format: Nullable(ResponseFormat),
    // llama-server's raw GBNF grammar (service/http/openai/json-schema.ts parses it).
    grammar: Nullable(Type.String({ maxLength: 262144 })),
    tools: Nullable(Type.Array(Tool)),
    tool_choice: Nullable(ToolChoice),
    parallel_tool_calls: Nullable(Type.Boolean()),
    functions: Nullable(Type.Array(Type.Unknown())),
    function_call: Nullable(Type.Union([Type.String(), AnyObject])),
    store: Nullable(Type.Boolean()),
    metadata: Nullable(Type.Record(Type.String(), Type.String())),
    reasoning_effort: Nullable(Type.String()),
    service_tier: Nullable(Type.String()),
    modalities: Nullable(Type.Array(Type.String())),
    verbosity: Nullable(Type.String()),
    prompt_cache_key: Nullable(Type.String()),
    prompt_cache_retention: Nullable(Type.String()),
    prompt_cache_options: Nullable(AnyObject),
    safety_identifier: Nullable(Type.String()),
    prediction: Nullable(AnyObject),
    audio: Nullable(AnyObject),
    web_search_options: Nullable(AnyObject),
    moderation: Nullable(AnyObject),
  },
  { additionalProperties: false },
);
export type ChatCompletionBody = Static<typeof ChatCompletionBody>;

export const CompletionBody = Type.Object(
  {
    ...common,
    // A string, one string in an array, or one prompt as token ids; several prompts are refused in the mapper.
    prompt: Type.Union([
      Type.String(),
      Type.Array(Type.String(), { minItems: 1 }),
      Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }),
      Type.Array(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }), { minItems: 1 }),
    ]),
    echo: Nullable(Type.Boolean()),
    best_of: Nullable(Type.Integer({ minimum: 1 })),
    logprobs: Nullable(Type.Integer({ minimum: 0, maximum: 5 })),
    suffix: Nullable(Type.String()),
    grammar: Nullable(Type.String({ maxLength: 262144 })),
  },
  { additionalProperties: false },
);
export type CompletionBody = Static<typeof CompletionBody>;

export const EmbeddingBody = Type.Object(
  {
    // Text, texts, one input as token ids, or several inputs as token ids (OpenAI's four forms).
    input: Type.Union([
      Type.String(),
      Type.Array(Type.String(), { minItems: 1, maxItems: 2048 }),
      Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }),
      Type.Array(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }), { minItems: 1, maxItems: 2048 }),
    ]),
    model: Nullable(Type.String({ maxLength: 512 })),
    encoding_format: Nullable(Type.Union([Type.Literal('float'), Type.Literal('base64')])),
    dimensions: Nullable(Type.Integer({ minimum: 1 })),
    user: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type EmbeddingBody = Static<typeof EmbeddingBody>;

/** llama-server's POST /tokenize (tools/server/server.cpp): `content`, or (this service) chat `messages` to count. */
export const TokenizeBody = Type.Object(
  {
    content: Type.Optional(Type.String()),
    messages: Type.Optional(ChatCompletionBody.properties.messages),
    add_special: Type.Optional(Type.Boolean()),
    parse_special: Type.Optional(Type.Boolean()),
    with_pieces: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type TokenizeBody = Static<typeof TokenizeBody>;

/** llama-server's POST /detokenize. */
export const DetokenizeBody = Type.Object({ tokens: Type.Array(Type.Integer()) }, { additionalProperties: false });
export type DetokenizeBody = Static<typeof DetokenizeBody>;

/** Text parts of a Responses API message (`input_text`, and `output_text` in replayed assistant turns). */
const ResponseContentPart = Type.Object(
  { type: Type.Union([Type.Literal('input_text'), Type.Literal('output_text'), Type.String()]), text: Type.Optional(Type.String()) },
  { additionalProperties: true },
);

/** One item of a Responses API `input` array: a message, a function call the model made, or its output. */
const ResponseInputItem = Type.Union([
  Type.Object(
    {
      type: Type.Optional(Type.Literal('message')),
      role: Type.Union([Type.Literal('system'), Type.Literal('developer'), Type.Literal('user'), Type.Literal('assistant')]),
      content: Type.Union([Type.String(), Type.Array(ResponseContentPart)]),
      id: Type.Optional(Type.String()),
      status: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('function_call'),
      call_id: Type.String(),
      name: Type.String(),
      arguments: Type.String(),
      id: Type.Optional(Type.String()),
      status: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('function_call_output'),
      call_id: Type.String(),
      output: Type.String(),
      id: Type.Optional(Type.String()),
      status: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
]);

const ResponseTool = Type.Object(
  {
    type: Type.Literal('function'),
    name: Type.String({ pattern: '^[a-zA-Z0-9_-]{1,64}$' }),
    description: Nullable(Type.String()),
    parameters: Nullable(AnyObject),
    strict: Nullable(Type.Boolean()),
  },
  { additionalProperties: false },
);

const ResponseTextFormat = Type.Union([
  Type.Object({ type: Type.Literal('text') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('json_object') }, { additionalProperties: false }),
  Type.Object(
    {
      type: Type.Literal('json_schema'),
      name: Type.String({ pattern: '^[a-zA-Z0-9_-]{1,64}$' }),
      description: Nullable(Type.String()),
      schema: AnyObject,
      strict: Nullable(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
]);

/** POST /v1/responses (OpenAI Responses API), stateless. */
export const ResponseCreateBody = Type.Object(
  {
    model: Nullable(Type.String({ maxLength: 512 })),
    input: Type.Union([Type.String(), Type.Array(ResponseInputItem, { minItems: 1 })]),
    instructions: Nullable(Type.String()),
    max_output_tokens: Nullable(Type.Integer({ minimum: 1 })),
    temperature: common.temperature,
    top_p: common.top_p,
    top_k: common.top_k,
    min_p: common.min_p,
    repeat_penalty: common.repeat_penalty,
    seed: common.seed,
    stream: Nullable(Type.Boolean()),
    tools: Nullable(Type.Array(ResponseTool)),
    tool_choice: Nullable(
      Type.Union([
        Type.Union([Type.Literal('none'), Type.Literal('auto'), Type.Literal('required')]),
        Type.Object({ type: Type.Literal('function'), name: Type.String() }, { additionalProperties: false }),
      ]),
    ),
    parallel_tool_calls: Nullable(Type.Boolean()),
    text: Nullable(Type.Object({ format: Type.Optional(ResponseTextFormat), verbosity: Nullable(Type.String()) }, { additionalProperties: false })),
    reasoning: Nullable(AnyObject),
    store: Nullable(Type.Boolean()),
    previous_response_id: Nullable(Type.String()),
    metadata: Nullable(AnyObject),
    user: Nullable(Type.String()),
    safety_identifier: Nullable(Type.String()),
    prompt_cache_key: Nullable(Type.String()),
    service_tier: Nullable(Type.String()),
    truncation: Nullable(Type.Union([Type.Literal('disabled'), Type.Literal('auto')])),
    include: Nullable(Type.Array(Type.String())),
    background: Nullable(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ResponseCreateBody = Static<typeof ResponseCreateBody>;
