/**
 * Anthropic's Messages API (`POST /v1/messages`, `POST /v1/messages/count_tokens`) for clients written with
 * `@anthropic-ai/sdk` (and gateways that speak it), as llama-server serves it (ggml-org/llama.cpp
 * tools/server/server.cpp registers both routes). An encapsulated plugin of its own, because three things
 * differ from the OpenAI routes:
 *
 * - authentication: with API_KEY set, the key is read from `x-api-key` (what Anthropic clients send) or from
 *   `Authorization: Bearer` (the SDK's `authToken`, and OpenAI-style gateways); either must match;
 * - errors: every error, validation and engine errors included, is rendered in Anthropic's shape (errors.ts);
 * - the `anthropic-version` header (the SDK always sends one) is accepted whatever its value: there is one
 *   version of this API here, and the header changes nothing.
 *
 * Requests are mapped in fields.ts through the OpenAI mapper (one place maps fields to engine options) and run
 * by the OpenAI plugin's generation runner; messages.ts renders the answers.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { keyMatches } from '../auth.js';
import type { EnginePort } from '../engine-port.js';
import { ApiError } from '../errors.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Metrics } from '../metrics.js';
import { mapperSettings, type OpenAiOptions } from '../openai/index.js';
import { anthropicErrorHandler, sendAnthropicError } from './errors.js';
import { messagesRoutes } from './messages.js';

export interface AnthropicOptions {
  engine: EnginePort;
  lifecycle: Lifecycle;
  metrics: Metrics;
  config: OpenAiOptions['config'];
}

/** The key a request presents: `x-api-key`, else the token of `Authorization: Bearer`. */
function presentedKey(request: FastifyRequest): string | undefined {
  const apiKey = request.headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') return apiKey;
  const authorization = request.headers.authorization;
  return typeof authorization === 'string' ? /^Bearer\s+(.+)$/i.exec(authorization.trim())?.[1] : undefined;
}

function apiKeyAuth(apiKey: string) {
  return async function checkApiKey(request: FastifyRequest, reply: FastifyReply) {
    const key = presentedKey(request);
    if (keyMatches(apiKey, key)) return undefined;
    const message = key === undefined ? 'No API key provided: send it in the x-api-key header (or as Authorization: Bearer <key>).' : 'Invalid API key.';
    return sendAnthropicError(reply, new ApiError(401, message, 'authentication_error', null, 'invalid_api_key'));
  };
}

export async function anthropicPlugin(app: FastifyInstance, opts: AnthropicOptions): Promise<void> {
  const { engine, lifecycle, metrics, config } = opts;
  app.setErrorHandler(anthropicErrorHandler);
  if (config.apiKey) app.addHook('onRequest', apiKeyAuth(config.apiKey));
  messagesRoutes(app, { engine, lifecycle, metrics, config }, mapperSettings(engine, config));
}
