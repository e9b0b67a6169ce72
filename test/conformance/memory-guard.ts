/**
 * Conformance scenario: the memory guard drains instead of the OOM killer cutting answers.
 *
 * The serving container reads its memory limit from a fake cgroup tree (MEMORY_LIMIT_CGROUP_ROOT, a test-only
 * setting of the service; docs/memory.md): first a generous `memory.max`, then, with PARALLEL streams in
 * flight, one far below the process's resident memory, as if a leak had brought RSS up to the limit. The
 * guard samples every second and compares with the limit that holds now. Expect, with every figure from the
 * manifest (MEMORY_GUARD_HEADROOM_MIB, SHUTDOWN_GRACE_MS, probes, grace period, PARALLEL):
 *  - `llm_memory_limit_bytes` on /metrics equals the limit the container is under;
 *  - readiness answers 503 within the guard's sampling interval plus one readiness period;
 *  - every stream in flight completes ([DONE], all its tokens); a new request is refused with 503;
 *  - the process exits 0 by itself within SHUTDOWN_GRACE_MS (no SIGTERM from the kubelet, no SIGKILL),
 *    logging one line with the figures;
 *  - the kubelet restarts it (the limit is back to normal by then).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defaultMemoryGuardHeadroomMiB, endpoints, envVars } from '../../service/contract.js';
import { measureTokensPerSecond, streamChat, type StreamHandle, type StreamResult } from './client.js';
import type { DeploymentFile } from './deployment.js';
import { Checks, createPod, fmtS, startupWindowMs, type Fixture, type ScenarioResult } from './harness.js';
import { httpProbe } from './kubelet.js';

/** The guard's sampling interval (service/runtime/memory-guard.ts default), machine time: not scaled. */
const guardIntervalMs = 1000;
const generousLimitBytes = 64 * 2 ** 30;
/** Far below the resident memory of any Node.js process with a model loaded. */
const scaledDownLimitBytes = 32 * 2 ** 20;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function describeStreams(rs: StreamResult[]): string {
  return rs
    .map(
      (r) =>
        `#${r.id}: ${r.status ?? '-'} ${r.completionTokens ?? r.chunks} tok ${r.finishReason ?? '-'}${r.sawDone ? ' [DONE]' : ''}${r.error ? ` (${r.error})` : ''}`,
    )
    .join('; ');
}

