/**
 * The contract between the inference service and the manifests that deploy it.
 *
 * Both `service/` and `charts/` import these names, so a renamed endpoint or
 * environment variable breaks the type check instead of a production probe.
 */

/** HTTP paths the kubelet, Prometheus and clients call. */
export const endpoints = {
  /** Cheap: answers from the event loop alone, never waits on the model. */
  live: '/health/live',
  /** 503 while the model loads or the process drains; 200 when it can take traffic. */
  ready: '/health/ready',
  /** 503 until the model has loaded once; the startup probe's target. */
  startup: '/health/startup',
  metrics: '/metrics',
  models: '/v1/models',
  chatCompletions: '/v1/chat/completions',
  completions: '/v1/completions',
  embeddings: '/v1/embeddings',
  /** OpenAI's Responses API (stateless), service/http/openai/responses.ts. */
  responses: '/v1/responses',
  /**
   * llama-server's health check (tools/server/server.cpp): 200 `{"status":"ok"}` when ready, 503 with an error
   * body otherwise. For clients and gateways written for llama-server; the probes use live/ready/startup.
   */
  llamaHealth: '/health',
  /** Anthropic's Messages API (service/http/anthropic/), as llama-server serves it for Anthropic-SDK clients. */
  messages: '/v1/messages',
  messagesCountTokens: '/v1/messages/count_tokens',
  /** llama-server's tokenizer endpoints (service/http/openai/tokenize.ts). */
  tokenize: '/tokenize',
  detokenize: '/detokenize',
} as const;

/**
 * Prometheus metric names the service exports on `/metrics` (service/http/metrics.ts registers them) and the
 * manifests read: alert rules, the autoscaler's queue trigger and the Grafana dashboard
 * (charts/constructs/dashboard.ts). One home, so a renamed metric renames every reader with it, and the
 * dashboard's Prometheus test (test/dashboard/) fails when a metric the dashboard queries is not exported.
 */
export const metricNames = {
  requests: 'llm_requests_total',
  requestDuration: 'llm_request_duration_seconds',
  promptTokens: 'llm_prompt_tokens_total',
  generatedTokens: 'llm_generated_tokens_total',
  generations: 'llm_generations_total',
  rejected: 'llm_requests_rejected_total',
  timeToFirstToken: 'llm_time_to_first_token_seconds',
  queueWait: 'llm_queue_wait_seconds',
  tokensPerSecond: 'llm_tokens_per_second',
  /** Requests waiting for a free sequence: the Gateway API Inference Extension's TotalQueuedRequests. */
  queueDepth: 'llm_queue_depth',
  maxQueue: 'llm_max_queue',
  /** Requests holding a sequence: the Gateway API Inference Extension's TotalRunningRequests. */
  busySequences: 'llm_busy_sequences',
  parallelSequences: 'llm_parallel_sequences',
  /** KV cells held by running requests over all cells, 0..1: the Gateway API Inference Extension's KVCacheUtilization. */
  kvCacheUsage: 'llm_kv_cache_usage_ratio',
  modelReady: 'llm_model_ready',
  modelLoadProgress: 'llm_model_load_progress',
  modelLoadSeconds: 'llm_model_load_seconds',
  threads: 'llm_threads',
  memoryLimit: 'llm_memory_limit_bytes',
  /** Resident memory at which the memory guard drains the pod: the limit minus MEMORY_GUARD_HEADROOM_MIB. */
  memoryGuardTrip: 'llm_memory_guard_trip_bytes',
  /** prom-client's default process metric; the memory guard compares the same figure (service/runtime/memory-usage.ts). */
  residentMemory: 'process_resident_memory_bytes',
} as const;

/**
 * The gauges an inference-aware gateway reads to pick a replica, by the Gateway API Inference Extension's
 * model-server protocol (kubernetes-sigs/gateway-api-inference-extension,
 * docs/proposals/003-model-server-protocol/README.md): names are free, type and semantics are fixed. Its
 * endpoint picker takes them as `--total-queued-requests-metric`, `--total-running-requests-metric` and
 * `--kv-cache-usage-percentage-metric` (docs/dashboard.md shows the configuration).
 */
export const gatewayProtocolMetrics = {
  totalQueuedRequests: metricNames.queueDepth,
  totalRunningRequests: metricNames.busySequences,
  kvCacheUtilization: metricNames.kvCacheUsage,
} as const;

/**
 * The OpenAI paths are also served without their `/v1` prefix (`/chat/completions`, `/models`, ...), as
 * llama-server does: a client configured with a base URL without `/v1` works unchanged.
 */
