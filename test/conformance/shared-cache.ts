/**
 * Conformance scenario: the first rollout of a Deployment with several replicas on one ReadWriteMany
 * cache volume starts every pod's init container on the same directory at once. Three init containers
 * (the manifest's own command and env) run concurrently on one cache; then the serving container starts
 * on that cache. Exactly one verified file, one download, no error line, and the server loads the file.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Checks, createPod, fmtS, sha256File, startupWindowMs, type Fixture, type ScenarioResult } from './harness.js';
import type { DeploymentFile } from './deployment.js';
import { spawnContainer, type ContainerRun } from './kubelet.js';

/** Pods whose init containers share the cache in this scenario (a Deployment's first rollout with 3 replicas). */
export const sharedCachePods = 3;

function errorLines(run: ContainerRun): string[] {
  return run.logs.filter((l) => {
    try {
      const level = (JSON.parse(l) as { level?: unknown }).level;
      return level === 'error' || level === 'fatal' || (typeof level === 'number' && level >= 50);
    } catch {
      return true; // not a JSON log line: a crash or a stack trace
    }
  });
}

export async function fetchSharedCache(d: DeploymentFile, fx: Fixture): Promise<ScenarioResult> {
  // 1.5 s for the whole file, so the three runs overlap for certain.
  const p = await createPod(d, fx, `fetch-model: ${sharedCachePods} pods' init containers on one cache at once`, {
    bytesPerSecond: Math.round(fx.modelBytes / 1.5),
    skipInit: true,
  });
  const c = new Checks();
  try {
    const init = p.pod.initContainers[0];
    const local = init ? p.local.get(init.name) : undefined;
    if (!init || !local) throw new Error(`${d.file}: no init container`);
    const fileName = path.posix.basename(p.modelUrlPath ?? '');
    p.timeline.note(`${sharedCachePods} copies of ${init.name} share ${p.cacheDir}`);
    const runs = Array.from({ length: sharedCachePods }, (_, i) => spawnContainer({ ...local, name: `${init.name}#${i + 1}` }, 0, p.timeline));
    await Promise.all(runs.map((r) => r.exited));

    const exits = runs.map((r) => r.exitCode ?? r.signal);
    c.must(
      `all ${sharedCachePods} init containers exit 0`,
      exits.every((e) => e === 0),
      `exits ${exits.join(', ')}`,
    );
    const errors = runs.flatMap(errorLines);
    c.must('no error line from any of them', errors.length === 0, errors[0]?.slice(0, 220) ?? 'none');
    const files = (await readdir(p.cacheDir)).sort();
    c.must(
      'the cache holds the model and its sidecar only (no partial, lock or temp file left)',
      files.length === 2 && files[0] === fileName && files[1] === `${fileName}.sha256`,
      files.join(', ') || 'empty',
    );
    const sha = await sha256File(path.join(p.cacheDir, fileName)).catch(() => undefined);
    c.must("one verified file: its sha256 is the model's", sha === fx.modelSha256, sha ?? 'missing');
    const bodies = (p.modelServer?.requests ?? []).filter((r) => r.status === 200 || r.status === 206);
    const sent = bodies.reduce((n, r) => n + r.bytesSent, 0);
    c.must(
      'downloaded once: the others waited for the lock holder',
      bodies.length === 1 && sent === fx.modelBytes,
      `${bodies.length} transfer(s), ${sent} B for a ${fx.modelBytes} B file`,
    );

    const before = p.modelServer?.requests.length ?? 0;
    await p.kubelet.start();
    const k = p.kubelet;
    await k.waitFor(() => k.ready || k.restarts > 0 || k.stoppedRestarting, startupWindowMs(k, p.server) * 2 + 20_000);
    c.must('the server loads the shared file and becomes Ready', k.ready, `ready=${k.ready}, restarts=${k.restarts}`);
    const extra = (p.modelServer?.requests.length ?? 0) - before;
    c.must('the server made no download of its own', extra === 0, `${extra} request(s)`);
    return result(p.timeline, d, c, {
      initRuns: runs.map((r) => fmtS((r.exitedAt ?? 0) - r.startedAt)).join(' / '),
    });
  } finally {
    await p.close();
  }
}

function result(timeline: ScenarioResult['timeline'], d: DeploymentFile, checks: Checks, facts: ScenarioResult['facts']): ScenarioResult {
  return { scenario: `fetch-model ×${sharedCachePods} on one cache`, deployment: d.label, timeline, checks: checks.list, facts };
}
