/**
 * OpenAI-style error bodies for every failure the service answers, including
 * Fastify's own (schema validation, JSON parse, content type, body size, unknown route),
 * so clients such as the official `openai` package surface a readable `APIError`.
 *
 * Shape: `{ error: { message, type, param, code } }`.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export type OpenAiErrorType =
  'invalid_request_error' | 'authentication_error' | 'rate_limit_error' | 'service_unavailable_error' | 'timeout_error' | 'server_error';

export interface OpenAiErrorBody {
  error: { message: string; type: OpenAiErrorType; param: string | null; code: string | null };
}

/** An error that already knows its HTTP status and OpenAI error fields. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly statusCode: number,
    message: string,
    readonly type: OpenAiErrorType = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toBody(): OpenAiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function badRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, message, 'invalid_request_error', param, code);
}

/** Converts an ajv instance path (`/messages/0/role`) to OpenAI's param form (`messages[0].role`). */
export function toParam(instancePath: string, extra?: string): string | null {
  const parts = instancePath.split('/').filter(Boolean);
  if (extra) parts.push(extra);
  if (parts.length === 0) return null;
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

interface AjvLikeError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

const depth = (e: AjvLikeError) => e.instancePath.split('/').length;

/**
 * The error worth reporting among ajv's. A failed union (`anyOf`) comes with one complaint per branch, the
 * first of which is usually "must be string" from a branch the value was never meant for (five `stop`
 * strings, `content: []`). A type or constant mismatch only says "wrong branch"; any other complaint
 * (`maxItems`, `minimum`, `required`, an unknown field...) comes from the branch the value was meant for,
 * so the deepest such complaint wins. When there are only mismatches, the deepest ones are merged
 * ("must be number or null").
 */
export function pickValidationError(errors: readonly AjvLikeError[]): AjvLikeError | undefined {
  const candidates = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf');
  if (candidates.length === 0) return errors[0];
  const mismatch = (e: AjvLikeError) => e.keyword === 'type' || e.keyword === 'const';
  const deepestOf = (list: AjvLikeError[]) => {
    const d = Math.max(...list.map(depth));
    return list.filter((e) => depth(e) === d);
  };
  const constraints = candidates.filter((e) => !mismatch(e));
  if (constraints.length > 0) {
    const deepest = deepestOf(constraints);
    return deepest.find((e) => e.keyword === 'additionalProperties') ?? deepest[0];
  }
  const deepest = deepestOf(candidates);
  const first = deepest[0] as AjvLikeError;
  const sameSpot = deepest.filter((e) => e.instancePath === first.instancePath);
  const allowed = [...new Set(sameSpot.map((e) => (e.keyword === 'type' ? String(e.params.type) : JSON.stringify(e.params.allowedValue))))];
  if (allowed.length <= 1) return first;
  return { ...first, message: `must be ${allowed.join(' or ')}` };
}

/** One readable sentence for the schema violation that matters, in OpenAI's wording where it has one. */
export function fromValidation(errors: readonly AjvLikeError[], context: string | undefined): ApiError {
  const first = pickValidationError(errors);
  if (!first) return badRequest('Invalid request.');
  if (context && context !== 'body') {
    return badRequest(`Invalid ${context}: ${first.message ?? 'invalid value'}`, toParam(first.instancePath));
  }
  if (first.instancePath === '' && first.keyword === 'type') {
    return badRequest('The request body must be a JSON object.', null, 'invalid_body');
  }
  if (first.keyword === 'additionalProperties') {
    const extra = String(first.params.additionalProperty);
    const param = toParam(first.instancePath, extra);
    return badRequest(`Unrecognized request argument supplied: ${param ?? extra}`, param, 'unknown_parameter');
  }
  if (first.keyword === 'required') {
    const missing = String(first.params.missingProperty);
    const param = toParam(first.instancePath, missing);
    return badRequest(`Missing required parameter: '${param ?? missing}'.`, param, 'missing_required_parameter');
  }
  const param = toParam(first.instancePath);
  return badRequest(`Invalid value for '${param ?? 'body'}': ${first.message ?? 'invalid value'}.`, param, 'invalid_value');
}

/** Maps any error reaching Fastify's error handler to an ApiError. */
export function toApiError(err: FastifyError | ApiError | Error): ApiError {
  if (err instanceof ApiError) return err;
  // decodeURIComponent on a path or parameter (`/v1/models/%25` decodes to "%", decoded again: URIError),
  // and Fastify's own router refusing a path: the client's URL is at fault, never a 5xx.
  if (err instanceof URIError || (err as FastifyError).code === 'FST_ERR_BAD_URL') {
    return badRequest('The request URL contains malformed percent-encoding.', null, 'invalid_url');
  }
  const fe = err as FastifyError & { validationContext?: string };
  if (Array.isArray(fe.validation)) return fromValidation(fe.validation as AjvLikeError[], fe.validationContext);
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return badRequest('We could not parse the JSON body of your request. The API expects a JSON payload.', null, 'invalid_json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return badRequest('The request body is empty; the API expects a JSON payload.', null, 'invalid_json');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      // OpenAI answers 400 here too; the code tells the client what to fix.
      return badRequest("Unsupported Content-Type: the API expects a JSON payload with 'Content-Type: application/json'.", null, 'unsupported_media_type');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'Request body is too large.', 'invalid_request_error', null, 'request_too_large');
    default:
      break;
  }
  // Other client errors Fastify raises (bad URL, content length mismatch, proto poisoning...).
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) return new ApiError(status, fe.message, 'invalid_request_error', null, fe.code ?? null);
  return new ApiError(500, 'The server had an error while processing your request.', 'server_error');
}

export function sendApiError(reply: FastifyReply, err: ApiError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers)) void reply.header(k, v);
  return reply.code(err.statusCode).type('application/json; charset=utf-8').send(err.toBody());
}

/**
 * Fastify's `frameworkErrors` option: errors raised by the router before any hook runs (a path that does
 * not decode, a too-long parameter). Answered in the same OpenAI shape, without echoing the URL (its query
 * may hold a token), and counted by `count` since the access-log hook never sees these requests.
 */
export function frameworkErrorHandler(count: (request: FastifyRequest, status: number) => void) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    const apiErr = toApiError(err);
    request.log.debug({ err: { message: apiErr.message, code: err.code } }, 'request rejected by the router');
    count(request, apiErr.statusCode);
    void sendApiError(reply, apiErr);
  };
}

/** Installs the error and not-found handlers on the root instance (they apply to every plugin). */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const apiErr = toApiError(err);
    // A body refused before it was read (413 by its Content-Length) is read and discarded within bounds
    // after the answer, so the client reads its 413 instead of a reset (http/linger.ts).
    if (apiErr.statusCode >= 500) request.log.error({ err }, 'request failed');
    else request.log.debug({ err: { message: err.message, code: err.code } }, 'request rejected');
    return sendApiError(reply, apiErr);
  });
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) =>
    sendApiError(
      reply,
      new ApiError(404, `Invalid URL (${request.method} ${(request.url.split('?')[0] ?? '').slice(0, 200)})`, 'invalid_request_error', null, 'not_found'),
    ),
  );
}
