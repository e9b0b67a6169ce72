/**
 * One writer per model file across every process, pod and host that shares the cache volume
 * (ReadWriteMany: NFS, EFS, Filestore, CephFS), without flock/fcntl locks, which NFS either lacks
 * (NFSv3 without lockd, `nolock` mounts) or drops when a client dies holding them.
 *
 * Design, and why it holds on NFS:
 * - The lock is a file `<model>.lock` created with O_CREAT|O_EXCL. Exclusive create is atomic on the
 *   server for NFSv3 (EXCLUSIVE createmode) and NFSv4/4.1 (EFS), so exactly one creator wins; every
 *   other gets EEXIST. The file says who holds it: a random owner id, host name, pid, start time.
 * - The holder rewrites the file every `heartbeatMs` (a beat counter), through the descriptor it created.
 *   Waiters re-open the file on every poll: NFS close-to-open consistency revalidates the attributes and
 *   data on open, so a waiter sees each new beat. A lock whose content has not changed for `staleMs` of
 *   the *waiter's own monotonic clock* belongs to a dead holder (SIGKILL, node lost). Nothing compares
 *   timestamps across hosts, so clock skew between nodes cannot make a live lock look stale.
 * - Takeover renames the stale file aside to a unique name (rename is atomic on the server), then reads
 *   it: if it is still the content judged stale it is deleted and the waiter competes for a fresh
 *   exclusive create; if another waiter replaced it in between (a live lock was moved by mistake), it is
 *   linked back (link(2) never overwrites) and waiting continues.
 * - The holder checks the file still names it at every beat and right before publishing the model; a
 *   holder that lost its lock stops (LOCK_LOST) instead of racing the new holder. Even in that corner
 *   case nothing is corrupted: each writer writes only its own uniquely named partial file, and the
 *   final name only ever appears through an atomic rename of a complete, verified file (download.ts).
 */
import { hostname } from 'node:os';
import { link, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ModelAcquireError } from './errors.js';
import { lstatOwned, O_CREATE_EXCLUSIVE, openNoFollow, uniqueSuffix } from './files.js';

export interface LockOptions {
  /** The lock file, `<model file>.lock`, in the same directory as the model. */
  file: string;
  log: Logger;
  signal?: AbortSignal;
  /** How often the holder rewrites the lock file; default 5000 ms. */
  heartbeatMs?: number;
  /** A lock unchanged this long (waiter's clock) is stale; default 30000 ms (six missed beats). */
  staleMs?: number;
  /** How often a waiter looks at the lock; default 500 ms. */
  pollMs?: number;
}

export interface LockOwner {
  id: string;
  host: string;
  pid: number;
  since: string;
  beat: number;
}

const errCode = (err: unknown): string | undefined => (err as { code?: string } | null)?.code;

function unwritable(dir: string, err: unknown): ModelAcquireError {
  return new ModelAcquireError(
    'CACHE_UNWRITABLE',
    `model cache directory ${dir} is not writable (${errCode(err) ?? String(err)}) by uid ${process.getuid?.() ?? '?'}: mount a writable volume at MODEL_CACHE_DIR (fsGroup / permissions / readOnly: false)`,
    { cause: err },
  );
}

