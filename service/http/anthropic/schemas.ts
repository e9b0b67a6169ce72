/**
 * JSON schemas (TypeBox) of Anthropic's Messages API request bodies (`POST /v1/messages`,
 * `POST /v1/messages/count_tokens`), from the `@anthropic-ai/sdk` request types
 * (resources/messages/messages.ts `MessageCreateParamsBase`, `MessageCountTokensParams`).
 *
 * Top-level fields Anthropic does not define are refused (`additionalProperties: false`), like on the OpenAI
 * routes. Content blocks and tools are one object schema each with the union of their kinds' fields (open to
 * the fields of kinds this server refuses): the block and tool kinds are checked in the mapper
 * (service/http/anthropic/fields.ts), whose messages name the block, rather than by a union whose every
 * branch would complain.
 */
import { Type, type Static, type TSchema } from '@fastify/type-provider-typebox';

const Nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));
const AnyObject = Type.Object({}, { additionalProperties: true });

/** `{type: 'text', text}`; other kinds (image, document, ...) are refused by the mapper by name. */
const SystemBlock = Type.Object({ type: Type.String(), text: Type.Optional(Type.String()) }, { additionalProperties: true });

/** One content block of a message: text, tool_use, tool_result, thinking (and kinds the mapper refuses). */
const ContentBlock = Type.Object(
  {
    type: Type.String({ maxLength: 64 }),
    text: Type.Optional(Type.String()),
    // tool_use
    id: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
    input: Type.Optional(Type.Unknown()),
    // tool_result: a string or text blocks
    tool_use_id: Type.Optional(Type.String()),
    content: Type.Optional(Type.Union([Type.String(), Type.Array(SystemBlock)])),
    is_error: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true },
);

const Message = Type.Object(
  {
    role: Type.Union([Type.Literal('user'), Type.Literal('assistant')]),
    content: Type.Union([Type.String(), Type.Array(ContentBlock)]),
  },
  { additionalProperties: false },
);

/** A client tool (`type` absent or `custom`); server tools (`web_search_...`) are refused by the mapper by type. */
const Tool = Type.Object(
  {
    name: Type.String({ pattern: '^[a-zA-Z0-9_-]{1,64}$' }),
    type: Nullable(Type.String()),
    description: Type.Optional(Type.String()),
    input_schema: Type.Optional(AnyObject),
  },
  { additionalProperties: true },
);

const ToolChoice = Type.Union([
  Type.Object(
    { type: Type.Union([Type.Literal('auto'), Type.Literal('any')]), disable_parallel_tool_use: Type.Optional(Type.Boolean()) },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('none') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('tool'), name: Type.String(), disable_parallel_tool_use: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
]);

const Thinking = Type.Object(
  {
    type: Type.Union([Type.Literal('enabled'), Type.Literal('disabled'), Type.Literal('adaptive'), Type.Literal('between_tools')]),
    budget_tokens: Type.Optional(Type.Integer()),
    display: Nullable(Type.String()),
  },
  { additionalProperties: false },
);

const OutputConfig = Type.Object(
  {
    effort: Nullable(Type.String()),
    format: Nullable(Type.Object({ type: Type.Literal('json_schema'), schema: AnyObject }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

/** Fields of both bodies: the conversation and what shapes its prompt. */
const conversation = {
  model: Type.String({ maxLength: 512 }),
  messages: Type.Array(Message, { minItems: 1 }),
  system: Type.Optional(Type.Union([Type.String(), Type.Array(SystemBlock)])),
  tools: Type.Optional(Type.Array(Tool)),
  tool_choice: Type.Optional(ToolChoice),
  thinking: Type.Optional(Thinking),
  output_config: Type.Optional(OutputConfig),
  cache_control: Nullable(AnyObject),
};

export const MessagesBody = Type.Object(
  {
    ...conversation,
    max_tokens: Type.Integer({ minimum: 1 }),
    stop_sequences: Type.Optional(Type.Array(Type.String(), { maxItems: 64 })),
    stream: Type.Optional(Type.Boolean()),
    // Anthropic's ranges: temperature 0..1.
    temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    top_p: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    top_k: Type.Optional(Type.Integer({ minimum: 0 })),
    metadata: Type.Optional(Type.Object({ user_id: Nullable(Type.String()) }, { additionalProperties: false })),
    service_tier: Type.Optional(Type.String()),
    container: Nullable(Type.Unknown()),
    mcp_servers: Type.Optional(Type.Array(Type.Unknown())),
  },
  { additionalProperties: false },
);
export type MessagesBody = Static<typeof MessagesBody>;

export const CountTokensBody = Type.Object(conversation, { additionalProperties: false });
export type CountTokensBody = Static<typeof CountTokensBody>;
