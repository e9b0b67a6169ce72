/**
 * How many CPU threads llama.cpp should use inside a container.
 *
 * Why this exists: node-llama-cpp is not cgroup-aware. Its default `maxThreads` is
 * max(4, physical cores of the *host*), so a pod limited to 2 CPUs on a 64-core node asks
 * for 64 threads. The kernel's CFS quota then throttles the process for most of every
 * period, and because every decode step waits for its slowest thread, the whole batch
 * stalls: measured on a 2-core machine, a 0.5B model decoded at 0.4 tokens/s with the
 * default and at 33.6 tokens/s with 2 threads.
 *
 * So the thread count is derived from what the process may actually use:
 * the cgroup CPU quota (v2 `cpu.max`, or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`),
 * capped by `os.availableParallelism()` (which honours a cpuset / CPU affinity mask).
 *
 * Everything here reads plain files under `cgroupRoot`, so tests use a fake tree in a temp dir.
 */
import os from 'node:os';
import path from 'node:path';
import { dirsUpFrom, parseProcCgroup, readText } from './cgroup.js';

export type ThreadSource = 'THREADS' | 'cgroup-v2' | 'cgroup-v1' | 'available-parallelism';

export interface ThreadChoice {
  /** Threads to hand to node-llama-cpp (`maxThreads` / context `threads`). */
  threads: number;
  /** Where the number came from: the THREADS override, a cgroup quota, or the CPU count. */
  source: ThreadSource;
  /** Cores allowed to the process: cgroup quota/period (fractional), else availableParallelism. */
  cpuAllowance: number;
  /** The THREADS value as given, when one was given. */
  requested?: number;
  /** Human-readable remark for the startup log, e.g. "THREADS=8 clamped to the CPU allowance 2". */
  note?: string;
}

export interface ChooseThreadsOptions {
  /** The THREADS environment variable, already parsed; unset, 0 or negative means "choose for me". */
  requested?: number;
  /** Mount point of the cgroup filesystem; default `/sys/fs/cgroup`. */
  cgroupRoot?: string;
  /** Default `os.availableParallelism()`: the CPUs this process may be scheduled on (cpuset aware). */
  availableParallelism?: number;
  /**
   * The process's cgroup membership file; default `/proc/self/cgroup`.
   * Tests point it at a fake file to model a nested cgroup.
   */
  procSelfCgroup?: string;
}

/** A CPU limit read from one cgroup directory: cores = quota / period. */
interface Limit {
  cores: number;
  file: string;
}

/**
 * Parses cgroup v2 `cpu.max`: "<quota|max> <period>".
 * Returns the number of cores, `Infinity` for "max", `undefined` if unreadable.
 */
export function parseCpuMax(text: string): number | undefined {
  const [quota, periodText] = text.trim().split(/\s+/);
  if (quota === undefined || quota === '') return undefined;
  if (quota === 'max') return Infinity;
  const period = Number(periodText ?? '100000');
  const q = Number(quota);
  if (!Number.isFinite(q) || !Number.isFinite(period) || q <= 0 || period <= 0) return undefined;
  return q / period;
}

/** Parses the v1 pair `cpu.cfs_quota_us` / `cpu.cfs_period_us`; quota -1 means unlimited. */
export function parseCfs(quotaText: string, periodText: string | undefined): number | undefined {
  const q = Number(quotaText.trim());
  if (!Number.isFinite(q)) return undefined;
  if (q < 0) return Infinity;
  const period = Number((periodText ?? '100000').trim());
  if (q === 0 || !Number.isFinite(period) || period <= 0) return undefined;
  return q / period;
}

function smallest(limits: Limit[]): Limit | undefined {
  let best: Limit | undefined;
  for (const l of limits) if (!best || l.cores < best.cores) best = l;
  return best;
}

/**
 * cgroup v2: `<root>/cpu.max` (the namespace root in a container) and every `cpu.max` from the
 * process's own cgroup up to the root (a pod-level limit can sit above the container's).
 * Returns undefined when no cpu.max file exists at all (not cgroup v2, or no cpu controller).
 */
