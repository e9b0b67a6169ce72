/**
 * The conformance scenarios. Each takes a Deployment (as committed in dist/, or broken in memory by
 * break-demo.ts), runs the real service under the kubelet simulation and returns a ScenarioResult:
 * the timeline and a list of checks. Nothing here knows which Deployment it runs: every number
 * (probe schedule, thresholds, preStop, grace period, PARALLEL, timeouts) comes from the manifest.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { containerCommands, endpoints, envVars, inferencePaths, serverRuntimeEnv } from '../../service/contract.js';
import { parseSplitName } from '../../service/model/split-name.js';
import { measureTokensPerSecond, streamChat, type StreamHandle, type StreamResult } from './client.js';
import { envValue, parseQuantity, resolvePod, type DeploymentFile, type ResolvedContainer } from './deployment.js';
import { Checks, createPod, fmtS, sha256File, startupWindowMs, type Fixture, type PodOptions, type PodUnderTest, type ScenarioResult } from './harness.js';
import { httpProbe, spawnContainer, type ContainerRun } from './kubelet.js';
import { Timeline } from './timeline.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function result(p: { timeline: Timeline }, scenario: string, d: DeploymentFile, checks: Checks, facts: ScenarioResult['facts'] = {}): ScenarioResult {
  return { scenario, deployment: d.label, timeline: p.timeline, checks: checks.list, facts };
}

/** Starts the pod and waits until Ready, a restart, or the kubelet giving up (startup window × 2 + 20 s of machine time). */
async function startAndWaitReady(p: PodUnderTest): Promise<boolean> {
  await p.kubelet.start();
  const k = p.kubelet;
  await k.waitFor(() => k.ready || k.restarts > 0 || k.stoppedRestarting, startupWindowMs(k, p.server) * 2 + 20_000);
  return k.ready;
}

function probesBetween(p: PodUnderTest, kind: string, from: number, to: number): { ok: boolean; at: number; sentAt: number }[] {
  return p.kubelet.probes.filter((r) => r.probe === kind && r.sentAt >= from && r.sentAt <= to).map((r) => ({ ok: r.outcome.ok, at: r.at, sentAt: r.sentAt }));
}

function maxConsecutiveFailures(p: PodUnderTest, kind: string): number {
  let max = 0;
  let run = 0;
  // run 0: inside the process-start allowance, not counted by the kubelet either.
  for (const r of p.kubelet.probes.filter((x) => x.probe === kind && x.run > 0)) {
    run = r.outcome.ok ? 0 : run + 1;
    max = Math.max(max, run);
  }
  return max;
}

/** Runs the kubelet killed for a probe failure (not pod deletion, not the harness's own cleanup). */
function killedRuns(p: PodUnderTest): ContainerRun[] {
  return p.kubelet.runs.filter((r) => r.killedFor !== undefined && /probe failed/.test(r.killedFor));
}

function describeStreams(rs: StreamResult[]): string {
  return rs
    .map(
      (r) =>
        `#${r.id}: ${r.status ?? '-'} ${r.completionTokens ?? r.chunks} tok ${r.finishReason ?? '-'}${r.sawDone ? ' [DONE]' : ''}${r.error ? ` (${r.error})` : ''}`,
    )
    .join('; ');
}

