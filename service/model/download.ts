/**
 * Resumable, verified download of one file into the model cache, safe for any number of concurrent
 * writers (init containers of several pods) on one shared volume.
 *
 * Why not node-llama-cpp's downloader: the init container needs a precise contract (sha256 pinning, a
 * free-space check before the first byte, a partial file that survives SIGTERM and pod restarts, progress
 * in JSON logs, a cross-host lock), and a single sequential stream is enough to saturate a pod's network.
 *
 * Files next to `<model>` (all in the cache directory, all refused when they are symlinks):
 * - `<model>.lock`: one writer at a time (lock.ts); others wait, then find the verified file;
 * - `<model>.partial-<owner>`: the holder's own partial file, created O_EXCL; nobody else writes it;
 * - `<model>.partial`: a partial file parked for the next holder (SIGTERM, attempts exhausted);
 * - `<partial>.json`: the server's validators (ETag, Last-Modified, size) the partial was fetched with,
 *   sent back as `If-Range` on resume, so a remote file that changed restarts from zero;
 * - `<model>.sha256`: the sidecar of the verified final file (files.ts).
 * The final name only ever appears by an atomic rename of a complete file (size from the server, GGUF
 * header extent, sha256 when pinned), re-read from disk after the rename before it is declared good.
 */
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { constants } from 'node:fs';
import { open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ModelAcquireError } from './errors.js';
import { checkGgufComplete } from './gguf-extent.js';
import {
  GGUF_MAGIC,
  O_CREATE_EXCLUSIVE,
  currentSidecar,
  describeHead,
  freeBytes,
  fsyncDir,
  fsyncFile,
  gib,
  hashFile,
  lstatOwned,
  mib,
  readHead,
  readOwnedJson,
  sizeOrZero,
  writeOwnedJson,
  writeSidecar,
} from './files.js';
import { acquireLock, type HeldLock } from './lock.js';
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
  /** Download-lock timings (lock.ts): heartbeat default 5000 ms, stale after 30000 ms, poll 500 ms. */
  lock?: { heartbeatMs?: number; staleMs?: number; pollMs?: number };
}

