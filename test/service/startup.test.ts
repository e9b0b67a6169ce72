import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { freePort, spawnMain, type Child } from './helpers.js';

/**
 * A model downloaded at start (MODEL is a URL and the cache is empty) is part of loading: the
 * server already listens, and the startup and readiness probes get 503 {state: 'loading'} rather
 * than a refused connection, which the kubelet would count against the startup window.
 */
describe('start-up with a model that must be downloaded first', () => {
  let server: Server;
  let modelUrl = '';
  let cacheDir = '';
  let child: Child | undefined;
  let downloadFinishedAt = Number.POSITIVE_INFINITY;

  beforeAll(async () => {
    const modelPath = await ensureTestModel();
    const size = statSync(modelPath).size;
    cacheDir = mkdtempSync(join(tmpdir(), 'startup-cache-'));
    server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
      if (req.method === 'HEAD') return res.end();
      // Throttled to ~8 MB/s so the download takes a few seconds.
      const stream = createReadStream(modelPath, { highWaterMark: 256 * 1024 });
      stream.on('data', () => {
        stream.pause();
        setTimeout(() => stream.resume(), 32);
      });
      res.on('finish', () => {
        downloadFinishedAt = Date.now();
      });
      stream.pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    modelUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/test-model.gguf`;
  });

  afterAll(async () => {
    child?.proc.kill('SIGKILL');
    await new Promise((resolve) => server.close(resolve));
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('answers 503 {state: loading} while downloading, then 200 once loaded', async () => {
    const port = await freePort();
    child = spawnMain({
      MODEL: modelUrl,
      MODEL_CACHE_DIR: cacheDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      THREADS: '1',
      CONTEXT_SIZE: '512',
      PARALLEL: '1',
      LOG_LEVEL: 'info',
    });
    const seen: Array<{ status: number | 'refused'; state?: string; at: number }> = [];
    const deadline = Date.now() + 90_000;
    for (;;) {
      expect(Date.now(), `no ready within 90 s; log:\n${child.lines.join('\n')}`).toBeLessThan(deadline);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health/startup`);
        const body = (await res.json()) as { state: string };
        seen.push({ status: res.status, state: body.state, at: Date.now() });
        if (res.status === 200) break;
      } catch {
        seen.push({ status: 'refused', at: Date.now() });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const firstAnswer = seen.findIndex((s) => s.status !== 'refused');
    // The server answered while the model was still being downloaded.
    expect(seen[firstAnswer]!.at).toBeLessThan(downloadFinishedAt);
    // Once the server answers, it never refuses again, and it said "loading" before "ready".
    expect(seen.slice(firstAnswer).every((s) => s.status !== 'refused')).toBe(true);
    const loading = seen.filter((s) => s.status === 503 && s.state === 'loading').length;
    expect(loading).toBeGreaterThan(5);
    expect(child.lines.some((l) => l.includes('model file ready') && l.includes('"downloaded":true'))).toBe(true);
  });
});

describe('GPU_LAYERS on a machine without a GPU backend', () => {
  it('exits 1 with a clear line instead of silently serving from the CPU (test machines have no GPU)', async () => {
    const port = await freePort();
    const child = spawnMain({
      MODEL: await ensureTestModel(),
      PORT: String(port),
      HOST: '127.0.0.1',
      THREADS: '1',
      CONTEXT_SIZE: '512',
      PARALLEL: '1',
      GPU_LAYERS: 'max',
    });
    const exit = await child.exited;
    expect(exit.code, child.lines.join('\n')).toBe(1);
    expect(child.lines.join('\n')).toMatch(/GPU_LAYERS=max but no GPU backend is available/);
  });
});
