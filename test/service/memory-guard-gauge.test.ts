/**
 * `llm_memory_guard_trip_bytes`: the resident memory at which the memory guard drains the pod (the limit
 * minus MEMORY_GUARD_HEADROOM_MIB), exported beside the limit so the dashboard draws RSS against both.
 * It follows the limit as it is read again at each scrape, and is absent without a limit or a guard.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricNames } from '../../service/contract.js';
import { metricValue, scrape, startTestApp, type TestApp } from './helpers.js';

const MiB = 2 ** 20;

describe(`${metricNames.memoryGuardTrip}`, () => {
  let root: string;
  const apps: TestApp[] = [];
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'guard-gauge-'));
    await writeFile(path.join(root, 'memory.max'), `${4096 * MiB}\n`);
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await rm(root, { recursive: true, force: true });
  });
  const start = async (env: Record<string, string>) => {
    const app = await startTestApp({ MEMORY_LIMIT_CGROUP_ROOT: root, ...env }, { load: false });
    apps.push(app);
    return app;
  };

  it('is the limit minus the headroom, and follows the limit', async () => {
    const t = await start({ MEMORY_GUARD_HEADROOM_MIB: '100' });
    expect(metricValue(await scrape(t.base), metricNames.memoryGuardTrip)).toBe(3996 * MiB);
    await writeFile(path.join(root, 'memory.max'), `${2048 * MiB}\n`);
    const text = await scrape(t.base);
    expect(metricValue(text, metricNames.memoryLimit)).toBe(2048 * MiB);
    expect(metricValue(text, metricNames.memoryGuardTrip)).toBe(1948 * MiB);
  });

  it('is absent when the guard is off (MEMORY_GUARD_HEADROOM_MIB=0)', async () => {
    const t = await start({ MEMORY_GUARD_HEADROOM_MIB: '0' });
    const text = await scrape(t.base);
    expect(metricValue(text, metricNames.memoryLimit)).toBeGreaterThan(0);
    expect(text).not.toContain(metricNames.memoryGuardTrip);
  });
});
