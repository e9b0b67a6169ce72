/**
 * Conformance scenario: a split model (`-00001-of-00003.gguf` ...) end to end, as the cluster runs it.
 * The init container downloads every part from the local hub stand-in into the pod's cache volume, each
 * part verified against its own sha256 (MODEL_SHA256 lists them), the server finds them all there, loads
 * the first (llama.cpp opens the others beside it) and answers a chat completion.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { envVars } from '../../service/contract.js';
import { ensureSplitGguf } from '../../tools/test-model/split.js';
import type { DeploymentFile } from './deployment.js';
import { Checks, createPod, fmtS, sha256File, startupWindowMs, type Fixture, type ScenarioResult } from './harness.js';

/** Parts of the test model the scenario splits it into. */
export const splitPartsCount = 3;

export async function splitModel(d: DeploymentFile, fx: Fixture): Promise<ScenarioResult> {
  const dir = await fx.tempDir('split');
  const files = await ensureSplitGguf(fx.modelPath, { parts: splitPartsCount, outDir: dir, prefix: 'split-test-model' });
  const parts = await Promise.all(files.map(async (file) => ({ file, sha256: await sha256File(file) })));
  const p = await createPod(d, fx, `split model: ${splitPartsCount} parts downloaded by the init container, loaded by the server`, { splitParts: parts });
  const c = new Checks();
  const facts: ScenarioResult['facts'] = { parts: splitPartsCount };
  try {
    await p.kubelet.start();
    const k = p.kubelet;
    await k.waitFor(() => k.ready || k.restarts > 0 || k.stoppedRestarting, startupWindowMs(k, p.server) * 2 + 20_000);
    const init = k.initRuns[0];
    const served = p.modelServer?.requests ?? [];
    const serverStart = k.runs[0]?.startedAt ?? Infinity;
    const names = parts.map((part) => path.basename(part.file));
    const downloads = names.map((n) => served.filter((r) => r.method === 'GET' && r.path.endsWith(`/${n}`) && (r.status === 200 || r.status === 206)));
    c.must(
      'MODEL names the first part and MODEL_SHA256 lists every part',
      p.local.get(p.server.name)?.env[envVars.modelSha256]?.split(',').length === splitPartsCount,
      p.local.get(p.server.name)?.env[envVars.model] ?? '?',
    );
    c.must('the init container exits 0', init?.exitCode === 0, `exit ${init?.exitCode ?? init?.signal ?? 'not run'}`);
    c.must(
      'every part downloaded exactly once, all before the server started',
      downloads.every((ds) => ds.length === 1 && (ds[0]?.at ?? Infinity) < serverStart),
      downloads.map((ds, i) => `${names[i]}: ${ds.length}`).join(', '),
    );
    const cached = (await readdir(p.cacheDir)).filter((f) => f.endsWith('.gguf')).sort();
    c.must('every part is in the cache volume under its own name', JSON.stringify(cached) === JSON.stringify([...names].sort()), cached.join(', '));
    const hashes = await Promise.all(names.map((n) => sha256File(path.join(p.cacheDir, n)).catch(() => 'missing')));
    c.must(
      'each cached part matches its sha256',
      hashes.every((h, i) => h === parts[i]!.sha256),
      hashes.map((h) => h.slice(0, 12)).join(', '),
    );
    c.must('Ready without a restart', k.ready && k.restarts === 0, `ready=${k.ready}, restarts=${k.restarts}`);
    if (k.ready) {
      const res = await fetch(new URL(`/v1/chat/completions`, k.baseUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(p.apiKey ? { authorization: `Bearer ${p.apiKey}` } : {}) },
        body: JSON.stringify({ max_tokens: 8, messages: [{ role: 'user', content: 'Hello' }] }),
      });
      const body = (await res.json()) as { usage?: { completion_tokens?: number } };
      c.must(
        'the split model answers a chat completion',
        res.status === 200 && (body.usage?.completion_tokens ?? 0) > 0,
        `HTTP ${res.status}, ${body.usage?.completion_tokens ?? 0} token(s)`,
      );
      facts.readyAfterServerStart = fmtS(p.timeline.now() - serverStart);
    }
    return { scenario: 'split model', deployment: d.label, timeline: p.timeline, checks: c.list, facts };
  } finally {
    await p.close();
  }
}