export interface DownloadResult {
  bytes: number;
  sha256: string;
  /** Requests made by this call; 0 when another process finished the file while this one waited. */
  attempts: number;
  /** True when another process (pod) downloaded and verified the file while this one waited for the lock. */
  completedByOther?: boolean;
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

function httpError(res: Response, url: string, withUrlCredentials = false): ModelAcquireError {
  const s = res.status;
  const where = redactUrl(url);
  if (s === 404) {
    return new ModelAcquireError('HTTP', `HTTP 404 from ${where}: the file does not exist; check MODEL (user, repository and file names are case-sensitive)`, {
      status: s,
    });
  }
  if ((s === 401 || s === 403) && withUrlCredentials) {
    // Never retried: the same user name and password get the same answer.
    return new ModelAcquireError('HTTP', `HTTP ${s} from ${where}: the user name and password in MODEL were refused; fix them (or the server's access rules)`, {
      status: s,
    });
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

/**
 * `http://user:pass@host/…` as fetch() can send it: fetch refuses URLs with credentials (a TypeError that
 * looked like a network error and was retried), so they move into an `Authorization: Basic` header.
 */
export function splitUrlCredentials(url: string): { url: string; authorization?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url };
  }
  if (u.username === '' && u.password === '') return { url };
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return { url: u.href, authorization: `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}` };
}

async function request(o: DownloadOptions, offset: number, ifRange: string | undefined, signal: AbortSignal): Promise<Response> {
  const target = splitUrlCredentials(o.url);
  const headers: Record<string, string> = {
    // Byte offsets must mean file offsets: no transparent compression.
    'accept-encoding': 'identity',
    'user-agent': 'gguf-on-k8s-fetch-model/1',
    ...(target.authorization ? { authorization: target.authorization } : {}),
    ...o.headers,
  };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  if (offset > 0 && ifRange !== undefined) headers['if-range'] = ifRange;
  try {
    return await fetch(target.url, { headers, signal, redirect: 'follow' });
  } catch (err) {
    signal.throwIfAborted();
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

/** What the partial file was fetched with, so a resume can tell whether the remote file is still the same. */
interface PartialMeta {
  /** sha256 of the URL without credentials: a partial of another URL with the same file name is not resumed. */
  source: string;
  etag?: string;
  lastModified?: string;
  total?: number;
}

const metaPath = (partial: string): string => `${partial}.json`;
const sourceId = (url: string): string => createHash('sha256').update(splitUrlCredentials(url).url).digest('hex').slice(0, 32);
const hasUrlCredentials = (url: string): boolean => splitUrlCredentials(url).authorization !== undefined;

async function readMeta(partial: string): Promise<PartialMeta | undefined> {
  const d = await readOwnedJson(metaPath(partial));
  if (!d || typeof d.source !== 'string') return undefined;
  const m: PartialMeta = { source: d.source };
  if (typeof d.etag === 'string') m.etag = d.etag;
  if (typeof d.lastModified === 'string') m.lastModified = d.lastModified;
  if (typeof d.total === 'number') m.total = d.total;
  return m;
}

/** The validators of a response, as recorded next to the partial file. */
function metaOf(o: DownloadOptions, res: Response, total: number | undefined): PartialMeta {
  const m: PartialMeta = { source: sourceId(o.url) };
  const etag = res.headers.get('etag');
  const lastModified = res.headers.get('last-modified');
  if (etag) m.etag = etag;
  if (lastModified) m.lastModified = lastModified;
  if (total !== undefined) m.total = total;
  return m;
}

/** RFC 9110 If-Range: a strong ETag, else the Last-Modified date; weak ETags cannot be used. */
function ifRangeOf(meta: PartialMeta | undefined): string | undefined {
  if (meta?.etag !== undefined && !meta.etag.startsWith('W/')) return meta.etag;
  return meta?.lastModified;
}

async function removePartial(partial: string): Promise<void> {
  await rm(partial, { force: true });
  await rm(metaPath(partial), { force: true });
}

/** One lock holding: the private partial file and the signal that stops on abort or on a lost lock. */
interface Holding {
  o: DownloadOptions;
  lock: HeldLock;
  partial: string;
  signal: AbortSignal;
}

/**
 * Gives the new lock holder the largest partial file left in the cache (parked by an earlier holder, or
 * the private file of one that died), renamed to its own private name; other leftovers are deleted.
 */
async function adoptPartial(dest: string, partial: string): Promise<void> {
  const dir = path.dirname(dest);
  const base = path.basename(dest);
  const names = await readdir(dir);
  const isPartial = (n: string): boolean => n === `${base}.partial` || (n.startsWith(`${base}.partial-`) && !n.endsWith('.json'));
  let best: { file: string; size: number } | undefined;
  const leftovers: string[] = [];
  for (const name of names.filter(isPartial)) {
    const file = path.join(dir, name);
    const st = await lstatOwned(file);
    if (st === undefined) continue;
    await lstatOwned(metaPath(file)); // refuse a symlinked meta file too
    if (best === undefined || st.size > best.size) {
      if (best) leftovers.push(best.file);
      best = { file, size: st.size };
    } else {
      leftovers.push(file);
    }
  }
  for (const file of leftovers) await removePartial(file);
  if (best === undefined || best.file === partial) return;
  if (await lstatOwned(metaPath(best.file))) await rename(metaPath(best.file), metaPath(partial));
  await rename(best.file, partial);
}

/** Parks the private partial file under `<dest>.partial` for the next holder (resume after SIGTERM, restarts). */
async function parkPartial(h: Holding): Promise<void> {
  const parked = `${h.o.dest}.partial`;
  try {
    if ((await lstatOwned(h.partial)) === undefined) return;
    if (await lstatOwned(metaPath(h.partial))) await rename(metaPath(h.partial), metaPath(parked));
    else await rm(metaPath(parked), { force: true });
    await rename(h.partial, parked);
  } catch (err) {
    h.o.log.warn({ partial: h.partial, err: String(err) }, 'could not keep the partial file for resuming');
  }
}

/**
 * Verifies the completed partial file, publishes it under the final name with an atomic rename and then
 * verifies the file that is actually there (same inode, same size, sha256 re-read from disk).
 */
async function finalize(h: Holding, hash: Hash, bytes: number, meta: PartialMeta | undefined): Promise<{ bytes: number; sha256: string }> {
  const { o, partial } = h;
  const sha256 = hash.digest('hex');
  if (o.expectedSha256 !== undefined && sha256 !== o.expectedSha256) {
    await removePartial(partial);
    throw new ModelAcquireError(
      'CHECKSUM_MISMATCH',
      `sha256 mismatch for ${path.basename(o.dest)} from ${redactUrl(o.url)}: expected ${o.expectedSha256}, got ${sha256}; the download was deleted. Check that MODEL_SHA256 belongs to exactly this file`,
    );
  }
  const head = await readHead(partial, 4);
  if (!head.equals(GGUF_MAGIC)) {
    await removePartial(partial);
    throw notGguf(o, head);
  }
  const complete = await checkGgufComplete(partial, h.signal);
  if (!complete.ok) {
    await removePartial(partial);
    throw new ModelAcquireError(
      'TRUNCATED',
      `${redactUrl(o.url)} sent an incomplete GGUF file (${bytes} bytes): ${complete.reason}; the download was deleted and starts over`,
      { retryable: true },
    );
  }
  await fsyncFile(partial);
  const written = await lstatOwned(partial);
  await h.lock.assertHeld();
  await rename(partial, o.dest);
  await fsyncDir(path.dirname(o.dest));

  const published = await lstatOwned(o.dest);
  const onDisk =
    published && published.ino === written?.ino && published.size === bytes
      ? (await hashFile(o.dest, createHash('sha256'), h.signal)).digest('hex')
      : undefined;
  if (onDisk !== sha256) {
    if (published && published.ino === written?.ino) await rm(o.dest, { force: true });
    throw new ModelAcquireError(
      'CHECKSUM_MISMATCH',
      `${o.dest} changed on disk right after it was written (${onDisk === undefined ? 'another file replaced it' : `sha256 ${onDisk}, expected ${sha256}`}); check that no other program writes into MODEL_CACHE_DIR`,
      { retryable: true },
    );
  }
  await writeSidecar(o.dest, sha256, {
    ...(meta?.etag ? { etag: meta.etag } : {}),
    ...(meta?.lastModified ? { lastModified: meta.lastModified } : {}),
  });
  await rm(metaPath(partial), { force: true });
  return { bytes, sha256 };
}

function notGguf(o: DownloadOptions, head: Buffer): ModelAcquireError {
  return new ModelAcquireError(
    'NOT_GGUF',
    `${redactUrl(o.url)} is not a GGUF file (it starts with ${describeHead(head)} instead of "GGUF"); check that MODEL points at a .gguf file, not a web page`,
  );
}

/** Streams the response body into the private partial file, hashing as it goes. */
async function transfer(
  h: Holding,
  res: Response,
  offset: number,
  total: number | undefined,
  meta: PartialMeta | undefined,
): Promise<{ bytes: number; sha256: string }> {
  const { o, partial, signal } = h;
  await checkSpace(o, res, total === undefined ? undefined : total - offset);

  const hash = createHash('sha256');
  if (offset > 0) {
    o.log.info({ resumeAt: offset, total }, 'resuming download: hashing the part already on disk');
    await hashFile(partial, hash, signal);
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

  const body = res.body ? Readable.fromWeb(res.body as unknown as NodeWebReadableStream<Uint8Array>) : Readable.from([]);
  // Our own file: a new one is created exclusively (never through a symlink); a resume appends to it.
  if (offset === 0) await removePartial(partial);
  if (offset === 0 && meta) await writeOwnedJson(metaPath(partial), meta);
  const fh = await open(partial, offset > 0 ? constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW : O_CREATE_EXCLUSIVE, 0o644);
  const out = fh.createWriteStream();
  try {
    await pipeline(body, meter, out, { signal });
  } catch (err) {
    // Let the file descriptor close first, so nothing recreates or appends to the file after we act on it.
    if (!out.closed) await once(out, 'close').catch(() => undefined);
    signal.throwIfAborted();
    if (err instanceof ModelAcquireError) {
      if (err.code === 'NOT_GGUF') await removePartial(partial);
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
    if (done > total) await removePartial(partial);
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
  return finalize(h, hash, done, meta ?? (await readMeta(partial)));
}

/** One request/response cycle, restarting from zero at most once when the partial file cannot be resumed. */
async function attemptOnce(h: Holding): Promise<{ bytes: number; sha256: string }> {
  const { o, partial, signal } = h;
  const withCredentials = hasUrlCredentials(o.url);
  for (let restarts = 0; ; restarts++) {
    let offset = await sizeOrZero(partial);
    let meta = offset > 0 ? await readMeta(partial) : undefined;
    if (offset > 0 && meta !== undefined && meta.source !== sourceId(o.url) && o.expectedSha256 === undefined) {
      // With a pinned sha256 a mirror of the same file may continue it (the hash decides); without, it may not.
      o.log.warn({ partialBytes: offset }, 'partial download came from another URL and no MODEL_SHA256 is set; starting over');
      await removePartial(partial);
      offset = 0;
      meta = undefined;
    }
    const ifRange = meta?.source === sourceId(o.url) ? ifRangeOf(meta) : undefined;
    if (offset > 0 && ifRange === undefined && o.expectedSha256 === undefined) {
      // Without a validator nor a pinned sha256 nothing could tell a changed remote file from the old one.
      o.log.warn({ partialBytes: offset }, 'partial download has no ETag/Last-Modified to resume against and no MODEL_SHA256; starting over');
      await removePartial(partial);
      offset = 0;
    }
    const res = await request(o, offset, ifRange, signal);
    const length = contentLength(res);

    if (res.status === 416 && offset > 0) {
      cancelBody(res);
      const remoteTotal = parseUnsatisfiedRange(res.headers.get('content-range'));
      if ((remoteTotal === undefined && meta?.total === offset) || remoteTotal === offset) {
        o.log.info({ bytes: offset }, 'server says the partial download is already complete (HTTP 416); verifying');
        const hash = await hashFile(partial, createHash('sha256'), signal);
        return finalize(h, hash, offset, meta);
      }
      if (restarts > 0) throw httpError(res, o.url, withCredentials);
      o.log.warn({ partialBytes: offset, remoteTotal }, 'partial download does not match the remote file size; starting over');
      await removePartial(partial);
      continue;
    }
    if (!res.ok) {
      cancelBody(res);
      throw httpError(res, o.url, withCredentials);
    }

    if (res.status === 206) {
      const range = parseContentRange(res.headers.get('content-range'));
      const total = range?.total ?? (length === undefined ? undefined : offset + length);
      const etag = res.headers.get('etag');
      const changed =
        (meta?.etag !== undefined && etag !== null && etag !== meta.etag) || (meta?.total !== undefined && total !== undefined && total !== meta.total);
      if (!range || range.start !== offset || changed) {
        cancelBody(res);
        if (restarts > 0) {
          throw new ModelAcquireError('HTTP', `${redactUrl(o.url)} answered a range request with an unusable Content-Range`);
        }
        o.log.warn(
          { contentRange: res.headers.get('content-range'), offset, etag, recordedEtag: meta?.etag },
          changed ? 'remote file changed since the partial download (ETag or size differ); starting over' : 'unexpected Content-Range; starting over',
        );
        await removePartial(partial);
        continue;
      }
      return transfer(h, res, offset, total, meta);
    }

    if (offset > 0) {
      o.log.warn(
        { partialBytes: offset, ifRange: ifRange !== undefined },
        ifRange !== undefined
          ? 'server sent the whole file (HTTP 200 to If-Range: the remote file changed, or Range is unsupported): restarting from zero'
          : 'server ignored the Range request (HTTP 200): restarting from zero',
      );
    }
    return transfer(h, res, 0, length, metaOf(o, res, length));
  }
}

/** Retries retryable failures with exponential backoff while holding the lock; each attempt resumes. */
async function downloadHolding(h: Holding): Promise<DownloadResult> {
  const { o, signal } = h;
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await attemptOnce(h);
      return { ...r, attempts: attempt };
    } catch (err) {
      signal.throwIfAborted();
      if (!(err instanceof ModelAcquireError) || !err.retryable || attempt >= o.maxAttempts) throw err;
      const delayMs = Math.min(o.retryDelayMs * 2 ** (attempt - 1), 30_000);
      o.log.warn({ attempt, maxAttempts: o.maxAttempts, delayMs, err: err.message }, 'download attempt failed; retrying from the partial file');
      await sleep(delayMs, undefined, { signal });
    }
  }
}

/**
 * Downloads `url` to `dest`, one writer at a time across every process sharing the cache directory.
 * Waits while another process holds `<dest>.lock`; when that one has published a verified file
 * (sidecar current, sha256 equal to `expectedSha256` when given), returns it without a request
 * (`completedByOther`). Otherwise resumes the largest partial file left in the cache, retrying retryable
 * failures with exponential backoff. Abort with `signal`: the partial file is kept as `<dest>.partial`.
 */
export async function downloadModel(o: DownloadOptions): Promise<DownloadResult> {
  for (;;) {
    const lock = await acquireLock({ file: `${o.dest}.lock`, log: o.log, ...(o.signal ? { signal: o.signal } : {}), ...o.lock });
    const h: Holding = {
      o,
      lock,
      partial: `${o.dest}.partial-${lock.owner.id}`,
      signal: o.signal ? AbortSignal.any([o.signal, lock.signal]) : lock.signal,
    };
    try {
      const done = await currentSidecar(o.dest);
      if (done && (o.expectedSha256 === undefined || done.sha256 === o.expectedSha256)) {
        o.log.info({ path: o.dest, bytes: done.size, sha256: done.sha256 }, 'another process finished and verified this model while we waited');
        return { bytes: done.size, sha256: done.sha256, attempts: 0, completedByOther: true };
      }
      await adoptPartial(o.dest, h.partial);
      return await downloadHolding(h);
    } catch (err) {
      if (lock.signal.aborted && !o.signal?.aborted) {
        // Another process took the lock over: our private file is no use to it; wait for its result.
        o.log.warn({ err: (lock.signal.reason as Error).message }, 'download lock lost; waiting for the new holder');
        await removePartial(h.partial);
        continue;
      }
      await parkPartial(h);
      throw err;
    } finally {
      await lock.release();
    }
  }
}
