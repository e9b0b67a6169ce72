/**
 * Errors in Anthropic's shape, `{"type":"error","error":{"type":...,"message":...}}`, which the
 * `@anthropic-ai/sdk` client turns into its typed errors by status code (BadRequestError for 400,
 * AuthenticationError 401, NotFoundError 404, RateLimitError 429, InternalServerError >= 500).
 *
 * Every error of the Messages routes is first the service's ApiError (service/http/errors.ts decides the
 * status and the message for validation, body size, JSON parsing, the engine's admission errors), and only
 * its rendering differs here: one decision per failure, two wire formats. Error types are Anthropic's
 * (https://docs.anthropic.com/en/api/errors; the SDK's `ErrorType` in resources/shared.ts).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { toApiError, type ApiError } from '../errors.js';

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'timeout_error'
  | 'api_error'
  | 'overloaded_error';

export interface AnthropicErrorBody {
  type: 'error';
  error: { type: AnthropicErrorType; message: string };
}

/** Anthropic's error type for a status code (503 is "overloaded": the server is loading, draining or full). */
export function anthropicErrorType(status: number): AnthropicErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 503 || status === 529) return 'overloaded_error';
  if (status === 504) return 'timeout_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

export function anthropicErrorBody(err: ApiError): AnthropicErrorBody {
  return { type: 'error', error: { type: anthropicErrorType(err.statusCode), message: err.message } };
}

export function sendAnthropicError(reply: FastifyReply, err: ApiError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers)) void reply.header(k, v);
  return reply.code(err.statusCode).type('application/json; charset=utf-8').send(anthropicErrorBody(err));
}

/** The error handler of the Messages plugin's context: the root handler's decisions, Anthropic's shape. */
export function anthropicErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const apiErr = toApiError(err);
  if (apiErr.statusCode >= 500) request.log.error({ err }, 'request failed');
  else request.log.debug({ err: { message: err.message, code: err.code } }, 'request rejected');
  return sendAnthropicError(reply, apiErr);
}
