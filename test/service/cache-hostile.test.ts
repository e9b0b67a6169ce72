/**
 * The shared model cache under hostile conditions: several real `fetch-model` processes on one cache
 * directory, symlinks planted in the cache, truncated files, a remote file that changes between two
 * attempts, an unwritable directory, and credentials in the URL. Each case ends with one verified file or
 * a clear error, and nothing outside the cache touched.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acquireModel, ModelAcquireError } from '../../service/model/acquire.js';
import { writeSidecar } from '../../service/model/files.js';
import { acquireLock } from '../../service/model/lock.js';
import { makeGguf } from '../support/gguf-fixture.js';
import { repoRoot } from './helpers.js';

const VERSION_A = await makeGguf(4 * 2 ** 20, 'version A');
const VERSION_B = await makeGguf(4 * 2 ** 20, 'version B');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const SHA_A = sha(VERSION_A);
const CHUNK = 64 * 1024;

interface Served {
  path: string;
  status: number;
  bytesSent: number;
  range?: string;
  ifRange?: string;
  authorization?: string;
}

/**
 * A real HTTP server with Range and If-Range (RFC 9110: a range is served only when the validator still
 * matches, else the whole current file with 200), ETags, a throttle, a file that changes on demand, a
 * server that sends half the file with a matching Content-Length, and Basic authentication.
 */
class HostileServer {
  readonly requests: Served[] = [];
  /** What `/changing/model.gguf` serves now. */
  changing = { data: VERSION_A, etag: '"a"' };
  /** When set, the next file response is cut (socket destroyed) after this many body bytes. */
  cutNext: number | undefined;
  private readonly server = http.createServer((req, res) => this.handle(req, res));
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

  bodies(): Served[] {
    return this.requests.filter((r) => r.status === 200 || r.status === 206);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const entry: Served = { path: url.pathname, status: 0, bytesSent: 0 };
    if (req.headers.range) entry.range = req.headers.range;
    if (typeof req.headers['if-range'] === 'string') entry.ifRange = req.headers['if-range'];
    if (req.headers.authorization) entry.authorization = req.headers.authorization;
    this.requests.push(entry);
    res.on('error', () => undefined);
    switch (url.pathname) {
      case '/slow/model.gguf':
        return this.serve(req, res, entry, VERSION_A, '"a"', 20);
      case '/changing/model.gguf':
        return this.serve(req, res, entry, this.changing.data, this.changing.etag);
      case '/short/model.gguf': {
        // Half the file, honestly labelled: Content-Length matches what is sent.
        const half = VERSION_A.subarray(0, VERSION_A.length / 2);
        entry.status = 200;
        entry.bytesSent = half.length;
        res.writeHead(200, { 'content-length': String(half.length) }).end(half);
        return;
      }
      case '/auth/model.gguf': {
        const expected = `Basic ${Buffer.from('reader:s3cr3t').toString('base64')}`;
        if (req.headers.authorization !== expected) {
          entry.status = 401;
          res.writeHead(401, { 'www-authenticate': 'Basic realm="models"' }).end('denied');
          return;
        }
        return this.serve(req, res, entry, VERSION_A, '"a"');
      }
      default:
        entry.status = 404;
        res.writeHead(404).end('not found');
    }
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse, entry: Served, data: Buffer, etag: string, delayMs?: number): void {
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    const validatorOk = ifRange === undefined || ifRange === etag;
    if (m && validatorOk && Number(m[1]) < data.length) {
      start = Number(m[1]);
      entry.status = 206;
      res.writeHead(206, {
        'content-length': String(data.length - start),
        'content-range': `bytes ${start}-${data.length - 1}/${data.length}`,
        etag,
      });
    } else {
      entry.status = 200;
      res.writeHead(200, { 'content-length': String(data.length), 'accept-ranges': 'bytes', etag });
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
        if (delayMs !== undefined) {
          setTimeout(pump, delayMs);
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
      pos = data.length + 1;
    });
    pump();
  }
}

function captureLog(): { log: pino.Logger; text: () => string; messages: () => string[] } {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  return { log, text: () => lines.join(''), messages: () => lines.map((l) => String((JSON.parse(l) as { msg?: unknown }).msg)) };
}

interface Run {
  code: number | null;
  lines: Array<Record<string, unknown>>;
  raw: string;
}

