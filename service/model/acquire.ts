/**
 * Model acquisition: turns MODEL (a local path, `hf:<user>/<repo>/<file>.gguf` or an http(s) URL) into a
 * verified GGUF file on local disk.
 *
 * Used by the init container (service/fetch-model.ts), so the serving container starts from a complete,
 * checked file, and by the server itself as a fallback. The rules that matter in a cluster:
 * - a second start with the file present does no network work (a sidecar remembers the sha256 check);
 * - a wrong file (HTML page, truncated or non-GGUF file) fails in milliseconds with a named code;
 * - an interrupted download resumes from `<file>.partial` (SIGTERM, eviction, network cuts);
 * - a too-small volume fails before the first byte with "needs X GiB, Y GiB free";
 * - any number of pods may share one cache volume: one downloads, the others wait and then use the file
 *   it verified (download.ts, lock.ts); a file is never used while it is being written, because the final
 *   name only ever appears by an atomic rename of a complete, verified file;
 * - a cached file shorter than its own GGUF header says is never reported ready (gguf-extent.ts);
 * - symlinks where the cache keeps its files are refused, never followed (files.ts).
 * - a split model (`<name>-00001-of-0000N.gguf`) is fetched whole: every part, each resumable and
 *   checksum-verified on its own (MODEL_SHA256 lists one sha256 per part, comma-separated), after one
 *   free-space check for all the parts still missing; the server then loads the first part and llama.cpp
 *   opens the others from the same folder.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { parseModelSha256 } from '../contract.js';
import { downloadModel, type DownloadOptions } from './download.js';
import { ModelAcquireError } from './errors.js';
import { checkGgufComplete } from './gguf-extent.js';
import {
  describeHead,
  freeBytes,
  GGUF_MAGIC,
  gib,
  lstatOwned,
  O_CREATE_EXCLUSIVE,
  readHead,
  sha256File,
  sidecarHashIfCurrent,
  sizeOrZero,
  writeSidecar,
} from './files.js';
import { parseModelRef, redactUrl, type ModelSource } from './ref.js';
import { allPartNames } from './split-name.js';

export { ModelAcquireError, ModelRefError } from './errors.js';
export { parseModelRef, redactModelRef, type ModelSource } from './ref.js';

export interface AcquireOptions {
  /** The MODEL reference. */
  model: string;
  /** Expected sha256 (64 hex characters, optionally prefixed with "sha256:"). */
  sha256?: string;
  /** Cache directory for remote models; created if missing. */
  cacheDir: string;
  log: Logger;
  signal?: AbortSignal;
  /** Base URL for `hf:` references; default $HF_ENDPOINT, else https://huggingface.co. */
  hfEndpoint?: string;
  /** Minimum interval between progress log lines; default 5000. */
  progressIntervalMs?: number;
  /** Bearer token for `hf:` references (gated repositories); default $HF_TOKEN. */
  hfToken?: string;
  /** Attempts for retryable download failures, each resuming the partial file; default 5. */
  maxAttempts?: number;
  /** First retry delay in ms, doubled per attempt (max 30 s); default 1000. */
  retryDelayMs?: number;
  /** Download-lock timings for the shared cache (see lock.ts); defaults suit NFS/EFS. */
  lock?: DownloadOptions['lock'];
}

export interface AcquiredModel {
  /** Absolute path of the GGUF file to load (the first part of a split model). */
  path: string;
  /** Every part's path, in order (one entry for a single-file model). */
  parts?: string[];
  source: ModelSource;
  /** True when this call transferred bytes over the network. */
  downloaded: boolean;
  /** File size. */
  bytes: number;
  /** The file's sha256 when known (computed now, or recorded by an earlier verification). */
  sha256?: string;
  /** True when the file matched the sha256 the caller asked for. */
  verified: boolean;
}

/** The shared parser (contract.ts): the server's configuration accepts exactly the same forms. */
function normalizeSha256(raw: string | undefined): string | undefined {
  const r = parseModelSha256(raw);
  if (!r.ok) throw new ModelAcquireError('REF', `MODEL_SHA256 "${(raw ?? '').trim().slice(0, 80)}" is invalid: ${r.expected}`);
  return r.value;
}

function truncated(file: string, reason: string, fix: string): ModelAcquireError {
  return new ModelAcquireError('TRUNCATED', `${file} is truncated: ${reason}; ${fix}`);
}

/**
 * One expected sha256 per part: MODEL_SHA256 for a split model lists them comma-separated, in part order.
 * Undefined entries mean "not pinned".
 */
