/** File helpers for model acquisition: GGUF magic, streamed sha256, the verification sidecar, free space. */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';

/** Every GGUF file starts with these 4 bytes. Checking them turns "wrong file" into a millisecond failure. */
export const GGUF_MAGIC = Buffer.from('GGUF', 'latin1');

/** The first bytes of a file, for the GGUF check and for error messages ("starts with <!DOCTYPE"). */
export async function readHead(file: string, length = 4): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export async function hasGgufMagic(file: string): Promise<boolean> {
  return (await readHead(file, 4)).equals(GGUF_MAGIC);
}

/** Printable description of a file's first bytes, e.g. `"<!DO" (3c21444f)`. */
export function describeHead(head: Buffer): string {
  if (head.length === 0) return 'an empty file';
  const text = head.toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return `"${text}" (${head.toString('hex')})`;
}

/** Streams a file through a hash (1 MiB reads); pass `hash` to continue an existing one. */
export async function hashFile(file: string, hash: Hash = createHash('sha256'), signal?: AbortSignal): Promise<Hash> {
  const stream = createReadStream(file, { highWaterMark: 1 << 20, signal });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash;
}

export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  return (await hashFile(file, createHash('sha256'), signal)).digest('hex');
}

/**
 * The verification sidecar `<file>.sha256`: the hash of the file as it was when hashed, plus its size and
 * mtime. When size and mtime still match, a restart trusts the recorded hash instead of re-reading 3 GB.
 * (The file only changes through us, and any write would change its mtime.)
 */
export interface Sidecar {
  sha256: string;
  size: number;
  mtimeMs: number;
}

export const sidecarPath = (file: string): string => `${file}.sha256`;

export async function readSidecar(file: string): Promise<Sidecar | undefined> {
  try {
    const data = JSON.parse(await readFile(sidecarPath(file), 'utf8')) as Partial<Sidecar>;
    if (typeof data.sha256 === 'string' && typeof data.size === 'number' && typeof data.mtimeMs === 'number') {
      return { sha256: data.sha256, size: data.size, mtimeMs: data.mtimeMs };
    }
  } catch {
    // missing or unreadable: hash again
  }
  return undefined;
}

/** The sidecar's hash when it describes the file as it is now (same size and mtime). */
export async function sidecarHashIfCurrent(file: string): Promise<string | undefined> {
  const [side, st] = await Promise.all([readSidecar(file), stat(file)]);
  return side && side.size === st.size && side.mtimeMs === st.mtimeMs ? side.sha256 : undefined;
}

/** Records the hash of `file` as it is now. Best effort: a failure only costs a re-hash next time. */
export async function writeSidecar(file: string, sha256: string): Promise<void> {
  try {
    const st = await stat(file);
    const tmp = `${sidecarPath(file)}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ sha256, size: st.size, mtimeMs: st.mtimeMs })}\n`);
    await rename(tmp, sidecarPath(file));
  } catch {
    // read-only or full volume: not fatal
  }
}

export async function removeSidecar(file: string): Promise<void> {
  await rm(sidecarPath(file), { force: true });
}

/** Bytes available to an unprivileged user on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** Flushes a file's data to disk (fsync on any descriptor flushes the inode's dirty pages). */
export async function fsyncFile(file: string): Promise<void> {
  const fh = await open(file, 'r+');
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
  try {
    const st = await stat(file);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0;
  }
}

export const gib = (bytes: number): string => (bytes / 2 ** 30).toFixed(2);
export const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
