/**
 * Bearer-token check for `/v1/*` when `API_KEY` is set. Health and metrics stay open:
 * the hook is added inside the OpenAI plugin's encapsulated context only.
 *
 * Both sides are hashed to SHA-256 first so `timingSafeEqual` compares equal-length
 * buffers and the comparison time reveals neither the key's content nor its length.
 */
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError, sendApiError } from './errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function keyMatches(expected: string, presented: string | undefined): boolean {
  const a = digest(expected);
  const b = digest(presented ?? '');
  return timingSafeEqual(a, b) && presented !== undefined;
}

export function bearerAuth(apiKey: string): onRequestAsyncHookHandler {
  return async function checkBearer(request: FastifyRequest, reply: FastifyReply) {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
    if (keyMatches(apiKey, match?.[1])) return undefined;
    const message = header ? 'Incorrect API key provided.' : "You didn't provide an API key. Provide it in the Authorization header as 'Bearer <key>'.";
    return sendApiError(reply.header('www-authenticate', 'Bearer'), new ApiError(401, message, 'authentication_error', null, 'invalid_api_key'));
  };
}
