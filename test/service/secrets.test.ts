/**
 * Secrets and hostile URLs: API_KEY whitespace, blank keys, the one MODEL_SHA256 parser shared by the
 * init container and the server, query strings and URL credentials kept out of logs, errors and metric
 * labels, and URLs that do not decode answered 400 (not 500).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from '../../service/config.js';
import { parseModelSha256 } from '../../service/contract.js';
import { acquireModel, ModelAcquireError, parseModelRef } from '../../service/model/acquire.js';
import { makeGguf } from '../support/gguf-fixture.js';
import { scrape, startTestApp, type TestApp } from './helpers.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('loadConfig accepted the configuration');
}

describe('API_KEY', () => {
  it('is trimmed like every other variable (a secret file usually ends in a newline)', () => {
    for (const raw of ['k3y\n', '  k3y  ', '\tk3y\r\n']) expect(loadConfig({ API_KEY: raw }).apiKey).toBe('k3y');
  });

  it('present but blank is refused at start with one line, and the value is never echoed', () => {
    for (const raw of ['', ' ', '\n', '\t \r\n']) {
      const err = configError({ API_KEY: raw });
      expect(err.message).not.toContain('\n');
      expect(err.message).toMatch(/API_KEY is set but (empty|only whitespace): put the key in the secret, or remove the variable/);
    }
    const inner = configError({ API_KEY: 'two words' });
    expect(inner.message).toContain('API_KEY=<redacted> is invalid');
    expect(inner.message).not.toContain('two words');
  });

  it('unset means no authentication', () => {
    expect(loadConfig({})).not.toHaveProperty('apiKey');
  });

  describe('with a trailing newline, over real HTTP', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ API_KEY: 's3cret-key\n' }, { load: false });
    });
    afterAll(async () => {
      await t?.close();
    });

    it('the key without the newline is accepted by the openai client, a wrong one is not', async () => {
      const ok = new OpenAI({ baseURL: `${t.base}/v1`, apiKey: 's3cret-key', maxRetries: 0 });
      expect((await ok.models.list()).data).toHaveLength(1);
      const wrong = new OpenAI({ baseURL: `${t.base}/v1`, apiKey: 's3cret-key\n'.trim() + 'x', maxRetries: 0 });
      await expect(wrong.models.list()).rejects.toMatchObject({ status: 401 });
    });
  });
});

describe('MODEL_SHA256: one parser for the init container and the server', () => {
  const hex = 'ab'.repeat(32);
  const accepted = [hex, hex.toUpperCase(), `sha256:${hex}`, `SHA256:${hex.toUpperCase()}`, `  sha256:${hex}\n`];
  const refused = ['abc', `sha512:${hex}`, `${hex}0`, `sha256: ${hex}`, `md5:${hex}`, hex.replace('a', 'g')];

  it('the server configuration accepts exactly what the shared parser accepts', () => {
    for (const form of accepted) {
      expect(parseModelSha256(form)).toEqual({ ok: true, value: hex });
      expect(loadConfig({ MODEL_SHA256: form }).modelSha256).toBe(hex);
    }
    for (const form of refused) {
      expect(parseModelSha256(form).ok).toBe(false);
      expect(configError({ MODEL_SHA256: form }).message).toContain('MODEL_SHA256=');
    }
  });

  it('the init container (acquireModel) verifies with every accepted form and refuses the others', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sha-forms-'));
    try {
      const file = path.join(dir, 'm.gguf');
      const data = await makeGguf(64 * 1024);
      await writeFile(file, data);
      const real = createHash('sha256').update(data).digest('hex');
      const log = pino({ level: 'silent' });
      for (const form of accepted.map((f) => f.replace(hex, real).replace(hex.toUpperCase(), real.toUpperCase()))) {
        expect(loadConfig({ MODEL_SHA256: form }).modelSha256).toBe(real);
        const r = await acquireModel({ model: file, sha256: form, cacheDir: dir, log });
        expect(r).toMatchObject({ verified: true, sha256: real });
      }
      for (const form of refused) {
        const err = await acquireModel({ model: file, sha256: form, cacheDir: dir, log }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ModelAcquireError);
        expect((err as ModelAcquireError).code).toBe('REF');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('URLs with credentials or signed tokens are redacted', () => {
  const model = 'https://user:hunter2@cdn.example.com/models/m.gguf?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA';

  it('in the start-up configuration line', () => {
    const text = JSON.stringify(describeConfig(loadConfig({ MODEL: model, API_KEY: 'k' })));
    expect(text).toContain('https://<credentials>@cdn.example.com/models/m.gguf?<redacted>');
    for (const secret of ['hunter2', 'deadbeef', 'AKIA', '"k"']) expect(text).not.toContain(secret);
  });

  it('in MODEL parse errors', () => {
    for (const bad of ['https://user:hunter2@cdn.example.com/m.bin?sig=deadbeef', 's3://user:hunter2@bucket/m.gguf?sig=deadbeef']) {
      const err = (() => {
        try {
          parseModelRef(bad);
        } catch (e) {
          return e as Error;
        }
        throw new Error(`accepted ${bad}`);
      })();
      expect(err.message).not.toContain('hunter2');
      expect(err.message).not.toContain('deadbeef');
    }
  });
});

describe('the HTTP server', () => {
  let t: TestApp;
  const lines: string[] = [];
  beforeAll(async () => {
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    t = await startTestApp({ API_KEY: 'k' }, { load: false, logger });
  });
  afterAll(async () => {
    await t?.close();
  });
  const auth = { headers: { authorization: 'Bearer k' } };

  it('never logs a query string (api_key=..., tokens) nor the Authorization header', async () => {
    expect((await fetch(`${t.base}/v1/models?api_key=QUERYSECRET&x=1`, auth)).status).toBe(200);
    expect((await fetch(`${t.base}/v1/nothing-here?token=QUERYSECRET`, auth)).status).toBe(404);
    await new Promise((r) => setTimeout(r, 50));
    const text = lines.join('');
    expect(text).toContain('"url":"/v1/models?<redacted>"');
    expect(text).not.toContain('QUERYSECRET');
    expect(text).not.toContain('Bearer k');
  });

  it('a URL that does not decode is 400 with an OpenAI-style body, counted as a 4xx, the URL not echoed', async () => {
    for (const p of ['/v1/models/%25', '/v1/models/%E0%A4%A', '/v1/%zz?token=QUERYSECRET']) {
      const res = await fetch(`${t.base}${p}`, auth);
      expect(res.status, p).toBe(400);
      const body = (await res.json()) as { error: { type: string; code: string; message: string } };
      expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_url' });
      expect(body.error.message).not.toContain('QUERYSECRET');
    }
    const requests = (await scrape(t.base))
      .split('\n')
      .filter((l) => l.startsWith('llm_requests_total{'))
      .map((l) => ({ labels: l.slice(l.indexOf('{'), l.lastIndexOf('}') + 1), value: Number(l.slice(l.lastIndexOf(' ') + 1)) }));
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((m) => m.labels.includes('status="5'))).toEqual([]);
    expect(requests.filter((m) => m.labels.includes('status="400"')).reduce((n, m) => n + m.value, 0)).toBe(3);
    expect(requests.filter((m) => m.labels.includes('?') || m.labels.includes('QUERYSECRET'))).toEqual([]);
  });
});
