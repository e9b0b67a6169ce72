/**
 * The memory soak (`npm run bench -- --only soak`, also the last phase of a full `npm run bench`): every
 * stack at 4 sequences with 4 concurrent clients for thousands of requests of mixed prompt lengths, RSS
 * sampled after every 500. The question it answers: does memory stay flat under sustained concurrent load
 * (docs/memory.md has the defect it was written for).
 *
 * Stacks, all on the tiny random-weight test model (tools/test-model, `tiny` q8_0, the real 151,936-token
 * Qwen2 vocabulary, whose size is what the defect scaled with), 1 thread, 1024 tokens per sequence:
 *  - service:                this service over HTTP (`node --import tsx service/main.ts`, PARALLEL=4), chat
 *                            completions, every other request streamed;
 *  - direct:                 plain node-llama-cpp as installed (patches/ applied), LlamaChat per request;
 *  - direct-unpatched:       the same on a copy of node-llama-cpp with patches/ reversed: the before curve
 *                            (fewer requests: it grows by ~0.6 MB per request);
 *  - llamaServer:            llama.cpp's llama-server from the same llama.cpp revision, when
 *                            bench/llama-build.ts has built it (`-np 4 --no-kv-unified`).
 * Target (service): RSS after the last 500 requests at most 50 MB above RSS after the first 1,000 (`soakTarget`).
 *
 * Outputs: bench/soak-results.json (every sample, the commands) and the "Memory soak" section of
 * docs/benchmarks.md, between markers that the main benchmark report keeps when it rewrites the file
 * (`withSoakSection`). BENCH_QUICK=1 writes to .cache/bench/quick/ instead. SOAK_STACKS=llamaServer (a comma
 * list of service, direct, direct-unpatched, llamaServer) runs only those and keeps the others from the saved results.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { serverRuntimeEnv } from '../../service/contract.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { buildRoot, repoRoot } from '../llama-build.js';
import { freePort, start, stop, waitReady, type Managed } from '../lib/proc.js';
import { soakMaxTokens, soakPrompt } from './soak-load.js';

const execFileAsync = promisify(execFile);

export type SoakStack = 'service' | 'direct' | 'direct-unpatched' | 'llamaServer';

export interface SoakSample {
  /** Requests completed when the sample was taken. */
  requests: number;
  seconds: number;
  rssBytes: number;
  anonBytes: number;
  /** V8 heap reserved (service: `nodejs_heap_size_total_bytes` from /metrics; direct: `process.memoryUsage().heapTotal`). */
  heapTotalBytes?: number;
}

export interface SoakStackResult {
  stack: SoakStack;
  /** When this stack's run began (stacks kept from an earlier run with SOAK_STACKS keep theirs). */
  startedAt?: string;
  description: string;
  command: string;
  requestsPlanned: number;
  requestsDone: number;
  errors: number;
  firstErrors: string[];
  readyRssBytes?: number;
  samples: SoakSample[];
  /** RSS after the last sample minus RSS after 1,000 requests (bytes). */
  growthAfter1000Bytes?: number;
  /** (last - first sample) / requests in between, bytes per request. */
  bytesPerRequest?: number;
  seconds?: number;
  skipped?: string;
  error?: string;
}

export interface SoakResults {
  schema: 1;
  quick: boolean;
  startedAt: string;
  finishedAt?: string;
  command: string;
  machine: { cpuModel: string; logicalCpus: number; memoryGiB: number; loadAverageStart: number[]; loadAverageEnd?: number[] };
  parameters: Record<string, unknown>;
  model?: { path: string; bytes: number };
  stacks: SoakStackResult[];
  target?: { name: string; target: string; value: string; met: boolean | null };
}

export interface SoakOptions {
  quick: boolean;
  log: (line: string) => void;
  /** The command line that ran it, for the report. */
  command: string;
}

const SEQUENCES = 4;
const CLIENTS = 4;
const CONTEXT = 1024;
const THREADS = 1;
const SAMPLE_EVERY = 500;
const MAX_TOKENS: [number, number] = [4, 24];
const PROMPT_WORDS: [number, number] = [1, 160];
/** Per-stack wall-clock bound: the loop stops there whatever it has done. */
const STACK_DEADLINE_MS = 20 * 60_000;
const TARGET_BYTES = 50e6;

