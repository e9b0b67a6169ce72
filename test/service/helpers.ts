/**
 * Shared helpers of the service tests: an in-process app on the random-weight test model,
 * an SSE reader that keeps comments and timings, Prometheus text parsing, child processes.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import type { Logger } from 'pino';
import { buildApp, type AppDeps } from '../../service/app.js';
import { loadConfig } from '../../service/config.js';
import { expect } from 'vitest';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface TestApp {
  app: FastifyInstance;
  base: string;
  client: OpenAI;
  close(): Promise<void>;
}

/** Builds and starts the real app on the tiny test model; loads it unless `load: false`. */
export async function startTestApp(
  env: Record<string, string> = {},
  opts: { load?: boolean; logger?: Logger; health?: AppDeps['health'] } = {},
): Promise<TestApp> {
  const model = await ensureTestModel();
  const config = loadConfig({ MODEL: model, LOG_LEVEL: 'silent', THREADS: '1', CONTEXT_SIZE: '1024', ...env });
  const deps: AppDeps = {};
  if (opts.logger) deps.logger = opts.logger;
  if (opts.health) deps.health = opts.health;
  const app = await buildApp(config, deps);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const base = `http://127.0.0.1:${port}`;
  if (opts.load !== false) await app.llm.engine.load();
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: env.API_KEY ?? 'not-needed', maxRetries: 0, timeout: 60_000 });
  return { app, base, client, close: () => app.close() };
}

export function postJson(base: string, path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    ...init,
    headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export interface SseEvent {
  /** ms since the reader was created. */
  at: number;
  /** Comment text (without the leading ': ') for comment events. */
  comment?: string;
  /** Raw `data:` payload. */
  data?: string;
  /** Parsed JSON payload (undefined for [DONE]). */
  json?: Record<string, unknown>;
}

/** Reads an SSE response event by event, keeping comments (keep-alives) and arrival times. */
export async function* readSse(res: Response): AsyncGenerator<SseEvent> {
  if (!res.body) throw new Error('no body');
  const t0 = performance.now();
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let idx: number;
    while ((idx = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, idx);
      buffer = buffer.slice(idx + 2);
      const at = performance.now() - t0;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) yield { at, comment: line.slice(1).trim() };
        else if (line.startsWith('data: ')) {
          const data = line.slice(6);
          yield data === '[DONE]' ? { at, data } : { at, data, json: JSON.parse(data) as Record<string, unknown> };
        }
      }
    }
  }
}

export async function collectSse(res: Response): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const ev of readSse(res)) out.push(ev);
  return out;
}

/** Value of one sample in a Prometheus text exposition (labels matched as a subset). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labelText = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return undefined;
}

export async function scrape(base: string): Promise<string> {
  return (await fetch(`${base}/metrics`)).text();
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface Child {
  proc: ChildProcessWithoutNullStreams;
  /** stdout + stderr lines so far. */
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  startedAt: number;
}

/** Runs `service/main.ts` (the production entry) as a child process with `node --import tsx`. */
export function spawnMain(env: Record<string, string>, entry = 'service/main.ts'): Child {
  const startedAt = performance.now();
  const proc = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const collect = (buf: Buffer) => {
    for (const l of buf.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(l);
  };
  proc.stdout.on('data', collect);
  proc.stderr.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal, atMs: performance.now() - startedAt }));
  });
  return { proc, lines, exited, startedAt };
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** Asserts an OpenAI-style error body (`{error: {message, type, param, code}}`) and returns its `error`. */
export function expectOpenAiError(body: unknown): ErrorBody['error'] {
  const e = (body as ErrorBody).error;
  expect(e).toBeDefined();
  expect(typeof e.message).toBe('string');
  expect(e.message.length).toBeGreaterThan(0);
  expect(typeof e.type).toBe('string');
  expect(e).toHaveProperty('param');
  expect(e).toHaveProperty('code');
  return e;
}
