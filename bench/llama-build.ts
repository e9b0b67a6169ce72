/**
 * Builds `llama-server` and `llama-bench` from the llama.cpp source bundle that node-llama-cpp
 * ships (`node_modules/node-llama-cpp/llama/gitRelease.bundle`), so the benchmark compares the
 * service against the very llama.cpp revision it links, fully offline.
 *
 * Source: `.cache/llama.cpp-src` (a clone of the bundle, checked out at the bundle's HEAD).
 * Build:  `.cache/llama.cpp-build/<commit>` with a `.bench-stamp` file naming the commit and the
 * cmake options; a stamp that matches means the binaries are reused.
 *
 * CLI: `npx tsx bench/llama-build.ts` builds (or reuses) and prints the binaries' paths.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const bundlePath = join(repoRoot, 'node_modules/node-llama-cpp/llama/gitRelease.bundle');
export const srcDir = join(repoRoot, '.cache/llama.cpp-src');
export const buildRoot = join(repoRoot, '.cache/llama.cpp-build');

/** cmake configure options; part of the cache key. */
export const cmakeOptions: readonly string[] = [
  '-DCMAKE_BUILD_TYPE=Release',
  '-DLLAMA_CURL=OFF',
  '-DGGML_NATIVE=ON',
  '-DLLAMA_BUILD_TESTS=OFF',
  '-DLLAMA_BUILD_EXAMPLES=OFF',
  // This llama.cpp revision would otherwise try to download prebuilt web UI assets at build
  // time; the benchmark never uses the UI and must build offline.
  '-DLLAMA_USE_PREBUILT_UI=OFF',
  '-DLLAMA_BUILD_UI=OFF',
  '-DLLAMA_OPENSSL=OFF',
];
export const buildTargets: readonly string[] = ['llama-server', 'llama-bench'];

export interface LlamaBuild {
  commit: string;
  /** Whatever the bundle calls its release (node-llama-cpp's `llama.cpp.info.json` tag). */
  release: string;
  buildDir: string;
  server: string;
  bench: string;
  /** True when this call compiled; false when cached binaries were reused. */
  built: boolean;
  /** Wall time of clone + configure + build in this call (0 when cached). */
  buildSeconds: number;
  commands: string[];
}

interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a command, rejecting on a non-zero exit or after `timeoutMs`; `logTo` receives output lines. */
export function run(cmd: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number; log?: (line: string) => void } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const onData = (which: 'out' | 'err') => (chunk: Buffer) => {
      const text = chunk.toString();
      if (which === 'out') stdout += text;
      else stderr += text;
      if (opts.log) for (const line of text.split('\n')) if (line.trim()) opts.log(line);
    };
    child.stdout.on('data', onData('out'));
    child.stderr.on('data', onData('err'));
    const timer = setTimeout(
      () => {
        child.kill('SIGKILL');
        reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${opts.timeoutMs} ms`));
      },
      opts.timeoutMs ?? 30 * 60_000,
    );
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise({ stdout, stderr });
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}\n${(stderr || stdout).slice(-4000)}`));
    });
  });
}

/** The commit the bundle's HEAD points at. */
export async function bundleCommit(): Promise<string> {
  const { stdout } = await run('git', ['bundle', 'list-heads', bundlePath]);
  const head = stdout.split('\n').find((l) => l.endsWith(' HEAD')) ?? stdout.split('\n')[0] ?? '';
  const commit = head.split(' ')[0] ?? '';
  if (!/^[0-9a-f]{40}$/.test(commit)) throw new Error(`cannot read the bundle's HEAD from: ${stdout}`);
  return commit;
}

async function bundleRelease(): Promise<string> {
  try {
    const info = JSON.parse(await readFile(join(repoRoot, 'node_modules/node-llama-cpp/llama/llama.cpp.info.json'), 'utf8')) as { tag?: string };
    return info.tag ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function checkout(commit: string, log: (line: string) => void, commands: string[]): Promise<void> {
  if (existsSync(join(srcDir, '.git'))) {
    try {
      const { stdout } = await run('git', ['rev-parse', 'HEAD'], { cwd: srcDir });
      if (stdout.trim() === commit) return;
    } catch {
      // fall through to a fresh clone
    }
    await rm(srcDir, { recursive: true, force: true });
  }
  await mkdir(dirname(srcDir), { recursive: true });
  commands.push(`git clone ${bundlePath} ${srcDir}`, `git -C ${srcDir} checkout --detach ${commit}`);
  log(`cloning the llama.cpp bundle into ${srcDir}`);
  await run('git', ['-c', 'advice.detachedHead=false', 'clone', '--quiet', bundlePath, srcDir]);
  await run('git', ['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', commit], { cwd: srcDir });
}

/** Builds (or reuses) llama-server and llama-bench for the bundle's commit. */
export async function ensureLlamaBuild(log: (line: string) => void = () => {}): Promise<LlamaBuild> {
  const commit = await bundleCommit();
  const release = await bundleRelease();
  const buildDir = join(buildRoot, commit);
  const server = join(buildDir, 'bin', 'llama-server');
  const bench = join(buildDir, 'bin', 'llama-bench');
  const stampPath = join(buildDir, '.bench-stamp');
  const stamp = JSON.stringify({ commit, cmakeOptions, buildTargets });
  const configureArgs = ['-S', srcDir, '-B', buildDir, ...cmakeOptions];
  const buildArgs = ['--build', buildDir, '--config', 'Release', '-j', '2', '--target', ...buildTargets];
  const commands = [`cmake ${configureArgs.join(' ')}`, `cmake ${buildArgs.join(' ')}`];

  if (existsSync(server) && existsSync(bench) && existsSync(stampPath)) {
    if ((await readFile(stampPath, 'utf8')) === stamp) {
      return { commit, release, buildDir, server, bench, built: false, buildSeconds: 0, commands };
    }
  }

  const started = performance.now();
  const cloneCommands: string[] = [];
  await checkout(commit, log, cloneCommands);
  await mkdir(buildDir, { recursive: true });
  await rm(stampPath, { force: true });
  log(`configuring llama.cpp ${commit.slice(0, 12)} in ${buildDir}`);
  await run('cmake', configureArgs, { log: (l) => log(`[cmake] ${l}`), timeoutMs: 5 * 60_000 });
  log(`building ${buildTargets.join(', ')} with -j2 (several minutes on 2 cores)`);
  let lastPct = '';
  await run('cmake', buildArgs, {
    timeoutMs: 40 * 60_000,
    log: (l) => {
      const pct = /^\[\s*(\d+)%\]/.exec(l)?.[1];
      if (pct && pct !== lastPct && Number(pct) % 10 === 0) {
        lastPct = pct;
        log(`[build] ${pct}%`);
      }
    },
  });
  if (!existsSync(server) || !existsSync(bench)) throw new Error(`llama.cpp build finished but ${server} is missing`);
  await writeFile(stampPath, stamp);
  const buildSeconds = (performance.now() - started) / 1000;
  return {
    commit,
    release,
    buildDir,
    server,
    bench,
    built: true,
    buildSeconds,
    commands: [...cloneCommands, ...commands],
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result = await ensureLlamaBuild((l) => console.error(l));
  console.log(JSON.stringify(result, null, 2));
}
