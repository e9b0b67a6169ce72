import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseThreads } from '../../service/runtime/threads.js';

const dirs: string[] = [];

/** Builds a fake cgroup tree: keys are paths relative to the root, values file contents. */
async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'cgroup-'));
  dirs.push(root);
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
  return root;
}

/** Options for a fake tree whose own-cgroup file lives inside it (never the real /proc/self/cgroup). */
function fake(root: string, extra: { requested?: number; availableParallelism?: number } = {}) {
  return {
    cgroupRoot: path.join(root, 'sys'),
    procSelfCgroup: path.join(root, 'proc-self-cgroup'),
    availableParallelism: 8,
    ...extra,
  };
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('chooseThreads with cgroup v2', () => {
  it('unlimited cpu.max falls back to availableParallelism', async () => {
    const root = await tree({ 'sys/cpu.max': 'max 100000\n', 'proc-self-cgroup': '0::/\n' });
    const c = await chooseThreads(fake(root));
    expect(c).toMatchObject({ threads: 8, source: 'available-parallelism', cpuAllowance: 8 });
    expect(c.note).toBeUndefined();
  });

  it('2 cores', async () => {
    const root = await tree({ 'sys/cpu.max': '200000 100000\n', 'proc-self-cgroup': '0::/\n' });
    expect(await chooseThreads(fake(root))).toMatchObject({ threads: 2, source: 'cgroup-v2', cpuAllowance: 2 });
  });

  it('1.5 cores gives 1 thread (never a throttled extra thread)', async () => {
    const root = await tree({ 'sys/cpu.max': '150000 100000', 'proc-self-cgroup': '0::/\n' });
    expect(await chooseThreads(fake(root))).toMatchObject({ threads: 1, source: 'cgroup-v2', cpuAllowance: 1.5 });
  });

  it('0.5 cores still gives 1 thread', async () => {
    const root = await tree({ 'sys/cpu.max': '50000 100000', 'proc-self-cgroup': '0::/\n' });
    expect(await chooseThreads(fake(root))).toMatchObject({ threads: 1, source: 'cgroup-v2', cpuAllowance: 0.5 });
  });

  it('takes the smallest limit on the path from the own cgroup up to the root', async () => {
    const root = await tree({
      'sys/cpu.max': 'max 100000',
      'sys/kubepods/cpu.max': '800000 100000',
      'sys/kubepods/pod1/cpu.max': '300000 100000', // pod limit
      'sys/kubepods/pod1/ctr/cpu.max': 'max 100000', // container unlimited below the pod
      'sys/other/cpu.max': '10000 100000', // a sibling: must not count
      'proc-self-cgroup': '0::/kubepods/pod1/ctr\n',
    });
    expect(await chooseThreads(fake(root))).toMatchObject({ threads: 3, source: 'cgroup-v2', cpuAllowance: 3 });
  });

  it('THREADS wins when within the allowance', async () => {
    const root = await tree({ 'sys/cpu.max': '400000 100000', 'proc-self-cgroup': '0::/\n' });
    const c = await chooseThreads(fake(root, { requested: 3 }));
    expect(c).toMatchObject({ threads: 3, source: 'THREADS', requested: 3, cpuAllowance: 4 });
    expect(c.note).toBeUndefined();
  });

  it('THREADS is clamped to ceil(allowance) with a note', async () => {
    const root = await tree({ 'sys/cpu.max': '200000 100000', 'proc-self-cgroup': '0::/\n' });
    const c = await chooseThreads(fake(root, { requested: 8 }));
    expect(c).toMatchObject({ threads: 2, source: 'THREADS', requested: 8 });
    expect(c.note).toBe('THREADS=8 clamped to the CPU allowance 2');

    const frac = await tree({ 'sys/cpu.max': '150000 100000', 'proc-self-cgroup': '0::/\n' });
    // An explicit request may use the fractional remainder: ceil(1.5) = 2.
    expect(await chooseThreads(fake(frac, { requested: 2 }))).toMatchObject({ threads: 2, source: 'THREADS' });
    expect(await chooseThreads(fake(frac, { requested: 4 }))).toMatchObject({ threads: 2, source: 'THREADS' });
  });

  it('a non-positive THREADS is ignored with a note', async () => {
    const root = await tree({ 'sys/cpu.max': '200000 100000', 'proc-self-cgroup': '0::/\n' });
    const c = await chooseThreads(fake(root, { requested: 0 }));
    expect(c).toMatchObject({ threads: 2, source: 'cgroup-v2' });
    expect(c.note).toMatch(/THREADS=0/);
  });

  it('a cpuset smaller than the quota wins', async () => {
    const root = await tree({ 'sys/cpu.max': '400000 100000', 'proc-self-cgroup': '0::/\n' });
    const c = await chooseThreads(fake(root, { availableParallelism: 2 }));
    expect(c).toMatchObject({ threads: 2, source: 'available-parallelism', cpuAllowance: 2 });
    expect(c.note).toMatch(/cpuset/);
  });
});

describe('chooseThreads with cgroup v1', () => {
  it('quota -1 is unlimited', async () => {
    const root = await tree({
      'sys/cpu,cpuacct/cpu.cfs_quota_us': '-1\n',
      'sys/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
      'proc-self-cgroup': '4:cpu,cpuacct:/\n',
    });
    expect(await chooseThreads(fake(root))).toMatchObject({ threads: 8, source: 'available-parallelism' });
  });

  it('2 cores under cpu,cpuacct', async () => {
    const root = await tree({
      'sys/cpu,cpuacct/cpu.cfs_quota_us': '200000\n',
      'sys/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
      'proc-self-cgroup': '4:cpu,cpuacct:/\n',
    });
    expect(await chooseThreads(fake(root))).toMatchObject({ threads: 2, source: 'cgroup-v1', cpuAllowance: 2 });
  });

  it('1.5 cores under cpu/ gives 1 thread, 0.5 gives 1', async () => {
    const a = await tree({
      'sys/cpu/cpu.cfs_quota_us': '75000',
      'sys/cpu/cpu.cfs_period_us': '50000',
      'proc-self-cgroup': '',
    });
    expect(await chooseThreads(fake(a))).toMatchObject({ threads: 1, source: 'cgroup-v1', cpuAllowance: 1.5 });
    const b = await tree({ 'sys/cpu/cpu.cfs_quota_us': '50000', 'sys/cpu/cpu.cfs_period_us': '100000' });
    expect(await chooseThreads(fake(b))).toMatchObject({ threads: 1, source: 'cgroup-v1', cpuAllowance: 0.5 });
  });

  it('nested own cgroup smaller than the root', async () => {
    const root = await tree({
      'sys/cpu,cpuacct/cpu.cfs_quota_us': '-1',
      'sys/cpu,cpuacct/cpu.cfs_period_us': '100000',
      'sys/cpu,cpuacct/kubepods/podx/cpu.cfs_quota_us': '250000',
      'sys/cpu,cpuacct/kubepods/podx/cpu.cfs_period_us': '100000',
      'proc-self-cgroup': '12:memory:/kubepods/podx\n4:cpu,cpuacct:/kubepods/podx\n0::/\n',
    });
    expect(await chooseThreads(fake(root))).toMatchObject({ threads: 2, source: 'cgroup-v1', cpuAllowance: 2.5 });
  });

  it('THREADS clamp applies to v1 too', async () => {
    const root = await tree({
      'sys/cpu/cpu.cfs_quota_us': '100000',
      'sys/cpu/cpu.cfs_period_us': '100000',
    });
    const c = await chooseThreads(fake(root, { requested: 16 }));
    expect(c).toMatchObject({ threads: 1, source: 'THREADS', requested: 16, cpuAllowance: 1 });
    expect(c.note).toBe('THREADS=16 clamped to the CPU allowance 1');
  });
});

describe('chooseThreads without cgroup files', () => {
  it('uses availableParallelism', async () => {
    const root = await tree({ 'sys/.keep': '' });
    expect(await chooseThreads(fake(root, { availableParallelism: 6 }))).toMatchObject({
      threads: 6,
      source: 'available-parallelism',
      cpuAllowance: 6,
    });
  });

  it('runs against the real machine without throwing', async () => {
    const c = await chooseThreads({});
    expect(c.threads).toBeGreaterThanOrEqual(1);
    expect(c.threads).toBeLessThanOrEqual(os.availableParallelism());
  });
});