/** Polls an endpoint every 50 ms (outside the kubelet) and logs only changes of its answer. */
function observe(p: PodUnderTest, pathName: string): { stop(): void; phases: { from: number; to: number; answer: string }[] } {
  const phases: { from: number; to: number; answer: string }[] = [];
  let stopped = false;
  void (async () => {
    while (!stopped) {
      const at = p.timeline.now();
      const o = await httpProbe(p.kubelet.servicePort, { path: pathName, headers: {} }, 1000);
      let answer = o.error ?? String(o.status);
      if (o.status !== undefined && o.body) {
        try {
          const b = JSON.parse(o.body) as { state?: string };
          if (b.state) answer = `${o.status} ${b.state}`;
        } catch {
          /* not JSON */
        }
      }
      const last = phases[phases.length - 1];
      if (last && last.answer === answer) last.to = p.timeline.now();
      else {
        phases.push({ from: at, to: p.timeline.now(), answer });
        p.timeline.add('server', `observer (every 50 ms, not the kubelet): GET ${pathName} now answers ${answer}`);
      }
      await sleep(50);
    }
  })();
  return {
    phases,
    stop: () => {
      stopped = true;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 0. Wiring: what the manifest tells the service, checked against the service's contract
// ---------------------------------------------------------------------------------------------

export function wiring(d: DeploymentFile): ScenarioResult {
  const pod = resolvePod(d);
  const timeline = new Timeline(`${d.label} (${d.file}) — wiring`);
  const c = new Checks();
  const server = pod.containers[0] as ResolvedContainer;
  // model/ref.ts and model/acquire.ts also read HF_ENDPOINT and HF_TOKEN.
  // The service's own variables, plus the Node.js / glibc runtime settings the contract defines.
  const known = new Set<string>([...Object.values(envVars), ...Object.keys(serverRuntimeEnv), 'HF_ENDPOINT', 'HF_TOKEN']);
  const unknown = (ct: ResolvedContainer): string[] => ct.env.map((e) => e.name).filter((n) => !known.has(n));
  c.must('server command is the image entry point', JSON.stringify(server.command) === JSON.stringify(containerCommands.serve), JSON.stringify(server.command));
  for (const init of pod.initContainers) {
    c.must(
      `init ${init.name} command is fetch-model`,
      JSON.stringify(init.command) === JSON.stringify(containerCommands.fetchModel),
      JSON.stringify(init.command),
    );
    for (const v of [envVars.model, envVars.modelSha256, envVars.modelCacheDir]) {
      c.must(`init ${init.name} and server agree on ${v}`, envValue(init, v) === envValue(server, v), `${envValue(init, v)} vs ${envValue(server, v)}`);
    }
    c.must(`init ${init.name} env names are read by the service`, unknown(init).length === 0, unknown(init).join(', ') || 'all known');
  }
  c.must('server env names are read by the service', unknown(server).length === 0, unknown(server).join(', ') || 'all known');
  // MODEL_CACHE_DIR must be a mount of one and the same volume in the init container and the server.
  const cacheVolume = (ct: ResolvedContainer): string | undefined => {
    const dir = envValue(ct, envVars.modelCacheDir) ?? '/models';
    return ct.raw.volumeMounts?.find((m) => m.mountPath === dir && !m.subPath && !m.readOnly)?.name;
  };
  const serverVolume = cacheVolume(server);
  c.must(
    'server MODEL_CACHE_DIR is a writable volume mount',
    serverVolume !== undefined,
    `${envValue(server, envVars.modelCacheDir) ?? '/models'} -> ${serverVolume ?? 'not mounted'}`,
  );
  for (const init of pod.initContainers) {
    c.must(
      `init ${init.name} writes the cache volume the server reads`,
      cacheVolume(init) !== undefined && cacheVolume(init) === serverVolume,
      `${cacheVolume(init) ?? 'not mounted'} vs ${serverVolume ?? 'not mounted'}`,
    );
  }
  const port = Number(envValue(server, envVars.port) ?? 8080);
  for (const pr of [server.startupProbe, server.readinessProbe, server.livenessProbe]) {
    if (!pr) continue;
    c.must(`${pr.kind} probe hits the port the service listens on`, pr.port === port, `probe ${pr.port}, PORT ${port}`);
    c.must(`${pr.kind} probe never runs the model`, !inferencePaths.includes(pr.path), pr.path);
    const expected = { startup: endpoints.startup, readiness: endpoints.ready, liveness: endpoints.live }[pr.kind];
    c.must(`${pr.kind} probe uses ${expected}`, pr.path === expected, pr.path);
  }
  // GPU offload and the GPU resource go together: GPU_LAYERS != 0 without a GPU serves from the CPU, a GPU
  // with GPU_LAYERS=0 is a GPU paid for and unused.
  const gpus = Object.entries({ ...server.raw.resources?.requests, ...server.raw.resources?.limits })
    .filter(([name]) => /(^|\.)gpu$|nvidia\.com\/|amd\.com\/gpu/.test(name))
    .reduce((n, [, q]) => n + parseQuantity(q), 0);
  const offload = (envValue(server, envVars.gpuLayers) ?? '0').trim() !== '0';
  c.must('GPU_LAYERS and the GPU resource agree', offload === gpus > 0, `GPU_LAYERS=${envValue(server, envVars.gpuLayers) ?? '(unset)'}, GPUs ${gpus}`);
  const grace = pod.terminationGracePeriodSeconds;
  const preStop = server.preStop?.[0] === 'sleep' ? Number(server.preStop[1]) : 0;
  const shutdownMs = Number(envValue(server, envVars.shutdownGraceMs) ?? 20_000);
  // server.ts: after SHUTDOWN_GRACE_MS it aborts what is left, waits up to 3 s, then closes (<= 5 s).
  const worst = preStop + shutdownMs / 1000 + 3 + 5;
  c.must(
    'preStop + SHUTDOWN_GRACE_MS + abort/close bounds fit the grace period',
    worst <= grace,
    `${preStop} + ${shutdownMs / 1000} + 3 + 5 = ${worst}s vs terminationGracePeriodSeconds ${grace}s`,
  );
  for (const e of server.env.filter((x) => x.from)) timeline.note(`${e.name}=${e.value} from ${e.from}`);
  return { scenario: 'wiring', deployment: d.label, timeline, checks: c.list, facts: {} };
}

// ---------------------------------------------------------------------------------------------
// 1. Slow model load
// ---------------------------------------------------------------------------------------------

/**
 * The server container downloads the model itself (init container skipped, empty cache) from a
 * throttled local server, so acquiring the model takes `fraction` of the startup window.
 * Expect: no restart, Ready only after the model is loaded.
 */
export async function slowLoad(
  d: DeploymentFile,
  fx: Fixture,
  opts: { fraction?: number; downloadMs?: number; pod?: PodOptions } = {},
): Promise<ScenarioResult> {
  const pod0 = resolvePod(d);
  const sp = pod0.containers[0]?.startupProbe;
  const windowMs = Math.round((sp ? sp.periodSeconds * sp.failureThreshold + sp.initialDelaySeconds : 30) * 1000 * fx.scale);
  const downloadMs = opts.downloadMs ?? (opts.fraction ?? 0.4) * windowMs;
  const fraction = downloadMs / windowMs;
  const bytesPerSecond = Math.round(fx.modelBytes / (downloadMs / 1000));
  const p = await createPod(d, fx, 'slow model load', { skipInit: true, bytesPerSecond, ...opts.pod });
  const c = new Checks();
  const k = p.kubelet;
  try {
    p.timeline.note(
      `model served at ${(bytesPerSecond / 1e6).toFixed(1)} MB/s: the download alone takes ≈${fmtS(downloadMs)} = ${Math.round(fraction * 100)}% of the scaled startup window ${fmtS(windowMs)}`,
    );
    const obs = observe(p, endpoints.startup);
    const ready = await startAndWaitReady(p);
    // Stay two readiness periods more: Ready must hold.
    await sleep(k.ms(p.server.readinessProbe?.periodSeconds ?? 10) * 2);
    obs.stop();

    const req = (p.modelServer?.requestsFor(p.modelUrlPath) ?? []).filter((r) => r.status === 200 || r.status === 206);
    const full = req.find((r) => r.bytesSent === fx.modelBytes || r.status === 206);
    const downloadEnd = req.reduce((m, r) => Math.max(m, r.endedAt ?? Infinity), 0);
    const downloadTook = full && full.endedAt !== undefined ? full.endedAt - full.at : undefined;
    const firstStartupOk = k.probes.find((r) => r.probe === 'startup' && r.outcome.ok);
    const firstReadyOk = k.probes.find((r) => r.probe === 'readiness' && r.outcome.ok);
    const threshold = p.server.startupProbe?.failureThreshold ?? 0;

    c.must(
      'no restart',
      k.restarts === 0 && killedRuns(p).length === 0 && k.runs.length === 1,
      `restarts=${k.restarts}, containers run=${k.runs.length}${killedRuns(p)
        .map((r) => `, killed: ${r.killedFor}`)
        .join('')}`,
    );
    c.must('Ready', ready, ready ? `Ready at t=+${fmtS(p.timeline.select('kubelet').find((e) => e.text.startsWith('Ready'))?.at)}` : 'never became Ready');
    c.must(
      'the server container downloaded the model at start, throttled',
      full !== undefined && downloadTook !== undefined && downloadTook >= downloadMs * 0.8,
      full ? `${(full.bytesSent / 1e6).toFixed(1)} MB in ${fmtS(downloadTook)} (target ${fmtS(downloadMs)})` : 'no complete download seen',
    );
    c.must(
      'startup passed only after the download (Ready only after load)',
      firstStartupOk !== undefined && firstStartupOk.sentAt >= downloadEnd && (firstReadyOk === undefined || firstReadyOk.sentAt >= firstStartupOk.sentAt),
      `download ended t=+${fmtS(downloadEnd)}, first startup 200 sent t=+${fmtS(firstStartupOk?.sentAt)}, first readiness 200 sent t=+${fmtS(firstReadyOk?.sentAt)}`,
    );
    c.must(
      'startup failures stayed below failureThreshold',
      maxConsecutiveFailures(p, 'startup') < threshold,
      `${maxConsecutiveFailures(p, 'startup')} consecutive failures of ${threshold} allowed`,
    );
    // The contract (service/contract.ts: startup "503 until the model has loaded once") needs the service to
    // listen before acquiring the model (it did not until d1ba099). The observer's answers while the download
    // was in flight (before it, the process was still booting: refused is expected):
    const downloadStart = req.reduce((m, r) => Math.min(m, r.at), Infinity);
    // ...and before any SIGTERM (a process shutting down stops listening, rightly).
    const until = Math.min(downloadEnd, k.sigtermAt ?? Infinity);
    const during = obs.phases.filter((ph) => ph.to >= downloadStart && ph.from <= until);
    const refusedWhileDownloading = during.length === 0 || during.some((ph) => !/^\d/.test(ph.answer));
    c.must(
      'probes get an HTTP answer (503) while the model is downloaded, not connection refused',
      !refusedWhileDownloading,
      `download t=+${fmtS(downloadStart)}..+${fmtS(downloadEnd)}: ${during.map((ph) => `${ph.answer} t=+${fmtS(ph.from)}..+${fmtS(ph.to)}`).join(', ') || 'no observation'}`,
    );
    const sawLoading = obs.phases.some((ph) => ph.answer === '503 loading');
    c.must('startup answers 503 {state: loading} while the model loads', sawLoading, obs.phases.map((ph) => ph.answer).join(' -> '));
    return result(p, 'slow model load', d, c, {
      startupWindow: `${fmtS(startupWindowMs(k, p.server))} (${fmtS(windowMs)} scaled + ${fmtS(k.startupAllowanceMs)} process start)`,
      download: fmtS(downloadTook),
      startedAfter: fmtS(firstStartupOk ? firstStartupOk.at - (k.runs[0]?.startedAt ?? 0) : undefined),
      startupFailures: p.kubelet.probes.filter((r) => r.probe === 'startup' && !r.outcome.ok && r.run > 0).length,
      startupFailuresInAllowance: p.kubelet.probes.filter((r) => r.probe === 'startup' && r.run === 0).length,
    });
  } finally {
    await p.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 2 + 3. One serving pod (init container, then the server, as in the cluster): every sequence busy,
//        then a rollout with streams in flight
// ---------------------------------------------------------------------------------------------

export interface BusyOptions {
  /** Length of the load phase in liveness periods; default 4. */
  periods?: number;
}

/**
 * PARALLEL long streaming generations (replaced as they finish) keep every sequence busy for
 * `periods` liveness periods. Expect: zero liveness failures, zero restarts, Ready throughout.
 * Returns the checks and the per-stream token rate seen (the rollout sizes its streams with it).
 */
async function busyPhase(p: PodUnderTest, c: Checks, opts: BusyOptions): Promise<{ facts: ScenarioResult['facts']; rate: number }> {
  const k = p.kubelet;
  const live = p.server.livenessProbe;
  const periods = opts.periods ?? 4;
  const phaseMs = periods * k.ms(live?.periodSeconds ?? 10);
  const maxTokens = Math.max(16, Math.min(p.maxCompletionLength, p.contextSize - 128));
  const now = (): number => p.timeline.now();
  const auth = p.apiKey ? { apiKey: p.apiKey } : {};
  p.timeline.add(
    'client',
    `load phase: ${p.parallel} streams (PARALLEL) × max_tokens ${maxTokens}, replaced as they finish, for ${periods} liveness periods (${fmtS(phaseMs)})`,
  );
  const phaseStart = now();
  const phaseEnd = phaseStart + phaseMs;
  const handles: StreamHandle[] = [];
  let busyMetric: string | undefined;
  const workers = Array.from({ length: p.parallel }, async () => {
    while (phaseEnd - now() > 50 && !k.stoppedRestarting) {
      const h = streamChat(k.baseUrl, { maxTokens, now, ...auth });
      handles.push(h);
      await Promise.race([h.done, sleep(phaseEnd - now())]);
      // Time is up (timers may fire a fraction of a ms early, so decide by the stream, not the clock).
      if (h.result.endedAt === undefined) h.abort();
      const r = await h.done;
      if (r.status !== 200) await sleep(100);
    }
  });
  const sampler = (async () => {
    await sleep(phaseMs / 2);
    try {
      const text = await (await fetch(`${k.baseUrl}${endpoints.metrics}`)).text();
      busyMetric = /^llm_busy_sequences(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1];
      p.timeline.add('client', `mid-phase /metrics: llm_busy_sequences ${busyMetric ?? '?'} of ${p.parallel}`);
    } catch (err) {
      p.timeline.add('client', `mid-phase /metrics failed: ${(err as Error).message}`);
    }
  })();
  await Promise.all([...workers, sampler]);
  const results = await Promise.all(handles.map((h) => h.done));
  const tokens = results.reduce((n, r) => n + r.chunks, 0);
  // Per-stream rate with every sequence busy, from each stream's first token on.
  const streamed = results.filter((r) => r.firstTokenAt !== undefined && r.endedAt !== undefined);
  const busySeconds = streamed.reduce((t, r) => t + ((r.endedAt as number) - (r.firstTokenAt as number)) / 1000, 0);
  const rate = busySeconds > 0 ? streamed.reduce((n, r) => n + r.chunks, 0) / busySeconds : 0;
  p.timeline.add('client', `load phase over: ${results.length} streams, ${tokens} tokens, ≈${rate.toFixed(1)} tok/s per stream`);

  const liveness = probesBetween(p, 'liveness', phaseStart, phaseEnd);
  const readiness = probesBetween(p, 'readiness', phaseStart, phaseEnd);
  const notReady = p.timeline.select('kubelet').filter((e) => e.text.startsWith('NotReady') && e.at >= phaseStart && e.at <= phaseEnd);
  const first = results.slice(0, p.parallel);
  c.must(
    'every sequence was generating',
    busyMetric !== undefined && Number(busyMetric) === p.parallel && first.length === p.parallel && first.every((r) => r.status === 200 && r.chunks > 0),
    `llm_busy_sequences=${busyMetric ?? '?'} of PARALLEL=${p.parallel}; ${describeStreams(first)}`,
  );
  c.must('liveness probed through the phase', liveness.length >= periods - 1, `${liveness.length} liveness probes in ${fmtS(phaseMs)}`);
  c.must(
    'zero liveness failures',
    liveness.every((r) => r.ok),
    `${liveness.filter((r) => !r.ok).length} of ${liveness.length} failed`,
  );
  c.must(
    'zero restarts',
    k.restarts === 0 && killedRuns(p).length === 0,
    `restarts=${k.restarts}${killedRuns(p)
      .map((r) => `; the kubelet killed the container: ${r.killedFor}`)
      .join('')}`,
  );
  c.must(
    'readiness stayed true',
    readiness.length > 0 && notReady.length === 0 && k.ready,
    `NotReady transitions: ${notReady.length}; ${readiness.filter((r) => !r.ok).length} of ${readiness.length} readiness probes failed (failureThreshold ${p.server.readinessProbe?.failureThreshold})`,
  );
  return { facts: { phase: fmtS(phaseMs), streams: results.length, tokens, livenessProbes: liveness.length, tokPerSecPerStream: Math.round(rate) }, rate };
}

/**
 * PARALLEL streams in flight, then the pod is deleted: preStop (scaled), SIGTERM, SIGKILL at the
 * (scaled) grace period. Streams are sized from the measured per-stream rate to outlast preStop plus
 * four readiness periods (×1.5), capped at half the scaled SHUTDOWN_GRACE_MS. Expect: readiness fails
 * within one probe period of SIGTERM, every stream completes, a new request is refused with 503,
 * exit 0 before the grace period ends.
 */
async function rolloutPhase(p: PodUnderTest, c: Checks, rate: number): Promise<ScenarioResult['facts']> {
  const k = p.kubelet;
  const now = (): number => p.timeline.now();
  const auth = p.apiKey ? { apiKey: p.apiKey } : {};
  const rp = p.server.readinessProbe;
  const readyPeriod = k.ms(rp?.periodSeconds ?? 10);
  const preStopMs = p.server.preStop?.[0] === 'sleep' ? k.ms(Number(p.server.preStop[1])) : 0;
  const shutdownGraceMs = Number(p.local.get(p.server.name)?.env[envVars.shutdownGraceMs] ?? 20_000);
  const targetMs = (preStopMs + 4 * readyPeriod + 500) * 1.5;
  const room = Math.min(p.maxCompletionLength, p.contextSize - 128);
  const cap = Math.max(16, Math.floor((rate * shutdownGraceMs * 0.5) / 1000));
  const maxTokens = Math.max(16, Math.min(room, cap, Math.ceil((rate * targetMs) / 1000)));
  p.timeline.add(
    'client',
    `rollout streams: max_tokens ${maxTokens} ≈ ${fmtS((maxTokens / Math.max(rate, 0.1)) * 1000)} at ${rate.toFixed(1)} tok/s (target 1.5 × (preStop ${fmtS(preStopMs)} + 4 readiness periods + 0.5 s), at most half of SHUTDOWN_GRACE_MS ${shutdownGraceMs} ms)`,
  );
  const handles: StreamHandle[] = [];
  try {
    for (let i = 0; i < p.parallel; i++) handles.push(streamChat(k.baseUrl, { maxTokens, now, ...auth }));
    const inFlight = await k.waitFor(() => handles.every((h) => h.result.chunks > 0 || h.result.endedAt !== undefined), 15_000);
    p.timeline.add('client', `${handles.filter((h) => h.result.chunks > 0 && h.result.endedAt === undefined).length} of ${p.parallel} streams in flight`);
    c.must(
      'streams in flight before the rollout',
      inFlight && handles.every((h) => h.result.endedAt === undefined),
      describeStreams(handles.map((h) => h.result)),
    );

    const run = k.currentRun;
    const terminated = k.terminate();
    // A new request once the service answers readiness with 503 (it knows it is draining), or the process is gone.
    const lateRequest = (async () => {
      await k.waitFor(() => k.sigtermAt !== undefined || run?.exitedAt !== undefined, preStopMs + 10_000);
      const sigterm = k.sigtermAt ?? now();
      await k.waitFor(
        () => run?.exitedAt !== undefined || k.probes.some((r) => r.probe === 'readiness' && r.sentAt >= sigterm && !r.outcome.ok),
        readyPeriod * 3 + 2000,
      );
      const h = streamChat(k.baseUrl, { maxTokens: 8, now, ...auth });
      const r = await h.done;
      p.timeline.add('client', `new request after SIGTERM: ${r.status ?? r.error ?? '?'}${r.body ? ` ${r.body.replace(/\s+/g, ' ').slice(0, 90)}` : ''}`);
      return { r, exitedBefore: run?.exitedAt !== undefined && run.exitedAt <= (r.sentAt ?? 0) };
    })();
    const term = await terminated;
    const results = await Promise.all(handles.map((h) => h.done));
    const late = await lateRequest;
    for (const r of results) {
      p.timeline.add(
        'client',
        `stream #${r.id} ended t=+${fmtS(r.endedAt)}: ${r.completionTokens ?? r.chunks} tokens, finish_reason ${r.finishReason ?? '-'}${r.sawDone ? ', [DONE]' : ''}${r.error ? `, ${r.error}` : ''}`,
      );
    }

    const sigtermAt = k.sigtermAt;
    const afterSigterm = sigtermAt === undefined ? [] : k.probes.filter((r) => r.probe === 'readiness' && r.sentAt >= sigtermAt);
    const firstAfter = afterSigterm[0];
    const notReadyAt = p.timeline.select('kubelet').find((e) => e.text.startsWith('NotReady') && sigtermAt !== undefined && e.at >= sigtermAt)?.at;
    const exitedAt = run?.exitedAt;
    c.must(
      'streams still in flight at SIGTERM',
      sigtermAt !== undefined && results.every((r) => (r.endedAt ?? 0) > sigtermAt),
      `SIGTERM t=+${fmtS(sigtermAt)}; streams ended ${results.map((r) => `t=+${fmtS(r.endedAt)}`).join(', ')}`,
    );
    const readinessFailedInTime =
      firstAfter !== undefined && !firstAfter.outcome.ok && sigtermAt !== undefined && firstAfter.sentAt - sigtermAt <= readyPeriod + 50;
    const exitedInTime = firstAfter === undefined && exitedAt !== undefined && sigtermAt !== undefined && exitedAt - sigtermAt <= readyPeriod;
    c.must(
      'readiness fails within one probe period of SIGTERM',
      readinessFailedInTime || exitedInTime,
      firstAfter && sigtermAt !== undefined
        ? `first readiness probe after SIGTERM sent +${fmtS(firstAfter.sentAt - sigtermAt)} later: ${firstAfter.outcome.status ?? firstAfter.outcome.error}; kubelet NotReady +${fmtS(notReadyAt === undefined ? undefined : notReadyAt - sigtermAt)} (period ${fmtS(readyPeriod)}, failureThreshold ${rp?.failureThreshold})`
        : `no readiness probe after SIGTERM; container exited +${fmtS(exitedAt !== undefined && sigtermAt !== undefined ? exitedAt - sigtermAt : undefined)} after it`,
    );
    c.must(
      'every in-flight stream completed',
      results.every((r) => r.status === 200 && r.sawDone && !r.error && r.finishReason === 'length' && r.completionTokens === maxTokens),
      describeStreams(results),
    );
    c.must(
      'a new request during the drain is refused (503)',
      late.r.status === 503 || (late.exitedBefore && late.r.error === 'ECONNREFUSED'),
      `status ${late.r.status ?? late.r.error}${late.exitedBefore ? ' (the process had exited)' : ''}`,
    );
    c.must(
      'exit 0 before the grace period ends',
      term !== undefined && term.exitCode === 0 && term.exitedBeforeDeadline && !term.sigkilled,
      term
        ? `exit code ${term.exitCode ?? term.signal} at t=+${fmtS(term.exitedAt)}: ${fmtS((term.exitedAt ?? 0) - term.sigtermAt)} after SIGTERM, ${fmtS(term.deadlineAt - (term.exitedAt ?? 0))} before the deadline t=+${fmtS(term.deadlineAt)}`
        : 'the container had already exited',
    );
    c.must('no restart', k.restarts === 0 && killedRuns(p).length === 0, `restarts=${k.restarts}`);
    return {
      maxTokens,
      exitAfterSigterm: fmtS(term ? (term.exitedAt ?? 0) - term.sigtermAt : undefined),
      grace: fmtS(term ? term.deadlineAt - term.startedAt : undefined),
      readinessFailedAfter: fmtS(firstAfter && sigtermAt !== undefined ? firstAfter.at - sigtermAt : undefined),
    };
  } finally {
    for (const h of handles) h.abort();
  }
}

/**
 * One pod as the cluster runs it (init container downloads into the shared cache, the server finds it
 * there): Ready, then every sequence busy, then a rollout with streams in flight. Two results, one
 * timeline. A failed phase still lets the next one run when the pod is Ready.
 */
export async function busyThenRollout(
  d: DeploymentFile,
  fx: Fixture,
  opts: { pod?: PodOptions; busy?: BusyOptions } = {},
): Promise<{ busy: ScenarioResult; rollout: ScenarioResult }> {
  const p = await createPod(d, fx, 'serving pod: every sequence busy, then a rollout', opts.pod);
  const cb = new Checks();
  const cr = new Checks();
  let busyFacts: ScenarioResult['facts'] = {};
  let rolloutFacts: ScenarioResult['facts'] = {};
  try {
    const ready = await startAndWaitReady(p);
    const served = p.modelServer?.requestsFor(p.modelUrlPath) ?? [];
    const initRun = p.kubelet.initRuns[0];
    cb.must('Ready before the load phase', ready, `ready=${p.kubelet.ready}`);
    if (initRun) {
      cb.must(
        'the init container fetched the model, the server found it in the cache',
        initRun.exitCode === 0 && served.length === 1 && (served[0]?.at ?? Infinity) < (p.kubelet.runs[0]?.startedAt ?? 0),
        `${served.length} download(s), init exit ${initRun.exitCode ?? initRun.signal}`,
      );
    }
    if (ready) {
      const b = await busyPhase(p, cb, opts.busy ?? {});
      busyFacts = b.facts;
      if (killedRuns(p).length > 0) {
        // Let the timeline show the kubelet finishing the kill and restarting the container.
        await p.kubelet.waitFor(() => p.kubelet.restarts > 0 || p.kubelet.stoppedRestarting, p.kubelet.ms(p.pod.terminationGracePeriodSeconds) + 5000);
      }
      if (p.kubelet.ready && p.kubelet.restarts === 0 && killedRuns(p).length === 0) {
        const rate =
          b.rate > 0
            ? b.rate
            : await measureTokensPerSecond(p.kubelet.baseUrl, p.parallel, 1000, {
                maxTokens: p.maxCompletionLength,
                ...(p.apiKey ? { apiKey: p.apiKey } : {}),
              });
        rolloutFacts = await rolloutPhase(p, cr, rate);
      } else {
        cr.must(
          'Ready and never restarted before the rollout',
          false,
          `ready=${p.kubelet.ready}, restarts=${p.kubelet.restarts}, kills=${killedRuns(p).length}`,
        );
      }
    } else {
      cr.must('Ready before the rollout', false, 'never became Ready');
    }
  } finally {
    await p.close();
  }
  return {
    busy: result(p, 'every sequence busy', d, cb, busyFacts),
    rollout: result(p, 'rollout', d, cr, rolloutFacts),
  };
}

// ---------------------------------------------------------------------------------------------
// 4. Model missing or corrupt
// ---------------------------------------------------------------------------------------------

export type ModelFault = 'missing' | 'checksum-mismatch' | 'truncated';

const faultExpectations: Record<ModelFault, { what: string; message: RegExp }> = {
  missing: { what: 'MODEL points at a file that does not exist', message: /does not exist/ },
  // A truncated file is named as such before any hashing (its GGUF header says how long it must be).
  'checksum-mismatch': {
    what: 'the file is truncated and MODEL_SHA256 is the real one',
    message: /sha256 mismatch|is truncated: its header places tensor data/,
  },
  truncated: {
    what: 'the file is truncated and MODEL_SHA256 pins the truncated bytes (a corrupt source)',
    message: /truncated or corrupt|model load failed|is truncated: its header places tensor data/i,
  },
};

/**
 * The serving container gets a bad model. Expect: it exits with code 1 and one clear log line before the
 * startup window could expire (an exit the kubelet reports, not a startup-probe kill loop).
 */
export async function modelFault(d: DeploymentFile, fx: Fixture, fault: ModelFault): Promise<ScenarioResult> {
  const exp = faultExpectations[fault];
  const manifestName = path.basename(envValue(resolvePod(d).containers[0] as ResolvedContainer, envVars.model) ?? 'model.gguf');
  // A split manifest model stands for the single-file test model under its base name (as createPod serves it).
  const split = parseSplitName(manifestName);
  const fileName = split ? `${split.prefix}.gguf` : manifestName;
  const local = fault === 'missing' ? path.join(fx.tmpRoot, 'no-such-dir', fileName) : fx.truncatedPath;
  const sha = fault === 'truncated' ? fx.truncatedSha256 : fx.modelSha256;
  const p = await createPod(d, fx, `model ${fault}: ${exp.what}`, { model: 'local', localModel: local, sha256: sha, skipInit: true, maxRestarts: 0 });
  const c = new Checks();
  const k = p.kubelet;
  try {
    await k.start();
    const windowMs = startupWindowMs(k, p.server);
    await k.waitFor(() => k.stoppedRestarting || k.restarts > 0, windowMs * 2 + 20_000);
    const run = k.runs[0];
    const lived = run?.exitedAt !== undefined ? run.exitedAt - run.startedAt : undefined;
    const fatal = run?.logs
      .map((l) => {
        try {
          return JSON.parse(l) as { level?: string; msg?: string; code?: string };
        } catch {
          return { level: 'raw', msg: l };
        }
      })
      .find((l) => l.level === 'fatal' || (l.level === 'raw' && /fatal|error/i.test(l.msg ?? '')));
    c.must(
      'exited by itself with code 1',
      run !== undefined && run.exitCode === 1 && run.killedFor === undefined,
      `exit ${run?.exitCode ?? run?.signal ?? 'none'}${run?.killedFor ? `, killed: ${run.killedFor}` : ''}`,
    );
    c.must(
      'failed before the startup window ran out (no probe-kill loop)',
      lived !== undefined && lived < windowMs,
      `exited after ${fmtS(lived)}, window ${fmtS(windowMs)}`,
    );
    c.must(
      'one clear fatal log line saying why',
      fatal !== undefined && exp.message.test(fatal.msg ?? ''),
      fatal ? `${fatal.code ? `[${fatal.code}] ` : ''}${fatal.msg}` : 'no fatal line',
    );
    c.must('never Started nor Ready', !p.timeline.events.some((e) => e.kind === 'kubelet' && /Started \(startup|^Ready/.test(e.text)), 'ok');
    return result(p, `model ${fault}`, d, c, { exitedAfter: fmtS(lived), startupWindow: fmtS(windowMs) });
  } finally {
    await p.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 4b. GPU Deployments on a machine without a usable GPU backend
// ---------------------------------------------------------------------------------------------

/** True when the Deployment asks for GPU offload (GPU_LAYERS other than 0). */
export function wantsGpu(d: DeploymentFile): boolean {
  const v = envValue(resolvePod(d).containers[0] as ResolvedContainer, envVars.gpuLayers);
  return v !== undefined && v.trim() !== '0';
}

/**
 * Runs the server with the manifest's own GPU_LAYERS (not forced to 0) on this GPU-less machine: what a
 * GPU pod sees when no GPU backend is usable (the CPU image variant, a node without the driver, a device
 * plugin that exposes nothing). The service must say so (fail, warn, or a metric), not serve a
 * GPU-sized pod from the CPU silently (it did until aecdd74; a finding then, a regression check now).
 */
export async function gpuFallback(d: DeploymentFile, fx: Fixture): Promise<ScenarioResult> {
  const gpuLayers = envValue(resolvePod(d).containers[0] as ResolvedContainer, envVars.gpuLayers) ?? '0';
  const p = await createPod(d, fx, `GPU_LAYERS=${gpuLayers} kept, no usable GPU backend`, {
    model: 'local',
    skipInit: true,
    maxRestarts: 0,
    override: { [envVars.gpuLayers]: gpuLayers },
  });
  const c = new Checks();
  try {
    const ready = await startAndWaitReady(p);
    const run = p.kubelet.runs[0];
    const parsed = (run?.logs ?? []).map((l) => {
      try {
        return JSON.parse(l) as { level?: string | number; msg?: string; gpu?: unknown; gpuLayers?: unknown };
      } catch {
        return { level: 'raw', msg: l };
      }
    });
    const loaded = parsed.find((l) => l.msg === 'model loaded');
    const said = parsed.find((l) => (l.level === 'warn' || l.level === 'error' || l.level === 'fatal') && /gpu|cuda|vulkan|offload/i.test(l.msg ?? ''));
    let gpuMetric: string | undefined;
    if (ready) {
      const text = await (await fetch(`${p.kubelet.baseUrl}${endpoints.metrics}`)).text().catch(() => '');
      gpuMetric = text.split('\n').find((l) => /^llm_\w*gpu\w*/i.test(l));
    }
    c.must(
      `GPU_LAYERS=${gpuLayers} without a GPU backend is reported, not served silently from the CPU`,
      said !== undefined || (run?.exitCode !== undefined && run.exitCode !== 0) || gpuMetric !== undefined,
      [
        ready ? 'Ready' : `not Ready, exit ${String(run?.exitCode ?? run?.signal ?? 'none')}`,
        loaded ? `model loaded with gpu=${String(loaded.gpu)}, gpuLayers=${String(loaded.gpuLayers)} (level ${String(loaded.level)})` : 'no model loaded',
        `said: ${said?.msg ?? 'nothing at warn or above'}`,
        `GPU metric: ${gpuMetric ?? 'none'}`,
      ].join('; '),
    );
    return result(p, 'GPU offload unavailable', d, c, { ready, gpu: String(loaded?.gpu), gpuLayers: String(loaded?.gpuLayers) });
  } finally {
    await p.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 5. The init container
// ---------------------------------------------------------------------------------------------

async function runInit(p: PodUnderTest, opts: { sigtermWhen?: () => boolean } = {}): Promise<ContainerRun> {
  const init = p.pod.initContainers[0];
  if (!init) throw new Error(`${p.pod.label}: no init container`);
  const local = p.local.get(init.name);
  if (!local) throw new Error('no local init container');
  const run = spawnContainer(local, 0, p.timeline);
  if (opts.sigtermWhen) {
    const cond = opts.sigtermWhen;
    void (async () => {
      while (run.exitedAt === undefined) {
        if (cond()) {
          p.timeline.add('kubelet', `SIGTERM ${init.name} (e.g. the pod is deleted mid-download)`);
          run.child.kill('SIGTERM');
          return;
        }
        await sleep(20);
      }
    })();
  }
  await run.exited;
  return run;
}

async function cacheListing(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

/** The message of the first log line matching `re` (JSON lines: their `msg`, with `[code]`). */
function logged(run: ContainerRun, re: RegExp): string | undefined {
  const line = run.logs.find((l) => re.test(l));
  if (line === undefined) return undefined;
  try {
    const j = JSON.parse(line) as { msg?: string; code?: string };
    return `${j.code ? `[${j.code}] ` : ''}${j.msg ?? line}`;
  } catch {
    return line;
  }
}

/** Init container: download into an empty cache, then a second run is a no-op. */
export async function fetchDownloadThenNoop(d: DeploymentFile, fx: Fixture): Promise<ScenarioResult> {
  const p = await createPod(d, fx, 'fetch-model: download, then a second run is a no-op');
  const c = new Checks();
  try {
    const fileName = path.posix.basename(p.modelUrlPath ?? '');
    const first = await runInit(p);
    const file = path.join(p.cacheDir, fileName);
    const sha = await sha256File(file).catch(() => undefined);
    const reqs1 = p.modelServer?.requests.length ?? 0;
    c.must('first run exits 0', first.exitCode === 0, `exit ${first.exitCode ?? first.signal}`);
    c.must('the model is in the cache under the manifest file name, checksum verified', sha === fx.modelSha256, `${fileName}: ${sha ?? 'missing'}`);
    c.must('downloaded once', reqs1 === 1, `${reqs1} request(s)`);
    const second = await runInit(p);
    const reqs2 = (p.modelServer?.requests.length ?? 0) - reqs1;
    c.must('second run exits 0', second.exitCode === 0, `exit ${second.exitCode ?? second.signal}`);
    c.must('second run makes no request', reqs2 === 0, `${reqs2} request(s)`);
    c.must(
      'second run says no download was needed',
      logged(second, /no download needed/) !== undefined,
      logged(second, /no download needed/) ?? 'no such log line',
    );
    // The download streams (memory does not grow with the file), so the tiny model's footprint is the real one.
    const init = p.pod.initContainers[0] as ResolvedContainer;
    const limit = init.raw.resources?.limits?.memory;
    const limitBytes = limit === undefined ? undefined : parseQuantity(limit);
    const peak = Math.max(first.peakRssBytes, second.peakRssBytes);
    c.must(
      `peak RSS below the init container's memory limit`,
      limitBytes === undefined || (peak > 0 && peak < limitBytes),
      `peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB, limit ${limit ?? 'none'}`,
    );
    return result(p, 'fetch-model download + no-op', d, c, {
      firstRun: fmtS((first.exitedAt ?? 0) - first.startedAt),
      secondRun: fmtS((second.exitedAt ?? 0) - second.startedAt),
      peakRssMiB: Math.round(peak / 2 ** 20),
    });
  } finally {
    await p.close();
  }
}

/** Init container: the connection is cut mid-download (resumed in-process), and the container is SIGTERMed mid-download (resumed by the next run). */
export async function fetchResume(d: DeploymentFile, fx: Fixture): Promise<ScenarioResult> {
  const cutAt = Math.floor(fx.modelBytes * 0.4);
  // 1.5 s for the whole file: slow enough to SIGTERM in the middle of the second part.
  const p = await createPod(d, fx, 'fetch-model: resume after a cut connection and after SIGTERM', {
    cutAfterBytes: cutAt,
    bytesPerSecond: Math.round(fx.modelBytes / 1.5),
  });
  const c = new Checks();
  try {
    const fileName = path.posix.basename(p.modelUrlPath ?? '');
    const file = path.join(p.cacheDir, fileName);
    const reqs = (): NonNullable<PodUnderTest['modelServer']>['requests'] => p.modelServer?.requests ?? [];
    // Part 1: the server cuts the first response at 40 %; the service retries and resumes with a Range request.
    const first = await runInit(p);
    const [cut, resumed] = reqs();
    // The resume point is what reached the disk: at most what the server wrote before the cut (bytes in flight are lost).
    const resumeAt = Number(/^bytes=(\d+)-$/.exec(resumed?.range ?? '')?.[1] ?? NaN);
    c.must(
      'connection cut, then resumed with a Range request from the partial file',
      cut?.cut === true && resumed?.status === 206 && resumeAt > 0 && resumeAt <= cut.bytesSent,
      `${reqs()
        .map((r) => `${r.status}${r.range ? ` ${r.range}` : ''} ${r.bytesSent} B${r.cut ? ' cut' : ''}`)
        .join(' | ')}`,
    );
    const sent = reqs().reduce((n, r) => n + r.bytesSent, 0);
    c.must(
      'bytes transferred ≈ the file once (no restart from zero)',
      sent >= fx.modelBytes && sent < fx.modelBytes * 1.1,
      `${sent} B sent for a ${fx.modelBytes} B file`,
    );
    c.must(
      'exit 0 and a verified file',
      first.exitCode === 0 && (await sha256File(file).catch(() => '')) === fx.modelSha256,
      `exit ${first.exitCode ?? first.signal}`,
    );

    // Part 2: a fresh cache; SIGTERM once 50 % arrived; the .partial is kept and the next run resumes it.
    const cache2 = await fx.tempDir('cache');
    const init = p.pod.initContainers[0] as ResolvedContainer;
    const local = p.local.get(init.name);
    if (local) local.env[envVars.modelCacheDir] = cache2;
    const before = reqs().length;
    p.timeline.note(`part 2: fresh cache ${cache2}`);
    const stopped = await runInit(p, {
      sigtermWhen: () =>
        reqs()
          .slice(before)
          .some((r) => r.bytesSent > fx.modelBytes * 0.5),
    });
    const partial = path.join(cache2, `${fileName}.partial`);
    const partialBytes = (await stat(partial).catch(() => undefined))?.size ?? 0;
    c.must(
      'SIGTERM mid-download: exit 143, .partial kept',
      stopped.exitCode === 143 && partialBytes > 0,
      `exit ${stopped.exitCode ?? stopped.signal}, ${fileName}.partial ${partialBytes} B`,
    );
    const mid = reqs().length;
    const again = await runInit(p);
    const resumeReq = reqs().slice(mid)[0];
    c.must(
      'next run resumes from the .partial',
      resumeReq?.status === 206 && resumeReq.range === `bytes=${partialBytes}-`,
      resumeReq ? `${resumeReq.status} ${resumeReq.range ?? 'no range'}` : 'no request',
    );
    c.must(
      'exit 0 and a verified file',
      again.exitCode === 0 && (await sha256File(path.join(cache2, fileName)).catch(() => '')) === fx.modelSha256,
      `exit ${again.exitCode ?? again.signal}`,
    );
    return result(p, 'fetch-model resume', d, c, { cutAt, partialBytes });
  } finally {
    await p.close();
  }
}

/** Init container: a file whose checksum does not match MODEL_SHA256 is rejected and not left in the cache. */
export async function fetchChecksumMismatch(d: DeploymentFile, fx: Fixture): Promise<ScenarioResult> {
  const pod = resolvePod(d);
  // The manifest's own MODEL_SHA256 (the real model's) does not match the test model's bytes. A split model's
  // lists one hash per part; the harness serves the test model as one file, so its first part's hash is the one.
  const manifestSha =
    envValue(pod.initContainers[0] as ResolvedContainer, envVars.modelSha256)
      ?.split(',')[0]
      ?.trim() || '0'.repeat(64);
  const p = await createPod(d, fx, 'fetch-model: checksum mismatch', { sha256: manifestSha });
  const c = new Checks();
  try {
    const run = await runInit(p);
    const files = await cacheListing(p.cacheDir);
    const line = logged(run, /CHECKSUM_MISMATCH|sha256 mismatch/);
    c.must('exit 1', run.exitCode === 1, `exit ${run.exitCode ?? run.signal}`);
    c.must('a clear log line names the mismatch', line !== undefined, line?.slice(0, 220) ?? 'no such line');
    c.must('nothing usable left in the cache', !files.some((f) => f.endsWith('.gguf') || f.endsWith('.partial')), files.join(', ') || 'empty');
    return result(p, 'fetch-model checksum mismatch', d, c, { exitedAfter: fmtS((run.exitedAt ?? 0) - run.startedAt) });
  } finally {
    await p.close();
  }
}
