import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseLimitInBytes, parseMemoryMax, readMemoryLimit } from '../../service/runtime/memory-limit.js';

const dirs: string[] = [];

async function tree(files: Record<string, string>): Promise<{ cgroupRoot: string; procSelfCgroup: string }> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'cgroup-mem-'));
  dirs.push(root);
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
  return { cgroupRoot: path.join(root, 'sys'), procSelfCgroup: path.join(root, 'proc-self-cgroup') };
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('memory limit parsers', () => {
  it('reads v2 memory.max', () => {
    expect(parseMemoryMax('max\n')).toBe(Infinity);
    expect(parseMemoryMax('3623878656\n')).toBe(3623878656);
    expect(parseMemoryMax('garbage')).toBeUndefined();
  });
  it('treats the v1 page-rounded 2^63 sentinel as unlimited', () => {
    expect(parseLimitInBytes('9223372036854771712\n')).toBe(Infinity);
    expect(parseLimitInBytes('2147483648\n')).toBe(2147483648);
  });
});

describe('readMemoryLimit', () => {
  it('takes the smallest memory.max from the own cgroup up to the root (v2)', async () => {
    const t = await tree({
      'sys/memory.max': 'max\n',
      'sys/kubepods/pod1/memory.max': '4294967296\n',
      'sys/kubepods/pod1/ctr/memory.max': '3623878656\n',
      'proc-self-cgroup': '0::/kubepods/pod1/ctr\n',
    });
    expect(await readMemoryLimit(t)).toMatchObject({ bytes: 3623878656, source: 'cgroup-v2' });
  });
  it('a pod-level limit below the container limit wins', async () => {
    const t = await tree({
      'sys/kubepods/pod1/memory.max': '1073741824\n',
      'sys/kubepods/pod1/ctr/memory.max': 'max\n',
      'proc-self-cgroup': '0::/kubepods/pod1/ctr\n',
    });
    const limit = await readMemoryLimit(t);
    expect(limit).toMatchObject({ bytes: 1073741824, source: 'cgroup-v2' });
    expect(limit.file).toContain(path.join('pod1', 'memory.max'));
  });
  it('unlimited v2 reports no limit', async () => {
    const t = await tree({ 'sys/memory.max': 'max\n', 'proc-self-cgroup': '0::/\n' });
    expect(await readMemoryLimit(t)).toEqual({ source: 'none' });
  });
  it('reads cgroup v1 memory.limit_in_bytes', async () => {
    const t = await tree({
      'sys/memory/memory.limit_in_bytes': '9223372036854771712\n',
      'sys/memory/docker/abc/memory.limit_in_bytes': '2147483648\n',
      'proc-self-cgroup': '5:memory:/docker/abc\n',
    });
    expect(await readMemoryLimit(t)).toMatchObject({ bytes: 2147483648, source: 'cgroup-v1' });
  });
  it('no cgroup files at all means no limit', async () => {
    const t = await tree({ 'proc-self-cgroup': '' });
    expect(await readMemoryLimit(t)).toEqual({ source: 'none' });
  });
});
