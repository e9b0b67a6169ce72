/**
 * OpenAI-compatible API, usable by the official `openai` package: `/v1/models`, `/v1/models/{id}`,
 * `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings` (paths from `contract.endpoints`). A service
 * serves either generation or embeddings (SERVICE_KIND); the other kind's endpoints answer 404
 * `unsupported_endpoint` saying so.
 *
 * One module per endpoint (models.ts, chat.ts, completions.ts, embeddings.ts); request fields are mapped to engine
 * options in one place (fields.ts, which also holds the policy for every OpenAI field: see the README's
 * field table); generation.ts runs a generation and decides status codes, streaming, timeouts and metrics.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config.js';
import { bearerAuth } from '../auth.js';
import type { EnginePort } from '../engine-port.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Metrics } from '../metrics.js';
import { chatRoutes } from './chat.js';
import { completionRoutes } from './completions.js';
import { embeddingRoutes } from './embeddings.js';
import type { MapperSettings } from './fields.js';
import type { GenerationContext } from './generation.js';
import { modelRoutes } from './models.js';
import { responsesRoutes } from './responses.js';
import { tokenizeRoutes } from './tokenize.js';

export interface OpenAiOptions {
  engine: EnginePort;
  lifecycle: Lifecycle;
  metrics: Metrics;
  config: Pick<
    Config,
    | 'apiKey'
    | 'maxCompletionLength'
    | 'requestTimeoutMs'
    | 'sseKeepAliveMs'
    | 'defaultTemperature'
    | 'defaultTopP'
    | 'defaultTopK'
    | 'defaultMinP'
    | 'modelNames'
    | 'contextSize'
  >;
}

/**
 * Documented defaults of the optional sampling settings (service/config.ts, README "The OpenAI API").
 * temperature and top_p are OpenAI's. top-k is not an OpenAI field; 40 is llama.cpp server's and Ollama's
 * default, chosen because sampling from the whole vocabulary sorts every token's logit at every step:
 * on the 151,643-token Qwen2 vocabulary a 300-token completion took 33.9 ms/token without top-k and
 * 2.3 ms/token with 40 (random-weight test model, 2 cores). A 40-token cut changes almost nothing at
 * temperature <= 1 on a trained model. `DEFAULT_TOP_K=0` gives OpenAI's unbounded sampling.
 */
export const samplingDefaults = { temperature: 1, topP: 1, topK: 40, minP: 0 } as const;

/** The mapper's settings for this service, read per request (shared by the OpenAI and Anthropic plugins). */
export function mapperSettings(engine: EnginePort, config: OpenAiOptions['config']): () => MapperSettings {
  const defaults = {
    temperature: config.defaultTemperature ?? samplingDefaults.temperature,
    topP: config.defaultTopP ?? samplingDefaults.topP,
    topK: config.defaultTopK ?? samplingDefaults.topK,
    minP: config.defaultMinP ?? samplingDefaults.minP,
  };
  // The model id is known only once the engine resolved its file (downloads): read it per request.
  return () => ({
    modelId: engine.modelId,
    modelNames: config.modelNames ?? 'served',
    maxCompletionLength: config.maxCompletionLength,
    defaults,
  });
}

export async function openAiPlugin(app: FastifyInstance, opts: OpenAiOptions): Promise<void> {
  const { engine, lifecycle, metrics, config } = opts;
  if (config.apiKey) app.addHook('onRequest', bearerAuth(config.apiKey));

  const settings = mapperSettings(engine, config);
  const ctx: GenerationContext = { engine, lifecycle, metrics, config };

  modelRoutes(app, engine);
  chatRoutes(app, ctx, settings);
  completionRoutes(app, ctx, settings);
  embeddingRoutes(app, ctx, settings);
  responsesRoutes(app, ctx, settings);
  tokenizeRoutes(app, engine, config.contextSize);
}
