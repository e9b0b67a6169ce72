/**
 * A small kubelet: runs a pod's init containers and its serving container as local processes and
 * plays the kubelet's probe, restart and termination rules on the manifest's own schedule (scaled by
 * the time scale, see timescale.ts). Modelled on pkg/kubelet/prober/worker.go and kuberuntime:
 *
 * - every probe runs on its own ticker of periodSeconds, first after initialDelaySeconds, with a
 *   total HTTP timeout of timeoutSeconds; 200 <= status < 400 is a success, anything else (status,
 *   connection refused, timeout) a failure;
 * - a result only counts after `failureThreshold` consecutive failures / `successThreshold`
 *   consecutive successes;
 * - until the startup probe succeeds, readiness and liveness do not run; once it succeeds the startup
 *   probe stops and readiness runs at once (the kubelet's manual trigger);
 * - startup or liveness reaching failureThreshold: the container is killed (preStop, SIGTERM, SIGKILL
 *   after the grace period) and restarted; probes of that container stop ("on hold") meanwhile;
 * - readiness only toggles Ready;
 * - a container that exits is restarted (restartPolicy Always) after the crash-loop back-off:
 *   immediately the first time, then 10 s, 20 s, 40 s ... capped at 300 s (scaled);
 * - pod termination: Ready is not forced off (the probe decides), preStop runs, then SIGTERM, then
 *   SIGKILL when terminationGracePeriodSeconds (counted from the start of termination) runs out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { LocalContainer } from './adapt.js';
import type { ProbeSpec, ResolvedContainer, ResolvedPod } from './deployment.js';
import { repoRoot } from './deployment.js';
import type { Timeline } from './timeline.js';

export interface ProbeOutcome {
  ok: boolean;
  status?: number;
  error?: string;
  body?: string;
  ms: number;
}

/** One HTTP probe as the kubelet sends it: new connection, no keep-alive, a total timeout. */
export function httpProbe(port: number, spec: Pick<ProbeSpec, 'path' | 'headers'>, timeoutMs: number): Promise<ProbeOutcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: Omit<ProbeOutcome, 'ms'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...o, ms: Math.round(performance.now() - t0) });
    };
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: spec.path,
        method: 'GET',
        agent: false,
        headers: { 'user-agent': 'kube-probe/1.28', accept: '*/*', connection: 'close', ...spec.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          // The kubelet reads at most 10 KiB of a probe body.
          if (size < 10_240) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          done({ ok: status >= 200 && status < 400, status, body: Buffer.concat(chunks).toString('utf8').slice(0, 10_240) });
        });
        res.on('error', (err) => done({ ok: false, error: err.message }));
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      done({ ok: false, error: `timeout after ${timeoutMs} ms` });
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: err.code ?? err.message }));
    req.end();
  });
}

