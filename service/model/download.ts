/**
 * Resumable, verified download of one file into the model cache.
 *
 * Why not node-llama-cpp's downloader: the init container needs a precise contract (sha256 pinning, a
 * free-space check before the first byte, a `.partial` that survives SIGTERM and pod restarts, progress
 * in JSON logs), and a single sequential stream is enough to saturate a pod's network.
 */
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ModelAcquireError } from './errors.js';
import {
  GGUF_MAGIC,
  describeHead,
  freeBytes,
  fsyncDir,
  fsyncFile,
  gib,
  hashFile,
  mib,
  readHead,
  sizeOrZero,
  writeSidecar,
} from './files.js';
import { redactUrl } from './ref.js';

export interface DownloadOptions {
  url: string;
  /** Final path; the download goes to `<dest>.partial` and is renamed only when complete and verified. */
  dest: string;
  /** Lower-case hex sha256 the file must have. */
  expectedSha256?: string;
  log: Logger;
  signal?: AbortSignal;
  progressIntervalMs: number;
  /** Attempts for retryable failures (network cuts, 5xx, 429); each one resumes from the partial file. */
  maxAttempts: number;
  /** First retry delay; doubles per attempt, capped at 30 s. */
  retryDelayMs: number;
  /** Extra request headers (Authorization for a gated Hugging Face repository). */
  headers?: Record<string, string>;
  /** Free space kept beyond the missing bytes; default 32 MiB. */
  spaceMarginBytes?: number;
}

export interface DownloadResult {
  bytes: number;
  sha256: string;
  attempts: number;
}

const FS_ERROR_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO', 'EFBIG']);

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** fetch() wraps the real reason ("ECONNREFUSED", "other side closed") in `cause`. */
function describeError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const msg = e instanceof Error ? e.message : String(e);
    const code = errCode(e);
    const text = code && !msg.includes(code) ? `${msg} (${code})` : msg;
    if (!parts.includes(text)) parts.push(text);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(': ');
}

function cancelBody(res: Response): void {
  res.body?.cancel().catch(() => undefined);
}

