/**
 * JSON schemas (TypeBox) of the OpenAI-compatible request bodies.
 *
 * Unknown fields are rejected (`additionalProperties: false`, with Fastify's ajv told not to
 * strip them) with OpenAI's own wording: "Unrecognized request argument supplied: x".
 * Fields OpenAI clients commonly send are accepted: optional parameters may be `null`
 * (several SDKs send explicit nulls), and a few we do not implement are accepted only with
 * their neutral value, checked in the handler (`n`, `logprobs`, `echo`, `best_of`, `suffix`).
 * `frequency_penalty` / `presence_penalty` / `user` are accepted and ignored.
 */
import { Type, type Static, type TSchema } from '@fastify/type-provider-typebox';

const Nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));

/** Parameters shared by chat and text completions. */
const common = {
  model: Type.Optional(Type.String({ maxLength: 512 })),
  max_tokens: Nullable(Type.Integer({ minimum: 1 })),
  temperature: Nullable(Type.Number({ minimum: 0, maximum: 2 })),
  top_p: Nullable(Type.Number({ minimum: 0, maximum: 1 })),
  stop: Nullable(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 4 })])),
  seed: Nullable(Type.Integer()),
  n: Nullable(Type.Integer({ minimum: 1 })),
  stream: Nullable(Type.Boolean()),
  stream_options: Nullable(Type.Object({ include_usage: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
  frequency_penalty: Nullable(Type.Number({ minimum: -2, maximum: 2 })),
  presence_penalty: Nullable(Type.Number({ minimum: -2, maximum: 2 })),
  user: Nullable(Type.String()),
};

/** A content part; only `text` parts are supported (checked in the handler for a clear message). */
const ContentPart = Type.Object(
  { type: Type.String(), text: Type.Optional(Type.String()) },
  { additionalProperties: true },
);

const Message = Type.Object(
  {
    role: Type.Enum(['system', 'developer', 'user', 'assistant']),
    content: Type.Union([Type.String(), Type.Array(ContentPart, { minItems: 1 })]),
    name: Type.Optional(Type.String()),
    // Present when a client replays an assistant message it received from an OpenAI-style API.
    refusal: Nullable(Type.String()),
    annotations: Type.Optional(Type.Array(Type.Unknown())),
  },
  { additionalProperties: false },
);

export const ChatCompletionBody = Type.Object(
  {
    ...common,
    messages: Type.Array(Message, { minItems: 1 }),
    max_completion_tokens: Nullable(Type.Integer({ minimum: 1 })),
    logprobs: Nullable(Type.Boolean()),
    response_format: Type.Optional(Type.Object({ type: Type.String() }, { additionalProperties: true })),
  },
  { additionalProperties: false },
);
export type ChatCompletionBody = Static<typeof ChatCompletionBody>;

export const CompletionBody = Type.Object(
  {
    ...common,
    prompt: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1, maxItems: 1 })]),
    echo: Nullable(Type.Boolean()),
    best_of: Nullable(Type.Integer({ minimum: 1 })),
    logprobs: Nullable(Type.Integer({ minimum: 0 })),
    suffix: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type CompletionBody = Static<typeof CompletionBody>;
