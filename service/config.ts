/**
 * Typed configuration of the inference service, read from environment variables.
 *
 * The variable names come from `contract.ts` (the manifests set them by those names).
 * `ConfigSchema` documents every field: its default and why that default was chosen.
 * `loadConfig()` validates all variables at once and throws a `ConfigError` whose
 * message is a single line naming each bad variable, its value and what is allowed,
 * so `kubectl logs` of a crash-looping pod says exactly what to fix.
 *
 * An empty variable counts as unset (templated manifests often render `VALUE: ""`).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import {
  parseCorsOrigins,
  defaultMemoryGuardHeadroomMiB,
  defaultModel,
  defaultModelCacheDir,
  chatBatchSize,
  defaultPort,
  embeddingBatchSize,
  envVars,
  parseModelSha256,
  promptCacheModes,
  retiredEnvVars,
  serviceKinds,
  type EnvVarName,
  type ServiceKind,
} from './contract.js';
import { redactModelRef } from './model/ref.js';

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export type GpuLayers = number | 'auto' | 'max';

export const ConfigSchema = Type.Object({
  model: Type.String({
    minLength: 1,
    default: defaultModel,
    description:
      'MODEL: a local GGUF path, an hf:<user>/<repo>/<file> URI or an https:// URL. ' +
      'Default: Qwen2.5-3B-Instruct Q4_K_M, a good quality/size balance for CPU inference.',
  }),
  modelSha256: Type.Optional(
    Type.String({
      pattern: '^[0-9a-f]{64}(,[0-9a-f]{64})*$',
      description:
        'MODEL_SHA256: expected SHA-256 of the GGUF file: 64 hex digits, any case, optionally prefixed ' +
        'with "sha256:"; for a split model one per part, comma-separated in part order ' +
        '(contract.parseModelSha256, shared with the init container). Optional; when set, a ' +
        'download or cached file that does not match is rejected (supply-chain and truncation guard).',
    }),
  ),
  modelCacheDir: Type.String({
    minLength: 1,
    default: defaultModelCacheDir,
    description:
      'MODEL_CACHE_DIR: where downloaded models are kept. Default /models, the mount point of the ' +
      'model cache volume in the manifests, so restarts do not download again.',
  }),
  host: Type.String({
    minLength: 1,
    default: '0.0.0.0',
    description: 'HOST: listen address. Default 0.0.0.0: the kubelet probes the pod IP and cannot reach 127.0.0.1 ' + '(Fastify itself defaults to localhost).',
  }),
  port: Type.Integer({
    minimum: 1,
    maximum: 65535,
    default: defaultPort,
    description: 'PORT: listen port. Default 8080 (contract.defaultPort), unprivileged, matches the container port.',
  }),
  threads: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 1024,
      description:
        'THREADS: CPU threads for inference. Optional; unset means derived from the container CPU ' +
        'allowance (cgroups), because node-llama-cpp would otherwise size itself to the host.',
    }),
  ),
  contextSize: Type.Integer({
    minimum: 64,
    maximum: 1_048_576,
    default: 4096,
    description:
      'CONTEXT_SIZE: tokens of context per sequence (prompt + completion). Default 4096: room for ' +
      'typical chat prompts while keeping the KV cache of a 3B model at a few hundred MiB per sequence.',
  }),
  parallel: Type.Integer({
    minimum: 1,
    maximum: 64,
    default: 2,
    description:
      'PARALLEL: sequences decoded concurrently in one context. Default 2: on a few CPU cores more ' +
      'sequences mostly split the same compute, while 2 hides per-request latency gaps.',
  }),
  maxQueue: Type.Integer({
    minimum: 0,
    maximum: 10_000,
    default: 8,
    description:
      'MAX_QUEUE: requests allowed to wait for a free sequence; beyond it requests get 429 with ' +
      'Retry-After. Default 8: bounded waiting (a few minutes at worst) instead of unbounded memory and latency.',
  }),
  maxCompletionLength: Type.Integer({
    minimum: 1,
    maximum: 1_048_576,
    default: 2048,
    description:
      'MAX_COMPLETION_LENGTH: largest max_tokens a request may ask for (400 beyond it) and the value used ' +
      'when a request gives none. Default 2048: half the default context, so long answers fit.',
  }),
  requestTimeoutMs: Type.Integer({
    minimum: 100,
    maximum: 86_400_000,
    default: 300_000,
    description:
      'REQUEST_TIMEOUT_MS: wall-clock budget of one request including queueing; then generation stops ' +
      '(finish_reason "length" with what was generated). Default 5 min: a 2048-token answer on CPU fits, ' +
      'a stuck client does not hold a sequence forever.',
  }),
  shutdownGraceMs: Type.Integer({
    minimum: 0,
    maximum: 3_600_000,
    default: 20_000,
    description:
      'SHUTDOWN_GRACE_MS: after SIGTERM, how long in-flight requests may finish before being aborted. ' +
      'Default 20 s: below the pod terminationGracePeriodSeconds (set higher by the manifests) so the ' +
      'process exits cleanly before SIGKILL.',
  }),
  sseKeepAliveMs: Type.Integer({
    minimum: 50,
    maximum: 3_600_000,
    default: 15_000,
    description:
      'SSE_KEEPALIVE_MS: a streamed response writes an SSE comment when nothing was written for this long ' +
      '(queueing, prompt prefill). Default 15 s: well below the 60 s idle timeout of common load balancers.',
  }),
  gpuLayers: Type.Union([Type.Integer({ minimum: 0, maximum: 10_000 }), Type.Literal('auto'), Type.Literal('max')], {
    default: 0,
    description:
      'GPU_LAYERS: model layers to offload to a GPU: an integer, "auto" or "max". Default 0 (CPU only): ' +
      'the default deployment has no GPU, and "auto" would probe for one at start-up.',
  }),
  apiKey: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'API_KEY: when set, /v1/* requires "Authorization: Bearer <key>" (checked in constant time). ' +
        'Optional (unset: no authentication); surrounding whitespace is trimmed, and a present but blank ' +
        'value is refused at start. Health and metrics endpoints always stay open for probes and Prometheus.',
    }),
  ),
  defaultTemperature: Type.Optional(
    Type.Number({
      minimum: 0,
      maximum: 2,
      description:
        "DEFAULT_TEMPERATURE: sampling temperature of a request that sends none. Unset means 1, OpenAI's " +
        'default (node-llama-cpp alone would decode greedily); 0 makes such requests greedy.',
    }),
  ),
  defaultTopP: Type.Optional(
    Type.Number({
      minimum: 0,
      maximum: 1,
      description:
        "DEFAULT_TOP_P: nucleus sampling of a request that sends no top_p. Unset means 1 (off), OpenAI's " +
        "default; node-llama-cpp's own 0.95 never applies.",
    }),
  ),
  defaultTopK: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 1_000_000,
      description:
        'DEFAULT_TOP_K: top-k sampling applied to every request (OpenAI has no top_k field). Unset means 0 ' +
        "(off), as OpenAI; node-llama-cpp's hidden 40 never applies.",
    }),
  ),
  defaultMinP: Type.Optional(
    Type.Number({
      minimum: 0,
      maximum: 1,
      description: 'DEFAULT_MIN_P: min-p sampling applied to every request (OpenAI has no min_p field). Unset means 0 (off).',
    }),
  ),
  modelNames: Type.Optional(
    Type.Union([Type.Literal('served'), Type.Literal('any')], {
      description:
        'MODEL_NAMES: which `model` a request may name. Unset means "served": the served model id only, ' +
        'another name is 404 model_not_found as OpenAI, vLLM and Ollama answer; "any" accepts every name ' +
        '(for clients that hard-code a model name).',
    }),
  ),
  serviceKind: Type.Optional(
    Type.Union(
      serviceKinds.map((k) => Type.Literal(k)),
      {
        description:
          'SERVICE_KIND: "chat" (generation: /v1/chat/completions and /v1/completions, PARALLEL sequences) or ' +
          '"embedding" (/v1/embeddings through one embedding context of CONTEXT_SIZE tokens; no generation). ' +
          'Unset means chat, what every existing service is.',
      },
    ),
  ),
  promptCache: Type.Optional(
    Type.Union(
      promptCacheModes.map((m) => Type.Literal(m)),
      {
        description:
          'PROMPT_CACHE: "on" keeps each sequence\'s evaluated tokens after a request and sends the next request ' +
          'to the free sequence sharing the longest prompt prefix, so a chat turn evaluates only the new messages ' +
          '(reported as usage.prompt_tokens_details.cached_tokens); "off" clears every sequence after each request. ' +
          "Unset means on, what llama.cpp's server does by default (cache_prompt); the KV cache is sized for " +
          "every sequence's whole context either way.",
      },
    ),
  ),
  corsOrigins: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description:
        'CORS_ORIGINS: browser origins allowed to call the API (comma-separated, e.g. https://app.example.com), or * ' +
        'for any. Unset means off: no CORS headers, so a browser page on another origin cannot read the answers; ' +
        'an in-cluster client needs none. Preflight (OPTIONS) requests from a listed origin are answered 204.',
    }),
  ),
  logLevel: Type.Union(
    logLevels.map((l) => Type.Literal(l)),
    {
      default: 'info',
      description: 'LOG_LEVEL: pino level. Default info: one access line per request; prompt and completion text ' + 'are logged only at debug.',
    },
  ),
  memoryGuardHeadroomMiB: Type.Integer({
    minimum: 0,
    maximum: 1_048_576,
    default: defaultMemoryGuardHeadroomMiB,
    description:
      'MEMORY_GUARD_HEADROOM_MIB: when resident memory comes within this many MiB of the cgroup memory ' +
      'limit, the service stops taking new work (readiness 503), lets in-flight requests finish within ' +
      'SHUTDOWN_GRACE_MS and exits 0, so the kubelet restarts it instead of the OOM killer cutting every ' +
      'answer. Default 64; the LlmMemoryNearLimit alert fires at twice that. 0 disables the guard.',
  }),
  batchSize: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 1_048_576,
      description:
        'BATCH_SIZE: tokens llama.cpp evaluates in one batch (n_batch = n_ubatch). Optional; unset means ' +
        "node-llama-cpp's own default for a chat service, min(CONTEXT_SIZE x PARALLEL, 512), and CONTEXT_SIZE for " +
        'an embedding service, whose encoder evaluates each input in one batch (contract.embeddingBatchSize); ' +
        'an embedding service with a BATCH_SIZE below CONTEXT_SIZE is refused, because longer inputs would be ' +
        'embedded from their last BATCH_SIZE tokens alone.',
    }),
  ),
  memoryLimitCgroupRoot: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'MEMORY_LIMIT_CGROUP_ROOT: the cgroup filesystem the memory limit is read from. Optional; unset means ' +
        '/sys/fs/cgroup. Only tests set it, to a directory holding a small memory.max.',
    }),
  ),
});

export type Config = Static<typeof ConfigSchema> & { gpuLayers: GpuLayers; logLevel: LogLevel };

/** Thrown by `loadConfig`; `message` is one line, `issues` holds one entry per bad variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly issues: readonly string[]) {
    super(`Invalid configuration: ${issues.join('; ')}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Parses one variable's text; returns the value or, on failure, what is allowed. */
