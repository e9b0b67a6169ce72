/**
 * POST /v1/embeddings (services with SERVICE_KIND=embedding): OpenAI's `list` of `embedding` objects with
 * `usage`, vectors as float arrays or base64 (little-endian float32, what the official SDKs ask for by
 * default and decode).
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { endpoints } from '../../contract.js';
import { InvalidInputError, NotAcceptingError, QueueFullError } from '../engine-port.js';
import { ApiError, badRequest } from '../errors.js';
import { EmbeddingBody } from '../schemas.js';
import { embeddingJob, type MapperSettings } from './fields.js';
import { unavailable, type GenerationContext } from './generation.js';

/** float32 little-endian bytes, base64: `new Float32Array(Buffer.from(s, 'base64').buffer)` on the client. */
export function toBase64(vector: Float32Array): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i] as number, i * 4);
  return bytes.toString('base64');
}

export function embeddingRoutes(app: FastifyInstance, ctx: GenerationContext, settings: () => MapperSettings): void {
  const { engine, metrics, lifecycle, config } = ctx;
  app.withTypeProvider<TypeBoxTypeProvider>().post(endpoints.embeddings, { schema: { body: EmbeddingBody } }, async (request, reply) => {
    if (engine.kind !== 'embedding' || engine.embed === undefined) {
      throw new ApiError(
        404,
        'This service serves chat and completions, not embeddings (an embedding model runs as a service with SERVICE_KIND=embedding).',
        'invalid_request_error',
        null,
        'unsupported_endpoint',
      );
    }
    if (lifecycle.draining) {
      metrics.rejected.inc({ reason: 'draining' });
      throw unavailable('The server is shutting down; retry on another replica.', 'draining');
    }
    const job = embeddingJob(request.body, settings(), engine.embeddingDimensions ?? 0);
    const ac = new AbortController();
    const untrack = lifecycle.track(ac);
    // REQUEST_TIMEOUT_MS bounds an embedding request too (queue wait included): the manifests size the
    // grace period and the idle timeouts on the path from it. The runner stops between inputs.
    const timer = setTimeout(() => ac.abort('timeout'), config.requestTimeoutMs);
    const onClose = (): void => {
      if (!reply.raw.writableFinished) ac.abort('client_disconnect');
    };
    reply.raw.on('close', onClose);
    try {
      const result = await engine.embed(job.inputs, ac.signal);
      metrics.promptTokens.inc({ endpoint: 'embedding', source: 'evaluated' }, result.promptTokens);
      return {
        object: 'list',
        data: result.vectors.map((vector, index) => ({
          object: 'embedding',
          index,
          embedding: job.encoding === 'base64' ? toBase64(vector) : Array.from(vector),
        })),
        model: engine.modelId,
        usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
      };
    } catch (err) {
      if (err instanceof QueueFullError) {
        metrics.rejected.inc({ reason: 'queue_full' });
        throw new ApiError(429, err.message, 'rate_limit_error', null, 'queue_full', { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterSeconds))) });
      }
      if (err instanceof InvalidInputError) throw badRequest(err.message, err.param, 'invalid_value');
      if (err instanceof NotAcceptingError) {
        metrics.rejected.inc({ reason: lifecycle.draining ? 'draining' : 'not_ready' });
        throw unavailable(`The model is not ready (state: ${engine.state}).`, lifecycle.draining ? 'draining' : 'model_not_ready');
      }
      if (ac.signal.aborted && ac.signal.reason === 'timeout') {
        throw new ApiError(
          504,
          `The request timed out after ${config.requestTimeoutMs} ms (queue wait included); send fewer or shorter inputs per request.`,
          'timeout_error',
          null,
          'timeout',
        );
      }
      if (ac.signal.aborted && ac.signal.reason === 'shutdown') throw unavailable('The server shut down before the request could finish.', 'draining');
      if (ac.signal.aborted) return reply.code(499).send();
      throw err;
    } finally {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
      untrack();
    }
  });
}