const MARK_START = '<!-- memory-soak:start (bench/scenarios/soak.ts writes this section) -->';
const MARK_END = '<!-- memory-soak:end -->';

const MiB = (b: number | undefined): string => (b === undefined || !Number.isFinite(b) ? 'n/a' : (b / 2 ** 20).toFixed(1));

function statusMemory(text: string): { rssBytes: number; anonBytes: number } {
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
  return { rssBytes: kb('VmRSS'), anonBytes: kb('RssAnon') };
}

async function memoryOfPid(pid: number): Promise<{ rssBytes: number; anonBytes: number } | undefined> {
  try {
    return statusMemory(await readFile(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

function summarise(r: SoakStackResult): void {
  const first = r.samples[0];
  const last = r.samples.at(-1);
  const at1000 = r.samples.find((s) => s.requests === 1000);
  if (last && at1000 && last.requests > at1000.requests) r.growthAfter1000Bytes = last.rssBytes - at1000.rssBytes;
  if (first && last && last.requests > first.requests) r.bytesPerRequest = (last.rssBytes - first.rssBytes) / (last.requests - first.requests);
}

// ------------------------------------------------------------------------------------------------
// HTTP stacks (service, llama-server)
// ------------------------------------------------------------------------------------------------

function body(stack: 'service' | 'llamaServer', i: number): Record<string, unknown> {
  // No `model`: this service serves a request without one, and llama-server ignores it.
  const b: Record<string, unknown> = {
    messages: [{ role: 'user', content: soakPrompt(i, PROMPT_WORDS) }],
    max_tokens: soakMaxTokens(i, MAX_TOKENS),
    temperature: 0.8,
    seed: i,
    stream: i % 2 === 1,
  };
  // Same work on llama-server: no prompt cache kept between requests (the service clears each sequence).
  if (stack === 'llamaServer') b.cache_prompt = false;
  return b;
}

/** One request; resolves with an error text or undefined. Streams are read to `data: [DONE]`. */
async function request(base: string, stack: 'service' | 'llamaServer', i: number): Promise<string | undefined> {
  const b = body(stack, i);
  let res: Response;
  try {
    res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(b),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    return (err as Error).message;
  }
  const text = await res.text().catch((err: unknown) => `(body: ${(err as Error).message})`);
  if (res.status !== 200) return `HTTP ${res.status}: ${text.slice(0, 160)}`;
  if (b.stream === true) return text.includes('data: [DONE]') ? undefined : `stream without [DONE]: ${text.slice(-160)}`;
  try {
    const json = JSON.parse(text) as { choices?: { message?: { content?: string } }[] };
    return typeof json.choices?.[0]?.message?.content === 'string' ? undefined : `no content: ${text.slice(0, 160)}`;
  } catch {
    return `not JSON: ${text.slice(0, 160)}`;
  }
}

/** The service's V8 heap size, from its own /metrics (prom-client default metrics). */
async function serviceHeapTotal(base: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const v = /^nodejs_heap_size_total_bytes (\S+)$/m.exec(text)?.[1];
    return v === undefined ? undefined : Number(v);
  } catch {
    return undefined;
  }
}

async function soakHttp(stack: 'service' | 'llamaServer', proc: Managed, base: string, r: SoakStackResult, log: SoakOptions['log']): Promise<void> {
  const t0 = performance.now();
  const deadline = t0 + STACK_DEADLINE_MS;
  let next = 0;
  let pendingSamples: Promise<void> = Promise.resolve();
  const client = async (): Promise<void> => {
    while (next < r.requestsPlanned && performance.now() < deadline) {
      const i = next++;
      const error = await request(base, stack, i);
      if (error !== undefined) {
        r.errors++;
        if (r.firstErrors.length < 5) r.firstErrors.push(`#${i}: ${error}`);
      }
      const done = ++r.requestsDone;
      if (done % SAMPLE_EVERY === 0) {
        const seconds = (performance.now() - t0) / 1000;
        pendingSamples = pendingSamples.then(async () => {
          const m = await memoryOfPid(proc.pid);
          const heapTotalBytes = stack === 'service' ? await serviceHeapTotal(base) : undefined;
          if (m) r.samples.push({ requests: done, seconds, ...m, ...(heapTotalBytes === undefined ? {} : { heapTotalBytes }) });
        });
        await pendingSamples;
        log(`  ${stack}: ${done} requests, RSS ${MiB(r.samples.at(-1)?.rssBytes)} MiB (${r.errors} errors)`);
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, () => client()));
  await pendingSamples;
  r.seconds = (performance.now() - t0) / 1000;
}

async function runService(modelPath: string, r: SoakStackResult, log: SoakOptions['log'], logDir: string): Promise<void> {
  const port = await freePort();
  const env: Record<string, string> = {
    MODEL: modelPath,
    HOST: '127.0.0.1',
    PORT: String(port),
    THREADS: String(THREADS),
    CONTEXT_SIZE: String(CONTEXT),
    PARALLEL: String(SEQUENCES),
    MAX_QUEUE: String(CLIENTS),
    MAX_COMPLETION_LENGTH: String(MAX_TOKENS[1]),
    LOG_LEVEL: 'warn',
    ...serverRuntimeEnv,
  };
  const args = ['--import', 'tsx', 'service/main.ts'];
  r.command = `${Object.entries(env)
    .map(([k, v]) => `${k}=${v.replaceAll(`${repoRoot}/`, '')}`)
    .join(' ')} node ${args.join(' ')}`;
  const proc = start({
    name: 'soak-service',
    cmd: process.execPath,
    args,
    env: { ...process.env, ...env },
    cwd: repoRoot,
    logFile: join(logDir, 'service.log'),
  });
  try {
    await waitReady(proc, `http://127.0.0.1:${port}/health/ready`, 120_000, 100);
    const m = await memoryOfPid(proc.pid);
    if (m) r.readyRssBytes = m.rssBytes;
    await soakHttp('service', proc, `http://127.0.0.1:${port}`, r, log);
  } finally {
    await stop(proc);
  }
}

/** The llama-server binary of a finished bench/llama-build.ts build, if there is one. */
async function builtLlamaServer(): Promise<string | undefined> {
  if (!existsSync(buildRoot)) return undefined;
  for (const commit of await readdir(buildRoot)) {
    const server = join(buildRoot, commit, 'bin', 'llama-server');
    if (existsSync(server) && existsSync(join(buildRoot, commit, '.bench-stamp'))) return server;
  }
  return undefined;
}

async function runLlamaServer(server: string, modelPath: string, r: SoakStackResult, log: SoakOptions['log'], logDir: string): Promise<void> {
  const port = await freePort();
  const args = [
    '-m',
    modelPath,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '-t',
    String(THREADS),
    '-tb',
    String(THREADS),
    // -c is the total KV size, split over the -np slots: CONTEXT per sequence, as the service.
    '-c',
    String(CONTEXT * SEQUENCES),
    '-np',
    String(SEQUENCES),
    '--no-kv-unified',
    '-b',
    '512',
    '-ub',
    '512',
    '-ngl',
    '0',
    '--no-webui',
  ];
  r.command = [server, ...args].map((a) => a.replaceAll(`${repoRoot}/`, '')).join(' ');
  const proc = start({ name: 'soak-llama-server', cmd: server, args, cwd: repoRoot, logFile: join(logDir, 'llama-server.log') });
  try {
    await waitReady(proc, `http://127.0.0.1:${port}/health`, 120_000, 100);
    const m = await memoryOfPid(proc.pid);
    if (m) r.readyRssBytes = m.rssBytes;
    await soakHttp('llamaServer', proc, `http://127.0.0.1:${port}`, r, log);
  } finally {
    await stop(proc);
  }
}

// ------------------------------------------------------------------------------------------------
// node-llama-cpp direct (patched as installed, and an unpatched copy)
// ------------------------------------------------------------------------------------------------

const installedLibrary = join(repoRoot, 'node_modules/node-llama-cpp');

/**
 * A copy of node-llama-cpp with patches/ reversed, under .cache so that its own imports still resolve
 * to the repository's node_modules (Node looks up the parent directories). `dist/` is copied and
 * patched back; the native parts (`llama/`, `bins/`) are links to the installed package.
 */
async function unpatchedLibrary(): Promise<{ dir: string; patchFile: string }> {
  const patchDir = join(repoRoot, 'patches');
  const patchFile = (await readdir(patchDir)).find((f) => f.startsWith('node-llama-cpp+') && f.endsWith('.patch'));
  if (patchFile === undefined) throw new Error('no patches/node-llama-cpp+*.patch to reverse');
  const root = join(repoRoot, '.cache/bench/soak/unpatched');
  const dir = join(root, 'node_modules/node-llama-cpp');
  await rm(root, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await cp(join(installedLibrary, 'dist'), join(dir, 'dist'), { recursive: true });
  await cp(join(installedLibrary, 'package.json'), join(dir, 'package.json'));
  for (const name of ['llama', 'bins', 'templates']) {
    if (existsSync(join(installedLibrary, name))) await symlink(join(installedLibrary, name), join(dir, name));
  }
  // The patch names files a/node_modules/node-llama-cpp/...: -p1 from `root` lands on the copy.
  await execFileAsync('patch', ['-R', '-p1', '-s', '-d', root, '-i', join(patchDir, patchFile)]);
  return { dir, patchFile };
}

async function runDirect(modelPath: string, libraryDir: string, r: SoakStackResult, log: SoakOptions['log'], logDir: string): Promise<void> {
  const workerArgs = {
    modelPath,
    libraryDir,
    requests: r.requestsPlanned,
    clients: CLIENTS,
    sequences: SEQUENCES,
    contextSize: CONTEXT,
    threads: THREADS,
    sampleEvery: SAMPLE_EVERY,
    maxTokens: MAX_TOKENS,
    promptWords: PROMPT_WORDS,
  };
  const args = ['--import', 'tsx', 'bench/scenarios/soak-direct-worker.ts', JSON.stringify(workerArgs)];
  r.command = `${Object.entries(serverRuntimeEnv)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')} node ${args.slice(0, 3).join(' ')} '${JSON.stringify(workerArgs).replaceAll(`${repoRoot}/`, '')}'`;
  const t0 = performance.now();
  const proc = start({
    name: `soak-${r.stack}`,
    cmd: process.execPath,
    args,
    env: { ...process.env, ...serverRuntimeEnv },
    cwd: repoRoot,
    logFile: join(logDir, `${r.stack}.log`),
  });
  let buffer = '';
  proc.child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let n: number;
    while ((n = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, n);
      buffer = buffer.slice(n + 1);
      let event: { type?: string; requests?: number; seconds?: number; rssBytes?: number; anonBytes?: number; heapTotalBytes?: number; error?: string };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        continue;
      }
      if (event.type === 'ready') r.readyRssBytes = event.rssBytes;
      if (event.type === 'sample' && event.requests !== undefined) {
        r.samples.push({
          requests: event.requests,
          seconds: event.seconds ?? 0,
          rssBytes: event.rssBytes ?? Number.NaN,
          anonBytes: event.anonBytes ?? Number.NaN,
          ...(event.heapTotalBytes === undefined ? {} : { heapTotalBytes: event.heapTotalBytes }),
        });
        r.requestsDone = event.requests;
        log(`  ${r.stack}: ${event.requests} requests, RSS ${MiB(event.rssBytes)} MiB`);
      }
      if (event.type === 'done') r.requestsDone = event.requests ?? r.requestsDone;
      if (event.type === 'error') r.error = event.error;
    }
  });
  const timer = setTimeout(() => void stop(proc), STACK_DEADLINE_MS);
  const code = await proc.exited;
  clearTimeout(timer);
  r.seconds = (performance.now() - t0) / 1000;
  if (code !== 0) r.error ??= `worker exited with ${String(code)}: ${proc.output().slice(-500)}`;
}

// ------------------------------------------------------------------------------------------------
// Report
// ------------------------------------------------------------------------------------------------

const stackTitles: Record<SoakStack, string> = {
  service: 'this service',
  direct: 'node-llama-cpp direct (patched)',
  'direct-unpatched': 'node-llama-cpp direct, unpatched 3.21.1',
  llamaServer: 'llama-server',
};

/** The "Memory soak" section of docs/benchmarks.md (between the markers). */
export function renderSoakSection(s: SoakResults): string {
  const lines: string[] = [MARK_START, '', '## Memory soak', ''];
  lines.push(
    `Command: \`${s.command}\` (started ${s.startedAt}${s.quick ? ', QUICK: fewer requests' : ''}). Raw samples: \`${s.quick ? '.cache/bench/quick/soak-results.json' : 'bench/soak-results.json'}\`.`,
    '',
    `Every stack: ${SEQUENCES} sequences, ${CLIENTS} concurrent clients, chat requests of ${PROMPT_WORDS[0]}-${PROMPT_WORDS[1]} prompt words and ` +
      `max_tokens ${MAX_TOKENS[0]}-${MAX_TOKENS[1]} (temperature 0.8; every other request streamed over HTTP), ${THREADS} thread, ` +
      `${CONTEXT} tokens per sequence, model \`${s.model?.path ?? '?'}\` (${MiB(s.model?.bytes)} MiB, tiny random-weight qwen2 with the real 151,936-token Qwen2 vocabulary). ` +
      `RSS (VmRSS of the process) after every ${SAMPLE_EVERY} requests, in MiB. Machine: ${s.machine.cpuModel}, ${s.machine.logicalCpus} CPUs, load average ${s.machine.loadAverageStart.map((x) => x.toFixed(1)).join(' ')} at start (shared: timings are noisy, memory figures are not).`,
    '',
  );
  if (s.target)
    lines.push(
      `**Target** (${s.target.name}): ${s.target.target}. Measured: ${s.target.value}: ${s.target.met === null ? 'not measured' : s.target.met ? 'met' : 'NOT met'}.`,
      '',
    );
  const ran = s.stacks.filter((r) => r.samples.length > 0);
  const counts = [...new Set(ran.flatMap((r) => r.samples.map((x) => x.requests)))].sort((a, b) => a - b);
  if (ran.length > 0) {
    lines.push(`| requests | ${ran.map((r) => stackTitles[r.stack]).join(' | ')} |`, `| ---: | ${ran.map(() => '---:').join(' | ')} |`);
    lines.push(`| ready (0) | ${ran.map((r) => MiB(r.readyRssBytes)).join(' | ')} |`);
    for (const n of counts)
      lines.push(`| ${n.toLocaleString('en-US')} | ${ran.map((r) => MiB(r.samples.find((x) => x.requests === n)?.rssBytes)).join(' | ')} |`);
    lines.push(
      `| growth, last - at 1,000 | ${ran.map((r) => (r.growthAfter1000Bytes === undefined ? 'n/a' : `${r.growthAfter1000Bytes >= 0 ? '+' : ''}${MiB(r.growthAfter1000Bytes)}`)).join(' | ')} |`,
      `| per request (first to last sample) | ${ran.map((r) => (r.bytesPerRequest === undefined ? 'n/a' : `${(r.bytesPerRequest / 1024).toFixed(1)} KiB`)).join(' | ')} |`,
      `| V8 heap reserved, first / last sample | ${ran.map((r) => (r.samples[0]?.heapTotalBytes === undefined ? 'n/a' : `${MiB(r.samples[0]?.heapTotalBytes)} / ${MiB(r.samples.at(-1)?.heapTotalBytes)}`)).join(' | ')} |`,
      `| errors | ${ran.map((r) => `${r.errors} of ${r.requestsDone}`).join(' | ')} |`,
      `| wall time | ${ran.map((r) => (r.seconds === undefined ? 'n/a' : `${r.seconds.toFixed(0)} s`)).join(' | ')} |`,
      '',
    );
  }
  for (const r of s.stacks) {
    if (r.startedAt !== undefined && r.startedAt < s.startedAt) lines.push(`- ${stackTitles[r.stack]}: measured in the run of ${r.startedAt}.`);
    if (r.skipped) lines.push(`- ${stackTitles[r.stack]}: not run (${r.skipped}).`);
    if (r.error) lines.push(`- ${stackTitles[r.stack]}: failed: ${r.error.replace(/\s+/g, ' ').slice(0, 300)}`);
    if (r.firstErrors.length > 0) lines.push(`- ${stackTitles[r.stack]}: first request errors: ${r.firstErrors.join('; ').slice(0, 300)}`);
  }
  lines.push('', 'Commands:', '');
  for (const r of s.stacks) if (r.command) lines.push(`- ${stackTitles[r.stack]}: \`${r.command}\``);
  lines.push('', 'Why the unpatched curve climbs and the others do not: [docs/memory.md](memory.md).', '', MARK_END, '');
  return lines.join('\n');
}

/** `markdown` with the soak section of `previous` (if any) appended: the main report rewrites the file. */
export function withSoakSection(markdown: string, previous: string | undefined): string {
  const section = extractSoakSection(previous);
  if (section === undefined) return markdown;
  return `${markdown.replace(/\s*$/, '')}\n\n${section}\n`;
}

function extractSoakSection(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const a = text.indexOf(MARK_START);
  const b = text.indexOf(MARK_END);
  return a >= 0 && b > a ? text.slice(a, b + MARK_END.length) : undefined;
}

/** Replaces (or appends) the soak section in the file at `path`. */
async function writeSoakSection(path: string, section: string): Promise<void> {
  const current = await readFile(path, 'utf8').catch(() => '');
  const a = current.indexOf(MARK_START);
  const b = current.indexOf(MARK_END);
  const next =
    a >= 0 && b > a
      ? `${current.slice(0, a)}${section.trimEnd()}${current.slice(b + MARK_END.length)}`
      : `${current.replace(/\s*$/, '')}${current ? '\n\n' : ''}${section}`;
  await writeFile(path, next.endsWith('\n') ? next : `${next}\n`);
}

// ------------------------------------------------------------------------------------------------
// Entry point
// ------------------------------------------------------------------------------------------------

/**
 * The target, for this service: RSS after the last 500 requests at most 50 MB above RSS after the first
 * 1,000 (a leak target: RSS that drops, e.g. after a full GC, meets it), all requests served without errors.
 */
export function soakTarget(results: SoakResults): NonNullable<SoakResults['target']> {
  const requests = Number(results.parameters.requests);
  const service = results.stacks.find((r) => r.stack === 'service');
  const growth = service?.growthAfter1000Bytes;
  const complete = service !== undefined && service.requestsDone >= requests && service.errors === 0;
  return {
    name: 'service, RSS after the last 500 requests vs after the first 1,000',
    target: `at most 50 MB (${TARGET_BYTES.toLocaleString('en-US')} bytes) above, over ${requests.toLocaleString('en-US')} requests without errors`,
    value:
      growth === undefined
        ? 'n/a'
        : `${growth >= 0 ? '+' : ''}${(growth / 1e6).toFixed(1)} MB over ${service?.requestsDone ?? 0} requests, ${service?.errors ?? 0} errors`,
    met: growth === undefined ? null : complete && growth <= TARGET_BYTES,
  };
}

export function soakPaths(quick: boolean): { results: string; docs: string } {
  return quick
    ? { results: join(repoRoot, '.cache/bench/quick/soak-results.json'), docs: join(repoRoot, '.cache/bench/quick/benchmarks.md') }
    : { results: join(repoRoot, 'bench/soak-results.json'), docs: join(repoRoot, 'docs/benchmarks.md') };
}

export async function runSoak(opts: SoakOptions): Promise<SoakResults> {
  const { quick, log } = opts;
  const requests = quick ? 1_500 : 5_000;
  const unpatchedRequests = quick ? 1_000 : 2_000;
  const logDir = join(repoRoot, '.cache/bench/logs', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await mkdir(logDir, { recursive: true });
  const results: SoakResults = {
    schema: 1,
    quick,
    startedAt: new Date().toISOString(),
    command: opts.command,
    machine: {
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      logicalCpus: os.cpus().length,
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      loadAverageStart: os.loadavg(),
    },
    parameters: {
      sequences: SEQUENCES,
      clients: CLIENTS,
      contextPerSequence: CONTEXT,
      threads: THREADS,
      sampleEvery: SAMPLE_EVERY,
      maxTokens: MAX_TOKENS,
      promptWords: PROMPT_WORDS,
      requests,
      unpatchedRequests,
    },
    stacks: [],
  };
  const modelPath = await ensureTestModel({ shape: 'tiny', quant: 'q8_0' });
  results.model = { path: modelPath.replace(`${repoRoot}/`, ''), bytes: (await stat(modelPath)).size };

  const stackResult = (stack: SoakStack, planned: number, description: string): SoakStackResult => {
    const r: SoakStackResult = { stack, description, command: '', requestsPlanned: planned, requestsDone: 0, errors: 0, firstErrors: [], samples: [] };
    results.stacks.push(r);
    return r;
  };
  const guarded = async (r: SoakStackResult, fn: () => Promise<void>): Promise<void> => {
    log(`soak: ${stackTitles[r.stack]}, ${r.requestsPlanned} requests`);
    try {
      await fn();
    } catch (err) {
      r.error = err instanceof Error ? err.message : String(err);
      log(`soak: ${r.stack} failed: ${r.error.slice(0, 500)}`);
    }
    summarise(r);
  };

  // SOAK_STACKS=llamaServer (a comma list) runs only those stacks and keeps the others from the saved results.
  const selected = process.env.SOAK_STACKS?.split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const paths = soakPaths(quick);
  const previous = selected
    ? ((await readFile(paths.results, 'utf8')
        .then((t) => JSON.parse(t) as SoakResults)
        .catch(() => undefined)) ?? undefined)
    : undefined;
  const run = async (stack: SoakStack, planned: number, description: string, fn: (r: SoakStackResult) => Promise<void>): Promise<void> => {
    const kept = selected !== undefined && !selected.includes(stack) ? previous?.stacks.find((x) => x.stack === stack) : undefined;
    if (kept) {
      kept.startedAt ??= previous?.startedAt;
      results.stacks.push(kept);
      log(`soak: ${stackTitles[stack]} kept from the run of ${kept.startedAt ?? '?'} (SOAK_STACKS=${selected?.join(',') ?? ''})`);
      return;
    }
    const r = stackResult(stack, planned, description);
    r.startedAt = new Date().toISOString();
    await guarded(r, () => fn(r));
  };

  await run('service', requests, 'this service over HTTP', (r) => runService(modelPath, r, log, logDir));
  await run('direct', requests, 'node-llama-cpp as installed (patched)', (r) => runDirect(modelPath, installedLibrary, r, log, logDir));
  await run('direct-unpatched', unpatchedRequests, 'node-llama-cpp 3.21.1 as published (patches/ reversed on a copy)', async (r) => {
    const lib = await unpatchedLibrary();
    r.description += ` (${lib.patchFile} reversed)`;
    await runDirect(modelPath, lib.dir, r, log, logDir);
  });
  const server = await builtLlamaServer();
  await run('llamaServer', requests, 'llama-server from the bundled llama.cpp revision', async (r) => {
    if (server === undefined) {
      r.skipped = 'no llama-server build under .cache/llama.cpp-build; `npx tsx bench/llama-build.ts` builds it (several minutes on 2 cores)';
      log(`soak: llama-server skipped (${r.skipped})`);
      return;
    }
    await runLlamaServer(server, modelPath, r, log, logDir);
  });

  results.target = soakTarget(results);
  results.finishedAt = new Date().toISOString();
  results.machine.loadAverageEnd = os.loadavg();

  await mkdir(join(paths.results, '..'), { recursive: true });
  await writeFile(paths.results, `${JSON.stringify(results, null, 2)}\n`);
  await writeSoakSection(paths.docs, renderSoakSection(results));
  log(`soak: wrote ${paths.results.replace(`${repoRoot}/`, '')} and the section in ${paths.docs.replace(`${repoRoot}/`, '')}`);
  return results;
}

/** `npx tsx bench/scenarios/soak.ts --render [--quick]`: rewrite the docs section from the saved results. */
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.argv.includes('--render')) {
  const paths = soakPaths(process.argv.includes('--quick'));
  const saved = JSON.parse(await readFile(paths.results, 'utf8')) as SoakResults;
  saved.target = soakTarget(saved);
  await writeFile(paths.results, `${JSON.stringify(saved, null, 2)}\n`);
  await writeSoakSection(paths.docs, renderSoakSection(saved));
  console.log(`rewrote the soak section of ${paths.docs.replace(`${repoRoot}/`, '')} from ${paths.results.replace(`${repoRoot}/`, '')}`);
}