type Parser<T> = (text: string) => { ok: true; value: T } | { ok: false; expected: string };

function integer(min: number, max: number): Parser<number> {
  return (text) => {
    const t = text.trim();
    const n = /^[+]?\d+$/.test(t) ? Number(t) : Number.NaN;
    if (Number.isSafeInteger(n) && n >= min && n <= max) return { ok: true, value: n };
    return { ok: false, expected: `expected an integer from ${min} to ${max}` };
  };
}

function decimal(min: number, max: number): Parser<number> {
  return (text) => {
    const t = text.trim();
    const n = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(t) ? Number(t) : Number.NaN;
    if (Number.isFinite(n) && n >= min && n <= max) return { ok: true, value: n };
    return { ok: false, expected: `expected a number from ${min} to ${max}` };
  };
}

function nonEmpty(what: string): Parser<string> {
  return (text) => (text.trim() ? { ok: true, value: text.trim() } : { ok: false, expected: what });
}

function oneOf<const T extends string>(allowed: readonly T[]): Parser<T> {
  return (text) => {
    const t = text.trim().toLowerCase();
    const hit = allowed.find((a) => a === t);
    return hit !== undefined ? { ok: true, value: hit } : { ok: false, expected: `expected one of ${allowed.join(', ')}` };
  };
}