export const unversionedPrefix = '/v1';

/** Paths that run the model; no probe may ever point at one of these. */
export const inferencePaths: readonly string[] = [
  endpoints.chatCompletions,
  endpoints.completions,
  endpoints.embeddings,
  endpoints.responses,
  endpoints.messages,
];

/** Port the service listens on unless `PORT` says otherwise. */
export const defaultPort = 8080;

/**
 * The service's default model: Qwen2.5-3B-Instruct, Q4_K_M, from Qwen's own GGUF repository.
 * `hf:<user>/<repo>/<file>` is node-llama-cpp's model URI form.
 */
export const defaultModel = 'hf:Qwen/Qwen2.5-3B-Instruct-GGUF/qwen2.5-3b-instruct-q4_k_m.gguf';

/** Where the container expects the model cache volume. */
export const defaultModelCacheDir = '/models';

/** Environment variables the service reads; the manifests set them by these names. */
export const envVars = {
  model: 'MODEL',
  modelSha256: 'MODEL_SHA256',
  modelCacheDir: 'MODEL_CACHE_DIR',
  host: 'HOST',
  port: 'PORT',
  threads: 'THREADS',
  contextSize: 'CONTEXT_SIZE',
  parallel: 'PARALLEL',
  maxQueue: 'MAX_QUEUE',
  // Not MAX_TOKENS_LIMIT: Polaris's danger-level sensitiveContainerEnvVar check refuses any env var with a
  // literal value whose name contains "token" (see retiredEnvVars).
  maxCompletionLength: 'MAX_COMPLETION_LENGTH',
  requestTimeoutMs: 'REQUEST_TIMEOUT_MS',
  shutdownGraceMs: 'SHUTDOWN_GRACE_MS',
  sseKeepAliveMs: 'SSE_KEEPALIVE_MS',
  gpuLayers: 'GPU_LAYERS',
  apiKey: 'API_KEY',
  logLevel: 'LOG_LEVEL',
  memoryGuardHeadroomMiB: 'MEMORY_GUARD_HEADROOM_MIB',
  memoryLimitCgroupRoot: 'MEMORY_LIMIT_CGROUP_ROOT',
  // OpenAI API behaviour (service/http/openai/): sampling defaults for requests that leave a field out,
  // and what a request's `model` may name.
  defaultTemperature: 'DEFAULT_TEMPERATURE',
  defaultTopP: 'DEFAULT_TOP_P',
  defaultTopK: 'DEFAULT_TOP_K',
  defaultMinP: 'DEFAULT_MIN_P',
  modelNames: 'MODEL_NAMES',
  serviceKind: 'SERVICE_KIND',
  batchSize: 'BATCH_SIZE',
  // Prompt reuse across requests (service/inference/slots.ts): on unless set to off.
  promptCache: 'PROMPT_CACHE',
  // Browser origins allowed to call the API (service/http/cors.ts); unset = no CORS headers.
  corsOrigins: 'CORS_ORIGINS',
} as const;

/** PROMPT_CACHE values: `on` keeps each sequence's evaluated prompt for the next request, `off` clears it. */
export const promptCacheModes = ['on', 'off'] as const;

/** What one service serves: text generation (chat and completions) or embeddings. */
export const serviceKinds = ['chat', 'embedding'] as const;
export type ServiceKind = (typeof serviceKinds)[number];

/**
 * Variables only a chat service reads: an embedding service has one embedding context of one sequence
 * (PARALLEL unused), generates nothing (MAX_COMPLETION_LENGTH unused) and answers in one JSON body, never a
 * stream (SSE_KEEPALIVE_MS unused). The manifests leave them out of an embedding service's pod.
 */
export const chatOnlyEnvVars: readonly EnvVarName[] = [envVars.parallel, envVars.maxCompletionLength, envVars.sseKeepAliveMs];

/**
 * The batch an embedding context needs: llama.cpp evaluates an encoder (non-causal) input in a single
 * ubatch (llama-context.cpp: "non-causal attention requires n_ubatch >= n_tokens") and node-llama-cpp sets
 * n_ubatch = n_batch = batchSize (addon/AddonContext.cpp) and splits a longer evaluation into batchSize
 * chunks, so an input longer than the batch is embedded from its last chunk alone. The largest input an
 * embedding context accepts is CONTEXT_SIZE - 1 tokens (LlamaEmbeddingContext.getEmbeddingFor), so the
 * batch must hold CONTEXT_SIZE tokens.
 */
export function embeddingBatchSize(contextSize: number): number {
  return contextSize;
}

