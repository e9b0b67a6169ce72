/**
 * What clients written for llama-server expect beside the OpenAI API (fake engine, `app.inject()`): the
 * OpenAI paths without `/v1`, `GET /health` as llama-server answers it (tools/server/server.cpp), and CORS
 * when CORS_ORIGINS allows the page's origin.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { endpoints } from '../../service/contract.js';
import { expectOpenAiError } from './helpers.js';
import { FakeEngine, injectFetch, startFakeApp, type FakeApp } from './fake-engine.js';

let t: FakeApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('OpenAI paths without /v1', () => {
  it('serve the same routes: the openai client with a base URL without /v1 works', async () => {
    t = await startFakeApp();
    const client = new OpenAI({ baseURL: 'http://fake.invalid', apiKey: 'x', maxRetries: 0, fetch: injectFetch(t.app) });
    expect((await client.models.list()).data.map((m) => m.id)).toEqual(['fake-model']);
    expect((await client.models.retrieve('fake-model')).id).toBe('fake-model');
    const chat = await client.chat.completions.create({ model: 'fake-model', messages: [{ role: 'user', content: 'x' }] });
    expect(chat.choices[0]?.message.content).toBe('fake answer');
    const completion = await client.completions.create({ model: 'fake-model', prompt: 'x' });
    expect(completion.choices[0]?.text).toBe('fake answer');
    // Validation and its errors are the same route's.
    const bad = await t.app.inject({ method: 'POST', url: '/chat/completions?x=1', payload: { messages: [] } });
    expect(bad.statusCode).toBe(400);
    expect(expectOpenAiError(bad.json()).param).toBe('messages');
    // Other paths are not rewritten (negative control).
    expect((await t.app.inject({ url: '/unknown' })).statusCode).toBe(404);
    expect((await t.app.inject({ url: '/v2/models' })).statusCode).toBe(404);
  });

  it('keep API_KEY', async () => {
    t = await startFakeApp({ API_KEY: 'k' });
    expect((await t.app.inject({ url: '/models' })).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/models', headers: { authorization: 'Bearer k' } })).statusCode).toBe(200);
  });
});

describe('GET /health (llama-server)', () => {
  it('503 {error: Loading model} while loading, then 200 {status: ok}; /v1/health too; open without API key', async () => {
    const engine = new FakeEngine('fake-model', { ready: false });
    t = await startFakeApp({ API_KEY: 'k' }, engine);
    for (const url of [endpoints.llamaHealth, `/v1${endpoints.llamaHealth}`]) {
      const loading = await t.app.inject({ url });
      expect(loading.statusCode).toBe(503);
      expect(loading.json()).toEqual({ error: { code: 503, message: 'Loading model', type: 'unavailable_error' } });
    }
    await engine.load();
    for (const url of [endpoints.llamaHealth, `/v1${endpoints.llamaHealth}`]) {
      const ready = await t.app.inject({ url });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({ status: 'ok' });
    }
    t.app.llm.lifecycle.startDraining();
    const draining = await t.app.inject({ url: endpoints.llamaHealth });
    expect(draining.statusCode).toBe(503);
    expect((draining.json() as { error: { message: string } }).error.message).toBe('The server is draining');
  });
});

describe('CORS (CORS_ORIGINS)', () => {
  const page = 'https://chat.example.com';
  const preflight = (origin: string) =>
    t!.app.inject({
      method: 'OPTIONS',
      url: endpoints.chatCompletions,
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, x-stainless-os' },
    });

  it('off by default: no CORS headers, preflight is a 404', async () => {
    t = await startFakeApp();
    const res = await t.app.inject({ url: endpoints.models, headers: { origin: page } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect((await preflight(page)).statusCode).toBe(404);
  });

  it('a listed origin: preflight 204 before authentication, answers (errors too) carry the headers', async () => {
    t = await startFakeApp({ CORS_ORIGINS: `${page},http://localhost:3000`, API_KEY: 'k' });
    const pre = await preflight(page);
    expect(pre.statusCode).toBe(204);
    expect(pre.headers).toMatchObject({
      'access-control-allow-origin': page,
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type, x-stainless-os',
      vary: 'Origin',
    });
    const unauthorised = await t.app.inject({
      method: 'POST',
      url: endpoints.chatCompletions,
      headers: { origin: page },
      payload: { messages: [{ role: 'user', content: 'x' }] },
    });
    expect(unauthorised.statusCode).toBe(401);
    expect(unauthorised.headers['access-control-allow-origin']).toBe(page);
    expect(unauthorised.headers['access-control-expose-headers']).toContain('retry-after');
    const ok = await t.app.inject({ url: endpoints.models, headers: { origin: 'http://localhost:3000', authorization: 'Bearer k' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('http://localhost:3000');
  });

  it('another origin: no headers on answers, preflight 403 naming CORS_ORIGINS', async () => {
    t = await startFakeApp({ CORS_ORIGINS: page });
    const other = 'https://evil.example';
    const res = await t.app.inject({ url: endpoints.models, headers: { origin: other } });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const pre = await preflight(other);
    expect(pre.statusCode).toBe(403);
    expect(expectOpenAiError(pre.json()).message).toContain('CORS_ORIGINS');
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('* allows any origin', async () => {
    t = await startFakeApp({ CORS_ORIGINS: '*' });
    expect((await preflight('https://any.example')).headers['access-control-allow-origin']).toBe('*');
  });

  it('a bad CORS_ORIGINS is a configuration error naming the value', async () => {
    await expect(startFakeApp({ CORS_ORIGINS: 'https://chat.example.com/' })).rejects.toThrow(/CORS_ORIGINS="https:\/\/chat.example.com\/" is invalid/);
  });
});
