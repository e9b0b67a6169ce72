/**
 * File helpers for model acquisition: GGUF magic, streamed sha256, the verification sidecar, free space.
 *
 * Every file the cache owns is opened with O_NOFOLLOW (or created with O_EXCL, which never follows a
 * symlink either), so a symlink planted in the cache volume can neither be read as our file nor make us
 * write outside the cache.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open, rename, rm, statfs, type FileHandle } from 'node:fs/promises';
import { ModelAcquireError } from './errors.js';

/** Read-only, never through a symlink (ELOOP instead). */
export const O_READ_NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;
/** A new file, created by us or not at all: fails with EEXIST on any existing name, symlinks included. */
export const O_CREATE_EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A short random name part, so concurrent writers (processes, pods, hosts) never share a temp file. */
export const uniqueSuffix = (): string => randomBytes(6).toString('hex');

function unsafeEntry(file: string, what: string): ModelAcquireError {
  return new ModelAcquireError(
    'UNSAFE_CACHE',
    `${file} is ${what}, not a regular file: the model cache refuses to follow or replace it; remove it from the cache volume (MODEL_CACHE_DIR)`,
  );
}

/**
 * lstat of a path the cache owns: undefined when it does not exist, UNSAFE_CACHE when it is a symlink or
 * anything but a regular file.
 */
export async function lstatOwned(file: string): Promise<Stats | undefined> {
  let st: Stats;
  try {
    st = await lstat(file);
  } catch (err) {
    // ENOTDIR: a path component is a file; the cache-directory check reports that with its fix.
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
  if (st.isSymbolicLink()) throw unsafeEntry(file, 'a symlink');
  if (!st.isFile()) throw unsafeEntry(file, st.isDirectory() ? 'a directory' : 'a special file');
  return st;
}

/** Opens a cache file for reading without following symlinks (ELOOP becomes UNSAFE_CACHE). */
export async function openNoFollow(file: string): Promise<FileHandle> {
  try {
    return await open(file, O_READ_NOFOLLOW);
  } catch (err) {
    if ((err as { code?: string }).code === 'ELOOP') throw unsafeEntry(file, 'a symlink');
    throw err;
  }
}

/** Every GGUF file starts with these 4 bytes. Checking them turns "wrong file" into a millisecond failure. */
export const GGUF_MAGIC = Buffer.from('GGUF', 'latin1');

/** The first bytes of a file, for the GGUF check and for error messages ("starts with <!DOCTYPE"). */
export async function readHead(file: string, length = 4): Promise<Buffer> {
  const fh = await openNoFollow(file);
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Printable description of a file's first bytes, e.g. `"<!DO" (3c21444f)`. */
export function describeHead(head: Buffer): string {
  if (head.length === 0) return 'an empty file';
  const text = head.toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return `"${text}" (${head.toString('hex')})`;
}

/** Streams a file through a hash (1 MiB reads); pass `hash` to continue an existing one. */
export async function hashFile(file: string, hash: Hash = createHash('sha256'), signal?: AbortSignal): Promise<Hash> {
  const fh = await openNoFollow(file);
  try {
    const stream = fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false, ...(signal ? { signal } : {}) });
    for await (const chunk of stream) hash.update(chunk as Buffer);
  } finally {
    await fh.close();
  }
  return hash;
}

export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  return (await hashFile(file, createHash('sha256'), signal)).digest('hex');
}

/**
 * The verification sidecar `<file>.sha256`: the hash of the file as it was when verified, plus its size,
 * mtime and inode, and the server's validators (ETag / Last-Modified) it was downloaded with. When size,
 * mtime and inode still match, a restart (or a pod that waited for another one's download) trusts the
 * recorded hash instead of re-reading 3 GB. The final file only ever changes by an atomic rename of a new
 * file over it, which changes the inode, and any write in place would change the mtime.
 */
export interface Sidecar {
  sha256: string;
  size: number;
  mtimeMs: number;
  /** Inode number; absent in sidecars written before it was recorded. */
  ino?: number;
  etag?: string;
  lastModified?: string;
}

export const sidecarPath = (file: string): string => `${file}.sha256`;

/** Reads a small JSON file the cache owns (never through a symlink); undefined when missing or invalid. */
export async function readOwnedJson(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    const fh = await openNoFollow(file);
    try {
      const text = await fh.readFile('utf8');
      const data: unknown = JSON.parse(text);
      return data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof ModelAcquireError) throw err;
    return undefined;
  }
}

/** Writes a small JSON file atomically: a uniquely named temp file (O_EXCL) renamed over the target. */
export async function writeOwnedJson(file: string, data: unknown): Promise<void> {
  const tmp = `${file}.${uniqueSuffix()}.tmp`;
  const fh = await open(tmp, O_CREATE_EXCLUSIVE, 0o644);
  try {
    await fh.writeFile(`${JSON.stringify(data)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function readSidecar(file: string): Promise<Sidecar | undefined> {
  const data = await readOwnedJson(sidecarPath(file));
  if (data && typeof data.sha256 === 'string' && typeof data.size === 'number' && typeof data.mtimeMs === 'number') {
    const out: Sidecar = { sha256: data.sha256, size: data.size, mtimeMs: data.mtimeMs };
    if (typeof data.ino === 'number') out.ino = data.ino;
    if (typeof data.etag === 'string') out.etag = data.etag;
    if (typeof data.lastModified === 'string') out.lastModified = data.lastModified;
    return out;
  }
  return undefined;
}

/** The sidecar when it describes the file as it is now (same size, mtime and, when recorded, inode). */
export async function currentSidecar(file: string): Promise<Sidecar | undefined> {
  const st = await lstatOwned(file);
  if (st === undefined) return undefined;
  const side = await readSidecar(file);
  if (!side || side.size !== st.size || side.mtimeMs !== st.mtimeMs) return undefined;
  if (side.ino !== undefined && side.ino !== st.ino) return undefined;
  return side;
}

/** The sidecar's hash when it describes the file as it is now. */
export async function sidecarHashIfCurrent(file: string): Promise<string | undefined> {
  return (await currentSidecar(file))?.sha256;
}

/** Records the hash of `file` as it is now. Best effort: a failure only costs a re-hash next time. */
export async function writeSidecar(file: string, sha256: string, validators: { etag?: string; lastModified?: string } = {}): Promise<void> {
  try {
    const st = await lstatOwned(file);
    if (st === undefined) return;
    await writeOwnedJson(sidecarPath(file), { sha256, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, ...validators });
  } catch {
    // read-only or full volume: not fatal
  }
}

/** Bytes available to an unprivileged user on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** Flushes a file's data to disk (fsync on any descriptor flushes the inode's dirty pages). */
export async function fsyncFile(file: string): Promise<void> {
  const fh = await open(file, constants.O_RDWR | constants.O_NOFOLLOW);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Makes a rename durable; some filesystems refuse fsync on directories, which is fine. */
export async function fsyncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // EINVAL/EISDIR on some filesystems
  }
}

export async function sizeOrZero(file: string): Promise<number> {
  return (await lstatOwned(file))?.size ?? 0;
}

export const gib = (bytes: number): string => (bytes / 2 ** 30).toFixed(2);
export const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
