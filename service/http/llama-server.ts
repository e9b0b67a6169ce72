/**
 * llama-server's endpoints (ggml-org/llama.cpp tools/server/server.cpp registers them) that a Kubernetes user,
 * a gateway (LiteLLM, Open WebUI) or a client written for llama-server reaches for, and what this service does
 * with each: serve it (here or in another plugin: `served` says where), or answer 404 with a JSON body whose
 * message names the alternative (`refused`). One list: the refusals are registered from it, and
 * docs/endpoints.md's table is checked against it and every row is sent over HTTP by
 * test/service/endpoints.test.ts.
 *
 * `GET /props` is served here, read-only: the facts llama-server's `/props` reports that clients read to size
 * their prompts (tools/server/README.md "GET /props"): `default_generation_settings.n_ctx` (the context of one
 * request: CONTEXT_SIZE, per sequence, as llama-server's per-slot n_ctx), its default sampling `params`,
 * `total_slots` (PARALLEL), `model_alias` and `modalities`. No file path and no chat template text are
 * exposed. Behind API_KEY like the API (llama-server exempts only health and the model list from its key).
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { endpoints, metricNames } from '../contract.js';
import { bearerAuth } from './auth.js';
import type { EnginePort } from './engine-port.js';
import { ApiError, sendApiError } from './errors.js';
import { mapperSettings, type OpenAiOptions } from './openai/index.js';

export type EndpointDecision =
  { method: 'GET' | 'POST'; path: string; decision: 'served'; what: string } | { method: 'GET' | 'POST'; path: string; decision: 'refused'; what: string };

const served = (method: 'GET' | 'POST', path: string, what: string): EndpointDecision => ({ method, path, decision: 'served', what });
const refused = (method: 'GET' | 'POST', path: string, what: string): EndpointDecision => ({ method, path, decision: 'refused', what });

const loadMetrics = [metricNames.busySequences, metricNames.parallelSequences, metricNames.queueDepth, metricNames.kvCacheUsage].join(', ');
const noRerank =
  'Reranking is not served: it needs a reranker model and this service runs a chat or an embedding model. Use POST /v1/embeddings on an embedding service (SERVICE_KIND=embedding) and rank by cosine similarity.';

/** Every llama-server endpoint this service has decided on, in llama-server's order. */
export const llamaServerEndpoints: readonly EndpointDecision[] = [
  served(
    'GET',
    endpoints.llamaHealth,
    "llama-server's health answer: 200 `{status: ok}` when ready, else 503 (probes use /health/live, /health/ready, /health/startup)",
  ),
  served('GET', `/v1${endpoints.llamaHealth}`, 'same as /health'),
  served(
    'GET',
    endpoints.metrics,
    `Prometheus metrics under this service's names (\`llm_*\`, not llama-server's \`llamacpp:*\`); sequence load: ${loadMetrics}`,
  ),
  served(
    'GET',
    '/props',
    'read-only: `default_generation_settings` (`n_ctx` = CONTEXT_SIZE, default sampling `params`), `total_slots` (PARALLEL), `model_alias`, `modalities`',
  ),
  refused(
    'POST',
    '/props',
    'Server properties cannot be changed over HTTP on this server; set them in the service environment (the charts), and read them with GET /props.',
  ),
  served('GET', endpoints.models, 'the served model (OpenAI list); `/models` too'),
  served('GET', `${endpoints.models}/{id}`, 'the served model; any other id is 404 `model_not_found`'),
  refused(
    'POST',
    '/completion',
    "llama-server's native completion format is not served; use POST /v1/completions (OpenAI format, with llama-server's `top_k`, `min_p`, `repeat_penalty` and `grammar` fields).",
  ),
  served('POST', '/completions', 'the OpenAI text completion (an alias of /v1/completions; llama-server answers its native format here)'),
  served('POST', endpoints.completions, 'OpenAI text completions'),
  served('POST', endpoints.chatCompletions, 'OpenAI chat completions; `/chat/completions` too'),
  served('POST', endpoints.responses, 'OpenAI Responses API (stateless)'),
  served('POST', endpoints.messages, "Anthropic's Messages API (docs/anthropic-api.md)"),
  served('POST', endpoints.messagesCountTokens, "Anthropic's token count: `{input_tokens}`"),
  refused(
    'POST',
    '/infill',
    'Fill-in-the-middle (infill) is not supported by this server; send the text before the gap as the prompt of POST /v1/completions.',
  ),
  refused(
    'POST',
    '/embedding',
    "llama-server's native embedding format is not served; use POST /v1/embeddings (OpenAI format) on an embedding service (SERVICE_KIND=embedding).",
  ),
  refused('POST', '/rerank', noRerank),
  refused('POST', '/reranking', noRerank),
  refused('POST', '/v1/rerank', noRerank),
  refused('POST', '/v1/reranking', noRerank),
  served('POST', endpoints.tokenize, "llama-server's tokenizer (`content`), and chat `messages` counted after the chat template"),
  served('POST', endpoints.detokenize, "llama-server's detokenizer"),
  refused('POST', '/apply-template', 'The rendered chat prompt is not exposed; POST /tokenize with `messages` counts its tokens.'),
  refused(
    'GET',
    '/lora-adapters',
    'LoRA adapters are not supported by this server; bake an adapter into the GGUF file (llama.cpp export-lora) and serve that.',
  ),
  refused(
    'POST',
    '/lora-adapters',
    'LoRA adapters are not supported by this server; bake an adapter into the GGUF file (llama.cpp export-lora) and serve that.',
  ),
  refused('GET', '/slots', `Per-slot state (which includes prompts) is not exposed; the sequences' load is on GET /metrics: ${loadMetrics}.`),
  refused('POST', '/slots', 'Slot save, restore and erase are not supported; prompt reuse is automatic (PROMPT_CACHE).'),
  refused('GET', '/api/tags', 'The Ollama API is not served; use GET /v1/models (configure the client for an OpenAI-compatible server).'),
  refused('POST', '/api/show', 'The Ollama API is not served; use GET /props and GET /v1/models (configure the client for an OpenAI-compatible server).'),
  refused('POST', '/api/chat', 'The Ollama API is not served; use POST /v1/chat/completions (configure the client for an OpenAI-compatible server).'),
];

