/**
 * The memory guard (service/runtime/memory-guard.ts), the `llm_memory_limit_bytes` gauge and their settings.
 * The end-to-end drain (readiness 503, streams complete, exit 0) is the conformance scenario
 * test/conformance/memory-guard.ts.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../service/config.js';
import { defaultMemoryGuardHeadroomMiB } from '../../service/contract.js';
import { MemoryGuard, type MemoryGuardTrip } from '../../service/runtime/memory-guard.js';
import { parseRssAnon, readProcessMemory } from '../../service/runtime/memory-usage.js';
import { startTestApp, type TestApp } from './helpers.js';

const MiB = 2 ** 20;

describe('MemoryGuard', () => {
  function guard(rss: () => number, limit: () => number | undefined, headroomBytes = 10 * MiB) {
    const trips: MemoryGuardTrip[] = [];
    const g = new MemoryGuard({ headroomBytes, readRss: rss, readLimit: async () => limit(), onTrip: (t) => trips.push(t), intervalMs: 5 });
    return { g, trips };
  }

  it('trips once, at the first sample within the headroom of the limit, with the figures', async () => {
    let rss = 80 * MiB;
    const { g, trips } = guard(
      () => rss,
      () => 100 * MiB,
    );
    expect(await g.check()).toBe(false);
    rss = 90 * MiB - 1;
    expect(await g.check()).toBe(false);
    rss = 90 * MiB;
    expect(await g.check()).toBe(true);
    rss = 99 * MiB;
    expect(await g.check()).toBe(true);
    expect(trips).toEqual([{ rssBytes: 90 * MiB, limitBytes: 100 * MiB, headroomBytes: 10 * MiB, thresholdBytes: 90 * MiB }]);
    expect(g.tripped).toBe(true);
  });

  it('compares with the limit that holds now (a resized pod), and never trips without one', async () => {
    let limit: number | undefined;
    const { g, trips } = guard(
      () => 505 * MiB,
      () => limit,
    );
    expect(await g.check()).toBe(false);
    limit = 1024 * MiB;
    expect(await g.check()).toBe(false);
    limit = 512 * MiB;
    expect(await g.check()).toBe(true);
    expect(trips.map((t) => t.limitBytes)).toEqual([512 * MiB]);
  });

  it('samples on its own once started, and stops after tripping', async () => {
    let samples = 0;
    const { g, trips } = guard(
      () => {
        samples++;
        return samples >= 3 ? 95 * MiB : 10 * MiB;
      },
      () => 100 * MiB,
    );
    g.start();
    await new Promise((r) => setTimeout(r, 100));
    expect(trips).toHaveLength(1);
    expect(samples).toBe(3);
    g.stop();
  });

  it('refuses a headroom that is not a positive number of bytes', () => {
    for (const headroomBytes of [0, -1, Number.NaN, Infinity]) {
      expect(() => new MemoryGuard({ headroomBytes, readLimit: async () => 1, onTrip: () => undefined })).toThrow(RangeError);
    }
  });
});

describe('memory settings', () => {
  it('MEMORY_GUARD_HEADROOM_MIB: default 64, 0 disables, whole MiB', () => {
    expect(defaultMemoryGuardHeadroomMiB).toBe(64);
    expect(loadConfig({}).memoryGuardHeadroomMiB).toBe(defaultMemoryGuardHeadroomMiB);
    expect(loadConfig({ MEMORY_GUARD_HEADROOM_MIB: '0' }).memoryGuardHeadroomMiB).toBe(0);
    expect(loadConfig({ MEMORY_GUARD_HEADROOM_MIB: '256' }).memoryGuardHeadroomMiB).toBe(256);
    for (const bad of ['-1', '0.5', 'lots', '64Mi']) {
      expect(() => loadConfig({ MEMORY_GUARD_HEADROOM_MIB: bad })).toThrow(ConfigError);
      try {
        loadConfig({ MEMORY_GUARD_HEADROOM_MIB: bad });
      } catch (err) {
        expect((err as Error).message).toMatch(/MEMORY_GUARD_HEADROOM_MIB=.* is invalid/);
      }
    }
  });

  it('reads RssAnon from /proc/<pid>/status', () => {
    expect(parseRssAnon('VmRSS:\t  300 kB\nRssAnon:\t  1234 kB\nRssFile:  5 kB\n')).toBe(1234 * 1024);
    expect(parseRssAnon('VmRSS: 300 kB\n')).toBeUndefined();
    const m = readProcessMemory();
    expect(m.rssBytes).toBeGreaterThan(0);
    if (process.platform === 'linux') expect(m.anonBytes).toBeGreaterThan(0);
  });
});

describe('llm_memory_limit_bytes', () => {
  let root: string;
  let limited: TestApp;
  let unlimited: TestApp;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'memory-limit-'));
    await writeFile(path.join(root, 'memory.max'), `${3 * 1024 * MiB}\n`);
    const unlimitedRoot = path.join(root, 'unlimited');
    await mkdir(unlimitedRoot);
    await writeFile(path.join(unlimitedRoot, 'memory.max'), 'max\n');
    limited = await startTestApp({ MEMORY_LIMIT_CGROUP_ROOT: root }, { load: false });
    unlimited = await startTestApp({ MEMORY_LIMIT_CGROUP_ROOT: unlimitedRoot }, { load: false });
  });

  afterAll(async () => {
    await limited?.close();
    await unlimited?.close();
    await rm(root, { recursive: true, force: true });
  });

  const scrape = async (app: TestApp): Promise<string> => (await fetch(`${app.base}/metrics`)).text();

  it('is the cgroup limit, read again at each scrape, beside process_resident_memory_bytes', async () => {
    let text = await scrape(limited);
    expect(text).toMatch(/^# TYPE llm_memory_limit_bytes gauge$/m);
    expect(/^llm_memory_limit_bytes (\S+)$/m.exec(text)?.[1]).toBe(String(3 * 1024 * MiB));
    expect(Number(/^process_resident_memory_bytes (\S+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
    await writeFile(path.join(root, 'memory.max'), `${2 * 1024 * MiB}\n`);
    text = await scrape(limited);
    expect(/^llm_memory_limit_bytes (\S+)$/m.exec(text)?.[1]).toBe(String(2 * 1024 * MiB));
  });

  it('is absent when there is no limit (a 0 would make RSS / limit infinite)', async () => {
    const text = await scrape(unlimited);
    expect(text).not.toMatch(/llm_memory_limit_bytes/);
    expect(text).toMatch(/^process_resident_memory_bytes \S+$/m);
  });
});
