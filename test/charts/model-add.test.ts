import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Environment } from '../../charts/environments/types.js';
import { roomyTestCluster } from '../support/clusters.js';
import type { ModelSpec } from '../../charts/models/types.js';
import { validateModelSpec } from '../../charts/models/validate.js';
import { synthesizeAll } from '../../charts/synth.js';
import { ggufFacts } from '../../service/model/gguf-facts.js';
import { encodeGgufHeader, gv, readGguf, type GgufMetadata } from '../../tools/test-model/gguf.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { ensureSplitGguf } from '../../tools/test-model/split.js';
import { modelAdd, parseArgs } from '../../tools/model-add/main.js';
import { HubServer } from '../support/hub-server.js';

const execFileAsync = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, '..', '..');
const work = join(repoRoot, '.cache', 'model-add-test');
const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx');
const cli = join(repoRoot, 'tools', 'model-add', 'main.ts');

/** Runs the command as a user would; returns exit code and output. */
async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(tsx, [cli, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
let dirCount = 0;
function freshCatalogue(): string {
  const dir = join(work, `catalogue-${process.pid}-${dirCount++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

async function importEntry(file: string): Promise<ModelSpec> {
  const mod = (await import(`${file}?t=${Date.now()}`)) as Record<string, ModelSpec>;
  return Object.values(mod)[0]!;
}

function environmentWith(model: ModelSpec): Environment {
  return {
    name: 'onboard',
    definedIn: 'test/charts/model-add.test.ts',
    namespace: 'llm-onboard',
    clusterName: 'test',
    cluster: roomyTestCluster(),
    image: `ghcr.io/gguf-on-k8s/inference:1.2.3@sha256:${'a'.repeat(64)}`,
    services: {
      chat: { model, cpu: 2, contextSize: 1024, parallel: 1, maxCompletionLength: 512, modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3' } },
    },
  };
}

let single = '';
let parts: string[] = [];
const hub = new HubServer();

beforeAll(async () => {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  single = await ensureTestModel();
  parts = await ensureSplitGguf(single, { parts: 3, outDir: join(work, 'split') });
  await hub.start();
  for (const p of parts) await hub.add(p);
  await hub.add(single);
}, 120_000);

afterAll(async () => {
  await hub.close();
  rmSync(work, { recursive: true, force: true });
});

describe('npm run model:add: local files', () => {
  it('writes a verified entry whose every figure matches the header, and registers it', async () => {
    const dir = freshCatalogue();
    const result = await modelAdd(parseArgs([single, '--source', `hf:test/repo/${single.split('/').pop()}`, '--catalogue-dir', dir]));
    const facts = ggufFacts(await readGgufFileInfo(single));
    const entry = await importEntry(result.entryFile);
    expect(entry).toEqual(result.entry);
    expect(entry).toMatchObject({
      architecture: facts.architecture,
      layers: facts.layers,
      headCount: facts.headCount,
      kvHeads: facts.kvHeads,
      headDim: facts.keyLength,
      trainedContext: facts.trainedContext,
      vocabSize: facts.vocabSize,
      parameters: facts.parameters,
      fileBytes: readFileSync(single).length,
      sha256: sha256(single),
      integrity: { status: 'verified' },
    });
    expect(validateModelSpec(entry, result.entryFile)).toEqual([]);
    const registry = readFileSync(result.registryFile, 'utf8');
    expect(registry).toContain(`from './${entry.id}.js'`);
    // The entry is committed: its provenance names the file, not where it sat on this machine.
    const folder = single.slice(0, single.lastIndexOf('/'));
    expect(readFileSync(result.entryFile, 'utf8')).not.toContain(folder);
    expect(entry.provenance?.['parts[0].sha256']).toBe(`sha256 of the local file ${single.split('/').pop()}`);
  });

  it('a split model: every part with its size and sha256, sized from the total, synthesizes a working service', async () => {
    const dir = freshCatalogue();
    const source = `hf:test/repo/${parts[0]!.split('/').pop()}`;
    const result = await modelAdd(parseArgs([parts[0]!, '--source', source, '--catalogue-dir', dir, '--id', 'split-test']));
    const entry = await importEntry(result.entryFile);
    expect(entry.parts?.map((p) => [p.fileName, p.bytes, p.sha256])).toEqual(parts.map((p) => [p.split('/').pop(), readFileSync(p).length, sha256(p)]));
    const total = parts.reduce((a, p) => a + readFileSync(p).length, 0);
    expect(entry.fileBytes).toBe(total);
    expect(entry.sha256).toBe(parts.map(sha256).join(','));
    expect(entry.source).toBe(source);
    // The manifest the entry synthesizes: the init container gets every part's hash, sizing uses the total.
    const out = synthesizeAll([environmentWith(entry)]);
    expect(out.report.warnings).toEqual([]);
    const build = out.builds[0]!;
    const plan = build.services[0]!.service.plan;
    expect(plan.memory.weightsBytes).toBe(total);
    const yaml = [...out.files.entries()]
      .filter(([f]) => f.startsWith('dist/onboard/'))
      .map(([, y]) => y)
      .join('\n');
    expect(yaml).toContain(entry.sha256!);
    expect(yaml).toContain(source);
  });

  it('refuses a local file without --source, a missing part, a file that is not a GGUF, a truncated header and an unknown architecture, writing nothing', async () => {
    const dir = freshCatalogue();
    const notGguf = join(work, 'readme.gguf');
    writeFileSync(notGguf, '<!DOCTYPE html><html>not a model</html>\n'.repeat(20));
    const truncated = join(work, 'truncated.gguf');
    const fh = await open(single, 'r');
    const head = Buffer.alloc(4096);
    await fh.read(head, 0, head.length, 0);
    await fh.close();
    writeFileSync(truncated, head);
    const lonely = join(work, 'lonely');
    mkdirSync(lonely, { recursive: true });
    copyFileSync(parts[0]!, join(lonely, parts[0]!.split('/').pop()!));
    const unknown = await writeUnknownArchitecture(join(work, 'unknown-arch.gguf'));

    const first = parts[0]!.split('/').pop()!;
    const cases: Array<[string[], RegExp]> = [
      [[single], /needs --source/],
      [[single, '--source', 'hf:a/b/other-name.gguf'], /--source names other-name\.gguf but the file is/],
      [[join(lonely, first), '--source', `hf:a/b/${first}`], /part 2 of 3 .* is missing/],
      [[notGguf, '--source', 'hf:a/b/readme.gguf'], /is not a GGUF file/],
      [[truncated, '--source', 'hf:a/b/truncated.gguf'], /truncated or corrupt/],
      [[unknown, '--source', 'hf:a/b/unknown-arch.gguf'], /architecture "nosucharch" is unknown/],
      [[parts[1]!, '--source', `hf:a/b/${parts[1]!.split('/').pop()}`], /not the first part/],
    ];
    for (const [args, reason] of cases) {
      await expect(modelAdd(parseArgs([...args, '--catalogue-dir', dir])), args.join(' ')).rejects.toThrow(reason);
      expect(readdirSync(dir)).toEqual([]);
    }
    // As a command: exit 1, one line, nothing written.
    const r = await run([truncated, '--source', 'hf:a/b/truncated.gguf', '--catalogue-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^model:add: .*truncated or corrupt/)]);
    expect(readdirSync(dir)).toEqual([]);
  }, 120_000);
});

describe('npm run model:add: remote files over HTTP range requests', () => {
  it('hf: reads only the header of every part and takes sizes and sha256 from the hub metadata', async () => {
    const dir = freshCatalogue();
    const name = parts[0]!.split('/').pop()!;
    hub.requests.length = 0;
    const r = await run([`hf:test/repo/${name}`, '--catalogue-dir', dir, '--id', 'remote-split'], { HF_ENDPOINT: hub.base });
    expect(r.code, r.stderr).toBe(0);
    const entry = await importEntry(join(dir, 'remote-split.ts'));
    expect(entry.integrity).toEqual({ status: 'verified' });
    expect(entry.sha256).toBe(parts.map(sha256).join(','));
    expect(entry.parts?.map((p) => p.bytes)).toEqual(parts.map((p) => readFileSync(p).length));
    expect(entry.provenance?.['parts[2].sha256']).toMatch(/X-Linked-Etag/);
    expect(entry.provenance?.revision).toContain(hub.commit);
    // Only header ranges were fetched, never a whole part.
    const gets = hub.requests.filter((q) => q.method === 'GET');
    expect(gets.length).toBeGreaterThan(0);
    expect(gets.every((q) => q.range !== undefined)).toBe(true);
    const local = ggufFacts(await readGgufFileInfo(parts[0]!));
    expect(entry.parameters).toBe(local.parameters);
  });

  it('a mirror without hub metadata gives an unverified entry that synth warns about; --sha256 pins it', async () => {
    const dir = freshCatalogue();
    const name = single.split('/').pop()!;
    const url = `${hub.base}/files/${name}`;
    const r = await run([url, '--catalogue-dir', dir, '--id', 'mirror']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/unverified/);
    const entry = await importEntry(join(dir, 'mirror.ts'));
    expect(entry.integrity?.status).toBe('unverified');
    expect(entry.sha256).toBeUndefined();
    const out = synthesizeAll([environmentWith(entry)]);
    expect(out.report.warnings.map((w) => w.ruleId)).toEqual(['model-integrity-verified']);

    const pinned = await modelAdd(parseArgs([url, '--catalogue-dir', dir, '--id', 'mirror', '--force', '--sha256', sha256(single)]));
    expect(pinned.entry.integrity).toEqual({ status: 'verified' });
    expect(pinned.entry.provenance?.['parts[0].sha256']).toBe('--sha256');
    expect(readFileSync(join(dir, 'mirror.ts'), 'utf8')).toContain(`sha256: '${sha256(single)}'`);
  });

  it('a failing server, an unreachable URL and a wrong --sha256 exit 1 with one line and write nothing', async () => {
    const dir = freshCatalogue();
    const name = single.split('/').pop()!;
    hub.failWith = 500;
    const failing = await run([`hf:test/repo/${name}`, '--catalogue-dir', dir], { HF_ENDPOINT: hub.base });
    hub.failWith = undefined;
    expect(failing.code).toBe(1);
    expect(failing.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^model:add: HTTP 500 from /)]);
    await expect(modelAdd(parseArgs(['http://127.0.0.1:9/models/x.gguf', '--catalogue-dir', dir]))).rejects.toThrow(/cannot reach http:\/\/127\.0\.0\.1:9/);
    const prev = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = hub.base;
    try {
      await expect(modelAdd(parseArgs([`hf:test/repo/${name}`, '--catalogue-dir', dir, '--sha256', 'b'.repeat(64)]))).rejects.toThrow(
        /not the b{64} given with --sha256/,
      );
      await expect(modelAdd(parseArgs([`hf:test/repo/missing.gguf`, '--catalogue-dir', dir]))).rejects.toThrow(/HTTP 404/);
    } finally {
      if (prev === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = prev;
    }
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);
});

/** A copy of the test model whose architecture llama.cpp does not know (keys renamed to match). */
async function writeUnknownArchitecture(target: string): Promise<string> {
  const file = readGguf(single);
  const metadata: GgufMetadata = new Map();
  for (const [k, v] of file.metadata) metadata.set(k.startsWith('qwen2.') ? `nosucharch.${k.slice(6)}` : k, v);
  metadata.set('general.architecture', gv.str('nosucharch'));
  const header = encodeGgufHeader(metadata, file.tensors, file.alignment);
  const data = readFileSync(single).subarray(file.dataOffset);
  writeFileSync(target, Buffer.concat([header, data]));
  return target;
}