/** The shared MODEL_SHA256 parser (contract.ts), so the init container and the server accept the same forms. */
const sha256: Parser<string> = (text) => {
  const r = parseModelSha256(text);
  return r.ok && r.value !== undefined ? { ok: true, value: r.value } : { ok: false, expected: r.ok ? 'expected a SHA-256' : r.expected };
};

/**
 * API_KEY is trimmed like every other variable (a secret created with `kubectl create secret --from-file`
 * usually ends in a newline, and clients never send it). Unlike the others, a variable that is present but
 * blank is refused instead of meaning "unset": it is almost always a secret that resolved to nothing, and
 * running without authentication by accident is worse than not starting. Unset API_KEY means no auth.
 */
function readApiKey(env: Env, issues: string[]): string | undefined {
  const raw = env[envVars.apiKey];
  if (raw === undefined) return undefined;
  const key = raw.trim();
  if (key === '') {
    issues.push(
      `${envVars.apiKey} is set but ${raw === '' ? 'empty' : 'only whitespace'}: put the key in the secret, or remove the variable to serve without authentication`,
    );
    return undefined;
  }
  if (/[^\x21-\x7e]/.test(key)) {
    issues.push(`${envVars.apiKey}=<redacted> is invalid: expected printable ASCII without spaces (what an Authorization: Bearer header can carry)`);
    return undefined;
  }
  return key;
}