export async function memoryGuardDrain(d: DeploymentFile, fx: Fixture): Promise<ScenarioResult> {
  const cgroupRoot = await fx.tempDir('cgroup');
  const memoryMax = path.join(cgroupRoot, 'memory.max');
  await writeFile(memoryMax, `${generousLimitBytes}\n`);
  const p = await createPod(d, fx, 'memory guard: RSS within MEMORY_GUARD_HEADROOM_MIB of a scaled-down limit', {
    model: 'local',
    skipInit: true,
    // One restart is the guard's; the others allow for a start-up killed by a loaded machine's probe timeouts.
    maxRestarts: 3,
    override: { [envVars.memoryLimitCgroupRoot]: cgroupRoot },
  });
  const c = new Checks();
  const facts: ScenarioResult['facts'] = {};
  const k = p.kubelet;
  const now = (): number => p.timeline.now();
  const auth = p.apiKey ? { apiKey: p.apiKey } : {};
  const env = p.local.get(p.server.name)?.env ?? {};
  const headroomMiB = Number(env[envVars.memoryGuardHeadroomMiB] ?? defaultMemoryGuardHeadroomMiB);
  const shutdownGraceMs = Number(env[envVars.shutdownGraceMs] ?? 20_000);
  const readyPeriod = k.ms(p.server.readinessProbe?.periodSeconds ?? 10);
  const handles: StreamHandle[] = [];
  try {
    if (
      !c.must(
        'the manifest leaves the memory guard on',
        headroomMiB > 0,
        `MEMORY_GUARD_HEADROOM_MIB=${env[envVars.memoryGuardHeadroomMiB] ?? `(unset: ${defaultMemoryGuardHeadroomMiB})`}`,
      )
    ) {
      return done();
    }
    await k.start();
    const ready = await k.waitFor(() => k.ready || k.stoppedRestarting, (startupWindowMs(k, p.server) * 2 + 20_000) * 2);
    if (!c.must('Ready under the generous limit', ready && k.ready, `ready=${k.ready}, restarts=${k.restarts}`)) return done();
    const restartsBefore = k.restarts;
    if (restartsBefore > 0) facts.restartsBeforeTheDrop = restartsBefore;

    const metrics = await fetch(`${k.baseUrl}${endpoints.metrics}`).then(
      (res) => res.text(),
      (err: unknown) => `(GET ${endpoints.metrics} failed: ${(err as Error).message}; ${String((err as { cause?: unknown }).cause ?? '')})`,
    );
    const exported = /^llm_memory_limit_bytes (\S+)$/m.exec(metrics)?.[1];
    const rss = /^process_resident_memory_bytes (\S+)$/m.exec(metrics)?.[1];
    c.must(
      '/metrics exports the limit beside the resident memory',
      exported !== undefined && Number(exported) === generousLimitBytes && rss !== undefined && Number(rss) > scaledDownLimitBytes,
      `llm_memory_limit_bytes ${exported ?? 'absent'} (memory.max ${generousLimitBytes}), process_resident_memory_bytes ${rss ?? 'absent'}${metrics.startsWith('(') ? ` ${metrics}` : ''}`,
    );

    // Streams that outlast the guard's interval plus two readiness periods (x1.5), within half the grace.
    const rate = await measureTokensPerSecond(k.baseUrl, p.parallel, 1000, { maxTokens: p.maxCompletionLength, ...auth });
    const targetMs = (guardIntervalMs + 2 * readyPeriod + 500) * 1.5;
    const room = Math.min(p.maxCompletionLength, p.contextSize - 128);
    const cap = Math.max(16, Math.floor((rate * shutdownGraceMs * 0.5) / 1000));
    const maxTokens = Math.max(16, Math.min(room, cap, Math.ceil((rate * targetMs) / 1000)));
    p.timeline.add(
      'client',
      `${p.parallel} streams (PARALLEL) × max_tokens ${maxTokens} ≈ ${fmtS((maxTokens / Math.max(rate, 0.1)) * 1000)} at ${rate.toFixed(1)} tok/s`,
    );
    for (let i = 0; i < p.parallel; i++) handles.push(streamChat(k.baseUrl, { maxTokens, now, ...auth }));
    const inFlight = await k.waitFor(() => handles.every((h) => h.result.chunks > 0 || h.result.endedAt !== undefined), 15_000);
    c.must(
      'streams in flight before the limit drops',
      inFlight && handles.every((h) => h.result.endedAt === undefined),
      describeStreams(handles.map((h) => h.result)),
    );

    const run = k.currentRun;
    await writeFile(memoryMax, `${scaledDownLimitBytes}\n`);
    const droppedAt = now();
    p.timeline.add('client', `memory.max ${generousLimitBytes} -> ${scaledDownLimitBytes} (below the process's RSS ${rss ?? '?'})`);

    // Readiness as the service answers it, then a new request once it is refused.
    let notReadyAt: number | undefined;
    let late: StreamResult | undefined;
    const watcher = (async () => {
      const deadline = droppedAt + guardIntervalMs + readyPeriod + 5_000;
      while (now() < deadline && run?.exitedAt === undefined) {
        const o = await httpProbe(k.servicePort, { path: endpoints.ready, headers: {} }, 1000);
        if (o.status === 503) {
          notReadyAt = now();
          p.timeline.add('client', `GET ${endpoints.ready}: 503 ${o.body?.replace(/\s+/g, ' ').slice(0, 80) ?? ''}`);
          late = await streamChat(k.baseUrl, { maxTokens: 8, now, ...auth }).done;
          p.timeline.add('client', `new request during the drain: ${late.status ?? late.error ?? '?'}`);
          return;
        }
        await sleep(50);
      }
    })();
    const results = await Promise.all(handles.map((h) => h.done));
    await watcher;
    const exited = await k.waitFor(() => run?.exitedAt !== undefined, shutdownGraceMs + 10_000);
    for (const r of results) {
      p.timeline.add(
        'client',
        `stream #${r.id} ended t=+${fmtS(r.endedAt)}: ${r.completionTokens ?? r.chunks} tokens, finish_reason ${r.finishReason ?? '-'}${r.sawDone ? ', [DONE]' : ''}${r.error ? `, ${r.error}` : ''}`,
      );
    }
    // The limit back to normal before the restarted container's guard could sample it.
    await writeFile(memoryMax, `${generousLimitBytes}\n`);

    c.must(
      'readiness 503 within the guard interval plus one readiness period',
      notReadyAt !== undefined && notReadyAt - droppedAt <= guardIntervalMs + readyPeriod + 250,
      `503 after ${fmtS(notReadyAt === undefined ? undefined : notReadyAt - droppedAt)} (guard interval ${fmtS(guardIntervalMs)}, readiness period ${fmtS(readyPeriod)})`,
    );
    c.must(
      'every in-flight stream completed',
      results.every((r) => r.status === 200 && r.sawDone && !r.error && r.finishReason === 'length' && r.completionTokens === maxTokens),
      describeStreams(results),
    );
    c.must('a new request during the drain is refused (503)', late?.status === 503, `status ${late?.status ?? late?.error ?? 'not sent'}`);
    const exitMs = run?.exitedAt === undefined ? undefined : run.exitedAt - droppedAt;
    c.must(
      'exit 0 by itself within SHUTDOWN_GRACE_MS, no signal from the kubelet',
      exited &&
        run?.exitCode === 0 &&
        !run.signal &&
        (k.sigtermAt === undefined || k.sigtermAt < droppedAt) &&
        run.killedFor === undefined &&
        exitMs !== undefined &&
        exitMs <= guardIntervalMs + shutdownGraceMs + 5_000,
      `exit ${String(run?.exitCode ?? run?.signal)} ${fmtS(exitMs)} after the drop (SHUTDOWN_GRACE_MS ${shutdownGraceMs}); SIGTERM ${k.sigtermAt === undefined || k.sigtermAt < droppedAt ? 'not sent after the drop' : `sent t=+${fmtS(k.sigtermAt)}`}`,
    );
    const guardLines = (run?.logs ?? []).filter((l) => /memory guard: RSS/.test(l));
    const line = guardLines[0]
      ? (JSON.parse(guardLines[0]) as { rssBytes?: number; limitBytes?: number; headroomBytes?: number; thresholdBytes?: number })
      : undefined;
    c.must(
      'one log line with the figures',
      guardLines.length === 1 &&
        line?.limitBytes === scaledDownLimitBytes &&
        line.headroomBytes === headroomMiB * 2 ** 20 &&
        (line.rssBytes ?? 0) >= (line.thresholdBytes ?? Infinity),
      guardLines.length === 1
        ? `rss ${line?.rssBytes}, limit ${line?.limitBytes}, headroom ${line?.headroomBytes}, threshold ${line?.thresholdBytes}`
        : `${guardLines.length} guard lines`,
    );
    // An exit under restartPolicy Always is a restart (the first one without back-off), not a crash loop yet.
    const restarted = await k.waitFor(() => k.restarts === restartsBefore + 1 && k.runs.length === restartsBefore + 2, 5_000);
    c.must('the kubelet restarts the container', restarted, `restarts=${k.restarts} (${restartsBefore} before the drop), runs=${k.runs.length}`);
    Object.assign(facts, { maxTokens, exitAfterDrop: fmtS(exitMs), notReadyAfterDrop: fmtS(notReadyAt === undefined ? undefined : notReadyAt - droppedAt) });
    return done();
  } finally {
    for (const h of handles) h.abort();
    await p.close();
  }

  function done(): ScenarioResult {
    return { scenario: 'memory guard', deployment: d.label, timeline: p.timeline, checks: c.list, facts };
  }
}
