import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { environments } from '../../charts/environments/index.js';
import { generatedDocPaths, listFiles, stagingParent, synthesizeAll, writeOutput } from '../../charts/synth.js';
import { repoRoot } from '../support/manifests.js';

/**
 * The real commands, in a temporary copy of the repository: `cdk8s synth` (the CLI removes its
 * output directory before it runs the app: cdk8s-cli lib/cli/cmds/synth.js) and `npm run synth`'s
 * `tsx charts/main.ts`. Whatever fails, the committed output must stay byte for byte as it was.
 */
const copied = ['charts', 'service', 'imports', 'companions', 'dist', 'argocd', 'docs', 'package.json', 'cdk8s.yaml', 'tsconfig.json', 'README.md'];
const bin = (name: string): string => join(repoRoot, 'node_modules', '.bin', name);

let work = '';
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'synth-cli-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A fresh copy of what synth reads and writes, sharing node_modules. */
function freshCopy(name: string): string {
  const dir = join(work, name);
  for (const entry of copied) cpSync(join(repoRoot, entry), join(dir, entry), { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/** Every committed output file: path -> bytes and mtime. */
function snapshot(dir: string): Map<string, { bytes: Buffer; mtimeMs: number }> {
  const files = [...listFiles(dir, 'dist'), ...listFiles(dir, 'argocd'), ...generatedDocPaths];
  return new Map(files.map((f) => [f, { bytes: readFileSync(join(dir, f)), mtimeMs: statSync(join(dir, f)).mtimeMs }]));
}

function expectUnchanged(dir: string, before: ReturnType<typeof snapshot>): void {
  const after = snapshot(dir);
  expect([...after.keys()]).toEqual([...before.keys()]);
  for (const [file, { bytes, mtimeMs }] of before) {
    expect(after.get(file)!.bytes.equals(bytes), `${file} changed`).toBe(true);
    expect(after.get(file)!.mtimeMs, `${file} was rewritten`).toBe(mtimeMs);
  }
}

function run(dir: string, command: string, args: string[]): { status: number | null; output: string } {
  const result = spawnSync(command, args, {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false', CDK8S_OUTDIR: undefined, CDK8S_OUTPUT: undefined },
  });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
}

/** Append a change to the first environment's first service, in the copy's environment file. */
function breakFirstService(dir: string, change: Record<string, unknown>): { file: string; object: string } {
  const env = environments[0]!;
  const source = readFileSync(join(dir, env.definedIn), 'utf8');
  const exported = /export const (\w+): Environment/.exec(source)?.[1];
  if (!exported) throw new Error(`${env.definedIn}: no exported Environment`);
  const service = Object.keys(env.services)[0]!;
  appendFileSync(join(dir, env.definedIn), `\nObject.assign(${exported}.services[${JSON.stringify(service)}]!, ${JSON.stringify(change)});\n`);
  return { file: env.definedIn, object: `${env.name}/${service}` };
}

const cdk8sSynth = ['synth', '--no-check-upgrade'];

describe('synth never empties or half-writes the committed output', () => {
  it('cdk8s synth: succeeds, leaves identical output untouched, and hands the CLI every manifest', () => {
    const dir = freshCopy('cli-ok');
    const before = snapshot(dir);
    const { status, output } = run(dir, bin('cdk8s'), cdk8sSynth);
    expect(status, output).toBe(0);
    expectUnchanged(dir, before);
    const manifests = [...before.keys()].filter((f) => f.endsWith('.yaml'));
    const cliOut = join(dir, 'build', 'cdk8s-out');
    expect(
      listFiles(cliOut, '.')
        .map((f) => f.slice(2))
        .sort(),
    ).toEqual(manifests.sort());
    for (const f of manifests) expect(output).toContain(f);
  });

  it('cdk8s synth: a failing rule exits non-zero and dist/ stays byte-identical', () => {
    const dir = freshCopy('cli-rule');
    const { file, object } = breakFirstService(dir, { cpu: 1000 });
    const before = snapshot(dir);
    const { status, output } = run(dir, bin('cdk8s'), cdk8sSynth);
    expect(status, output).not.toBe(0);
    expect(output).toContain(`${file}: ${object}`);
    expect(output).toContain('pod-fits-node-pool');
    // (The CLI itself then prints its own stack for the app's exit code; the app prints none.)
    expect(output).toContain('Nothing was written');
    expectUnchanged(dir, before);
    expect(existsSync(join(dir, 'dist'))).toBe(true);
  });

  it('npm run synth (tsx charts/main.ts): an unknown prop names the file, service and field, and nothing is written', () => {
    const dir = freshCopy('tsx-prop');
    const { file, object } = breakFirstService(dir, { contextsize: 2048 });
    const before = snapshot(dir);
    const { status, output } = run(dir, bin('tsx'), ['charts/main.ts']);
    expect(status, output).toBe(1);
    expect(output).toContain(`${file}: ${object}: contextsize: unknown prop`);
    expect(output).toContain('did you mean "contextSize"?');
    expect(output).not.toMatch(/\n\s+at .+:\d+:\d+/); // one message, no stack trace
    expectUnchanged(dir, before);
  });

  it('npm run synth: a misspelt storage class in a cluster profile is one "synth failed" line, not a stack trace', () => {
    const dir = freshCopy('tsx-profile');
    // Whatever profile declares storage decisions: misspell its first class name.
    const profile = readdirSync(join(dir, 'charts/clusters'))
      .map((f) => `charts/clusters/${f}`)
      .find((f) => f.endsWith('.ts') && /profileFromFacts\([\s\S]*storage: \{ '?[\w-]+'?:/.test(readFileSync(join(dir, f), 'utf8')));
    expect(profile, 'a cluster profile built from captured facts with storage decisions').toBeDefined();
    const source = readFileSync(join(dir, profile!), 'utf8');
    writeFileSync(join(dir, profile!), source.replace(/storage: \{ '?([\w-]+)'?:/, "storage: { 'no-such-class':"));
    const before = snapshot(dir);
    const { status, output } = run(dir, bin('tsx'), ['charts/main.ts']);
    expect(status, output).toBe(1);
    expect(output).toMatch(/^synth failed: /m);
    expect(output).toContain('storage.no-such-class: no such storage class was captured');
    expect(output).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expectUnchanged(dir, before);
  });

  it('writeOutput swaps in exactly the synthesized files, drops stale ones, and leaves no staging behind', () => {
    const dir = join(work, 'swap');
    mkdirSync(join(dir, 'dist', 'gone'), { recursive: true });
    writeFileSync(join(dir, 'dist', 'gone', 'old.yaml'), 'stale');
    mkdirSync(join(dir, 'docs'), { recursive: true });
    writeFileSync(join(dir, 'docs', 'other.md'), 'not generated');
    const output = synthesizeAll();
    writeOutput(dir, output);
    const written = [...listFiles(dir, 'dist'), ...listFiles(dir, 'argocd'), ...listFiles(dir, 'docs')].sort();
    expect(written).toEqual([...output.files.keys(), 'docs/other.md'].sort());
    for (const [path, text] of output.files) expect(readFileSync(join(dir, path), 'utf8')).toBe(text);
    expect(readdirSync(join(dir, stagingParent))).toEqual([]);
  });
});