const gpuLayers: Parser<GpuLayers> = (text) => {
  const t = text.trim().toLowerCase();
  if (t === 'auto' || t === 'max') return { ok: true, value: t };
  const n = integer(0, 10_000)(t);
  return n.ok ? n : { ok: false, expected: 'expected an integer from 0 to 10000, "auto" or "max"' };
};

/** Short, printable form of a bad value (secrets are never echoed). */
function show(name: EnvVarName, text: string): string {
  if (name === envVars.apiKey) return '<redacted>';
  if (name === envVars.model) text = redactModelRef(text);
  const clipped = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return JSON.stringify(clipped);
}

/**
 * Reads and validates the configuration. Collects every problem before throwing,
 * so one restart fixes them all.
 */
export function loadConfig(env: Env = process.env): Config {
  const issues: string[] = [];
  for (const [retired, now] of Object.entries(retiredEnvVars)) {
    if (env[retired] !== undefined) issues.push(`${retired} is no longer read: it was renamed ${now}; set ${now} instead`);
  }

  function read<T>(name: EnvVarName, parse: Parser<T>, fallback: T): T;
  function read<T>(name: EnvVarName, parse: Parser<T>): T | undefined;
  function read<T>(name: EnvVarName, parse: Parser<T>, fallback?: T): T | undefined {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const r = parse(raw);
    if (r.ok) return r.value;
    issues.push(`${name}=${show(name, raw)} is invalid: ${r.expected}`);
    return fallback;
  }

  const config: Config = {
    model: read(envVars.model, nonEmpty('expected a path, hf: URI or https:// URL'), defaultModel),
    modelSha256: read(envVars.modelSha256, sha256),
    modelCacheDir: read(envVars.modelCacheDir, nonEmpty('expected a directory path'), defaultModelCacheDir),
    host: read(envVars.host, nonEmpty('expected a host name or IP address'), '0.0.0.0'),
    port: read(envVars.port, integer(1, 65535), defaultPort),
    threads: read(envVars.threads, integer(1, 1024)),
    contextSize: read(envVars.contextSize, integer(64, 1_048_576), 4096),
    parallel: read(envVars.parallel, integer(1, 64), 2),
    maxQueue: read(envVars.maxQueue, integer(0, 10_000), 8),
    maxCompletionLength: read(envVars.maxCompletionLength, integer(1, 1_048_576), 2048),
    requestTimeoutMs: read(envVars.requestTimeoutMs, integer(100, 86_400_000), 300_000),
    shutdownGraceMs: read(envVars.shutdownGraceMs, integer(0, 3_600_000), 20_000),
    sseKeepAliveMs: read(envVars.sseKeepAliveMs, integer(50, 3_600_000), 15_000),
    gpuLayers: read(envVars.gpuLayers, gpuLayers, 0),
    apiKey: readApiKey(env, issues),
    logLevel: read(envVars.logLevel, oneOf(logLevels), 'info'),
    memoryGuardHeadroomMiB: read(envVars.memoryGuardHeadroomMiB, integer(0, 1_048_576), defaultMemoryGuardHeadroomMiB),
    memoryLimitCgroupRoot: read(envVars.memoryLimitCgroupRoot, nonEmpty('expected a directory path')),
    defaultTemperature: read(envVars.defaultTemperature, decimal(0, 2)),
    defaultTopP: read(envVars.defaultTopP, decimal(0, 1)),
    defaultTopK: read(envVars.defaultTopK, integer(0, 1_000_000)),
    defaultMinP: read(envVars.defaultMinP, decimal(0, 1)),
    modelNames: read(envVars.modelNames, oneOf(['served', 'any'] as const)),
    serviceKind: read(envVars.serviceKind, oneOf(serviceKinds)),
    batchSize: read(envVars.batchSize, integer(1, 1_048_576)),
    promptCache: read(envVars.promptCache, oneOf(promptCacheModes)),
    corsOrigins: read(envVars.corsOrigins, (text) => {
      const r = parseCorsOrigins(text);
      return r.ok && r.value !== undefined ? { ok: true, value: r.value } : { ok: false, expected: r.ok ? 'expected at least one origin' : r.expected };
    }),
  };
  const embeddingBatch = embeddingBatchSize(config.contextSize);
  if (config.serviceKind === 'embedding' && config.batchSize !== undefined && config.batchSize < embeddingBatch) {
    issues.push(
      `${envVars.batchSize}=${config.batchSize} is invalid for ${envVars.serviceKind}=embedding: an input may have up to ${envVars.contextSize} - 1 tokens and the encoder evaluates it in one batch, so set ${envVars.batchSize} to at least ${embeddingBatch} (or unset it)`,
    );
  }
  // Optional settings stay absent when unset (their documented default applies where they are used).
  for (const key of [
    'defaultTemperature',
    'defaultTopP',
    'defaultTopK',
    'defaultMinP',
    'modelNames',
    'serviceKind',
    'batchSize',
    'promptCache',
    'corsOrigins',
  ] as const) {
    if (config[key] === undefined) delete config[key];
  }
  if (config.memoryLimitCgroupRoot === undefined) delete config.memoryLimitCgroupRoot;
  if (config.threads === undefined) delete config.threads;
  if (config.modelSha256 === undefined) delete config.modelSha256;
  if (config.apiKey === undefined) delete config.apiKey;

  if (issues.length > 0) throw new ConfigError(issues);
  // The parsers above enforce the schema; this guards against the two drifting apart.
  if (!Value.Check(ConfigSchema, config)) {
    const first = Value.Errors(ConfigSchema, config).First();
    throw new ConfigError([`internal: configuration does not match its schema at ${first?.path ?? '?'}: ${first?.message ?? ''}`]);
  }
  return config;
}