function describeOutcome(o: ProbeOutcome): string {
  if (o.status === undefined) return o.error ?? 'error';
  let body = '';
  if (o.body) {
    const compact = o.body.replace(/\s+/g, '');
    body = compact.length <= 60 ? ` ${compact}` : ` ${compact.slice(0, 57)}...`;
  }
  return `${o.status}${body}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export interface ContainerRun {
  name: string;
  /** 0 for the first start, then 1, 2, ... (restartCount at start). */
  restart: number;
  pid: number | undefined;
  startedAt: number;
  exitedAt?: number;
  exitCode?: number | null;
  signal?: NodeJS.Signals | null;
  /** Why the kubelet ended it, when it did: `startup probe failed`, `liveness probe failed`, `pod terminated`. */
  killedFor?: string;
  logs: string[];
  /** Peak resident set size seen (polled from /proc every 50 ms), bytes. */
  peakRssBytes: number;
  exited: Promise<void>;
  child: ChildProcess;
}

export interface TerminationResult {
  /** Timeline ms of the pod deletion. */
  startedAt: number;
  sigtermAt: number;
  deadlineAt: number;
  exitedAt: number | undefined;
  exitCode: number | null | undefined;
  signal: string | null | undefined;
  exitedBeforeDeadline: boolean;
  sigkilled: boolean;
}

export interface ProbeRecord {
  probe: ProbeSpec['kind'];
  /** Timeline ms when the probe was sent. */
  sentAt: number;
  /** Timeline ms when its result was known. */
  at: number;
  outcome: ProbeOutcome;
  /** Consecutive run of this result (what the kubelet compares with the thresholds). */
  run: number;
  /** Container restart number the probe belonged to. */
  restart: number;
}

export interface KubeletOptions {
  pod: ResolvedPod;
  timeline: Timeline;
  scale: number;
  /** Local form of each container, by name. */
  local: Map<string, LocalContainer>;
  /** Stop restarting after this many restarts of the serving container (the timeline says so). Default: unlimited. */
  maxRestarts?: number;
  /** Skip the init containers (a scenario that wants the serving container to fetch the model itself). */
  skipInit?: boolean;
  /** Log lines matching this are copied to the timeline (errors and fatals always are). */
  logFilter?: RegExp;
  /**
   * Unscaled machine time at the start of the startup window (see timescale.ts: the process start the
   * sizing model budgets is real time, not load time): startup failures before it are not counted, which
   * moves the kill deadline exactly as much as an initial delay would, without delaying success. Default 0.
   */
  startupAllowanceMs?: number;
}

const defaultLogFilter =
  /ready to serve|shutting down|shutdown complete|grace period over|second signal|starting download|download complete|resuming download|download attempt failed|model ready|model downloaded|no download needed|Server listening at http:\/\/127/;

/** Crash-loop back-off of the kubelet: 0 for the first restart, then 10 s doubling, capped at 300 s. */
export function backoffSeconds(restartNumber: number): number {
  if (restartNumber <= 1) return 0;
  return Math.min(300, 10 * 2 ** (restartNumber - 2));
}

/**
 * Starts one container as a local process (cwd: the repository, env: exactly the container's),
 * copying its notable log lines to the timeline and its exit to the timeline.
 */
export function spawnContainer(local: LocalContainer, restart: number, tl: Timeline, logFilter?: RegExp): ContainerRun {
  const [exe, ...args] = local.argv as [string, ...string[]];
  const child = spawn(exe, args, { cwd: repoRoot, env: local.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let resolveExit: () => void = () => undefined;
  const run: ContainerRun = {
    name: local.name,
    restart,
    pid: child.pid,
    startedAt: tl.now(),
    logs: [],
    peakRssBytes: 0,
    exited: new Promise<void>((r) => (resolveExit = r)),
    child,
  };
  const rssTimer = setInterval(() => {
    if (child.pid === undefined) return;
    readFile(`/proc/${child.pid}/status`, 'utf8').then(
      (text) => {
        const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
        run.peakRssBytes = Math.max(run.peakRssBytes, kb * 1024);
      },
      () => undefined,
    );
  }, 50);
  const filter = logFilter ?? defaultLogFilter;
  const onLine = (line: string): void => {
    if (line.trim() === '') return;
    run.logs.push(line);
    let parsed: { level?: string | number; msg?: string; code?: string } | undefined;
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined) {
      tl.add('log', `${local.name}: ${line.length > 200 ? `${line.slice(0, 197)}...` : line}`);
      return;
    }
    const level = parsed.level;
    const severe = level === 'error' || level === 'fatal' || (typeof level === 'number' && level >= 50);
    const msg = parsed.msg ?? '';
    if (severe || filter.test(msg)) {
      const lvl = typeof level === 'number' ? String(level) : (level ?? '?');
      const code = parsed.code ? ` [${parsed.code}]` : '';
      const text = `${local.name} ${lvl}${code}: ${msg}`;
      tl.add('log', text.length > 240 ? `${text.slice(0, 237)}...` : text);
    }
  };
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    stream?.on('end', () => {
      if (buf !== '') onLine(buf);
      buf = '';
    });
  }
  let exitedAt: number | undefined;
  child.on('exit', () => {
    exitedAt = tl.now();
  });
  // 'close' comes after the output streams ended, so the logs are complete when `exited` resolves.
  child.on('close', (code, signal) => {
    clearInterval(rssTimer);
    run.exitedAt = exitedAt ?? tl.now();
    run.exitCode = code;
    run.signal = signal;
    const after = ((run.exitedAt - run.startedAt) / 1000).toFixed(2);
    const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
    tl.add('container', `${local.name} ${how} after ${after}s${run.killedFor ? ` (${run.killedFor})` : ''}`);
    resolveExit();
  });
  child.on('error', (err) => {
    tl.add('container', `${local.name} failed to start: ${err.message}`);
  });
  tl.add('container', `${local.name} started (pid ${child.pid ?? '?'}${restart > 0 ? `, restart ${restart}` : ''})`);
  return run;
}

export class Kubelet {
  readonly runs: ContainerRun[] = [];
  readonly initRuns: ContainerRun[] = [];
  readonly probes: ProbeRecord[] = [];
  /** The serving container's startup probe passed (kubelet `Started`). */
  started = false;
  ready = false;
  restarts = 0;
  terminating = false;
  /** Timeline ms of the last SIGTERM the kubelet sent to the serving container. */
  sigtermAt: number | undefined;
  /** The kubelet gave up (maxRestarts reached, or an init container never succeeded). */
  stoppedRestarting = false;
  private disposed = false;
  private readonly server: ResolvedContainer;
  private readonly serverLocal: LocalContainer;
  private current: ContainerRun | undefined;
  private stopWorkers: (() => void) | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly tl: Timeline;

  constructor(private readonly o: KubeletOptions) {
    this.tl = o.timeline;
    if (o.pod.containers.length !== 1) throw new Error(`${o.pod.label}: the harness runs pods with exactly one container`);
    this.server = o.pod.containers[0] as ResolvedContainer;
    const local = o.local.get(this.server.name);
    if (!local) throw new Error(`no local form for container ${this.server.name}`);
    this.serverLocal = local;
  }

  get scale(): number {
    return this.o.scale;
  }

  get startupAllowanceMs(): number {
    return this.o.startupAllowanceMs ?? 0;
  }

  /** Manifest seconds -> ms at this kubelet's scale. */
  ms(seconds: number): number {
    return Math.round(seconds * 1000 * this.o.scale);
  }

  /** The serving container's current (latest) run. */
  get currentRun(): ContainerRun | undefined {
    return this.current;
  }

  /** Local port the service listens on (the manifest's port mapped). */
  get servicePort(): number {
    const p = [...this.serverLocal.portMap.values()][0];
    if (p === undefined) throw new Error('the serving container has no mapped port');
    return p;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.servicePort}`;
  }

  /** Wakes `waitFor` callers; called on every state change. */
  private changed(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves true once `pred()` holds, false after `timeoutMs`. */
  waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (pred()) {
          cleanup();
          resolve(true);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        resolve(pred());
      }, timeoutMs);
      const poll = setInterval(check, 25);
      const cleanup = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  // ------------------------------------------------------------------------------ processes

  private spawnContainer(local: LocalContainer, restart: number, list: ContainerRun[]): ContainerRun {
    const run = spawnContainer(local, restart, this.tl, this.o.logFilter);
    list.push(run);
    void run.exited.then(() => this.changed());
    return run;
  }

  /** Runs the init containers in order, each until it exits 0 (restarting failures with back-off). */
  private async runInitContainers(): Promise<boolean> {
    for (const c of this.o.pod.initContainers) {
      const local = this.o.local.get(c.name);
      if (!local) throw new Error(`no local form for init container ${c.name}`);
      for (let attempt = 0; ; attempt++) {
        if (this.disposed || this.terminating) return false;
        const run = this.spawnContainer(local, attempt, this.initRuns);
        await run.exited;
        if (run.exitCode === 0) break;
        if (attempt >= (this.o.maxRestarts ?? Infinity)) {
          this.tl.add('kubelet', `init container ${c.name} failed ${attempt + 1}× (Init:CrashLoopBackOff); harness stops here`);
          this.stoppedRestarting = true;
          this.changed();
          return false;
        }
        const wait = this.ms(backoffSeconds(attempt + 1));
        this.tl.add('kubelet', `init container ${c.name} failed: restarting after back-off ${(wait / 1000).toFixed(2)}s`);
        await sleep(wait);
      }
    }
    return true;
  }

  /** Starts the pod: init containers to completion, then the serving container and its probes. */
  async start(): Promise<void> {
    for (const local of this.o.local.values()) for (const n of local.notes) this.tl.note(n);
    if (!this.o.skipInit && this.o.pod.initContainers.length > 0) {
      const ok = await this.runInitContainers();
      if (!ok) return;
    } else if (this.o.pod.initContainers.length > 0) {
      this.tl.note(`init containers skipped by the scenario (${this.o.pod.initContainers.map((c) => c.name).join(', ')})`);
    }
    this.startServer();
  }

  private startServer(): void {
    if (this.disposed || this.terminating) return;
    this.started = false;
    this.setReady(false, 'container (re)started');
    const run = this.spawnContainer(this.serverLocal, this.restarts, this.runs);
    this.current = run;
    this.stopWorkers = this.startProbeWorkers(run);
    void run.exited.then(() => this.onServerExit(run));
    this.changed();
  }

  private onServerExit(run: ContainerRun): void {
    this.stopWorkers?.();
    this.stopWorkers = undefined;
    this.started = false;
    this.setReady(false, 'container exited');
    if (this.terminating || this.disposed) return;
    if (run.killedFor !== undefined) return; // the kill path restarts it
    this.scheduleRestart(`exit code ${String(run.exitCode ?? run.signal)}`);
  }

  private scheduleRestart(why: string): void {
    const next = this.restarts + 1;
    if (next > (this.o.maxRestarts ?? Infinity)) {
      const wait = backoffSeconds(next);
      this.tl.add(
        'kubelet',
        `would restart ${this.server.name} (${why}) as restart ${next} after back-off ${wait}s (scaled ${(this.ms(wait) / 1000).toFixed(2)}s); harness stops here`,
      );
      this.stoppedRestarting = true;
      this.changed();
      return;
    }
    const wait = this.ms(backoffSeconds(next));
    this.tl.add('kubelet', `restarting ${this.server.name} (${why}): restart ${next} after back-off ${(wait / 1000).toFixed(2)}s`);
    setTimeout(() => {
      if (this.disposed || this.terminating) return;
      this.restarts = next;
      this.startServer();
    }, wait);
  }

  private setReady(ready: boolean, why: string): void {
    if (this.ready === ready) return;
    this.ready = ready;
    this.tl.add('kubelet', `${ready ? 'Ready' : 'NotReady'} (${why})`);
    this.changed();
  }

  // ------------------------------------------------------------------------------ probes

  private startProbeWorkers(run: ContainerRun): () => void {
    let stopped = false;
    const triggers: (() => void)[] = [];
    const c = this.server;
    if (!c.startupProbe) {
      this.started = true;
      this.tl.add('kubelet', `${c.name} started (no startup probe)`);
    }
    if (!c.readinessProbe) {
      // No readiness probe: Ready as soon as started (checked on state changes).
      const check = (): void => {
        if (!stopped && this.started && this.current === run) this.setReady(true, 'no readiness probe');
      };
      this.waiters.add(check);
      triggers.push(() => this.waiters.delete(check));
    }
    for (const spec of [c.startupProbe, c.readinessProbe, c.livenessProbe]) {
      if (!spec) continue;
      let wake: (() => void) | undefined;
      const trigger = (): void => wake?.();
      if (spec.kind === 'readiness') this.readinessTrigger = trigger;
      void this.probeWorker(
        run,
        spec,
        () => stopped,
        (w) => (wake = w),
      );
    }
    return () => {
      stopped = true;
      for (const t of triggers) t();
    };
  }

  private readinessTrigger: (() => void) | undefined;

  private async probeWorker(run: ContainerRun, spec: ProbeSpec, isStopped: () => boolean, setWake: (w: () => void) => void): Promise<void> {
    const period = this.ms(spec.periodSeconds);
    const timeout = this.ms(spec.timeoutSeconds);
    const delay = this.ms(spec.initialDelaySeconds);
    // Startup failures inside the process-start allowance are shown but not counted (timescale.ts).
    const allowanceEnd = delay + (spec.kind === 'startup' ? (this.o.startupAllowanceMs ?? 0) : 0);
    const port = this.serverLocal.portMap.get(spec.port) ?? 1; // an unmapped port: nothing listens on 1
    if (!this.serverLocal.portMap.has(spec.port)) {
      this.tl.note(`${spec.kind} probe targets port ${spec.port}, but the service listens on ${[...this.serverLocal.portMap.keys()].join(',')}`);
    }
    let lastOk: boolean | undefined;
    let runLen = 0;
    let onHold = false;
    const tickStart = performance.now();
    let tick = 0;
    for (;;) {
      if (isStopped() || this.disposed) return;
      const sinceStart = this.tl.now() - run.startedAt;
      const eligible =
        !onHold &&
        sinceStart >= delay &&
        (spec.kind === 'startup' ? !this.started : this.started) &&
        // During termination only readiness keeps counting (the kubelet does not restart a terminating pod).
        !(this.terminating && spec.kind === 'startup');
      if (eligible) {
        const sentAt = this.tl.now();
        const outcome = await httpProbe(port, spec, timeout);
        if (isStopped() || this.disposed) return;
        if (!outcome.ok && sentAt - run.startedAt < allowanceEnd) {
          this.probes.push({ probe: spec.kind, sentAt, at: this.tl.now(), outcome, run: 0, restart: run.restart });
          this.tl.add('probe', `${spec.kind} ${describeOutcome(outcome)} (process-start allowance: not counted)`, { name: spec.kind, ok: false, fold: true });
        } else {
          if (lastOk === outcome.ok) runLen++;
          else {
            lastOk = outcome.ok;
            runLen = 1;
          }
          this.probes.push({ probe: spec.kind, sentAt, at: this.tl.now(), outcome, run: runLen, restart: run.restart });
          const threshold = outcome.ok ? spec.successThreshold : spec.failureThreshold;
          const counted = runLen >= threshold;
          const progress = outcome.ok ? (threshold > 1 ? ` (${runLen}/${threshold})` : '') : ` (${Math.min(runLen, threshold)}/${threshold})`;
          this.tl.add('probe', `${spec.kind} ${describeOutcome(outcome)}${progress}${outcome.ok ? '' : ` [${outcome.ms} ms]`}`, {
            name: spec.kind,
            ok: outcome.ok,
          });
          if (counted) this.onProbeResult(run, spec, outcome.ok, () => (onHold = true));
        }
      }
      // Next tick of the ticker (ticks missed while a probe ran are dropped, like a Go ticker).
      tick = Math.max(tick + 1, Math.ceil((performance.now() - tickStart) / period));
      const wait = tickStart + tick * period - performance.now();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, wait));
        setWake(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private onProbeResult(run: ContainerRun, spec: ProbeSpec, ok: boolean, hold: () => void): void {
    if (this.current !== run) return;
    const startedFor = ((this.tl.now() - run.startedAt) / 1000).toFixed(2);
    if (spec.kind === 'startup') {
      if (ok) {
        if (!this.started) {
          this.started = true;
          this.tl.add('kubelet', `${run.name} Started (startup probe passed ${startedFor}s after container start)`);
          this.changed();
          this.readinessTrigger?.();
        }
        return;
      }
      hold();
      if (this.terminating) return;
      void this.killAndRestart(run, `startup probe failed ${spec.failureThreshold}×`);
      return;
    }
    if (spec.kind === 'liveness') {
      if (ok) return;
      hold();
      if (this.terminating) return;
      void this.killAndRestart(run, `liveness probe failed ${spec.failureThreshold}×`);
      return;
    }
    this.setReady(ok, `readiness ${ok ? 'passed' : `failed ${spec.failureThreshold}×`}`);
  }

  // ------------------------------------------------------------------------------ kill / terminate

  /** preStop, SIGTERM, SIGKILL at the deadline; resolves when the process is gone. */
  private async killContainer(run: ContainerRun, why: string): Promise<TerminationResult> {
    const startedAt = this.tl.now();
    const graceMs = this.ms(this.o.pod.terminationGracePeriodSeconds);
    const deadlineAt = startedAt + graceMs;
    run.killedFor = why;
    const preStop = this.server.preStop;
    if (preStop && run.exitedAt === undefined) {
      const ms = this.preStopMs(preStop);
      this.tl.add('kubelet', `preStop ${JSON.stringify(preStop)} -> sleeping ${(ms / 1000).toFixed(2)}s (scaled)`);
      await Promise.race([sleep(Math.min(ms, graceMs)), run.exited]);
    }
    let sigtermAt = this.tl.now();
    let sigkilled = false;
    if (run.exitedAt === undefined) {
      sigtermAt = this.tl.now();
      this.sigtermAt = sigtermAt;
      this.tl.add(
        'kubelet',
        `SIGTERM ${run.name} (grace period ${this.o.pod.terminationGracePeriodSeconds}s, scaled ${(graceMs / 1000).toFixed(2)}s, ends t=+${(deadlineAt / 1000).toFixed(2)}s)`,
      );
      run.child.kill('SIGTERM');
      const left = deadlineAt - this.tl.now();
      const inTime = await Promise.race([run.exited.then(() => true), sleep(left).then(() => false)]);
      if (!inTime && run.exitedAt === undefined) {
        sigkilled = true;
        this.tl.add('kubelet', `grace period over: SIGKILL ${run.name}`);
        run.child.kill('SIGKILL');
        await run.exited;
      }
    }
    return {
      startedAt,
      sigtermAt,
      deadlineAt,
      exitedAt: run.exitedAt,
      exitCode: run.exitCode,
      signal: run.signal,
      exitedBeforeDeadline: run.exitedAt !== undefined && run.exitedAt <= deadlineAt && !sigkilled,
      sigkilled,
    };
  }

  /** Only `sleep N` is modelled (the manifests' preStop); it sleeps N seconds scaled. */
  private preStopMs(cmd: readonly string[]): number {
    const [exe, arg] = cmd;
    if ((exe === 'sleep' || exe === '/bin/sleep') && arg !== undefined && /^\d+(\.\d+)?$/.test(arg) && cmd.length === 2) {
      return this.ms(Number(arg));
    }
    throw new Error(`preStop ${JSON.stringify(cmd)}: only "sleep N" is modelled by the harness`);
  }

  private async killAndRestart(run: ContainerRun, why: string): Promise<void> {
    this.tl.add('kubelet', `${why}: killing ${run.name} to restart it`);
    await this.killContainer(run, why);
    if (this.disposed || this.terminating) return;
    this.scheduleRestart(why);
  }

  /** Deletes the pod: preStop, SIGTERM, SIGKILL after terminationGracePeriodSeconds. Probes keep running. */
  async terminate(): Promise<TerminationResult | undefined> {
    this.terminating = true;
    this.tl.add('kubelet', 'pod deleted (rollout): terminating');
    const run = this.current;
    if (!run || run.exitedAt !== undefined) return undefined;
    const r = await this.killContainer(run, 'pod terminated');
    this.changed();
    return r;
  }

  /** Stops everything at once (test cleanup): SIGKILL whatever still runs. */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.stopWorkers?.();
    for (const run of [...this.runs, ...this.initRuns]) {
      if (run.exitedAt === undefined) {
        run.killedFor ??= 'harness cleanup, end of scenario';
        run.child.kill('SIGKILL');
        await run.exited;
      }
    }
    this.changed();
  }
}
