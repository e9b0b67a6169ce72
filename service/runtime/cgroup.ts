/**
 * Reading the process's own cgroup: shared by the CPU allowance (`threads.ts`) and the memory
 * limit (`memory-limit.ts`). Everything reads plain files, so tests point the paths at a fake tree.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** The file's text, or undefined when it cannot be read (absent controller, no cgroup fs). */
export async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The cgroup paths of this process from `/proc/self/cgroup`:
 * `v2` from the `0::/path` line, `v1` keyed by controller ("cpu", "memory", ...).
 */
export function parseProcCgroup(text: string | undefined): { v2?: string; v1: Map<string, string> } {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, id, controllers = '', cgPath = '/'] = m;
    if (id === '0' && controllers === '') v2 = cgPath;
    else for (const c of controllers.split(',')) v1.set(c, cgPath);
  }
  return { v2, v1 };
}

/**
 * Directories to inspect, from the process's own cgroup up to `base` itself.
 * A path that escapes `base` (`..`) is ignored; only directories under `base` are read.
 */
export function dirsUpFrom(base: string, cgPath: string | undefined): string[] {
  const dirs: string[] = [];
  if (cgPath && cgPath !== '/') {
    const rel = path.posix.normalize(cgPath).replace(/^\/+/, '');
    if (rel && !rel.startsWith('..')) {
      const parts = rel.split('/').filter(Boolean);
      for (let i = parts.length; i > 0; i--) dirs.push(path.join(base, ...parts.slice(0, i)));
    }
  }
  dirs.push(base);
  return dirs;
}
