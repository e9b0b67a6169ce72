/**
 * The `runtime-cuda` target without a GPU: its dependency stage's RUN line is performed on a hard-linked copy
 * of the installed @node-llama-cpp packages, and every .node/.so file it keeps must find each library it
 * needs (`readelf -d` NEEDED) in its own folder (RUNPATH $ORIGIN) or among what the base image is documented
 * to ship (cuda-base-libraries.ts), and need no newer glibc/libstdc++ symbol version than the base has.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverRuntimeEnv } from '../../service/contract.js';
import { repoRoot } from '../support/manifests.js';
import { cudaImageRequirement } from '../../charts/rules/cuda-driver.js';
import { cudaBaseImage } from './cuda-base-libraries.js';
import { lastOf, parseDockerfile, runScript, stageEnv, stageNamed } from './dockerfile.js';

const target = 'runtime-cuda';
const dockerfile = parseDockerfile(join(repoRoot, 'Dockerfile'));
const readelf = spawnSync('readelf', ['--version']).status === 0;
const inCi = process.env.CI === 'true';
// The CUDA image is built for linux/amd64 only (node-llama-cpp ships CUDA binaries for x64 alone).
const applicable = process.arch === 'x64' && process.platform === 'linux';
if (!readelf && !inCi) process.stderr.write("test/image/cuda-libraries.test.ts skipped: readelf not found: install Debian's binutils\n");

interface SharedObject {
  readonly file: string;
  readonly needed: string[];
  readonly runpath: string[];
  /** Newest GLIBC_ / GLIBCXX_ symbol versions it requires. */
  readonly glibc: string | undefined;
  readonly glibcxx: string | undefined;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function newest(versions: string[]): string | undefined {
  return versions.sort(compareVersions).at(-1);
}

function inspect(file: string): SharedObject {
  const dynamic = spawnSync('readelf', ['-d', '-W', file], { encoding: 'utf8' });
  if (dynamic.status !== 0) throw new Error(`readelf -d ${file}: ${dynamic.stderr}`);
  const needed = [...dynamic.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!);
  const runpath = [...dynamic.stdout.matchAll(/\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]*)\]/g)].flatMap((m) => m[1]!.split(':')).filter(Boolean);
  const versions = spawnSync('readelf', ['-V', '-W', file], { encoding: 'utf8' }).stdout;
  const glibc = newest([...versions.matchAll(/Name: GLIBC_([\d.]+)/g)].map((m) => m[1]!));
  const glibcxx = newest([...versions.matchAll(/Name: GLIBCXX_([\d.]+)/g)].map((m) => m[1]!));
  return { file, needed, runpath, glibc, glibcxx };
}

function sharedObjects(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => /\.(node|so)(\.\d+)*$/.test(f) && statSync(f).isFile());
}

/** NEEDED entries nothing provides: not a sibling reachable through $ORIGIN, not in `provided`. */
function unresolved(objects: readonly SharedObject[], provided: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    const siblings = new Set(readdirSync(dirname(o.file)));
    for (const lib of o.needed) {
      if (provided.has(lib)) continue;
      if (siblings.has(lib) && o.runpath.includes('$ORIGIN')) continue;
      problems.push(`${basename(o.file)} needs ${lib}`);
    }
  }
  return [...new Set(problems)].sort();
}

let work = '';
let kept: SharedObject[] = [];
let keptPackages: string[] = [];

describe('runtime-cuda runs like runtime', () => {
  // The manifests set one command, uid and set of writable paths for both images (only the tag differs).
  it('has the same user, working directory, entry point, volume, port and environment as the CPU target', () => {
    const cpu = stageNamed(dockerfile, 'runtime');
    const cuda = stageNamed(dockerfile, target);
    for (const keyword of ['USER', 'WORKDIR', 'CMD', 'VOLUME', 'EXPOSE', 'ENTRYPOINT']) {
      expect(lastOf(cuda, keyword)?.getArgumentsContent(), keyword).toBe(lastOf(cpu, keyword)?.getArgumentsContent());
    }
    expect(Object.fromEntries(stageEnv(dockerfile, target))).toEqual(Object.fromEntries(stageEnv(dockerfile, 'runtime')));
    // The same user and /models ownership, created the same way.
    const userRun = (name: string): string | undefined => {
      const run = stageNamed(dockerfile, name).instructions.find((i) => i.getKeyword() === 'RUN' && /\buseradd\b/.test(runScript(i)));
      return run && runScript(run);
    };
    expect(userRun(target)).toBe(userRun('runtime'));
    expect(userRun(target)).toBeDefined();
  });

  it('sets the Node.js runtime settings the manifests set (serverRuntimeEnv), so a pod run without them behaves the same', () => {
    for (const stage of ['runtime', target]) {
      const env = stageEnv(dockerfile, stage);
      for (const [name, value] of Object.entries(serverRuntimeEnv)) expect(env.get(name), `${stage} ENV ${name}`).toBe(value);
    }
  });
});