function runFetchModel(env: Record<string, string>, opts: { uid?: number } = {}): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info', ...env };
  delete childEnv.HF_ENDPOINT;
  if (!env.MODEL_SHA256) delete childEnv.MODEL_SHA256;
  const child = spawn(process.execPath, ['--import', 'tsx', 'service/fetch-model.ts'], {
    cwd: repoRoot,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
  });
  let raw = '';
  child.stdout.on('data', (d: Buffer) => (raw += d.toString()));
  child.stderr.on('data', (d: Buffer) => (raw += d.toString()));
  return new Promise((resolve) => {
    child.on('close', (code) => {
      const lines = raw
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return { msg: l, level: 60 };
          }
        });
      resolve({ code, lines, raw });
    });
  });
}

async function rejection(p: Promise<unknown>): Promise<ModelAcquireError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelAcquireError);
  return err as ModelAcquireError;
}

const server = new HostileServer();
let tmp = '';
let cacheDir = '';
let outside = '';

beforeAll(async () => {
  await server.start();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'cache-hostile-'));
  cacheDir = path.join(tmp, 'cache');
  outside = path.join(tmp, 'outside.txt');
  await mkdir(cacheDir, { recursive: true });
  await writeFile(outside, 'a file outside the cache that nothing may change\n');
  server.requests.length = 0;
  server.changing = { data: VERSION_A, etag: '"a"' };
  server.cutNext = undefined;
});
afterEach(async () => {
  await chmod(cacheDir, 0o755).catch(() => undefined);
  await rm(tmp, { recursive: true, force: true });
});

const outsideUntouched = async (): Promise<void> => {
  expect(await readFile(outside, 'utf8')).toBe('a file outside the cache that nothing may change\n');
};

describe('concurrent fetch-model processes on one cache directory', () => {
  for (const pinned of [true, false]) {
    it(`3 processes${pinned ? ' with MODEL_SHA256' : ' without MODEL_SHA256'}: one download, one verified file, no errors`, async () => {
      const env = { MODEL: server.url('/slow/model.gguf'), MODEL_CACHE_DIR: cacheDir, ...(pinned ? { MODEL_SHA256: `sha256:${SHA_A.toUpperCase()}` } : {}) };
      const runs = await Promise.all([runFetchModel(env), runFetchModel(env), runFetchModel(env)]);
      for (const run of runs) {
        expect(run.code, run.raw).toBe(0);
        expect(
          run.lines.filter((l) => Number(l.level) >= 50),
          run.raw,
        ).toEqual([]);
        expect(run.lines.at(-1)).toMatchObject({ sha256: SHA_A, bytes: VERSION_A.length });
      }
      expect(sha(await readFile(path.join(cacheDir, 'model.gguf')))).toBe(SHA_A);
      // Exactly one process transferred the file; the others waited and found it verified.
      expect(server.bodies()).toHaveLength(1);
      expect(server.bodies()[0]?.bytesSent).toBe(VERSION_A.length);
      expect(
        runs.filter((r) => r.lines.some((l) => l.msg === 'another process finished and verified this model while we waited')).length,
      ).toBeGreaterThanOrEqual(1);
      expect((await readdir(cacheDir)).sort()).toEqual(['model.gguf', 'model.gguf.sha256']);
    });
  }

  it('a waiter takes over a lock whose holder died (no heartbeat) and completes the download', async () => {
    const lockFile = path.join(cacheDir, 'model.gguf.lock');
    await writeFile(lockFile, JSON.stringify({ id: 'dead0000beef', host: 'gone-node', pid: 1, since: '2020-01-01T00:00:00Z', beat: 7 }));
    await writeFile(path.join(cacheDir, 'model.gguf.partial-dead0000beef'), VERSION_A.subarray(0, 1_000_000));
    const { log, messages } = captureLog();
    const r = await acquireModel({
      model: server.url('/changing/model.gguf'),
      sha256: SHA_A,
      cacheDir,
      log,
      lock: { staleMs: 300, pollMs: 25 },
    });
    expect(r).toMatchObject({ verified: true, sha256: SHA_A });
    expect(messages()).toContain('download lock is stale (no heartbeat): taking it over');
    // The dead holder's private partial was adopted and resumed, not thrown away.
    expect(server.bodies()[0]?.range).toBe('bytes=1000000-');
    expect((await readdir(cacheDir)).sort()).toEqual(['model.gguf', 'model.gguf.sha256']);
  });

  it('a live lock (heartbeating) is waited for, never taken over, and its verified file is used', async () => {
    const { log } = captureLog();
    const holder = await acquireLock({ file: path.join(cacheDir, 'model.gguf.lock'), log, heartbeatMs: 50 });
    // Heartbeats every 50 ms, each with an fsync; 1.5 s without a change is a margin for a loaded CI disk.
    // Before the holder serialised its own lock-file reads and rewrites, an overlapping beat read the file
    // truncated, believed the lock lost and stopped beating, and this test saw the live lock taken over.
    const waiting = acquireModel({ model: server.url('/changing/model.gguf'), sha256: SHA_A, cacheDir, log, lock: { staleMs: 1500, pollMs: 25 } });
    await new Promise((r) => setTimeout(r, 3200)); // over two stale periods: a live holder keeps its lock
    expect(server.requests).toHaveLength(0);
    // The holder (standing in for another pod) publishes a verified file with its sidecar, then releases.
    await writeFile(path.join(cacheDir, 'model.gguf'), VERSION_A);
    await writeSidecar(path.join(cacheDir, 'model.gguf'), SHA_A);
    await holder.release();
    const r = await waiting;
    expect(r).toMatchObject({ downloaded: false, verified: true, sha256: SHA_A });
    expect(server.requests).toHaveLength(0);
  }, 20_000);
});