/** The configuration with secrets masked, for the start-up log line. */
export function describeConfig(config: Config): Record<string, unknown> {
  return { ...config, model: redactModelRef(config.model), apiKey: config.apiKey === undefined ? undefined : '<set>' };
}

/** The batch the service evaluates with: BATCH_SIZE, else the default for its kind (see the schema). */
export function effectiveBatchSize(config: Pick<Config, 'batchSize' | 'contextSize' | 'parallel' | 'serviceKind'>): number {
  if (config.batchSize !== undefined) return config.batchSize;
  return config.serviceKind === 'embedding' ? embeddingBatchSize(config.contextSize) : chatBatchSize(config.contextSize, config.parallel);
}

/**
 * The engine options that follow from SERVICE_KIND and BATCH_SIZE: the kind when set, and the batch when
 * BATCH_SIZE is set or the service embeds (a chat service without BATCH_SIZE keeps node-llama-cpp's default).
 */
export function engineKindOptions(config: Pick<Config, 'batchSize' | 'contextSize' | 'parallel' | 'serviceKind'>): { kind?: ServiceKind; batchSize?: number } {
  return {
    ...(config.serviceKind !== undefined ? { kind: config.serviceKind } : {}),
    ...(config.batchSize !== undefined || config.serviceKind === 'embedding' ? { batchSize: effectiveBatchSize(config) } : {}),
  };
}

/**
 * One line per environment variable, from `ConfigSchema`'s descriptions (the one home of what each variable
 * means and defaults to): the `--help` of the container's entry points and the generated configuration docs
 * read it, so neither can drift from what `loadConfig` accepts.
 */
export function environmentVariableHelp(only?: readonly EnvVarName[]): string[] {
  const fields = ConfigSchema.properties as Record<string, { description?: string }>;
  return Object.entries(fields)
    .map(([key, schema]) => ({ name: envVars[key as keyof typeof envVars], text: schema.description ?? '' }))
    .filter((f) => only === undefined || only.includes(f.name))
    .map((f) => `  ${f.text}`);
}

/** True when a command line asks for usage (`--help` or `-h`): the entry points then print it and start no work. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}