/** node-llama-cpp's own default batch of a generation context (getDefaultContextBatchSize). */
export function chatBatchSize(contextSize: number, parallel: number): number {
  return Math.min(contextSize * parallel, 512);
}

export type EnvVarName = (typeof envVars)[keyof typeof envVars];

/**
 * Names the service once read and no longer does, with the name that replaced each. The service refuses to
 * start when one is set, so a renamed setting is never silently ignored.
 *
 * MAX_TOKENS_LIMIT: Polaris's `sensitiveContainerEnvVar` check (FairwindsOps/polaris
 * pkg/config/checks/sensitiveContainerEnvVar.yaml, danger by default) fails a container whose env has a
 * literal `value` under a name matching `(?i)token`, `password`, `secret` or `bearer`; its admission webhook
 * denies danger-level failures, so every Deployment carrying MAX_TOKENS_LIMIT was refused.
 */
export const retiredEnvVars: Readonly<Record<string, EnvVarName>> = {
  MAX_TOKENS_LIMIT: envVars.maxCompletionLength,
};

/**
 * Hugging Face settings the model download reads (service/model/ref.ts, service/model/acquire.ts), named
 * as the hub's own tools name them: a token for gated or private repositories, and a mirror endpoint.
 */
export const hubEnvVars = {
  token: 'HF_TOKEN',
  endpoint: 'HF_ENDPOINT',
} as const;

/** The commands the container image runs (see Dockerfile); the init container uses `fetchModel`. */
export const containerCommands = {
  serve: ['node', 'build/service/main.js'],
  fetchModel: ['node', 'build/service/fetch-model.js'],
  /** The scale-to-zero failover responder (service/failover.ts): 503 + Retry-After past the interceptor's hold. */
  failover: ['node', 'build/service/failover.js'],
} as const;

/**
 * The scale-to-zero failover responder (service/failover.ts). The KEDA HTTP add-on's interceptor forwards a
 * request it held past `coldStartTimeoutFailoverRef.timeoutSeconds` to this responder, with the request's own
 * method, path, headers (Host included) and body (kedacore/http-add-on interceptor/middleware/endpoint_resolver.go,
 * interceptor/handler/upstream.go); the responder answers every such request 503 with Retry-After. The charts
 * (charts/constructs/scale-to-zero-failover.ts) set these variables and point each HTTPScaledObject at `port`.
 */
export const failoverResponder = {
  /** Port of the failover traffic: every request on it is answered 503. */
  port: 8080,
  /** Port of the responder's own probes (`/health/live`, `/health/ready`, 200): kept off the failover port, where every path means "the model". */
  healthPort: 8081,
  envVars: {
    /** JSON array of FailoverRoute: which Host names which model service, and the Retry-After for it. */
    routes: 'FAILOVER_ROUTES',
    host: 'HOST',
    port: 'PORT',
    healthPort: 'HEALTH_PORT',
    logLevel: 'LOG_LEVEL',
  },
} as const;

/** One model service the failover responder answers for (an element of FAILOVER_ROUTES). */
export interface FailoverRoute {
  /** The Host header values the interceptor routes to this service (its HTTPScaledObject's `spec.hosts`). */
  readonly hosts: readonly string[];
  /** The model service's name. */
  readonly service: string;
  /** The model it serves (the catalogue id), named in the error message. */
  readonly model: string;
  /** Whole seconds a client should wait before retrying (the Retry-After header). */
  readonly retryAfterSeconds: number;
  /** The interceptor's hold this request already waited, in seconds: said in the message. */
  readonly holdSeconds: number;
}