function contentLength(res: Response): number | undefined {
  const v = res.headers.get('content-length');
  if (v === null || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

/** `bytes <start>-<end>/<total|*>` */
function parseContentRange(v: string | null): { start: number; end: number; total?: number } | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(v?.trim() ?? '');
  if (!m) return undefined;
  const total = m[3] === '*' ? undefined : Number(m[3]);
  return { start: Number(m[1]), end: Number(m[2]), ...(total === undefined ? {} : { total }) };
}

// `bytes */<total>` on a 416
function parseUnsatisfiedRange(v: string | null): number | undefined {
  const m = /^bytes\s+\*\/(\d+)$/i.exec(v?.trim() ?? '');
  return m ? Number(m[1]) : undefined;
}

function httpError(res: Response, url: string): ModelAcquireError {
  const s = res.status;
  const where = redactUrl(url);
  if (s === 404) {
    return new ModelAcquireError(
      'HTTP',
      `HTTP 404 from ${where}: the file does not exist; check MODEL (user, repository and file names are case-sensitive)`,
      { status: s },
    );
  }
  if (s === 401 || s === 403) {
    return new ModelAcquireError(
      'HTTP',
      `HTTP ${s} from ${where}: access denied; the repository may be gated or private: set HF_TOKEN to a token with access, or use a mirror`,
      { status: s },
    );
  }
  const retryable = s === 408 || s === 429 || s >= 500;
  return new ModelAcquireError(
    'HTTP',
    `HTTP ${s}${res.statusText ? ` ${res.statusText}` : ''} from ${where}${retryable ? ' (server-side or rate limit; retrying may help)' : ''}`,
    { status: s, retryable },
  );
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

async function request(o: DownloadOptions, offset: number): Promise<Response> {
  const headers: Record<string, string> = {
    // Byte offsets must mean file offsets: no transparent compression.
    'accept-encoding': 'identity',
    'user-agent': 'gguf-on-k8s-fetch-model/1',
    ...o.headers,
  };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  try {
    return await fetch(o.url, { headers, signal: o.signal ?? null, redirect: 'follow' });
  } catch (err) {
    o.signal?.throwIfAborted();
    const host = (() => {
      try {
        return new URL(o.url).host;
      } catch {
        return o.url;
      }
    })();
    throw new ModelAcquireError(
      'NETWORK',
      `cannot download from ${host}: ${describeError(err)}; check DNS and egress from the pod (or set HF_ENDPOINT to a reachable mirror)`,
      { cause: err, retryable: true },
    );
  }
}

/** Fails with NO_SPACE before a single byte is written when the volume cannot hold the rest of the file. */
async function checkSpace(o: DownloadOptions, res: Response, missing: number | undefined): Promise<void> {
  const dir = path.dirname(o.dest);
  if (missing === undefined) {
    o.log.warn({ dir }, 'server sent no Content-Length: cannot check free space before downloading');
    return;
  }
  const free = await freeBytes(dir);
  const need = missing + (o.spaceMarginBytes ?? 32 * 2 ** 20);
  if (free < need) {
    cancelBody(res);
    throw new ModelAcquireError(
      'NO_SPACE',
      `not enough disk space for ${path.basename(o.dest)}: needs ${gib(need)} GiB, ${gib(free)} GiB free in ${dir}; enlarge the volume mounted at MODEL_CACHE_DIR or free space`,
    );
  }
}

/** Verifies the completed `.partial`, makes it durable and moves it to its final name. */
async function finalize(o: DownloadOptions, partial: string, hash: Hash, bytes: number): Promise<{ bytes: number; sha256: string }> {
  const sha256 = hash.digest('hex');
  if (o.expectedSha256 !== undefined && sha256 !== o.expectedSha256) {
    await rm(partial, { force: true });
    throw new ModelAcquireError(
      'CHECKSUM_MISMATCH',
      `sha256 mismatch for ${path.basename(o.dest)} from ${redactUrl(o.url)}: expected ${o.expectedSha256}, got ${sha256}; the download was deleted. Check that MODEL_SHA256 belongs to exactly this file`,
    );
  }
  const head = await readHead(partial, 4);
  if (!head.equals(GGUF_MAGIC)) {
    await rm(partial, { force: true });
    throw notGguf(o, head);
  }
  await fsyncFile(partial);
  await rename(partial, o.dest);
  await fsyncDir(path.dirname(o.dest));
  await writeSidecar(o.dest, sha256);
  return { bytes, sha256 };
}

function notGguf(o: DownloadOptions, head: Buffer): ModelAcquireError {
  return new ModelAcquireError(
    'NOT_GGUF',
    `${redactUrl(o.url)} is not a GGUF file (it starts with ${describeHead(head)} instead of "GGUF"); check that MODEL points at a .gguf file, not a web page`,
  );
}

/** Streams the response body into the partial file, hashing as it goes. */
async function transfer(
  o: DownloadOptions,
  res: Response,
  partial: string,
  offset: number,
  total: number | undefined,
): Promise<{ bytes: number; sha256: string }> {
  await checkSpace(o, res, total === undefined ? undefined : total - offset);

  const hash = createHash('sha256');
  if (offset > 0) {
    o.log.info({ resumeAt: offset, total }, 'resuming download: hashing the part already on disk');
    await hashFile(partial, hash, o.signal);
  } else {
    o.log.info({ total, url: redactUrl(res.url || o.url) }, 'starting download');
  }

  let received = 0;
  let head = Buffer.alloc(0);
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (offset === 0 && head.length < 4) {
        // Fail fast on an HTML error page or a wrong file instead of downloading all of it.
        head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
        if (head.length === 4 && !head.equals(GGUF_MAGIC)) {
          callback(notGguf(o, head));
          return;
        }
      }
      hash.update(chunk);
      received += chunk.length;
      callback(null, chunk);
    },
  });

  const started = Date.now();
  let lastAt = started;
  let lastReceived = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    const done = offset + received;
    o.log.info(
      {
        bytes: done,
        total,
        percent: total ? round1((done / total) * 100) : undefined,
        mbPerSec: round1((received - lastReceived) / 1e6 / Math.max(0.001, (now - lastAt) / 1000)),
      },
      'download progress',
    );
    lastAt = now;
    lastReceived = received;
  }, o.progressIntervalMs);
  timer.unref();

  const body = res.body
    ? Readable.fromWeb(res.body as unknown as NodeWebReadableStream<Uint8Array>)
    : Readable.from([]);
  const out = createWriteStream(partial, { flags: offset > 0 ? 'a' : 'w' });
  try {
    await pipeline(body, meter, out, o.signal ? { signal: o.signal } : {});
  } catch (err) {
    // Let the file descriptor close first, so nothing recreates or appends to the file after we act on it.
    if (!out.closed) await once(out, 'close').catch(() => undefined);
    o.signal?.throwIfAborted();
    if (err instanceof ModelAcquireError) {
      if (err.code === 'NOT_GGUF') await rm(partial, { force: true });
      throw err;
    }
    const code = errCode(err);
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new ModelAcquireError(
        'NO_SPACE',
        `disk full while writing ${partial} (${code}) after ${mib(offset + received)} MiB; enlarge the volume mounted at MODEL_CACHE_DIR (the partial file is kept for resuming)`,
        { cause: err },
      );
    }
    if (code && FS_ERROR_CODES.has(code)) throw err;
    throw new ModelAcquireError(
      'NETWORK',
      `download from ${redactUrl(o.url)} interrupted after ${mib(offset + received)} of ${total === undefined ? '?' : mib(total)} MiB: ${describeError(err)}; the partial file is kept and the next attempt resumes`,
      { cause: err, retryable: true },
    );
  } finally {
    clearInterval(timer);
  }

  const done = offset + received;
  if (total !== undefined && done !== total) {
    if (done > total) await rm(partial, { force: true });
    throw new ModelAcquireError(
      'NETWORK',
      `download from ${redactUrl(o.url)} ended at ${done} bytes, expected ${total}; ${done > total ? 'starting over' : 'the next attempt resumes'}`,
      { retryable: true },
    );
  }
  const seconds = (Date.now() - started) / 1000;
  o.log.info(
    { bytes: done, downloaded: received, seconds: round1(seconds), mbPerSec: round1(received / 1e6 / Math.max(0.001, seconds)) },
    'download complete; verifying',
  );
  return finalize(o, partial, hash, done);
}