describe('symlinks in the cache are refused, never followed', () => {
  const cases: Array<[string, string]> = [
    ['the model file', 'model.gguf'],
    ['the parked partial file', 'model.gguf.partial'],
    ['the sidecar', 'model.gguf.sha256'],
    ['the lock', 'model.gguf.lock'],
  ];
  for (const [what, name] of cases) {
    it(`${what} as a symlink to a file outside the cache`, async () => {
      await symlink(outside, path.join(cacheDir, name));
      if (name === 'model.gguf.sha256') await writeFile(path.join(cacheDir, 'model.gguf'), VERSION_A);
      const err = await rejection(acquireModel({ model: server.url('/changing/model.gguf'), sha256: SHA_A, cacheDir, log: captureLog().log }));
      expect(err.code).toBe('UNSAFE_CACHE');
      expect(err.message).toContain(path.join(cacheDir, name));
      expect(err.message).toMatch(/symlink.*remove it/);
      await outsideUntouched();
    });
  }
});

describe('truncated files are never reported ready', () => {
  it('a truncated cached file (no sidecar) is downloaded again', async () => {
    await writeFile(path.join(cacheDir, 'model.gguf'), VERSION_A.subarray(0, 3_000_000));
    const { log, messages } = captureLog();
    const r = await acquireModel({ model: server.url('/changing/model.gguf'), cacheDir, log });
    expect(r).toMatchObject({ downloaded: true, bytes: VERSION_A.length });
    expect(messages()).toContain('cached model is incomplete; downloading it again (it is replaced once the new copy is verified)');
  });

  it('a truncated local MODEL file fails with TRUNCATED and the missing byte count', async () => {
    const local = path.join(tmp, 'local.gguf');
    await writeFile(local, VERSION_A.subarray(0, VERSION_A.length - 1000));
    const err = await rejection(acquireModel({ model: local, cacheDir, log: captureLog().log }));
    expect(err.code).toBe('TRUNCATED');
    expect(err.message).toContain('(1000 missing)');
  });

  it('a server that sends half the file with a matching Content-Length is refused', async () => {
    const err = await rejection(acquireModel({ model: server.url('/short/model.gguf'), cacheDir, log: captureLog().log, maxAttempts: 2, retryDelayMs: 10 }));
    expect(err.code).toBe('TRUNCATED');
    expect(err.message).toMatch(/incomplete GGUF file .* missing/);
    expect(server.bodies()).toHaveLength(2);
    expect(await readdir(cacheDir)).toEqual([]);
  });
});

describe('a remote file that changes between two attempts', () => {
  it('resumes with If-Range; the changed file is sent whole and nothing is mixed', async () => {
    server.cutNext = 1_500_000;
    const first = await rejection(acquireModel({ model: server.url('/changing/model.gguf'), cacheDir, log: captureLog().log, maxAttempts: 1 }));
    expect(first.code).toBe('NETWORK');
    const meta = JSON.parse(await readFile(path.join(cacheDir, 'model.gguf.partial.json'), 'utf8')) as { etag?: string };
    expect(meta.etag).toBe('"a"');

    server.changing = { data: VERSION_B, etag: '"b"' };
    const { log, messages } = captureLog();
    const r = await acquireModel({ model: server.url('/changing/model.gguf'), cacheDir, log });
    expect(r.sha256).toBe(sha(VERSION_B));
    expect(sha(await readFile(r.path))).toBe(sha(VERSION_B));
    const resume = server.bodies().at(-1);
    expect(resume).toMatchObject({ range: expect.stringMatching(/^bytes=\d+-$/) as unknown, ifRange: '"a"', status: 200 });
    expect(messages().join('\n')).toMatch(/HTTP 200 to If-Range/);
    const side = JSON.parse(await readFile(path.join(cacheDir, 'model.gguf.sha256'), 'utf8')) as { etag?: string; sha256: string };
    expect(side).toMatchObject({ etag: '"b"', sha256: sha(VERSION_B) });
  });

  it('resumes the unchanged file with a 206', async () => {
    server.cutNext = 1_500_000;
    await rejection(acquireModel({ model: server.url('/changing/model.gguf'), cacheDir, log: captureLog().log, maxAttempts: 1 }));
    const r = await acquireModel({ model: server.url('/changing/model.gguf'), cacheDir, log: captureLog().log });
    expect(r.sha256).toBe(SHA_A);
    expect(server.bodies().at(-1)).toMatchObject({ ifRange: '"a"', status: 206 });
    expect(server.bodies().reduce((n, q) => n + q.bytesSent, 0)).toBeLessThan(2 * VERSION_A.length);
  });
});

