/**
 * What this process holds in memory, read the cheap way.
 *
 * `rssBytes` is what the memory guard compares with the cgroup limit: the same figure as prom-client's
 * `process_resident_memory_bytes`, so the guard and the `LlmMemoryNearLimit` alert see one number.
 * `anonBytes` (Linux `RssAnon`) leaves out file-backed pages such as the memory-mapped model, whose
 * residency follows the page cache rather than anything the process allocates: leak measurements use it.
 */
import { readFileSync } from 'node:fs';

export interface ProcessMemory {
  /** Resident set size, bytes (`process.memoryUsage.rss()`, from /proc/self/statm on Linux). */
  rssBytes: number;
  /** Anonymous resident memory, bytes (`RssAnon` of /proc/self/status); undefined off Linux. */
  anonBytes?: number;
}

/** Parses the `RssAnon:` line of a /proc/<pid>/status text (kB) into bytes. */
export function parseRssAnon(statusText: string): number | undefined {
  const match = /^RssAnon:\s+(\d+)\s+kB$/m.exec(statusText);
  return match ? Number(match[1]) * 1024 : undefined;
}

/** Current memory of this process; `anonBytes` only where /proc/self/status exists. */
export function readProcessMemory(): ProcessMemory {
  const rssBytes = process.memoryUsage.rss();
  let status: string | undefined;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    status = undefined;
  }
  const anonBytes = status === undefined ? undefined : parseRssAnon(status);
  return anonBytes === undefined ? { rssBytes } : { rssBytes, anonBytes };
}