function expectedPerPart(raw: string | undefined, parts: number): (string | undefined)[] {
  const list = raw === undefined || raw.trim() === '' ? [] : raw.split(',');
  if (list.length === 0) return Array.from({ length: parts }, () => undefined);
  if (list.length !== parts) {
    throw new ModelAcquireError(
      'REF',
      `MODEL_SHA256 lists ${list.length} sha256 value(s) but the model has ${parts} part(s): give one per part, comma-separated, in part order`,
    );
  }
  return list.map((v) => normalizeSha256(v));
}

function checksumMismatch(file: string, expected: string, actual: string): ModelAcquireError {
  return new ModelAcquireError(
    'CHECKSUM_MISMATCH',
    `sha256 mismatch for ${file}: expected ${expected}, got ${actual}; check that MODEL_SHA256 belongs to exactly this file`,
  );
}

async function acquireLocal(source: { kind: 'local'; path: string }, expected: string | undefined, opts: AcquireOptions): Promise<AcquiredModel> {
  const file = source.path;
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) {
      throw new ModelAcquireError('NOT_FOUND', `model path ${file} is not a regular file; set MODEL to the .gguf file itself`);
    }
    size = st.size;
    await access(file, constants.R_OK);
  } catch (err) {
    if (err instanceof ModelAcquireError) throw err;
    const code = (err as { code?: string }).code;
    const why = code === 'EACCES' ? `is not readable by uid ${process.getuid?.() ?? '?'}` : 'does not exist';
    throw new ModelAcquireError('NOT_FOUND', `model file ${file} ${why}; check MODEL and the volume mount`, {
      cause: err,
    });
  }
  const head = await readHead(file, 4);
  if (!head.equals(GGUF_MAGIC)) {
    throw new ModelAcquireError(
      'NOT_GGUF',
      `${file} is not a GGUF file (it starts with ${describeHead(head)} instead of "GGUF"); set MODEL to a .gguf model file`,
    );
  }
  const complete = await checkGgufComplete(file, opts.signal);
  if (!complete.ok) throw truncated(file, complete.reason, 'copy the whole file again, or point MODEL at a complete copy');
  if (expected === undefined) {
    opts.log.info({ path: file, bytes: size }, 'using local model file (no MODEL_SHA256 to verify)');
    return { path: file, source, downloaded: false, bytes: size, verified: false };
  }
  opts.log.info({ path: file, bytes: size }, 'verifying local model sha256');
  const actual = await sha256File(file, opts.signal);
  if (actual !== expected) throw checksumMismatch(file, expected, actual);
  opts.log.info({ path: file, sha256: actual }, 'local model verified');
  return { path: file, source, downloaded: false, bytes: size, sha256: actual, verified: true };
}

/**
 * Checks a file already under its final cache name. Returns the result when it can be used as is, or
 * undefined when it must be downloaded again (wrong hash for the pinned sha256, not GGUF, truncated): the
 * bad file is left in place, and replaced only by the atomic rename of a verified download made under the
 * download lock, so a process that is reading it is never pulled out from under.
 */
async function useCached(dest: string, source: ModelSource, expected: string | undefined, opts: AcquireOptions): Promise<AcquiredModel | undefined> {
  const st = await lstatOwned(dest);
  if (st === undefined) return undefined;
  const size = st.size;
  const replace = (reason: string, extra: Record<string, unknown>): undefined => {
    opts.log.warn({ path: dest, ...extra }, `cached model ${reason}; downloading it again (it is replaced once the new copy is verified)`);
    return undefined;
  };

  const head = await readHead(dest, 4);
  if (!head.equals(GGUF_MAGIC)) return replace('is not a GGUF file', { head: describeHead(head) });

  const recorded = await sidecarHashIfCurrent(dest);
  if (recorded === undefined) {
    // Verified files carry a current sidecar; without one, at least the header must be satisfied.
    const complete = await checkGgufComplete(dest, opts.signal);
    if (!complete.ok) return replace('is incomplete', { reason: complete.reason });
  }
  if (expected === undefined) {
    opts.log.info(
      { path: dest, bytes: size, ...(recorded ? { sha256: recorded } : {}) },
      'model already in the cache; no download needed (set MODEL_SHA256 to verify it)',
    );
    return { path: dest, source, downloaded: false, bytes: size, ...(recorded ? { sha256: recorded } : {}), verified: false };
  }
  if (recorded !== undefined) {
    if (recorded === expected) {
      opts.log.info(
        { path: dest, bytes: size, sha256: recorded },
        'model already in the cache and verified earlier (sidecar matches size, mtime and inode); no download needed',
      );
      return { path: dest, source, downloaded: false, bytes: size, sha256: recorded, verified: true };
    }
    return replace('does not match MODEL_SHA256', { expected, actual: recorded });
  }
  opts.log.info({ path: dest, bytes: size }, 'model already in the cache; verifying its sha256');
  const actual = await sha256File(dest, opts.signal);
  if (actual !== expected) return replace('does not match MODEL_SHA256', { expected, actual });
  await writeSidecar(dest, actual);
  opts.log.info({ path: dest, bytes: size, sha256: actual }, 'model already in the cache and verified; no download needed');
  return { path: dest, source, downloaded: false, bytes: size, sha256: actual, verified: true };
}

