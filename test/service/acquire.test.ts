import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acquireModel, ModelAcquireError, ModelRefError, parseModelRef } from '../../service/model/acquire.js';
import { makeGguf } from '../support/gguf-fixture.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// A small valid GGUF file: a real header and 4 MiB of random tensor data (acquisition checks the header's extent).
const MODEL = await makeGguf(4 * 2 ** 20);
const MODEL_SHA = createHash('sha256').update(MODEL).digest('hex');
const CHUNK = 64 * 1024;

interface Served {
  path: string;
  range?: string;
  authorization?: string;
  status: number;
  bytesSent: number;
}

/** A real HTTP server with Range support, redirects, a connection cutter and a throttle. */
class ModelServer {
  readonly requests: Served[] = [];
  /** When set, the next file response is cut (socket destroyed) after this many body bytes. */
  cutNext: number | undefined;
  private server = http.createServer((req, res) => this.handle(req, res));
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  url(p: string): string {
    return `http://127.0.0.1:${this.port}${p}`;
  }

  /** Requests that reached a file body (not redirects). */
  fileRequests(): Served[] {
    return this.requests.filter((r) => r.status === 200 || r.status === 206 || r.status === 416);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const entry: Served = { path: url.pathname, status: 0, bytesSent: 0 };
    if (req.headers.range) entry.range = req.headers.range;
    if (req.headers.authorization) entry.authorization = req.headers.authorization;
    this.requests.push(entry);
    res.on('error', () => undefined);
    const redirect = (to: string): void => {
      entry.status = 302;
      res.writeHead(302, { location: to }).end();
    };
    switch (url.pathname) {
      case '/model.gguf':
        return this.serveFile(req, res, entry, MODEL, { ranges: true });
      case '/norange/model.gguf':
        return this.serveFile(req, res, entry, MODEL, { ranges: false });
      case '/slow/model.gguf':
        return this.serveFile(req, res, entry, MODEL, { ranges: true, delayMs: 25 });
      case '/r1/model.gguf':
        return redirect('/model.gguf');
      case '/r2/model.gguf':
        return redirect(this.url('/r1/model.gguf'));
      case '/hf/test-user/test-repo/resolve/main/model.gguf':
        // Hugging Face answers with a redirect to its CDN.
        return redirect('/model.gguf');
      case '/page.gguf':
        return this.serveFile(req, res, entry, Buffer.from('<!DOCTYPE html><html>Not a model</html>'), { ranges: false });
      case '/huge.gguf': {
        // Announces 10 PB and starts sending: the client must refuse before writing anything.
        entry.status = 200;
        res.writeHead(200, { 'content-length': String(10 * 2 ** 50), 'accept-ranges': 'bytes' });
        const head = MODEL.subarray(0, CHUNK);
        res.write(head);
        entry.bytesSent += head.length;
        return;
      }
      default:
        entry.status = 404;
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  }

  private serveFile(req: http.IncomingMessage, res: http.ServerResponse, entry: Served, data: Buffer, opts: { ranges: boolean; delayMs?: number }): void {
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (opts.ranges && m) {
      start = Number(m[1]);
      if (start >= data.length) {
        entry.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
        return;
      }
      entry.status = 206;
      res.writeHead(206, {
        'content-length': String(data.length - start),
        'content-range': `bytes ${start}-${data.length - 1}/${data.length}`,
        'accept-ranges': 'bytes',
      });
    } else {
      entry.status = 200;
      res.writeHead(200, { 'content-length': String(data.length), ...(opts.ranges ? { 'accept-ranges': 'bytes' } : {}) });
    }
    const cut = this.cutNext;
    this.cutNext = undefined;
    let pos = start;
    const pump = (): void => {
      while (pos < data.length) {
        if (cut !== undefined && pos - start >= cut) {
          res.socket?.destroy();
          return;
        }
        const chunk = data.subarray(pos, Math.min(pos + CHUNK, data.length));
        pos += chunk.length;
        entry.bytesSent += chunk.length;
        const ok = res.write(chunk);
        if (opts.delayMs !== undefined) {
          setTimeout(pump, opts.delayMs);
          return;
        }
        if (!ok) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('close', () => {
      pos = data.length + 1; // stop a throttled pump after the client went away
    });
    pump();
  }
}

interface Captured {
  log: pino.Logger;
  lines: Array<Record<string, unknown>>;
  messages: () => string[];
}

function captureLog(): Captured {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'debug', timestamp: pino.stdTimeFunctions.isoTime },
    { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { log, lines, messages: () => lines.map((l) => String(l.msg)) };
}

const server = new ModelServer();
let tmp = '';
let cacheDir = '';

beforeAll(async () => {
  await server.start();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'acquire-'));
  cacheDir = path.join(tmp, 'cache', 'models'); // does not exist yet: acquireModel creates it
  server.requests.length = 0;
  server.cutNext = undefined;
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Size of the partial file being written now (the writer's own `<name>.partial-<owner>`), or 0. */
async function writingSize(dir: string, name = 'model.gguf'): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  // The private data file is `<name>.partial-<owner>`; its metadata (`.json`) and that file's temp copy
  // (`.json.<suffix>.tmp`) share the prefix and are not the download.
  const own = names.find((n) => /^[0-9a-f]+$/.test(n.slice(`${name}.partial-`.length)) && n.startsWith(`${name}.partial-`));
  return own === undefined ? 0 : (await stat(path.join(dir, own)).catch(() => ({ size: 0 }))).size;
}

async function rejection(p: Promise<unknown>): Promise<ModelAcquireError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelAcquireError);
  return err as ModelAcquireError;
}

describe('parseModelRef', () => {
  it('maps hf: references to the resolve URL', () => {
    expect(parseModelRef('hf:Qwen/Qwen2.5-3B-Instruct-GGUF/qwen2.5-3b-instruct-q4_k_m.gguf', { hfEndpoint: 'https://huggingface.co' })).toEqual({
      kind: 'remote',
      url: 'https://huggingface.co/Qwen/Qwen2.5-3B-Instruct-GGUF/resolve/main/qwen2.5-3b-instruct-q4_k_m.gguf',
      fileName: 'qwen2.5-3b-instruct-q4_k_m.gguf',
    });
    expect(parseModelRef('hf:u/r/sub/dir/m.gguf#v1.0', { hfEndpoint: 'http://mirror:8080/hf/' })).toEqual({
      kind: 'remote',
      url: 'http://mirror:8080/hf/u/r/resolve/v1.0/sub/dir/m.gguf',
      fileName: 'm.gguf',
    });
  });

  it('uses HF_ENDPOINT when no endpoint is passed', () => {
    const saved = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = 'https://hf-mirror.example';
    try {
      expect(parseModelRef('hf:a/b/c.gguf')).toMatchObject({ url: 'https://hf-mirror.example/a/b/resolve/main/c.gguf' });
    } finally {
      if (saved === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = saved;
    }
  });

  it('accepts https, http, file URLs and local paths', () => {
    expect(parseModelRef('https://cdn.example/models/a%20b.gguf?download=1')).toEqual({
      kind: 'remote',
      url: 'https://cdn.example/models/a%20b.gguf?download=1',
      fileName: 'a b.gguf',
    });
    expect(parseModelRef('http://mirror.svc:8080/m.gguf')).toMatchObject({ kind: 'remote', fileName: 'm.gguf' });
    expect(parseModelRef('/models/m.gguf')).toEqual({ kind: 'local', path: '/models/m.gguf' });
    expect(parseModelRef('file:///models/m.gguf')).toEqual({ kind: 'local', path: '/models/m.gguf' });
    expect(parseModelRef('./m.gguf')).toEqual({ kind: 'local', path: path.resolve('m.gguf') });
  });

  it.each([
    ['', /MODEL is empty/],
    ['hf:foo', /expected hf:<user>\/<repo>\/<file>\.gguf/],
    ['hf:user/repo', /expected hf:<user>\/<repo>\/<file>\.gguf/],
    ['hf:user/repo/model.bin', /not a \.gguf file/],
    ['hf:user/repo/../x.gguf', /invalid path segment/],
    ['https://example.com/model.safetensors', /not a \.gguf file/],
    ['https://example.com/', /not a \.gguf file/],
    ['https://example.com/%2e%2e%2F.gguf', /unusable file name/],
    ['ftp://example.com/m.gguf', /unsupported scheme "ftp:"/],
  ])('rejects %j', (ref, message) => {
    let caught: unknown;
    try {
      parseModelRef(ref);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ModelRefError);
    expect((caught as ModelRefError).code).toBe('REF');
    expect((caught as Error).message).toMatch(message);
  });
});

describe('acquireModel: remote', () => {
  it('downloads, verifies the checksum, creates the cache dir and leaves no partial file', async () => {
    const { log, messages } = captureLog();
    const r = await acquireModel({ model: server.url('/model.gguf'), sha256: MODEL_SHA, cacheDir, log });
    expect(r).toMatchObject({ downloaded: true, verified: true, bytes: MODEL.length, sha256: MODEL_SHA });
    expect(r.path).toBe(path.join(cacheDir, 'model.gguf'));
    expect(sha(await readFile(r.path))).toBe(MODEL_SHA);
    expect(existsSync(`${r.path}.partial`)).toBe(false);
    expect(JSON.parse(await readFile(`${r.path}.sha256`, 'utf8'))).toMatchObject({ sha256: MODEL_SHA, size: MODEL.length });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.range).toBeUndefined();
    expect(messages()).toContain('MODEL uses plain http://: no transport security; fine for an in-cluster mirror, but set MODEL_SHA256');
  });

  it('a second run does no network request (sidecar), and a run without sha256 trusts the complete file', async () => {
    await acquireModel({ model: server.url('/model.gguf'), sha256: MODEL_SHA, cacheDir, log: captureLog().log });
    expect(server.requests).toHaveLength(1);

    const second = captureLog();
    const r2 = await acquireModel({ model: server.url('/model.gguf'), sha256: MODEL_SHA, cacheDir, log: second.log });
    expect(r2).toMatchObject({ downloaded: false, verified: true, sha256: MODEL_SHA });
    expect(second.messages().join('\n')).toMatch(/verified earlier \(sidecar.*no download needed/);

    const third = captureLog();
    const r3 = await acquireModel({ model: server.url('/model.gguf'), cacheDir, log: third.log });
    expect(r3).toMatchObject({ downloaded: false, verified: false, sha256: MODEL_SHA });
    expect(third.messages().join('\n')).toMatch(/no download needed/);

    // Without the sidecar the file is hashed again, still without any request.
    await rm(path.join(cacheDir, 'model.gguf.sha256'));
    const fourth = captureLog();
    const r4 = await acquireModel({ model: server.url('/model.gguf'), sha256: MODEL_SHA, cacheDir, log: fourth.log });
    expect(r4).toMatchObject({ downloaded: false, verified: true });
    expect(fourth.messages()).toContain('model already in the cache; verifying its sha256');
    expect(existsSync(path.join(cacheDir, 'model.gguf.sha256'))).toBe(true);

    expect(server.requests).toHaveLength(1);
  });

  it('resumes with a Range request after the connection is cut mid-body (in-process retry)', async () => {
    server.cutNext = 1_500_000;
    const { log, messages } = captureLog();
    const r = await acquireModel({ model: server.url('/model.gguf'), sha256: MODEL_SHA, cacheDir, log, retryDelayMs: 10 });
    expect(r).toMatchObject({ downloaded: true, verified: true });
    expect(sha(await readFile(r.path))).toBe(MODEL_SHA);

    const reqs = server.fileRequests();
    expect(reqs).toHaveLength(2);
    expect(reqs[0]?.range).toBeUndefined();
    expect(reqs[1]?.range).toMatch(/^bytes=\d+-$/);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(reqs[1]?.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(reqs[1]?.status).toBe(206);
    const transferred = reqs.reduce((n, q) => n + q.bytesSent, 0);
    expect(transferred).toBeLessThan(2 * MODEL.length);
    expect(messages()).toContain('download attempt failed; retrying from the partial file');
    expect(messages()).toContain('resuming download: hashing the part already on disk');
  });

  it('keeps the partial file when out of attempts, and the next run resumes it (init container restart)', async () => {
    server.cutNext = 2_000_000;
    const err = await rejection(acquireModel({ model: server.url('/model.gguf'), sha256: MODEL_SHA, cacheDir, log: captureLog().log, maxAttempts: 1 }));
    expect(err.code).toBe('NETWORK');
    expect(err.message).toMatch(/interrupted after .* MiB.*the next attempt resumes/);
    const partial = path.join(cacheDir, 'model.gguf.partial');
    const kept = (await stat(partial)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(MODEL.length);
    expect(existsSync(path.join(cacheDir, 'model.gguf'))).toBe(false);

    const r = await acquireModel({ model: server.url('/model.gguf'), sha256: MODEL_SHA, cacheDir, log: captureLog().log });
    expect(r).toMatchObject({ downloaded: true, verified: true });
    const reqs = server.fileRequests();
    expect(reqs).toHaveLength(2);
    expect(reqs[1]?.range).toBe(`bytes=${kept}-`);
    expect(reqs.reduce((n, q) => n + q.bytesSent, 0)).toBeLessThan(2 * MODEL.length);
  });

  it('restarts from zero when the server ignores Range (HTTP 200)', async () => {
    const partial = path.join(cacheDir, 'model.gguf.partial');
    await mkdir(cacheDir, { recursive: true });
    await writeFile(partial, Buffer.from('GGUF-stale-bytes-that-must-be-discarded'));
    const { log, messages } = captureLog();
    const r = await acquireModel({ model: server.url('/norange/model.gguf'), sha256: MODEL_SHA, cacheDir, log });
    expect(r.verified).toBe(true);
    expect(sha(await readFile(r.path))).toBe(MODEL_SHA);
    expect(messages()).toContain('server ignored the Range request (HTTP 200): restarting from zero');
  });

  it('treats HTTP 416 on a complete partial file as done', async () => {
    await mkdir(cacheDir, { recursive: true });
    await writeFile(path.join(cacheDir, 'model.gguf.partial'), MODEL);
    server.requests.length = 0;
    const r = await acquireModel({ model: server.url('/model.gguf'), sha256: MODEL_SHA, cacheDir, log: captureLog().log });
    expect(r).toMatchObject({ downloaded: true, verified: true, bytes: MODEL.length });
    expect(server.requests.map((q) => q.status)).toEqual([416]);
    expect(server.requests[0]?.bytesSent).toBe(0);
  });

  it('rejects a checksum mismatch and leaves nothing under the final name', async () => {
    const wrong = 'ab'.repeat(32);
    const err = await rejection(acquireModel({ model: server.url('/model.gguf'), sha256: wrong, cacheDir, log: captureLog().log }));
    expect(err.code).toBe('CHECKSUM_MISMATCH');
    expect(err.message).toContain(`expected ${wrong}`);
    expect(err.message).toContain(`got ${MODEL_SHA}`);
    expect(existsSync(path.join(cacheDir, 'model.gguf'))).toBe(false);
    expect(existsSync(path.join(cacheDir, 'model.gguf.partial'))).toBe(false);
  });

  it('replaces a cached file that does not match the pinned sha256', async () => {
    await mkdir(cacheDir, { recursive: true });
    await writeFile(path.join(cacheDir, 'model.gguf'), await makeGguf(64 * 1024, 'an older version'));
    const { log, messages } = captureLog();
    const r = await acquireModel({ model: server.url('/model.gguf'), sha256: MODEL_SHA, cacheDir, log });
    expect(r).toMatchObject({ downloaded: true, verified: true });
    expect(sha(await readFile(r.path))).toBe(MODEL_SHA);
    expect(messages()).toContain('cached model does not match MODEL_SHA256; downloading it again (it is replaced once the new copy is verified)');
  });

  it('fails with NOT_GGUF on a web page and keeps nothing', async () => {
    const err = await rejection(acquireModel({ model: server.url('/page.gguf'), cacheDir, log: captureLog().log }));
    expect(err.code).toBe('NOT_GGUF');
    expect(err.message).toMatch(/starts with "<!DO"/);
    expect(existsSync(path.join(cacheDir, 'page.gguf'))).toBe(false);
    expect(existsSync(path.join(cacheDir, 'page.gguf.partial'))).toBe(false);
  });

  it('fails with NO_SPACE before writing a byte when Content-Length exceeds free space', async () => {
    const started = Date.now();
    const err = await rejection(acquireModel({ model: server.url('/huge.gguf'), cacheDir, log: captureLog().log }));
    expect(err.code).toBe('NO_SPACE');
    expect(err.message).toMatch(/needs 10485760\.\d\d GiB, [\d.]+ GiB free in /);
    expect(err.message).toContain(cacheDir);
    expect(existsSync(path.join(cacheDir, 'huge.gguf.partial'))).toBe(false);
    expect(existsSync(path.join(cacheDir, 'huge.gguf'))).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('follows redirects (absolute and relative)', async () => {
    const r = await acquireModel({ model: server.url('/r2/model.gguf'), sha256: MODEL_SHA, cacheDir, log: captureLog().log });
    expect(r.verified).toBe(true);
    expect(server.requests.map((q) => `${q.status} ${q.path}`)).toEqual(['302 /r2/model.gguf', '302 /r1/model.gguf', '200 /model.gguf']);
  });

  it('maps an hf: reference through hfEndpoint and sends HF_TOKEN to the hub', async () => {
    const r = await acquireModel({
      model: 'hf:test-user/test-repo/model.gguf',
      hfEndpoint: server.url('/hf'),
      hfToken: 'hf_test',
      sha256: MODEL_SHA,
      cacheDir,
      log: captureLog().log,
    });
    expect(r).toMatchObject({ downloaded: true, verified: true, path: path.join(cacheDir, 'model.gguf') });
    expect(r.source).toEqual({
      kind: 'remote',
      url: server.url('/hf/test-user/test-repo/resolve/main/model.gguf'),
      fileName: 'model.gguf',
    });
    expect(server.requests[0]).toMatchObject({ path: '/hf/test-user/test-repo/resolve/main/model.gguf', authorization: 'Bearer hf_test' });
  });

  it('reports HTTP 404 without retrying', async () => {
    const err = await rejection(acquireModel({ model: server.url('/missing.gguf'), cacheDir, log: captureLog().log, retryDelayMs: 1 }));
    expect(err).toMatchObject({ code: 'HTTP', status: 404 });
    expect(err.message).toMatch(/HTTP 404 from http:\/\/127\.0\.0\.1:\d+\/missing\.gguf: the file does not exist; check MODEL/);
    expect(server.requests).toHaveLength(1);
  });

  it('reports an unreachable host as NETWORK', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await rejection(acquireModel({ model: `http://127.0.0.1:${port}/m.gguf`, cacheDir, log: captureLog().log, maxAttempts: 2, retryDelayMs: 1 }));
    expect(err.code).toBe('NETWORK');
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('aborts with the signal and keeps the partial file', async () => {
    const ac = new AbortController();
    const p = acquireModel({ model: server.url('/slow/model.gguf'), cacheDir, log: captureLog().log, signal: ac.signal });
    const partial = path.join(cacheDir, 'model.gguf.partial');
    for (let i = 0; i < 200 && (await writingSize(cacheDir)) === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    ac.abort();
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).name).toBe('AbortError');
    expect((await stat(partial)).size).toBeGreaterThan(0);
    expect(existsSync(path.join(cacheDir, 'model.gguf'))).toBe(false);
  });

  it('rejects a malformed sha256', async () => {
    const err = await rejection(acquireModel({ model: server.url('/model.gguf'), sha256: 'abc', cacheDir, log: captureLog().log }));
    expect(err.code).toBe('REF');
    expect(server.requests).toHaveLength(0);
  });
});

describe('acquireModel: local', () => {
  it('uses a local GGUF file and verifies it', async () => {
    const file = path.join(tmp, 'local.gguf');
    await writeFile(file, MODEL);
    const r = await acquireModel({ model: file, sha256: `sha256:${MODEL_SHA.toUpperCase()}`, cacheDir, log: captureLog().log });
    expect(r).toEqual({
      path: file,
      source: { kind: 'local', path: file },
      downloaded: false,
      bytes: MODEL.length,
      sha256: MODEL_SHA,
      verified: true,
    });
    const unverified = await acquireModel({ model: file, cacheDir, log: captureLog().log });
    expect(unverified).toMatchObject({ verified: false, downloaded: false });
    expect(server.requests).toHaveLength(0);
  });

  it('NOT_FOUND names the missing path', async () => {
    const missing = path.join(tmp, 'nope', 'model.gguf');
    const err = await rejection(acquireModel({ model: missing, cacheDir, log: captureLog().log }));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain(missing);
  });

  it('NOT_GGUF fails fast, before hashing a large file', async () => {
    const file = path.join(tmp, 'big.gguf');
    await writeFile(file, Buffer.alloc(32 * 2 ** 20, 1));
    const started = performance.now();
    // The sha256 is wrong too: NOT_GGUF (not CHECKSUM_MISMATCH) proves the 4-byte check runs before hashing.
    const err = await rejection(acquireModel({ model: file, sha256: MODEL_SHA, cacheDir, log: captureLog().log }));
    const ms = performance.now() - started;
    expect(err.code).toBe('NOT_GGUF');
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/starts with "\.\.\.\." \(01010101\)/);
    expect(ms).toBeLessThan(1000);
  });

  it('CHECKSUM_MISMATCH names expected and actual', async () => {
    const file = path.join(tmp, 'local.gguf');
    await writeFile(file, MODEL);
    const wrong = '0'.repeat(64);
    const err = await rejection(acquireModel({ model: file, sha256: wrong, cacheDir, log: captureLog().log }));
    expect(err.code).toBe('CHECKSUM_MISMATCH');
    expect(err.message).toContain(`expected ${wrong}, got ${MODEL_SHA}`);
  });

  it('a directory is NOT_FOUND', async () => {
    const err = await rejection(acquireModel({ model: tmp, cacheDir, log: captureLog().log }));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toMatch(/not a regular file/);
  });
});

describe('fetch-model.ts (the init container entry point)', () => {
  interface Run {
    code: number | null;
    lines: string[];
  }

  function runFetchModel(env: Record<string, string>, opts: { onSpawn?: (kill: () => void) => void } = {}): Promise<Run> {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info', ...env };
    delete childEnv.HF_ENDPOINT;
    delete childEnv.MODEL_SHA256;
    if (env.MODEL_SHA256) childEnv.MODEL_SHA256 = env.MODEL_SHA256;
    const child = spawn(process.execPath, ['--import', 'tsx', 'service/fetch-model.ts'], {
      cwd: repoRoot,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    opts.onSpawn?.(() => child.kill('SIGTERM'));
    return new Promise((resolve) => {
      child.on('close', (code, signal) => resolve({ code: code ?? (signal ? -1 : null), lines: out.split('\n').filter((l) => l.trim() !== '') }));
    });
  }

  const msgs = (run: Run): string[] => run.lines.map((l) => String((JSON.parse(l) as { msg?: string }).msg));

  it('downloads once, and a second run does no network work', async () => {
    const env = { MODEL: server.url('/model.gguf'), MODEL_SHA256: MODEL_SHA, MODEL_CACHE_DIR: cacheDir };
    const first = await runFetchModel(env);
    expect(first.code, first.lines.join('\n')).toBe(0);
    expect(msgs(first)).toContain('model ready (downloaded)');
    expect(server.requests).toHaveLength(1);
    const ready = JSON.parse(first.lines.at(-1) ?? '{}') as Record<string, unknown>;
    expect(ready).toMatchObject({ name: 'fetch-model', verified: true, downloaded: true, sha256: MODEL_SHA });
    expect(String(ready.time)).toMatch(/^\d{4}-\d\d-\d\dT/);

    const second = await runFetchModel(env);
    expect(second.code, second.lines.join('\n')).toBe(0);
    expect(msgs(second).join('\n')).toMatch(/no download needed/);
    expect(msgs(second)).toContain('model ready (no download needed)');
    expect(server.requests).toHaveLength(1);
  });

  it('a bad MODEL exits 1 with one clear line', async () => {
    const run = await runFetchModel({ MODEL: 'hf:foo', MODEL_CACHE_DIR: cacheDir });
    expect(run.code).toBe(1);
    expect(run.lines).toHaveLength(1);
    const line = JSON.parse(run.lines[0] ?? '{}') as Record<string, unknown>;
    expect(line).toMatchObject({ level: 50, code: 'REF' });
    expect(String(line.msg)).toMatch(/MODEL "hf:foo" is not a valid hf: reference: expected hf:<user>\/<repo>\/<file>\.gguf/);
  });

  it('SIGTERM aborts, exits 143 and keeps the partial file; the next run resumes it', async () => {
    const partial = path.join(cacheDir, 'model.gguf.partial');
    const env = { MODEL: server.url('/slow/model.gguf'), MODEL_SHA256: MODEL_SHA, MODEL_CACHE_DIR: cacheDir };
    const run = await runFetchModel(env, {
      onSpawn: (kill) => {
        const poll = setInterval(() => {
          void writingSize(cacheDir).then((size) => {
            if (size > 256 * 1024) {
              clearInterval(poll);
              kill();
            }
          });
        }, 20);
      },
    });
    expect(run.code, run.lines.join('\n')).toBe(143);
    expect(msgs(run)).toContain('stopped before the model was ready; the next run resumes the download');
    const kept = (await stat(partial)).size;
    expect(kept).toBeGreaterThan(0);

    const resumed = await runFetchModel({ ...env, MODEL: server.url('/model.gguf') });
    expect(resumed.code, resumed.lines.join('\n')).toBe(0);
    expect(server.fileRequests().at(-1)?.range).toMatch(/^bytes=\d+-$/);
  });
});