async function readLock(file: string): Promise<string | undefined> {
  let fh: FileHandle;
  try {
    fh = await openNoFollow(file);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

function parseOwner(text: string | undefined): LockOwner | undefined {
  try {
    const o = JSON.parse(text ?? '') as Partial<LockOwner>;
    return typeof o.id === 'string' ? (o as LockOwner) : undefined;
  } catch {
    return undefined; // half-written by a holder that just created it, or foreign content
  }
}

/** A held lock: heartbeats until released; `signal` aborts when the lock is lost. */
export class HeldLock {
  private beat = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly lostController = new AbortController();
  private released = false;
  /**
   * Every read and rewrite of the lock file by this holder runs in this chain, one after the other. A
   * heartbeat truncates the file before it writes the next beat; a check that read the file in between
   * (an overlapping beat when one fsync outlasts the interval, or the check before publishing) would see
   * it empty and conclude the lock was lost, stop heartbeating, and leave a live download to be taken over.
   */
  private chain: Promise<unknown> = Promise.resolve();
  private beating = false;

  constructor(
    readonly file: string,
    readonly owner: LockOwner,
    private readonly fh: FileHandle,
    private readonly log: Logger,
    heartbeatMs: number,
  ) {
    this.timer = setInterval(() => void this.heartbeat(), heartbeatMs);
    this.timer.unref();
  }

  /** Aborts (reason: a LOCK_LOST error) when another process took the lock over. */
  get signal(): AbortSignal {
    return this.lostController.signal;
  }

  private lost(detail: string): ModelAcquireError {
    const err = new ModelAcquireError(
      'LOCK_LOST',
      `lost the download lock ${this.file} (${detail}); another process took it over after judging this one stale: waiting for it instead`,
      { retryable: true },
    );
    if (!this.lostController.signal.aborted) this.lostController.abort(err);
    return err;
  }

  /** Runs `fn` after every earlier lock-file operation of this holder has finished. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async heartbeat(): Promise<void> {
    // A beat still in flight (a slow fsync) is not overtaken: the next tick beats again.
    if (this.released || this.beating || this.lostController.signal.aborted) return;
    this.beating = true;
    try {
      await this.serial(async () => {
        if (this.released) return;
        await this.checkHeld();
        this.beat++;
        const text = JSON.stringify({ ...this.owner, beat: this.beat });
        await this.fh.truncate(0);
        await this.fh.write(text, 0, 'utf8');
        await this.fh.sync();
      });
    } catch (err) {
      if (!(err instanceof ModelAcquireError)) this.log.warn({ lock: this.file, err: String(err) }, 'could not refresh the download lock');
    } finally {
      this.beating = false;
    }
  }

  private async checkHeld(): Promise<void> {
    if (this.lostController.signal.aborted) throw this.lostController.signal.reason;
    const owner = parseOwner(await readLock(this.file));
    if (owner?.id !== this.owner.id) throw this.lost(owner ? `now held by ${owner.host} pid ${owner.pid}` : 'the lock file is gone');
  }

  /** Throws LOCK_LOST unless the lock file still names this holder. */
  assertHeld(): Promise<void> {
    return this.serial(() => this.checkHeld());
  }

  /** Stops the heartbeat and removes the lock file if it is still ours. Idempotent, never throws. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    try {
      await this.serial(async () => {
        const owner = parseOwner(await readLock(this.file));
        if (owner?.id === this.owner.id) await rm(this.file, { force: true });
      });
    } catch {
      // nothing useful to do: a stale lock is taken over by the next writer
    } finally {
      await this.fh.close().catch(() => undefined);
    }
  }
}

/**
 * Waits until this process holds the lock `o.file`, taking over a stale one. Fails at once (CACHE_UNWRITABLE)
 * when the directory refuses the create, and with UNSAFE_CACHE when the lock path is a symlink.
 */
export async function acquireLock(o: LockOptions): Promise<HeldLock> {
  const heartbeatMs = o.heartbeatMs ?? 5000;
  const staleMs = o.staleMs ?? 30_000;
  const pollMs = o.pollMs ?? 500;
  const owner: LockOwner = {
    id: uniqueSuffix(),
    host: hostname(),
    pid: process.pid,
    since: new Date().toISOString(),
    beat: 0,
  };
  let seen: string | undefined;
  let seenAt = performance.now();
  let lastLogAt = 0;

  for (;;) {
    o.signal?.throwIfAborted();
    let fh: FileHandle | undefined;
    try {
      fh = await open(o.file, O_CREATE_EXCLUSIVE, 0o644);
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw unwritable(path.dirname(o.file), err);
    }
    if (fh !== undefined) {
      try {
        await fh.write(JSON.stringify(owner), 0, 'utf8');
        await fh.sync();
      } catch (err) {
        await fh.close().catch(() => undefined);
        await rm(o.file, { force: true });
        throw unwritable(path.dirname(o.file), err);
      }
      return new HeldLock(o.file, owner, fh, o.log, heartbeatMs);
    }

    await lstatOwned(o.file); // a symlink named like our lock is refused, never followed
    const text = await readLock(o.file);
    const now = performance.now();
    if (text === undefined) continue; // released between our create and our read: try again now
    if (text !== seen) {
      seen = text;
      seenAt = now;
    } else if (now - seenAt >= staleMs) {
      await takeOver(o, text, now - seenAt);
      seen = undefined;
      continue;
    }
    if (now - lastLogAt >= 10_000) {
      lastLogAt = now;
      const holder = parseOwner(text);
      o.log.info(
        { lock: o.file, holder: holder ? { host: holder.host, pid: holder.pid, since: holder.since } : 'unknown' },
        'another process is downloading this model into the shared cache; waiting for it',
      );
    }
    await sleep(pollMs, undefined, o.signal ? { signal: o.signal } : {});
  }
}

async function takeOver(o: LockOptions, staleText: string, unchangedMs: number): Promise<void> {
  const aside = `${o.file}.stale-${uniqueSuffix()}`;
  try {
    await rename(o.file, aside);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return; // someone else removed it first
    throw unwritable(path.dirname(o.file), err);
  }
  const moved = await readLock(aside).catch(() => undefined);
  if (moved === staleText) {
    const holder = parseOwner(staleText);
    o.log.warn(
      { lock: o.file, holder: holder ? { host: holder.host, pid: holder.pid, since: holder.since } : 'unknown', unchangedMs: Math.round(unchangedMs) },
      'download lock is stale (no heartbeat): taking it over',
    );
  } else {
    // A fresh lock replaced the stale one between our look and the rename: put it back.
    await link(aside, o.file).catch(() => undefined);
  }
  await rm(aside, { force: true });
}