describe('an unwritable cache directory fails at once', () => {
  it('a path under a regular file: CACHE_UNWRITABLE in well under a second, naming the path and the fix', async () => {
    const bad = path.join(outside, 'models');
    const t0 = performance.now();
    const err = await rejection(acquireModel({ model: server.url('/changing/model.gguf'), cacheDir: bad, log: captureLog().log }));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err.code).toBe('CACHE_UNWRITABLE');
    expect(err.message).toContain(bad);
    expect(err.message).toContain('mount a writable volume at MODEL_CACHE_DIR');
    expect(server.requests).toHaveLength(0);
  });

  it.skipIf(process.getuid?.() !== 0)(
    'fetch-model as an unprivileged uid on a read-only directory exits 1 with one line, within a second of starting',
    async () => {
      await chmod(tmp, 0o755);
      await chmod(cacheDir, 0o555);
      const run = await runFetchModel({ MODEL: server.url('/changing/model.gguf'), MODEL_CACHE_DIR: cacheDir }, { uid: 65534 });
      expect(run.code, run.raw).toBe(1);
      const errors = run.lines.filter((l) => Number(l.level) >= 50);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'CACHE_UNWRITABLE' });
      expect(String(errors[0]?.msg)).toContain(`${cacheDir} cannot be created or written (EACCES) by uid 65534`);
      // From the first log line to the error: no retries, no waiting.
      const times = run.lines.map((l) => Date.parse(String(l.time)));
      expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeLessThan(1000);
      expect(server.requests).toHaveLength(0);
    },
  );
});

describe('credentials in the MODEL URL', () => {
  it('are sent as Basic authentication and never logged', async () => {
    const { log, text } = captureLog();
    const model = `http://reader:s3cr3t@127.0.0.1:${server.port}/auth/model.gguf?X-Amz-Signature=deadbeef`;
    const r = await acquireModel({ model, sha256: SHA_A, cacheDir, log });
    expect(r.verified).toBe(true);
    expect(server.bodies()[0]?.authorization).toBe(`Basic ${Buffer.from('reader:s3cr3t').toString('base64')}`);
    expect(text()).not.toContain('s3cr3t');
    expect(text()).not.toContain('deadbeef');
  });

  it('a 401 is not retried, and the error names neither the password nor the token', async () => {
    const model = `http://reader:wrong-pass@127.0.0.1:${server.port}/auth/model.gguf?token=deadbeef`;
    const { log, text } = captureLog();
    const err = await rejection(acquireModel({ model, cacheDir, log, maxAttempts: 5, retryDelayMs: 10 }));
    expect(err).toMatchObject({ code: 'HTTP', status: 401, retryable: false });
    expect(err.message).toMatch(/user name and password in MODEL were refused/);
    expect(server.requests).toHaveLength(1);
    for (const s of [err.message, text()]) {
      expect(s).not.toContain('wrong-pass');
      expect(s).not.toContain('deadbeef');
    }
  });

  it('fetch-model logs the MODEL URL redacted', async () => {
    const run = await runFetchModel({ MODEL: `http://reader:wrong-pass@127.0.0.1:${server.port}/auth/model.gguf?sig=deadbeef`, MODEL_CACHE_DIR: cacheDir });
    expect(run.code).toBe(1);
    expect(run.raw).not.toContain('wrong-pass');
    expect(run.raw).not.toContain('deadbeef');
    expect(run.raw).toContain('<credentials>@127.0.0.1');
  });
});

describe('leftovers', () => {
  it('nothing but the model and its sidecar remains after a successful download', async () => {
    await acquireModel({ model: server.url('/changing/model.gguf'), cacheDir, log: captureLog().log });
    expect((await readdir(cacheDir)).sort()).toEqual(['model.gguf', 'model.gguf.sha256']);
    expect(existsSync(path.join(cacheDir, 'model.gguf.lock'))).toBe(false);
    expect((await stat(path.join(cacheDir, 'model.gguf'))).size).toBe(VERSION_A.length);
  });
});