describe.skipIf(!applicable || (!readelf && !inCi))('runtime-cuda: every library its binaries need is in the image', () => {
  beforeAll(() => {
    if (!readelf) throw new Error("readelf not found: install Debian's binutils");
    work = mkdtempSync(join(tmpdir(), 'cuda-libraries-'));
    // The stage runtime-cuda copies node_modules from, and that stage's own RUN lines (not its parent's npm ci:
    // the checkout's node_modules is that install).
    const stage = stageNamed(dockerfile, target);
    const copy = stage.instructions.find((i) => i.getKeyword() === 'COPY' && /\/app\/node_modules\b/.test(i.getArgumentsContent() ?? ''));
    const from = /--from=(\S+)/.exec(copy?.getTextContent() ?? '')?.[1];
    if (!from) throw new Error(`${target}: no COPY --from=<stage> /app/node_modules`);
    const deps = stageNamed(dockerfile, from);
    mkdirSync(join(work, 'node_modules'));
    const linked = spawnSync('cp', ['-al', join(repoRoot, 'node_modules', '@node-llama-cpp'), join(work, 'node_modules', '@node-llama-cpp')], {
      encoding: 'utf8',
    });
    expect(linked.status, linked.stderr).toBe(0);
    cpSync(join(repoRoot, 'image'), join(work, 'image'), { recursive: true });
    for (const run of deps.instructions.filter((i) => i.getKeyword() === 'RUN')) {
      const result = spawnSync('/bin/sh', ['-c', runScript(run)], { cwd: work, encoding: 'utf8' });
      expect(result.status, `${from}: RUN ${runScript(run)}\n${result.stderr}`).toBe(0);
    }
    keptPackages = readdirSync(join(work, 'node_modules', '@node-llama-cpp')).sort();
    kept = sharedObjects(join(work, 'node_modules', '@node-llama-cpp')).map(inspect);
    const bytes = spawnSync('du', ['-sb', join(work, 'node_modules', '@node-llama-cpp')], { encoding: 'utf8' }).stdout.split('\t')[0];
    process.stderr.write(`runtime-cuda kept binaries (${keptPackages.join(', ')}): ${bytes} bytes (du -sb)\n`);
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('is built on the base image the library list and the driver rule describe', () => {
    expect(stageNamed(dockerfile, target).from).toBe(cudaBaseImage.image);
    expect(cudaBaseImage.image).toContain(`:${cudaBaseImage.cuda.major}.${cudaBaseImage.cuda.minor}.`);
    // The driver floor the synth rule checks the cluster profiles against is the one for this CUDA release.
    expect(cudaImageRequirement.cuda).toBe(`${cudaBaseImage.cuda.major}.${cudaBaseImage.cuda.minor}`);
  });

  it('keeps the CPU and the CUDA binaries of x64 and nothing else', () => {
    expect(keptPackages).toEqual(['linux-x64', 'linux-x64-cuda']);
  });

  it('links only the CUDA major of the base image', () => {
    const cudaRuntime = kept.flatMap((o) => o.needed).filter((lib) => /^libcu(dart|blas)\.so\.\d+$/.test(lib));
    expect(cudaRuntime.length).toBeGreaterThan(0);
    expect(new Set(cudaRuntime.map((lib) => lib.split('.so.')[1]))).toEqual(new Set([String(cudaBaseImage.cuda.major)]));
  });

  it('finds every NEEDED library in its own folder or in what the base image ships', () => {
    expect(kept.length).toBeGreaterThan(10);
    const provided = new Set(cudaBaseImage.provided.flatMap((p) => p.sonames));
    expect(unresolved(kept, provided)).toEqual([]);
  });

  it('needs no newer glibc or libstdc++ than the base image has', () => {
    const tooNew = kept.flatMap((o) => [
      ...(o.glibc && compareVersions(o.glibc, cudaBaseImage.glibc) > 0 ? [`${basename(o.file)} GLIBC_${o.glibc}`] : []),
      ...(o.glibcxx && compareVersions(o.glibcxx, cudaBaseImage.glibcxx) > 0 ? [`${basename(o.file)} GLIBCXX_${o.glibcxx}`] : []),
    ]);
    expect(tooNew).toEqual([]);
  });

  it('fails when a library the binaries need is missing from the list (negative control)', () => {
    const provided = new Set(cudaBaseImage.provided.flatMap((p) => p.sonames).filter((s) => s !== 'libcublas.so.13'));
    expect(unresolved(kept, provided)).toContain('libggml-cuda.so needs libcublas.so.13');
  });
});
