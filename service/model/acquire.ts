/**
 * Model acquisition: turns MODEL (a local path, `hf:<user>/<repo>/<file>.gguf` or an http(s) URL) into a
 * verified GGUF file on local disk.
 *
 * Used by the init container (service/fetch-model.ts), so the serving container starts from a complete,
 * checked file, and by the server itself as a fallback. The rules that matter in a cluster:
 * - a second start with the file present does no network work (a sidecar remembers the sha256 check);
 * - a wrong file (HTML page, truncated or non-GGUF file) fails in milliseconds with a named code;
 * - an interrupted download resumes from `<file>.partial` (SIGTERM, eviction, network cuts);
 * - a too-small volume fails before the first byte with "needs X GiB, Y GiB free".
 */
import { constants } from 'node:fs';
import { access, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { downloadModel } from './download.js';
import { ModelAcquireError } from './errors.js';
import { describeHead, readHead, GGUF_MAGIC, removeSidecar, sha256File, sidecarHashIfCurrent, writeSidecar } from './files.js';
import { parseModelRef, redactUrl, type ModelSource } from './ref.js';

export { ModelAcquireError, ModelRefError, type ModelAcquireErrorCode } from './errors.js';
export { parseModelRef, type ModelSource } from './ref.js';

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
}

export interface AcquiredModel {
  /** Absolute path of the GGUF file to load. */
  path: string;
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

function normalizeSha256(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const v = raw.trim().toLowerCase().replace(/^sha256:/, '');
  if (v === '') return undefined;
  if (!/^[0-9a-f]{64}$/.test(v)) {
    throw new ModelAcquireError('REF', `MODEL_SHA256 "${raw}" is not a sha256: expected 64 hexadecimal characters`);
  }
  return v;
}

function checksumMismatch(file: string, expected: string, actual: string): ModelAcquireError {
  return new ModelAcquireError(
    'CHECKSUM_MISMATCH',
    `sha256 mismatch for ${file}: expected ${expected}, got ${actual}; check that MODEL_SHA256 belongs to exactly this file`,
  );
}

async function acquireLocal(
  source: { kind: 'local'; path: string },
  expected: string | undefined,
  opts: AcquireOptions,
): Promise<AcquiredModel> {
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
 * undefined after deleting it when it must be downloaded again (wrong hash for the pinned sha256, not GGUF).
 */
async function useCached(
  dest: string,
  source: ModelSource,
  expected: string | undefined,
  opts: AcquireOptions,
): Promise<AcquiredModel | undefined> {
  let size: number;
  try {
    const st = await stat(dest);
    if (!st.isFile()) {
      throw new ModelAcquireError('NOT_FOUND', `${dest} exists but is not a regular file; remove it from the cache volume`);
    }
    size = st.size;
  } catch (err) {
    if (err instanceof ModelAcquireError) throw err;
    return undefined;
  }
  const discard = async (reason: string, extra: Record<string, unknown>): Promise<undefined> => {
    opts.log.warn({ path: dest, ...extra }, `cached model ${reason}; deleting it and downloading again`);
    await rm(dest, { force: true });
    await removeSidecar(dest);
    return undefined;
  };

  const head = await readHead(dest, 4);
  if (!head.equals(GGUF_MAGIC)) return discard('is not a GGUF file', { head: describeHead(head) });

  const recorded = await sidecarHashIfCurrent(dest);
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
        'model already in the cache and verified earlier (sidecar matches size and mtime); no download needed',
      );
      return { path: dest, source, downloaded: false, bytes: size, sha256: recorded, verified: true };
    }
    return discard('does not match MODEL_SHA256', { expected, actual: recorded });
  }
  opts.log.info({ path: dest, bytes: size }, 'model already in the cache; verifying its sha256');
  const actual = await sha256File(dest, opts.signal);
  if (actual !== expected) return discard('does not match MODEL_SHA256', { expected, actual });
  await writeSidecar(dest, actual);
  opts.log.info({ path: dest, bytes: size, sha256: actual }, 'model already in the cache and verified; no download needed');
  return { path: dest, source, downloaded: false, bytes: size, sha256: actual, verified: true };
}

async function prepareCacheDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'error';
    throw new ModelAcquireError(
      'NOT_FOUND',
      `model cache directory ${dir} cannot be created or written (${code}) by uid ${process.getuid?.() ?? '?'}; mount a writable volume at MODEL_CACHE_DIR`,
      { cause: err },
    );
  }
}

/** Resolves `opts.model` to a verified local GGUF file, downloading it into `opts.cacheDir` when remote. */
export async function acquireModel(opts: AcquireOptions): Promise<AcquiredModel> {
  opts.signal?.throwIfAborted();
  const source = parseModelRef(opts.model, opts.hfEndpoint === undefined ? {} : { hfEndpoint: opts.hfEndpoint });
  const expected = normalizeSha256(opts.sha256);

  if (source.kind === 'local') return acquireLocal(source, expected, opts);

  const cacheDir = path.resolve(opts.cacheDir);
  const dest = path.join(cacheDir, source.fileName);
  if (path.dirname(dest) !== cacheDir) {
    // parseModelRef already rejects such names; this is the last line of defence.
    throw new ModelAcquireError('REF', `refusing to write ${source.fileName} outside ${cacheDir}`);
  }
  await prepareCacheDir(cacheDir);

  const cached = await useCached(dest, source, expected, opts);
  if (cached) return cached;

  if (source.url.startsWith('http:')) {
    opts.log.warn(
      { url: redactUrl(source.url) },
      'MODEL uses plain http://: no transport security; fine for an in-cluster mirror, but set MODEL_SHA256',
    );
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
  });
  opts.log.info(
    { path: dest, bytes: result.bytes, sha256: result.sha256, verified: expected !== undefined, attempts: result.attempts },
    expected === undefined
      ? 'model downloaded (pin it with MODEL_SHA256 to verify future downloads)'
      : 'model downloaded and verified',
  );
  return {
    path: dest,
    source,
    downloaded: true,
    bytes: result.bytes,
    sha256: result.sha256,
    verified: expected !== undefined,
  };
}