/**
 * Creates the cache directory and proves it writable by creating (O_EXCL) and removing a probe file:
 * access(W_OK) says yes to root on a read-only export and says nothing about NFS squashing. Fails in
 * milliseconds with one line naming the directory and the fix.
 */
async function prepareCacheDir(dir: string): Promise<void> {
  const probe = path.join(dir, `.write-probe-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(probe, O_CREATE_EXCLUSIVE, 0o600);
    await fh.close();
    await rm(probe, { force: true });
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'error';
    throw new ModelAcquireError(
      'CACHE_UNWRITABLE',
      `model cache directory ${dir} cannot be created or written (${code}) by uid ${process.getuid?.() ?? '?'}; mount a writable volume at MODEL_CACHE_DIR (check fsGroup, the volume's permissions and readOnly)`,
      { cause: err },
    );
  }
}

/** Resolves `opts.model` to a verified local GGUF file, downloading it into `opts.cacheDir` when remote. */
export async function acquireModel(opts: AcquireOptions): Promise<AcquiredModel> {
  opts.signal?.throwIfAborted();
  const source = parseModelRef(opts.model, opts.hfEndpoint === undefined ? {} : { hfEndpoint: opts.hfEndpoint });
  const partNames = allPartNames(source.kind === 'local' ? path.basename(source.path) : source.fileName);
  if (partNames.length > 1) return acquireSplit(source, partNames, opts);
  const expected = normalizeSha256(opts.sha256?.includes(',') ? expectedPerPart(opts.sha256, 1)[0] : opts.sha256);

  if (source.kind === 'local') return acquireLocal(source, expected, opts);

  const cacheDir = path.resolve(opts.cacheDir);
  const dest = path.join(cacheDir, source.fileName);
  if (path.dirname(dest) !== cacheDir) {
    // parseModelRef already rejects such names; this is the last line of defence.
    throw new ModelAcquireError('REF', `refusing to write ${source.fileName} outside ${cacheDir}`);
  }
  // A verified file is usable from a read-only mount too: only a download needs the directory writable.
  const cached = await useCached(dest, source, expected, opts);
  if (cached) return cached;
  await prepareCacheDir(cacheDir);

  if (source.url.startsWith('http:')) {
    opts.log.warn({ url: redactUrl(source.url) }, 'MODEL uses plain http://: no transport security; fine for an in-cluster mirror, but set MODEL_SHA256');
  }
  const token = opts.hfToken ?? process.env.HF_TOKEN;
  const isHf = /^hf:/i.test(opts.model.trim());
  const result = await downloadModel({
    url: source.url,
    dest,
    ...(expected === undefined ? {} : { expectedSha256: expected }),
    log: opts.log,
    ...(opts.signal ? { signal: opts.signal } : {}),
    progressIntervalMs: opts.progressIntervalMs ?? 5000,
    maxAttempts: Math.max(1, opts.maxAttempts ?? 5),
    retryDelayMs: opts.retryDelayMs ?? 1000,
    ...(isHf && token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    ...(opts.lock ? { lock: opts.lock } : {}),
  });
  if (!result.completedByOther) {
    opts.log.info(
      { path: dest, bytes: result.bytes, sha256: result.sha256, verified: expected !== undefined, attempts: result.attempts },
      expected === undefined ? 'model downloaded (pin it with MODEL_SHA256 to verify future downloads)' : 'model downloaded and verified',
    );
  }
  return {
    path: dest,
    source,
    downloaded: result.completedByOther !== true,
    bytes: result.bytes,
    sha256: result.sha256,
    verified: expected !== undefined,
  };
}

/** The same URL with its last path segment replaced (keeps the query: signed mirrors put tokens there). */
function siblingUrl(url: string, fileName: string): string {
  const u = new URL(url);
  u.pathname = u.pathname.slice(0, u.pathname.lastIndexOf('/') + 1) + encodeURIComponent(fileName);
  return u.href;
}

/** Content-Length of a HEAD (redirects followed), or undefined when the server does not say. */
async function remoteSize(url: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<number | undefined> {
  try {
    const res = await fetch(url, { method: 'HEAD', headers: { 'accept-encoding': 'identity', ...headers }, redirect: 'follow', signal: signal ?? null });
    const len = res.ok ? res.headers.get('content-length') : null;
    return len !== null && /^\d+$/.test(len) ? Number(len) : undefined;
  } catch {
    signal?.throwIfAborted();
    return undefined;
  }
}

/**
 * Every part of a split model. The first part's name (MODEL) decides the others; parts already in the
 * cache are checked like a single file (sidecar, sha256), the rest downloaded one after the other.
 */
async function acquireSplit(source: ModelSource, names: string[], opts: AcquireOptions): Promise<AcquiredModel> {
  const first = source.kind === 'local' ? path.basename(source.path) : source.fileName;
  if (names[0] !== first) {
    throw new ModelAcquireError('REF', `MODEL names ${first}, part ${names.indexOf(first) + 1} of a split model: set it to the first part, ${names[0]}`);
  }
  const expected = expectedPerPart(opts.sha256, names.length);
  const partOpts = (i: number): AcquireOptions => {
    const { sha256: _all, ...rest } = opts;
    return expected[i] === undefined ? rest : { ...rest, sha256: expected[i] };
  };
  const results: AcquiredModel[] = [];

  if (source.kind === 'local') {
    const dir = path.dirname(source.path);
    for (const [i, name] of names.entries()) {
      const part = { kind: 'local' as const, path: path.join(dir, name) };
      results.push(await acquireLocal(part, expected[i], partOpts(i)));
    }
  } else {
    const cacheDir = path.resolve(opts.cacheDir);
    await prepareCacheDir(cacheDir);
    const token = opts.hfToken ?? process.env.HF_TOKEN;
    const isHf = /^hf:/i.test(opts.model.trim());
    const headers: Record<string, string> = isHf && token ? { authorization: `Bearer ${token}` } : {};
    const urls = names.map((n) => siblingUrl(source.url, n));

    // Which parts are already usable; the others must fit on the volume together, checked before any byte.
    const cached: (AcquiredModel | undefined)[] = [];
    for (const [i, name] of names.entries()) {
      cached.push(await useCached(path.join(cacheDir, name), { kind: 'remote', url: urls[i]!, fileName: name }, expected[i], partOpts(i)));
    }
    const missing = names.map((_, i) => i).filter((i) => cached[i] === undefined);
    if (missing.length > 0) {
      const sizes = await Promise.all(missing.map((i) => remoteSize(urls[i]!, headers, opts.signal)));
      if (sizes.every((s) => s !== undefined)) {
        let need = 32 * 2 ** 20;
        for (const [k, i] of missing.entries()) need += sizes[k]! - (await sizeOrZero(path.join(cacheDir, `${names[i]}.partial`)));
        const free = await freeBytes(cacheDir);
        if (free < need) {
          throw new ModelAcquireError(
            'NO_SPACE',
            `not enough disk space for the ${missing.length} missing part(s) of ${names.length} of ${first}: needs ${gib(need)} GiB, ${gib(free)} GiB free in ${cacheDir}; enlarge the volume mounted at MODEL_CACHE_DIR`,
          );
        }
      } else {
        opts.log.warn({ parts: names.length }, 'a part has no Content-Length: free space is checked per part instead of for the whole model');
      }
    }
    for (const [i, name] of names.entries()) {
      const done = cached[i];
      if (done) {
        results.push(done);
        continue;
      }
      opts.log.info({ part: i + 1, parts: names.length, file: name }, 'downloading model part');
      const dest = path.join(cacheDir, name);
      const result = await downloadModel({
        url: urls[i]!,
        dest,
        ...(expected[i] === undefined ? {} : { expectedSha256: expected[i] }),
        log: opts.log,
        ...(opts.signal ? { signal: opts.signal } : {}),
        progressIntervalMs: opts.progressIntervalMs ?? 5000,
        maxAttempts: Math.max(1, opts.maxAttempts ?? 5),
        retryDelayMs: opts.retryDelayMs ?? 1000,
        ...(Object.keys(headers).length > 0 ? { headers } : {}),
      });
      results.push({
        path: dest,
        source: { kind: 'remote', url: urls[i]!, fileName: name },
        downloaded: true,
        bytes: result.bytes,
        sha256: result.sha256,
        verified: expected[i] !== undefined,
      });
    }
  }

  const hashes = results.map((r) => r.sha256);
  const all: AcquiredModel = {
    path: results[0]!.path,
    parts: results.map((r) => r.path),
    source,
    downloaded: results.some((r) => r.downloaded),
    bytes: results.reduce((a, r) => a + r.bytes, 0),
    ...(hashes.every((h) => h !== undefined) ? { sha256: hashes.join(',') } : {}),
    verified: results.every((r) => r.verified),
  };
  opts.log.info(
    { path: all.path, parts: names.length, bytes: all.bytes, verified: all.verified, downloaded: all.downloaded },
    all.verified
      ? 'split model ready: every part present and verified'
      : 'split model ready: every part present (pin MODEL_SHA256 with one sha256 per part to verify them)',
  );
  return all;
}
