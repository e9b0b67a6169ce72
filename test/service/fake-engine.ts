/**
 * An engine without a model, for HTTP tests that do not need inference (validation, errors, auth, field
 * policy, endpoints): the real app (`buildApp`) with `AppDeps.engine`, reached through `app.inject()` (no
 * socket), also by the official `openai` client through `injectFetch`. It records what the routes hand to
 * the engine, so a test can assert the OpenAI-to-engine mapping itself.
 *
 * Tests of the engine, of inference, or of the whole service keep the real model (helpers.ts startTestApp).
 */
import type { FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import { buildApp } from '../../service/app.js';
import { loadConfig } from '../../service/config.js';
import {
  NotAcceptingError,
  type EnginePort,
  type EngineState,
  type EngineStats,
  type GenerationEvent,
  type GenerationInput,
  type SamplingOptions,
} from '../../service/http/engine-port.js';

export interface RecordedGeneration {
  input: GenerationInput;
  sampling: SamplingOptions;
}

/** A chat engine that answers every generation with `reply` (one "token" per character, cut at maxTokens). */
export class FakeEngine implements EnginePort {
  state: EngineState;
  loadProgress = 0;
  readonly kind = 'chat' as const;
  readonly generations: RecordedGeneration[] = [];

  constructor(
    readonly modelId = 'fake-model',
    opts: { ready?: boolean; reply?: string } = {},
  ) {
    this.state = opts.ready === false ? 'loading' : 'ready';
    if (this.state === 'ready') this.loadProgress = 1;
    this.reply = opts.reply ?? 'fake answer';
  }

  private readonly reply: string;

  load(): Promise<void> {
    this.state = 'ready';
    this.loadProgress = 1;
    return Promise.resolve();
  }

  stats(): EngineStats {
    return { parallel: 1, busySequences: 0, queueDepth: 0, maxQueue: 0 };
  }

  /** Prompt tokens: one per character of the prompt text (a stand-in for a tokenizer). */
  countTextTokens(text: string): number | undefined {
    return this.state === 'loading' ? undefined : text.length;
  }

  generate(input: GenerationInput, sampling: SamplingOptions): AsyncIterable<GenerationEvent> {
    // As the real engine: refused synchronously unless ready (the route answers 503).
    if (this.state !== 'ready') throw new NotAcceptingError(`Not accepting requests: the engine is ${this.state}`);
    this.generations.push({ input, sampling });
    const promptTokens = input.kind === 'chat' ? input.messages.reduce((n, m) => n + m.content.length, 0) : (input.tokens?.length ?? input.prompt.length);
    const text = this.reply.slice(0, Math.max(1, Math.floor(sampling.maxTokens)));
    const finishReason = text.length < this.reply.length ? ('length' as const) : ('stop' as const);
    const events: GenerationEvent[] = [
      { type: 'started', promptTokens, queuedMs: 0 },
      { type: 'text', text, tokens: text.length },
      { type: 'done', finishReason, promptTokens, completionTokens: text.length, cachedTokens: 0, text },
    ];
    return (async function* () {
      yield* events;
    })();
  }

  drain(): void {
    if (this.state === 'ready') this.state = 'draining';
  }

  close(): void {
    this.state = 'closed';
  }

  /** The sampling options of the last generation. */
  lastSampling(): SamplingOptions {
    const last = this.generations.at(-1);
    if (last === undefined) throw new Error('no generation was started');
    return last.sampling;
  }
}

export interface FakeApp {
  app: FastifyInstance;
  engine: FakeEngine;
  /** The `openai` client, talking to the app through `app.inject()`. */
  client: OpenAI;
  /**
   * Listens on 127.0.0.1 (a free port) and returns the base URL, for what `inject()` cannot carry: server-sent
   * event streams (the SSE writer flushes a hijacked response) and the socket behaviour of slow uploads.
   */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** The real app around a FakeEngine; `env` is the service environment (MODEL is not read). */
export async function startFakeApp(env: Record<string, string> = {}, engine = new FakeEngine()): Promise<FakeApp> {
  const config = loadConfig({ LOG_LEVEL: 'silent', CONTEXT_SIZE: '1024', ...env });
  const app = await buildApp(config, {
    engine,
    threads: { threads: 1, source: 'test' },
    memoryLimit: { bytes: undefined, source: 'none' },
  });
  await app.ready();
  const client = new OpenAI({ baseURL: 'http://fake.invalid/v1', apiKey: env.API_KEY ?? 'not-needed', maxRetries: 0, fetch: injectFetch(app) });
  const listen = async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  };
  return { app, engine, client, listen, close: () => app.close() };
}

/** A `fetch` that sends the request to `app.inject()` instead of a socket (for clients that take a custom fetch). */
export function injectFetch(app: FastifyInstance): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const body = request.body === null ? undefined : Buffer.from(await request.arrayBuffer());
    const res = await app.inject({
      method: request.method as 'GET',
      url: url.pathname + url.search,
      headers: Object.fromEntries(request.headers),
      ...(body !== undefined ? { payload: body } : {}),
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) headers.append(name, String(v));
    }
    return new Response(res.statusCode === 204 || res.statusCode === 304 ? null : res.rawPayload, { status: res.statusCode, headers });
  };
}