/** One request/response cycle, restarting from zero at most once when the partial file cannot be resumed. */
async function attemptOnce(o: DownloadOptions): Promise<{ bytes: number; sha256: string }> {
  const partial = `${o.dest}.partial`;
  for (let restarts = 0; ; restarts++) {
    const offset = await sizeOrZero(partial);
    const res = await request(o, offset);
    const length = contentLength(res);

    if (res.status === 416 && offset > 0) {
      cancelBody(res);
      const remoteTotal = parseUnsatisfiedRange(res.headers.get('content-range'));
      if (remoteTotal === undefined || remoteTotal === offset) {
        o.log.info({ bytes: offset }, 'server says the partial download is already complete (HTTP 416); verifying');
        const hash = await hashFile(partial, createHash('sha256'), o.signal);
        return finalize(o, partial, hash, offset);
      }
      if (restarts > 0) throw httpError(res, o.url);
      o.log.warn({ partialBytes: offset, remoteTotal }, 'partial download is larger than the remote file; starting over');
      await rm(partial, { force: true });
      continue;
    }
    if (!res.ok) {
      cancelBody(res);
      throw httpError(res, o.url);
    }

    if (res.status === 206) {
      const range = parseContentRange(res.headers.get('content-range'));
      if (!range || range.start !== offset) {
        cancelBody(res);
        if (restarts > 0) {
          throw new ModelAcquireError('HTTP', `${redactUrl(o.url)} answered a range request with an unusable Content-Range`);
        }
        o.log.warn({ contentRange: res.headers.get('content-range'), offset }, 'unexpected Content-Range; starting over');
        await rm(partial, { force: true });
        continue;
      }
      const total = range.total ?? (length === undefined ? undefined : offset + length);
      return transfer(o, res, partial, offset, total);
    }

    if (offset > 0) {
      o.log.warn({ partialBytes: offset }, 'server ignored the Range request (HTTP 200): restarting from zero');
    }
    return transfer(o, res, partial, 0, length);
  }
}

/**
 * Downloads `url` to `dest` via `<dest>.partial`, retrying retryable failures with exponential backoff.
 * Every attempt resumes from whatever the partial file holds. Abort with `signal`: the partial file is kept.
 */
export async function downloadModel(o: DownloadOptions): Promise<DownloadResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await attemptOnce(o);
      return { ...r, attempts: attempt };
    } catch (err) {
      o.signal?.throwIfAborted();
      if (!(err instanceof ModelAcquireError) || !err.retryable || attempt >= o.maxAttempts) throw err;
      const delayMs = Math.min(o.retryDelayMs * 2 ** (attempt - 1), 30_000);
      o.log.warn(
        { attempt, maxAttempts: o.maxAttempts, delayMs, err: err.message },
        'download attempt failed; retrying from the partial file',
      );
      await sleep(delayMs, undefined, o.signal ? { signal: o.signal } : {});
    }
  }
}
