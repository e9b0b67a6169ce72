import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acquireModel, ModelAcquireError } from '../../service/model/acquire.js';
import { freeBytes } from '../../service/model/files.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { ensureSplitGguf } from '../../tools/test-model/split.js';
import { HubServer } from '../support/hub-server.js';

const log = pino({ level: 'silent' });
const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

let work = '';
let parts: string[] = [];
let names: string[] = [];
const hub = new HubServer();

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'acquire-split-'));
  parts = await ensureSplitGguf(await ensureTestModel(), { parts: 3, outDir: path.join(work, 'src') });
  names = parts.map((p) => path.basename(p));
  await hub.start();
  for (const p of parts) await hub.add(p);
}, 120_000);

afterAll(async () => {
  await hub.close();
  await rm(work, { recursive: true, force: true });
});

let cacheDir = '';
beforeEach(async () => {
  cacheDir = await mkdtemp(path.join(work, 'cache-'));
  hub.requests.length = 0;
});

const model = (): string => `hf:test/repo/${names[0]}`;
const allSha = (): string => parts.map(sha).join(',');

async function rejection(p: Promise<unknown>): Promise<ModelAcquireError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ModelAcquireError) return err;
    throw err;
  }
  throw new Error('expected a ModelAcquireError');
}

describe('split models: every part is acquired', () => {
  it('downloads every part, verifies each against its own sha256, and loads from the first', async () => {
    const r = await acquireModel({ model: model(), sha256: allSha(), cacheDir, log, hfEndpoint: hub.base });
    expect(r.path).toBe(path.join(cacheDir, names[0]!));
    expect(r.parts).toEqual(names.map((n) => path.join(cacheDir, n)));
    expect(r).toMatchObject({ downloaded: true, verified: true, sha256: allSha(), bytes: parts.reduce((a, p) => a + statSync(p).size, 0) });
    for (const [i, p] of parts.entries()) expect(sha(path.join(cacheDir, names[i]!))).toBe(sha(p));
    // A restart finds every part verified by its sidecar: no file is fetched again.
    hub.requests.length = 0;
    const again = await acquireModel({ model: model(), sha256: allSha(), cacheDir, log, hfEndpoint: hub.base });
    expect(again).toMatchObject({ downloaded: false, verified: true });
    expect(hub.requests).toEqual([]);
  });

  it('resumes an interrupted part from its .partial with a Range request', async () => {
    const second = parts[1]!;
    const half = readFileSync(second).subarray(0, Math.floor(statSync(second).size / 2));
    await writeFile(path.join(cacheDir, `${names[1]}.partial`), half);
    const r = await acquireModel({ model: model(), sha256: allSha(), cacheDir, log, hfEndpoint: hub.base });
    expect(r.verified).toBe(true);
    const resumed = hub.requests.filter((q) => q.path === `/cdn/${names[1]}` && q.method === 'GET');
    expect(resumed.map((q) => q.range)).toEqual([`bytes=${half.length}-`]);
    expect(sha(path.join(cacheDir, names[1]!))).toBe(sha(second));
  });

  it('a wrong sha256 for one part fails naming that part; the verified parts stay for the next attempt', async () => {
    const hashes = parts.map(sha);
    hashes[2] = 'c'.repeat(64);
    const err = await rejection(acquireModel({ model: model(), sha256: hashes.join(','), cacheDir, log, hfEndpoint: hub.base }));
    expect(err.code).toBe('CHECKSUM_MISMATCH');
    expect(err.message).toContain(names[2]);
    expect(existsSync(path.join(cacheDir, names[0]!))).toBe(true);
    expect(existsSync(path.join(cacheDir, names[2]!))).toBe(false);
  });

  it('refuses a sha256 list that does not match the part count, and MODEL naming a later part', async () => {
    const short = await rejection(acquireModel({ model: model(), sha256: parts.slice(0, 2).map(sha).join(','), cacheDir, log, hfEndpoint: hub.base }));
    expect(short.code).toBe('REF');
    expect(short.message).toMatch(/lists 2 sha256 value\(s\) but the model has 3 part\(s\)/);
    const later = await rejection(acquireModel({ model: `hf:test/repo/${names[1]}`, cacheDir, log, hfEndpoint: hub.base }));
    expect(later.message).toMatch(/set it to the first part/);
    expect(hub.requests).toEqual([]);
  });

  it('checks free space for all missing parts together, before the first byte', async () => {
    // Two parts that each fit in the free space, but not both: the check is on the total.
    const free = await freeBytes(cacheDir);
    const each = Math.floor(free * 0.6);
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-length': String(each), 'content-type': 'application/octet-stream' });
      if (req.method === 'HEAD') return res.end();
      res.destroy(); // never reached: the check fails first
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m/big-00001-of-00002.gguf`;
      const err = await rejection(acquireModel({ model: url, cacheDir, log }));
      expect(err.code).toBe('NO_SPACE');
      expect(err.message).toMatch(/the 2 missing part\(s\) of 2 of big-00001-of-00002\.gguf: needs [\d.]+ GiB, [\d.]+ GiB free/);
      expect(await readdirNames(cacheDir)).toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a local split model is used in place when every part is beside the first', async () => {
    const r = await acquireModel({ model: parts[0]!, sha256: allSha(), cacheDir, log });
    expect(r).toMatchObject({ path: parts[0], parts, downloaded: false, verified: true });
    const dir = await mkdtemp(path.join(work, 'lonely-'));
    await writeFile(path.join(dir, names[0]!), await readFile(parts[0]!));
    const err = await rejection(acquireModel({ model: path.join(dir, names[0]!), cacheDir, log }));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain(names[1]);
  });
});

async function readdirNames(dir: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir(dir)).sort();
}
