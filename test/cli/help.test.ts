/**
 * Every command a newcomer runs answers `--help` with its usage on stdout, exits 0, and starts no work:
 * no model download, no synth output, no benchmark. The commands are read from package.json's scripts
 * (each `tsx <file>` script), so a new CLI is covered the day it is added.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;
/** `name -> entry file` for every script that runs a TypeScript entry point. */
const clis = Object.entries(scripts)
  .map(([name, command]) => [name, /^tsx (\S+\.ts)$/.exec(command)?.[1]] as const)
  .filter((e): e is readonly [string, string] => e[1] !== undefined);

const work = mkdtempSync(join(tmpdir(), 'cli-help-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Files whose change would mean the command did work: the synth output and the benchmark results. */
const watched = ['dist', 'argocd', 'bench/results.json', 'docs/benchmarks.md'];
const mtimes = (): string[] => watched.map((p) => (existsSync(p) ? String(statSync(p).mtimeMs) : 'absent'));

describe('every CLI answers --help', () => {
  it('package.json has TypeScript entry points to check', () => {
    expect(clis.map(([name]) => name)).toContain('synth');
  });

  it.each(clis)('npm run %s -- --help: usage on stdout, exit 0, no work started', (name, file) => {
    const cacheDir = join(work, name.replace(/\W/g, '-'), 'models');
    const before = mtimes();
    const r = spawnSync(process.execPath, ['--import', 'tsx', file, '--help'], {
      encoding: 'utf8',
      timeout: 60_000,
      // Where a command would download or write if it ignored --help.
      env: { ...process.env, MODEL_CACHE_DIR: cacheDir, MODEL: 'hf:example/none/none.gguf', PORT: '1' },
    });
    expect(r.status, `${name}: stderr ${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^usage: /);
    expect(r.stdout).toContain(`npm run ${name}`);
    expect(existsSync(cacheDir), `${name} created MODEL_CACHE_DIR`).toBe(false);
    expect(mtimes(), `${name} rewrote synth or bench output`).toEqual(before);
  });
});
