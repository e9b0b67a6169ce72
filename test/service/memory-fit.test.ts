import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { readGgufFileInfo } from 'node-llama-cpp';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../service/config.js';
import { ggufFacts } from '../../service/model/gguf-facts.js';
import { kvCacheBytes } from '../../service/model/kv-cache.js';
import { readMemoryLimit } from '../../service/runtime/memory-limit.js';
import { runServer } from '../../service/server.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { ensureSplitGguf } from '../../tools/test-model/split.js';
import { freePort } from './helpers.js';

/**
 * The service refuses, at load and before llama.cpp allocates, a model its container memory limit cannot
 * hold: exit 1 with one line giving both figures and the fix. The limit is read from a fake cgroup v2
 * tree (memory.max), exactly as readMemoryLimit reads the real one.
 */
let work = '';
let model = '';
let split: string[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'memory-fit-'));
  model = await ensureTestModel();
  split = await ensureSplitGguf(model, { parts: 2, outDir: path.join(work, 'split') });
}, 120_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function fakeCgroup(memoryMax: string): Promise<() => ReturnType<typeof readMemoryLimit>> {
  const root = await mkdtemp(path.join(work, 'cgroup-'));
  await mkdir(path.join(root, 'sys', 'pod'), { recursive: true });
  await writeFile(path.join(root, 'sys', 'pod', 'memory.max'), `${memoryMax}\n`);
  await writeFile(path.join(root, 'proc-self-cgroup'), '0::/pod\n');
  return () => readMemoryLimit({ cgroupRoot: path.join(root, 'sys'), procSelfCgroup: path.join(root, 'proc-self-cgroup') });
}

async function start(modelPath: string, memoryMax: string, env: Record<string, string> = {}) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  );
  const exits: number[] = [];
  const config = loadConfig({ MODEL: modelPath, HOST: '127.0.0.1', PORT: String(await freePort()), THREADS: '1', CONTEXT_SIZE: '1024', PARALLEL: '2', ...env });
  const running = await runServer(config, { logger, exit: (code) => exits.push(code), handleSignals: false, readMemoryLimit: await fakeCgroup(memoryMax) });
  return { running, exits, lines };
}

async function need(modelPath: string, contextSize: number, parallel: number, parts: string[]): Promise<number> {
  const facts = ggufFacts(await readGgufFileInfo(modelPath));
  let bytes = 0;
  for (const p of parts) bytes += (await stat(p)).size;
  return bytes + kvCacheBytes(facts, { contextSize, parallel, batchSize: 512 });
}

describe('the load-time memory check', () => {
  it('exits 1 with one line giving the need, the limit and the fix when the limit is too small', async () => {
    const needed = await need(model, 1024, 2, [model]);
    const limit = needed - 1024 * 1024;
    const { running, exits, lines } = await start(model, String(limit));
    expect(running).toBeUndefined();
    expect(exits).toEqual([1]);
    const fatal = lines.filter((l) => l.level === 60);
    expect(fatal).toHaveLength(1);
    const msg = String(fatal[0]!.msg);
    if (process.env.SHOW_FIT_MESSAGE) process.stdout.write(`${msg}\n`);
    expect(msg).not.toContain('\n');
    expect(msg).toContain(`needs ${(needed / 2 ** 30).toFixed(2)} GiB`);
    expect(msg).toContain(`memory limit is ${(limit / 2 ** 30).toFixed(2)} GiB`);
    expect(msg).toMatch(/KV cache [\d.]+ GiB for CONTEXT_SIZE 1024 x PARALLEL 2/);
    expect(msg).toMatch(/Raise the memory limit to at least \d+Mi .*or lower CONTEXT_SIZE \/ PARALLEL/);
    expect(msg).toContain('memory.max');
  }, 60_000);

  it('a split model is sized from all its parts', async () => {
    const needed = await need(split[0]!, 1024, 2, split);
    const { running, exits, lines } = await start(split[0]!, String(needed - 4096));
    expect(running).toBeUndefined();
    expect(exits).toEqual([1]);
    expect(String(lines.find((l) => l.level === 60)?.msg)).toMatch(/in 2 parts \+ KV cache/);
  }, 60_000);

  it('refuses CONTEXT_SIZE beyond the trained context before loading', async () => {
    const trained = ggufFacts(await readGgufFileInfo(model)).trainedContext;
    const { exits, lines } = await start(model, 'max', { CONTEXT_SIZE: String(trained * 2), MAX_COMPLETION_LENGTH: '256' });
    expect(exits).toEqual([1]);
    expect(String(lines.find((l) => l.level === 60)?.msg)).toContain(`CONTEXT_SIZE=${trained * 2} exceeds the ${trained}-token context`);
  }, 60_000);

  it('starts and serves when the limit holds the model (and says by how much)', async () => {
    const needed = await need(model, 1024, 2, [model]);
    const { running, exits, lines } = await start(model, String(needed + 256 * 2 ** 20));
    try {
      expect(running).toBeDefined();
      expect(exits).toEqual([]);
      const passed = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('memory check passed'));
      expect(passed).toMatchObject({ needBytes: needed, limitBytes: needed + 256 * 2 ** 20 });
      const res = await fetch(`${running!.url}/health/ready`);
      expect(res.status).toBe(200);
    } finally {
      await running?.shutdown('test');
    }
  }, 60_000);
});
