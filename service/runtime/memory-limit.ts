/**
 * The memory limit the kernel enforces on this process: the smallest cgroup limit from the
 * process's own cgroup up to the root (a pod-level limit can sit above the container's).
 *
 * Why this exists: Kubernetes turns `resources.limits.memory` into cgroup v2 `memory.max`
 * (v1: `memory.limit_in_bytes`), and crossing it means an OOM kill mid-answer. The service
 * compares what it is about to allocate, and what it already holds, with this figure.
 * Node's own `os.totalmem()` reports the host's memory and knows nothing of the limit.
 */
import path from 'node:path';
import { dirsUpFrom, parseProcCgroup, readText } from './cgroup.js';

export type MemoryLimitSource = 'cgroup-v2' | 'cgroup-v1' | 'none';

export interface MemoryLimit {
  /** Bytes the process may use, or undefined when no limit is set (or none can be read). */
  bytes?: number;
  /** Which cgroup version the figure came from; `none` when unlimited or not in a cgroup. */
  source: MemoryLimitSource;
  /** The file that holds the limit, for log lines. */
  file?: string;
}

export interface ReadMemoryLimitOptions {
  /** Mount point of the cgroup filesystem; default `/sys/fs/cgroup`. */
  cgroupRoot?: string;
  /** The process's cgroup membership file; default `/proc/self/cgroup`. */
  procSelfCgroup?: string;
}

/**
 * v1 reports "no limit" as a huge number rounded to the page size (e.g. 9223372036854771712);
 * anything at or above 2^60 bytes is treated as unlimited.
 */
const V1_UNLIMITED = 2 ** 60;

/** Parses v2 `memory.max` ("max" or bytes); `Infinity` for "max", undefined if unparseable. */
export function parseMemoryMax(text: string): number | undefined {
  const t = text.trim();
  if (t === 'max') return Infinity;
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return n > 0 ? n : undefined;
}

/** Parses v1 `memory.limit_in_bytes`; the page-rounded 2^63 sentinel means unlimited. */
export function parseLimitInBytes(text: string): number | undefined {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) return undefined;
  const n = Number(t);
  if (n < 0 || n >= V1_UNLIMITED) return Infinity;
  return n > 0 ? n : undefined;
}

/** Reads the effective memory limit of this process (see the module comment). */
export async function readMemoryLimit(opts: ReadMemoryLimitOptions = {}): Promise<MemoryLimit> {
  const root = opts.cgroupRoot ?? '/sys/fs/cgroup';
  const own = parseProcCgroup(await readText(opts.procSelfCgroup ?? '/proc/self/cgroup'));

  let best: { bytes: number; file: string } | undefined;
  let foundV2 = false;
  for (const dir of dirsUpFrom(root, own.v2)) {
    const file = path.join(dir, 'memory.max');
    const text = await readText(file);
    if (text === undefined) continue;
    foundV2 = true;
    const bytes = parseMemoryMax(text);
    if (bytes !== undefined && Number.isFinite(bytes) && (!best || bytes < best.bytes)) best = { bytes, file };
  }
  if (foundV2) return best ? { bytes: best.bytes, source: 'cgroup-v2', file: best.file } : { source: 'none' };

  const base = path.join(root, 'memory');
  for (const dir of dirsUpFrom(base, own.v1.get('memory'))) {
    const file = path.join(dir, 'memory.limit_in_bytes');
    const text = await readText(file);
    if (text === undefined) continue;
    const bytes = parseLimitInBytes(text);
    if (bytes !== undefined && Number.isFinite(bytes) && (!best || bytes < best.bytes)) best = { bytes, file };
  }
  return best ? { bytes: best.bytes, source: 'cgroup-v1', file: best.file } : { source: 'none' };
}
