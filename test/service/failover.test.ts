/**
 * The scale-to-zero failover responder (service/failover.ts) over real HTTP: what a client sees when the KEDA HTTP
 * add-on's interceptor forwards a request it held past the cold-start hold. The interceptor forwards the request
 * as it came (method, path, headers with the original Host, body: kedacore/http-add-on
 * interceptor/handler/upstream.go), so these requests are sent the same way, straight to the responder.
 */
import { spawnSync } from 'node:child_process';
import { request as httpRequest, Agent } from 'node:http';
import { pino } from 'pino';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failoverResponder, type FailoverRoute } from '../../service/contract.js';
import { FailoverConfigError, loadFailoverConfig, runFailover, type RunningFailover } from '../../service/failover.js';

const routes: FailoverRoute[] = [
  {
    hosts: ['chat.example.com', 'chat-interceptor.models', 'chat-interceptor.models.svc'],
    service: 'chat',
    model: 'qwen-3b',
    retryAfterSeconds: 3,
    holdSeconds: 390,
  },
  { hosts: ['embed-interceptor.models'], service: 'embed', model: 'bge-small', retryAfterSeconds: 7, holdSeconds: 320 },
  // fetch (undici) sends the URL's host and refuses to set another, so the SDK clients reach a route by address.
  { hosts: ['127.0.0.1'], service: 'local', model: 'local-model', retryAfterSeconds: 1, holdSeconds: 60 },
];

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on `agent` (keep-alive, so a connection left unusable by an unread body shows up in the next). */
function send(
  port: number,
  opts: { method: string; path: string; host?: string; body?: string | Buffer; contentType?: string; agent?: Agent },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (opts.host !== undefined) headers.host = opts.host;
    if (opts.contentType !== undefined) headers['content-type'] = opts.contentType;
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
    const req = httpRequest({ host: '127.0.0.1', port, method: opts.method, path: opts.path, headers, agent: opts.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

let running: RunningFailover;
const seen: string[] = [];

beforeAll(async () => {
  const logger = pino({ level: 'silent' });
  running = await runFailover({ routes, host: '127.0.0.1', port: 0, healthPort: 0, logLevel: 'silent' }, logger);
  running.traffic.server.on('request', (req: { method?: string; url?: string }) => void seen.push(`${req.method} ${req.url}`));
});
afterAll(async () => {
  await running.close();
});

describe('failover responder: every request is a 503 with Retry-After', () => {
  const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
  const paths = ['/v1/chat/completions', '/v1/models', '/chat/completions', '/health/ready', '/', '/anything/else?x=1'];

  it.each(methods.flatMap((m) => paths.map((p) => [m, p] as const)))('%s %s: 503, Retry-After of the Host, OpenAI error body', async (method, path) => {
    const a = await send(running.port, { method, path, host: 'chat-interceptor.models:8080' });
    expect(a.status).toBe(503);
    expect(a.headers['retry-after']).toBe('3');
    expect(a.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(a.body) as { error: { message: string; type: string; code: string; param: null } };
    expect(body.error.type).toBe('service_unavailable_error');
    expect(body.error.code).toBe('model_starting');
    expect(body.error.param).toBeNull();
    expect(body.error.message).toContain('model qwen-3b (service chat) is starting');
    expect(body.error.message).toContain('retry after 3 s');
  });

  it('HEAD: 503 and Retry-After, no body', async () => {
    const a = await send(running.port, { method: 'HEAD', path: '/v1/models', host: 'embed-interceptor.models' });
    expect([a.status, a.headers['retry-after'], a.body]).toEqual([503, '7', '']);
  });

  it('the Host picks the service: case and port do not matter; an unknown Host gets the longest Retry-After', async () => {
    const embed = await send(running.port, { method: 'POST', path: '/v1/embeddings', host: 'EMBED-interceptor.Models:8080' });
    expect(embed.headers['retry-after']).toBe('7');
    expect(embed.body).toContain('bge-small');
    const ingress = await send(running.port, { method: 'POST', path: '/v1/chat/completions', host: 'chat.example.com' });
    expect(ingress.headers['retry-after']).toBe('3');
    const unknown = await send(running.port, { method: 'GET', path: '/v1/models', host: 'other.example.com' });
    expect(unknown.status).toBe(503);
    expect(unknown.headers['retry-after']).toBe(String(Math.max(...routes.map((r) => r.retryAfterSeconds))));
    expect(unknown.body).not.toContain('qwen-3b');
  });

  it('/v1/messages answers in Anthropic\'s error shape ("overloaded_error"), every other path in OpenAI\'s', async () => {
    for (const path of ['/v1/messages', '/v1/messages/count_tokens', '/v1/messages?beta=true']) {
      const a = await send(running.port, { method: 'POST', path, host: 'chat.example.com', body: '{}', contentType: 'application/json' });
      expect(a.status).toBe(503);
      expect(a.headers['retry-after']).toBe('3');
      expect(JSON.parse(a.body)).toEqual({ type: 'error', error: { type: 'overloaded_error', message: expect.stringContaining('qwen-3b') } });
    }
    // Negative control: a path that merely starts with the same letters is not the Messages API.
    const other = await send(running.port, { method: 'POST', path: '/v1/messagesx', host: 'chat.example.com' });
    expect(JSON.parse(other.body)).toHaveProperty('error.type', 'service_unavailable_error');
  });

  it('a request body is sent and ignored: broken JSON, another content type, 4 MiB; the keep-alive connection stays usable', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const bodies: Array<{ body: string | Buffer; contentType: string }> = [
        { body: '{"messages": [', contentType: 'application/json' },
        { body: 'plain words', contentType: 'text/plain' },
        { body: Buffer.alloc(4 * 1024 * 1024, 0x61), contentType: 'application/octet-stream' },
      ];
      for (const b of bodies) {
        const a = await send(running.port, { method: 'POST', path: '/v1/chat/completions', host: 'chat.example.com', agent, ...b });
        expect(a.status).toBe(503);
        expect(JSON.parse(a.body)).toHaveProperty('error.code', 'model_starting');
      }
      const after = await send(running.port, { method: 'GET', path: '/v1/models', host: 'chat.example.com', agent });
      expect(after.status).toBe(503);
    } finally {
      agent.destroy();
    }
  });

  it("a URL Fastify's router refuses (bad percent-encoding) is still the 503, not a 400", async () => {
    const a = await send(running.port, { method: 'GET', path: '/v1/models/%zz', host: 'chat.example.com' });
    expect(a.status).toBe(503);
    expect(a.headers['retry-after']).toBe('3');
  });

  it("the probes are on the health port (200); on the failover port /health/ready is the model's, hence 503", async () => {
    for (const path of ['/health/live', '/health/ready']) {
      const a = await send(running.healthPort, { method: 'GET', path });
      expect([a.status, JSON.parse(a.body)]).toEqual([200, { status: 'ok' }]);
    }
    expect((await send(running.port, { method: 'GET', path: '/health/ready' })).status).toBe(503);
  });
});

describe('what the SDK clients do with the 503', () => {
  it('openai: APIError 503 after its retries, each retry waiting the Retry-After (1 s here)', async () => {
    const base = `http://127.0.0.1:${running.port}/v1`;
    const ask = (maxRetries: number) =>
      new OpenAI({ baseURL: base, apiKey: 'x', maxRetries }).chat.completions.create({
        model: 'local-model',
        messages: [{ role: 'user', content: 'hi' }],
      });
    const before = seen.length;
    const started = performance.now();
    const err = await ask(1).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(OpenAI.APIError);
    const apiErr = err as InstanceType<typeof OpenAI.APIError>;
    expect(apiErr.status).toBe(503);
    expect(apiErr.type).toBe('service_unavailable_error');
    expect(apiErr.code).toBe('model_starting');
    expect(apiErr.headers?.get('retry-after')).toBe('1');
    // Two attempts, one Retry-After apart (the SDK's own backoff would be 0.375-0.5 s: openai client.js
    // calculateDefaultRetryTimeoutMillis).
    expect(seen.length - before).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    // Negative control: without retries the answer comes at once.
    const quick = performance.now();
    await ask(0).catch(() => undefined);
    expect(performance.now() - quick).toBeLessThan(900);
  });

  it('anthropic: InternalServerError 503 with the "overloaded_error" type', async () => {
    const client = new Anthropic({ baseURL: `http://127.0.0.1:${running.port}`, apiKey: 'x', maxRetries: 0 });
    const err = await client.messages.create({ model: 'local-model', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    const apiErr = err as InstanceType<typeof Anthropic.InternalServerError>;
    expect(apiErr.status).toBe(503);
    expect(apiErr.error).toMatchObject({ type: 'error', error: { type: 'overloaded_error', message: expect.stringContaining('local-model') } });
    expect(apiErr.headers?.get('retry-after')).toBe('1');
  });
});

describe('failover responder configuration', () => {
  const good = JSON.stringify(routes);
  const names = failoverResponder.envVars;

  it('reads the routes and defaults the ports to the contract', () => {
    const c = loadFailoverConfig({ [names.routes]: good });
    expect(c.routes).toEqual(routes);
    expect([c.host, c.port, c.healthPort, c.logLevel]).toEqual(['0.0.0.0', failoverResponder.port, failoverResponder.healthPort, 'info']);
  });

  it.each([
    [{}, /FAILOVER_ROUTES is not set/],
    [{ [names.routes]: '[{' }, /FAILOVER_ROUTES is not JSON/],
    [{ [names.routes]: '[]' }, /FAILOVER_ROUTES: .*(minimum|at least|Expected)/i],
    [{ [names.routes]: JSON.stringify([{ ...routes[0], retryAfterSeconds: 0 }]) }, /FAILOVER_ROUTES\.0\.retryAfterSeconds/],
    [{ [names.routes]: JSON.stringify([{ ...routes[0], extra: 1 }]) }, /FAILOVER_ROUTES/],
    [{ [names.routes]: good, [names.port]: '99999' }, /PORT="99999": expected a port number/],
    [{ [names.routes]: good, [names.port]: '9000', [names.healthPort]: '9000' }, /both 9000/],
    [{ [names.routes]: good, [names.logLevel]: 'loud' }, /LOG_LEVEL="loud"/],
  ])('refuses %j naming the variable', (env, message) => {
    expect(() => loadFailoverConfig(env)).toThrow(FailoverConfigError);
    expect(() => loadFailoverConfig(env)).toThrow(message);
  });

  it('the entry point exits 1 with one line naming the variable, and answers --help without starting', () => {
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'service/failover.ts'], {
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^failover responder: FAILOVER_ROUTES is not set/)]);
    const help = spawnSync(process.execPath, ['--import', 'tsx', 'service/failover.ts', '--help'], { encoding: 'utf8', timeout: 60_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('FAILOVER_ROUTES');
  });
});