/**
 * Node.js runtime settings the server process runs with (container image and manifests set them;
 * they must be in the environment before Node starts, so the service cannot set them itself).
 *
 * - UV_THREADPOOL_SIZE=1: node-llama-cpp runs every decode on libuv's thread pool; with the default
 *   four pool threads competing with llama.cpp's busy compute threads for the container's cores,
 *   token gaps turned bimodal (p90 50-55 ms vs p10 23 ms). One pool thread measured +15 % decode
 *   tokens/s (34.2 -> 39.2 at 1 stream, 43.1 -> 50.1 at 4 streams, 2 cores; docs/benchmarks.md).
 * - MALLOC_ARENA_MAX=2: glibc otherwise keeps one malloc arena per thread; measured about 40 MB less RSS.
 * - MALLOC_MMAP_THRESHOLD_=131072: a fixed threshold turns off glibc's dynamic one, which rises after the
 *   model load frees its large temporary buffers (GGUF arrays, the vocabulary's tables), so later large
 *   allocations land in the arena and stay resident after they are freed. Allocations of 128 KiB and more
 *   are then mapped and unmapped on their own; the decode path reuses its buffers (strace: 2 mmap calls
 *   over 4 x 96 generated tokens), so none is per token.
 * - NODE_OPTIONS=--max-semi-space-size=2: V8's young generation grows to 16 MiB semi-spaces under the
 *   per-token garbage of streaming, and keeps them; the service's live heap is small, so 2 MiB semi-spaces
 *   only mean more (sub-millisecond) scavenges.
 *   Both measured by `npm run bench -- --only runtime-memory` (docs/benchmarks.md, "Runtime settings"): idle RSS
 *   after warm-up of the compiled service on the random-weight Qwen2 test model (151,936-token vocabulary),
 *   CONTEXT_SIZE 4096, PARALLEL 4, medians of 3: 283 -> 227 MiB (each alone: 267-270); decode at 4 streams
 *   over HTTP in paired batches 0.997x, server CPU per token 1.105 vs 1.06 ms on that 1 ms/token model.
 */
export const serverRuntimeEnv = {
  UV_THREADPOOL_SIZE: '1',
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
  NODE_OPTIONS: '--max-semi-space-size=2',
} as const;

/**
 * The memory guard's default trip point: RSS within 64 MiB of the cgroup memory limit.
 *
 * Headroom in bytes, not a fraction of the limit: the pod's limit is sized as weights + KV cache + logits
 * + a fixed 512 MiB runtime share (charts/sizing/memory.ts), and the weights are resident (mapped and
 * touched), so a healthy pod's RSS sits a roughly constant amount below the limit (the unused part of the
 * runtime share and of the logits reserve, a few hundred MiB), whatever the model's size. Any fixed fraction
 * would either trip a healthy large-model pod at rest (7B on the CPU rests near 90 % of its limit) or leave
 * a small one no room. The `LlmMemoryNearLimit` alert fires at twice this headroom, before the guard.
 */
export const defaultMemoryGuardHeadroomMiB = 64;

/**
 * The one parser of `MODEL_SHA256`, used by the init container (fetch-model) and the server alike, so a
 * value one accepts the other cannot refuse (a pod whose init container succeeded must not crash-loop).
 * Accepted: 64 hexadecimal digits, any case, optionally prefixed with `sha256:` (any case), surrounding
 * whitespace ignored; a split model lists one such value per part, comma-separated, in part order.
 * Returns the lower-case digits (comma-joined for a list), `undefined` for an empty value (unset), or an
 * error text saying what is allowed.
 */
/**
 * CORS_ORIGINS: a comma-separated list of browser origins (`scheme://host[:port]`, as a browser sends them in
 * `Origin`), or `*` for any origin. Shared by the service (config.ts) and the charts, which set the variable
 * from a service's `corsOrigins` prop, so both refuse the same values.
 */
export function parseCorsOrigins(text: string | undefined): { ok: true; value: string[] | undefined } | { ok: false; expected: string } {
  const trimmed = (text ?? '').trim();
  if (trimmed === '') return { ok: true, value: undefined };
  const origins = trimmed.split(',').map((part) => part.trim());
  const valid = (o: string) => o === '*' || /^https?:\/\/[a-z0-9.-]+(:[0-9]{1,5})?$/i.test(o) || /^https?:\/\/\[[0-9a-f:.]+\](:[0-9]{1,5})?$/i.test(o);
  const bad = origins.find((o) => !valid(o));
  if (bad !== undefined) {
    return {
      ok: false,
      expected: `${JSON.stringify(bad)} is not an origin: expected * or comma-separated origins such as https://app.example.com or http://localhost:3000 (scheme, host and port; no path or trailing slash)`,
    };
  }
  if (origins.includes('*') && origins.length > 1) return { ok: false, expected: 'expected * alone or a list of origins, not both' };
  return { ok: true, value: origins };
}

export function parseModelSha256(text: string | undefined): { ok: true; value: string | undefined } | { ok: false; expected: string } {
  const trimmed = (text ?? '').trim();
  if (trimmed === '') return { ok: true, value: undefined };
  const digests = trimmed.split(',').map((part) =>
    part
      .trim()
      .replace(/^sha256:/i, '')
      .toLowerCase(),
  );
  if (digests.every((d) => /^[0-9a-f]{64}$/.test(d))) return { ok: true, value: digests.join(',') };
  return {
    ok: false,
    expected: 'expected 64 hexadecimal digits, optionally prefixed with "sha256:" (a split model: one per part, comma-separated)',
  };
}
