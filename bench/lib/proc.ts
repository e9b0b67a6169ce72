/**
 * Child processes of the benchmark: every one is registered, so `killAll()` (called at the end, on
 * failure and on SIGINT/SIGTERM) ends each by its pid. Servers listen on 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';

export interface Managed {
  name: string;
  child: ChildProcess;
  pid: number;
  /** performance.now() just before spawn. */
  spawnedAt: number;
  /** Resolves with the exit code (or signal) when the process has exited. */
  exited: Promise<number | string>;
  /** Everything written to stdout/stderr, also mirrored to the log file. */
  output(): string;
  logFile: string;
}

const live = new Set<Managed>();

export interface StartOptions {
  name: string;
  cmd: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  /** Keep at most this many characters of output in memory (default 2 MB). */
  keepChars?: number;
  stdin?: 'pipe' | 'ignore';
}

export function start(opts: StartOptions): Managed {
  const spawnedAt = performance.now();
  const child = spawn(opts.cmd, opts.args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`cannot start ${opts.name}: ${opts.cmd}`);
  const log: WriteStream = createWriteStream(opts.logFile);
  const keep = opts.keepChars ?? 2_000_000;
  let out = '';
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    if (out.length < keep) out += chunk.toString();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
    });
    child.on('error', () => resolve('spawn-error'));
  });
  const managed: Managed = {
    name: opts.name,
    child,
    pid: child.pid,
    spawnedAt,
    exited,
    output: () => out,
    logFile: opts.logFile,
  };
  live.add(managed);
  void exited.then(() => {
    live.delete(managed);
    log.end();
  });
  return managed;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export async function stop(p: Managed, graceMs = 5_000): Promise<void> {
  if (!live.has(p)) return;
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  const timer = setTimeout(() => {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, graceMs);
  await p.exited;
  clearTimeout(timer);
}

/** Ends every child still running (each by its own pid). */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((p) => stop(p, 3_000)));
}

/** Synchronous last resort for process 'exit': SIGKILL each child still registered. */
export function killAllSync(): void {
  for (const p of live) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** VmRSS and VmHWM of a process in bytes (from /proc/<pid>/status). */
export async function memoryOf(pid: number): Promise<{ rss: number; hwm: number } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** One GET on a fresh connection; resolves with the status (0 on a connection error) and latency. */
export function probe(url: string, timeoutMs = 5_000): Promise<{ status: number; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      res.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `url` until it answers 200; returns ms since the process was spawned. Rejects when the
 * process exits first or after `timeoutMs`.
 */
export async function waitReady(p: Managed, url: string, timeoutMs: number, intervalMs = 20): Promise<number> {
  let exited: number | string | undefined;
  void p.exited.then((c) => {
    exited = c;
  });
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (exited !== undefined) {
      throw new Error(`${p.name} exited (${exited}) before ready; last output:\n${p.output().slice(-3000)}`);
    }
    const r = await probe(url, 2_000);
    if (r.status === 200) return performance.now() - p.spawnedAt;
    await sleep(intervalMs);
  }
  throw new Error(`${p.name} not ready after ${timeoutMs} ms; last output:\n${p.output().slice(-3000)}`);
}