async function v2Limit(root: string, cgPath: string | undefined): Promise<Limit | undefined> {
  const limits: Limit[] = [];
  let found = false;
  for (const dir of dirsUpFrom(root, cgPath)) {
    const file = path.join(dir, 'cpu.max');
    const text = await readText(file);
    if (text === undefined) continue;
    found = true;
    const cores = parseCpuMax(text);
    if (cores !== undefined) limits.push({ cores, file });
  }
  return found ? (smallest(limits) ?? { cores: Infinity, file: path.join(root, 'cpu.max') }) : undefined;
}

/** cgroup v1: the cpu controller under `<root>/cpu/` or `<root>/cpu,cpuacct/` (and the own path below it). */
async function v1Limit(root: string, cgPath: string | undefined): Promise<Limit | undefined> {
  const limits: Limit[] = [];
  let found = false;
  for (const mount of ['cpu', 'cpu,cpuacct', 'cpuacct,cpu']) {
    const base = path.join(root, mount);
    for (const dir of dirsUpFrom(base, cgPath)) {
      const file = path.join(dir, 'cpu.cfs_quota_us');
      const quota = await readText(file);
      if (quota === undefined) continue;
      found = true;
      const cores = parseCfs(quota, await readText(path.join(dir, 'cpu.cfs_period_us')));
      if (cores !== undefined) limits.push({ cores, file });
    }
  }
  return found ? (smallest(limits) ?? { cores: Infinity, file: path.join(root, 'cpu') }) : undefined;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

/**
 * Chooses the llama.cpp thread count for this process.
 *
 * - allowance = the smallest cgroup CPU quota found (v2 first, then v1), capped by availableParallelism;
 * - threads = floor(allowance), at least 1. Rounding *down* matters: with a 1.5-core quota, 2 threads
 *   are throttled for a third of every period, and a decode step waits for its slowest thread, so every
 *   token of the whole batch stalls. 1 thread that is never throttled is faster and predictable.
 * - `requested` (THREADS) wins when set, but is clamped to ceil(allowance): asking for more threads than
 *   the quota can run is the exact failure this module exists to prevent.
 */
export async function chooseThreads(opts: ChooseThreadsOptions = {}): Promise<ThreadChoice> {
  const root = opts.cgroupRoot ?? '/sys/fs/cgroup';
  const parallelism = Math.max(1, Math.floor(opts.availableParallelism ?? os.availableParallelism()));
  const own = parseProcCgroup(await readText(opts.procSelfCgroup ?? '/proc/self/cgroup'));

  let allowance = parallelism;
  let source: ThreadSource = 'available-parallelism';
  const notes: string[] = [];

  const v2 = await v2Limit(root, own.v2);
  const v1 = v2 ? undefined : await v1Limit(root, own.v1.get('cpu') ?? own.v1.get('cpuacct'));
  const limit = v2 ?? v1;
  if (limit && Number.isFinite(limit.cores)) {
    if (limit.cores <= parallelism) {
      allowance = limit.cores;
      source = v2 ? 'cgroup-v2' : 'cgroup-v1';
    } else {
      notes.push(`cgroup quota ${round2(limit.cores)} cores exceeds the ${parallelism} schedulable CPUs (cpuset); using ${parallelism}`);
    }
  }

  const auto = Math.max(1, Math.floor(allowance));
  const choice: ThreadChoice = { threads: auto, source, cpuAllowance: round2(allowance) };

  const requested = opts.requested;
  if (requested !== undefined && Number.isFinite(requested) && requested >= 1) {
    const wanted = Math.floor(requested);
    const cap = Math.max(1, Math.ceil(allowance));
    choice.requested = requested;
    choice.source = 'THREADS';
    if (wanted > cap) {
      choice.threads = cap;
      notes.push(`THREADS=${requested} clamped to the CPU allowance ${round2(allowance)}`);
    } else {
      choice.threads = wanted;
    }
  } else if (requested !== undefined) {
    choice.requested = requested;
    notes.push(`THREADS=${requested} is not a positive number; chose ${auto} from ${source}`);
  }

  if (notes.length > 0) choice.note = notes.join('; ');
  return choice;
}
