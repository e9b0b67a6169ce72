/**
 * The layer boundaries are compiler rules: each layer is a composite TypeScript project whose
 * `references` list the only layers it may import from (tsconfig.json says why each one may), and
 * the service layer compiles from exactly the files the image's build context holds.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerCommands } from '../../service/contract.js';
import { repoRoot } from '../support/manifests.js';
import { assembleContext } from './build-context.js';

interface ProjectConfig {
  references?: { path: string }[];
}

/** tsconfig files carry comments (TypeScript reads them as JSONC); they hold no `//` inside strings. */
function readTsconfig(file: string): ProjectConfig {
  const text = readFileSync(file, 'utf8').replace(/^\s*\/\/.*$/gm, '');
  return JSON.parse(text) as ProjectConfig;
}

function layerName(referencePath: string): string {
  return referencePath.replace(/^\.\.?\//, '').replace(/\/$/, '');
}

/** The layers the solution builds, and for each the layers it references (from the committed files). */
function layerGraph(): Map<string, string[]> {
  const root = readTsconfig(join(repoRoot, 'tsconfig.json'));
  const graph = new Map<string, string[]>();
  for (const ref of root.references ?? []) {
    const layer = layerName(ref.path);
    const own = readTsconfig(join(repoRoot, layer, 'tsconfig.json'));
    graph.set(
      layer,
      (own.references ?? []).map((r) => layerName(r.path)),
    );
  }
  return graph;
}

const tscBin = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');

function tsc(cwd: string, args: string[]): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [tscBin, ...args], { cwd, encoding: 'utf8', timeout: 300_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

let work = '';
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'layers-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('layer directions', () => {
  const graph = layerGraph();

  it('declares the directions the architecture needs', () => {
    expect([...graph.keys()].sort()).toEqual(['bench', 'charts', 'service', 'test', 'tools']);
    // The service is the bottom layer: the image compiles it alone.
    expect(graph.get('service')).toEqual([]);
    // Nothing ships code that depends on the tests or the benchmarks.
    for (const [layer, refs] of graph) {
      if (layer !== 'test') expect(refs, layer).not.toContain('test');
      if (layer !== 'test' && layer !== 'bench') expect(refs, layer).not.toContain('bench');
    }
    expect(graph.get('charts')).toEqual(['service']);
  });

  it('tsc -b refuses every import its layer does not reference, and accepts every one it does', () => {
    // A skeleton of the repository with the committed tsconfig files: in every layer a marker module and
    // one module importing the marker of each other layer. One build reports every refused import.
    const dir = join(work, 'skeleton');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(repoRoot, 'tsconfig.json'), join(dir, 'tsconfig.json'));
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    for (const layer of graph.keys()) {
      mkdirSync(join(dir, layer));
      copyFileSync(join(repoRoot, layer, 'tsconfig.json'), join(dir, layer, 'tsconfig.json'));
      writeFileSync(join(dir, layer, 'marker.ts'), `export const layer = '${layer}';\n`);
      for (const other of graph.keys()) {
        if (other === layer) continue;
        writeFileSync(join(dir, layer, `uses-${other}.ts`), `import { layer } from '../${other}/marker.js';\nexport const used: string = layer;\n`);
      }
    }
    const { status, output } = tsc(dir, ['-b']);
    // A refused import fails with TS6307 (file not listed in the project); the service layer also gets TS6059
    // (outside rootDir). One entry per refused pair.
    const refused = new Set([...output.matchAll(/^(\w+)\/uses-(\w+)\.ts\(\d+,\d+\): error TS6307/gm)].map((m) => `${m[1]} -> ${m[2]}`));
    // TypeScript follows references transitively (bench reaches charts through tools), so a layer may
    // import from every layer its references reach.
    const reachable = (layer: string, seen = new Set<string>()): Set<string> => {
      for (const ref of graph.get(layer) ?? []) {
        if (!seen.has(ref)) {
          seen.add(ref);
          reachable(ref, seen);
        }
      }
      return seen;
    };
    const expected = new Set<string>();
    for (const layer of graph.keys()) {
      const allowed = reachable(layer);
      for (const other of graph.keys()) {
        if (other !== layer && !allowed.has(other)) expected.add(`${layer} -> ${other}`);
      }
    }
    expect(status, output).not.toBe(0);
    expect([...refused].sort()).toEqual([...expected].sort());
    // Named in the brief: the wrong-way imports that broke the image.
    expect(refused).toContain('service -> tools');
    expect(refused).toContain('service -> charts');
  });
});

describe('the service layer compiles from the build context alone', () => {
  function contextWithModules(name: string): string {
    const dir = join(work, name);
    assembleContext(repoRoot, dir);
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    return dir;
  }

  it('emits the entry points the containers run', () => {
    const dir = contextWithModules('context');
    const { status, output } = tsc(dir, ['-b', 'service']);
    expect(status, output).toBe(0);
    for (const [, script] of Object.values(containerCommands)) {
      expect(existsSync(join(dir, script)), script).toBe(true);
    }
  });

  it('fails on an import from tools/, as service/demo.ts once did (negative control)', () => {
    const dir = contextWithModules('context-wrong-way');
    writeFileSync(
      join(dir, 'service', 'wrong-way.ts'),
      "import { ensureTestModel } from '../tools/test-model/make-test-model.js';\nexport const make = ensureTestModel;\n",
    );
    const { status, output } = tsc(dir, ['-b', 'service']);
    expect(status).not.toBe(0);
    // tools/ is not in the context at all: the compiler cannot even find the module.
    expect(output).toMatch(/service\/wrong-way\.ts\(1,\d+\): error TS2307: Cannot find module '\.\.\/tools\/test-model\/make-test-model\.js'/);
  });
});
