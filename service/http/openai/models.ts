/** GET /v1/models and GET /v1/models/{id}: the one served model; any other id is 404 `model_not_found`. */
import type { FastifyInstance } from 'fastify';
import { endpoints } from '../../contract.js';
import type { EnginePort } from '../engine-port.js';
import { modelNotFound } from './fields.js';

export function modelRoutes(app: FastifyInstance, engine: EnginePort): void {
  const createdAt = Math.floor(Date.now() / 1000);
  const modelObject = () => ({ id: engine.modelId, object: 'model' as const, created: createdAt, owned_by: 'gguf-on-k8s' });

  app.get(endpoints.models, async () => ({ object: 'list', data: [modelObject()] }));
  // A wildcard, not `:id`: model ids may contain slashes (`org/name`), which clients send unescaped.
  app.get(`${endpoints.models}/*`, async (request) => {
    const id = decodeURIComponent((request.params as { '*': string })['*']);
    if (id === engine.modelId) return modelObject();
    throw modelNotFound(id, engine.modelId);
  });
}
