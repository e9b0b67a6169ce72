/**
 * The llama-server endpoint table (docs/endpoints.md) is the list in service/http/llama-server.ts, and the
 * server does what each row says, over real HTTP (fake engine, listening on 127.0.0.1): a served row is
 * answered by a route (anything but 404), a refused row is a 404 JSON body with the row's message naming the
 * alternative. GET /props reports the service's settings.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { llamaServerEndpoints } from '../../service/http/llama-server.js';
import { startFakeApp, type FakeApp } from './fake-engine.js';
import { expectOpenAiError, repoRoot } from './helpers.js';

async function docRows(): Promise<string[]> {
  const text = await readFile(path.join(repoRoot, 'docs/endpoints.md'), 'utf8');
  const start = text.indexOf('<!-- endpoints:start -->');
  const end = text.indexOf('<!-- endpoints:end -->');
  expect(start, 'docs/endpoints.md table markers').toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  return text
    .slice(start, end)
    .split('\n')
    .filter((l) => /^\| (GET|POST) \|/.test(l));
}

describe('llama-server endpoints: docs table = llamaServerEndpoints', () => {
  it('one row per decision, same order, same text', async () => {
    const expected = llamaServerEndpoints.map((e) => `| ${e.method} | \`${e.path}\` | ${e.decision} | ${e.what.replaceAll('|', '\\|')} |`);
    expect(await docRows()).toEqual(expected);
    const keys = llamaServerEndpoints.map((e) => `${e.method} ${e.path}`);
    expect(new Set(keys).size, 'a method and path is decided once').toBe(keys.length);
  });
});

describe('llama-server endpoints over HTTP', () => {
  let f: FakeApp;
  let base: string;
  beforeAll(async () => {
    f = await startFakeApp({ PARALLEL: '3', CONTEXT_SIZE: '2048', DEFAULT_TOP_K: '20' });
    base = await f.listen();
  });
  afterAll(async () => {
    await f?.close();
  });

  const call = (method: string, p: string) =>
    fetch(`${base}${p.replace('{id}', 'fake-model')}`, {
      method,
      ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}),
    });

  it.each(llamaServerEndpoints.map((e) => [`${e.method} ${e.path} (${e.decision})`, e] as const))('%s', async (_name, e) => {
    const res = await call(e.method, e.path);
    const body = (res.headers.get('content-type') ?? '').includes('json') ? ((await res.json()) as unknown) : await res.text();
    if (e.decision === 'served') {
      // A route answers (a POST with an empty body is its own validation error, never "not found").
      expect(res.status, JSON.stringify(body)).not.toBe(404);
    } else {
      expect(res.status).toBe(404);
      const err = expectOpenAiError(body);
      expect(err.code).toBe('unsupported_endpoint');
      expect(err.message).toBe(e.what);
    }
  });

  it('an unknown path stays the plain 404 (negative control)', async () => {
    const res = await call('GET', '/no-such-endpoint');
    expect(res.status).toBe(404);
    expect(expectOpenAiError(await res.json()).code).toBe('not_found');
  });

  it('GET /props reports the context size, slots and default sampling', async () => {
    const res = await call('GET', '/props');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      default_generation_settings: { n_ctx: 2048, params: { n_predict: 2048, temperature: 1, top_p: 1, top_k: 20, min_p: 0 } },
      total_slots: 3,
      model_alias: 'fake-model',
      modalities: { vision: false, audio: false },
    });
  });
});

describe('GET /props behind API_KEY; refusals are not', () => {
  it('401 without the key, 200 with it; a refused endpoint still names its alternative', async () => {
    const f = await startFakeApp({ API_KEY: 'k' });
    try {
      expect((await f.app.inject({ url: '/props' })).statusCode).toBe(401);
      expect((await f.app.inject({ url: '/props', headers: { authorization: 'Bearer k' } })).statusCode).toBe(200);
      const slots = await f.app.inject({ url: '/slots' });
      expect(slots.statusCode).toBe(404);
      expect(expectOpenAiError(slots.json()).message).toContain('/metrics');
    } finally {
      await f.close();
    }
  });
});