export interface LlamaServerOptions {
  engine: EnginePort;
  config: OpenAiOptions['config'] & Pick<Config, 'parallel' | 'serviceKind'>;
}

/** The 404 of a refused endpoint: the OpenAI error shape, the message naming the alternative. */
function refusal(message: string): ApiError {
  return new ApiError(404, message, 'invalid_request_error', null, 'unsupported_endpoint');
}

export async function llamaServerPlugin(app: FastifyInstance, opts: LlamaServerOptions): Promise<void> {
  const { engine, config } = opts;
  for (const e of llamaServerEndpoints) {
    if (e.decision !== 'refused') continue;
    app.route({ method: e.method, url: e.path, handler: async (_request, reply) => sendApiError(reply, refusal(e.what)) });
  }
  await app.register(async (props) => {
    if (config.apiKey) props.addHook('onRequest', bearerAuth(config.apiKey));
    const settings = mapperSettings(engine, config);
    props.get('/props', async () => {
      const s = settings();
      return {
        default_generation_settings: {
          n_ctx: config.contextSize,
          params: {
            n_predict: s.maxCompletionLength,
            temperature: s.defaults.temperature,
            top_p: s.defaults.topP,
            top_k: s.defaults.topK,
            min_p: s.defaults.minP,
          },
        },
        total_slots: config.serviceKind === 'embedding' ? 1 : config.parallel,
        model_alias: engine.modelId,
        modalities: { vision: false, audio: false },
      };
    });
  });
}
