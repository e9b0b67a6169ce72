/**
 * `npm run bench`: this service vs node-llama-cpp called directly vs llama.cpp's llama-server, on the
 * same random-weight Qwen2.5-0.5B-shaped GGUF (q8_0), the same threads and per-sequence context, in one
 * run. Writes bench/results.json (every raw sample) and docs/benchmarks.md (tables, ratios, targets).
 *
 * Offline and self-contained: the model is generated (tools/test-model), llama.cpp is built from the
 * source bundle inside node-llama-cpp (bench/llama-build.ts, cached in .cache/llama.cpp-build).
 * Every child process is killed at the end, on failure and on SIGINT/SIGTERM; servers bind 127.0.0.1;
 * every request loop is bounded in count and time. Env: BENCH_QUICK=1 for a fast smoke run (fewer
 * repetitions; results are written to .cache/bench/ instead of the committed files).
 */
import { serverRuntimeEnv } from '../service/contract.js';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, rmdir, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readGgufFileInfo } from 'node-llama-cpp';
import { ensureTestModel } from '../tools/test-model/make-test-model.js';
import type { DirectSample } from './direct-worker.js';
import { ensureLlamaBuild, repoRoot, type LlamaBuild } from './llama-build.js';
import { freePort, killAll, killAllSync, memoryOf, probe, sleep, start, stop, waitReady, type Managed } from './lib/proc.js';
import { streamRequest, type StreamSample } from './lib/sse.js';
import { max, median, min, percentile, ratio, round } from './lib/stats.js';
import { WorkerClient } from './lib/worker-client.js';
import { renderMarkdown } from './report.js';
import { runSoak, withSoakSection } from './scenarios/soak.js';
import { floodCli, withFloodSection } from './scenarios/flood.js';
import { embeddingsCli, withEmbeddingsSection } from './scenarios/embeddings.js';
import { runDecode, withDecodeSection } from './scenarios/decode.js';
import { conversationCli, withConversationSection, type ConversationRun } from './scenarios/conversation.js';
import { runtimeMemoryCli, withRuntimeMemorySection } from './scenarios/runtime-memory.js';

const execFileAsync = promisify(execFile);

// ------------------------------------------------------------------------------------------------
// Parameters (identical for every stack)
// ------------------------------------------------------------------------------------------------

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(
    [
      'usage: npm run bench [-- --only decode|soak|flood|embeddings|conversation|runtime-memory]',
      '',
      "Runs this service, node-llama-cpp called directly and llama.cpp's llama-server side by side on one",
      'generated model, and writes bench/results.json and docs/benchmarks.md (a run cut short writes what it',
      'measured, marked partial, under .cache/bench/partial/ and leaves the committed results alone).',
      '',
      'Environment:',
      '  BENCH_QUICK=1        a smoke run: fewer repetitions, results under .cache/bench/quick/',
      '  BENCH_SKIP=a,b       leave the named scenarios out of a full run (decode, soak, flood, embeddings, conversation, runtime-memory)',
      '',
      'The first run builds llama.cpp from the source node-llama-cpp ships (~10 min on 2 cores, cached in',
      ".cache/llama.cpp-build); the run's deadline counts from the end of that set-up.",
      '',
    ].join('\n'),
  );
  process.exit(0);
}

const QUICK = process.env.BENCH_QUICK === '1';
/** `--only soak|flood|embeddings|decode|conversation` (or `--only=soak`): run that scenario alone; it touches only its own outputs. */
const onlyArg = process.argv.slice(2).find((a, i, all) => a.startsWith('--only=') || all[i - 1] === '--only');
const onlyScenario = onlyArg?.replace(/^--only=/, '');
const knownOnly = ['soak', 'flood', 'embeddings', 'decode', 'conversation', 'runtime-memory'] as const;
if (onlyScenario !== undefined && !(knownOnly as readonly string[]).includes(onlyScenario)) {
  process.stderr.write(`bench: unknown --only ${onlyScenario} (known: ${knownOnly.join(', ')})\n`);
  process.exit(2);
}
/**
 * `BENCH_SKIP=soak,flood` leaves those scenarios out of a full run; their committed results and docs sections stay
 * as their own last run wrote them (each can be rerun alone with `--only`). The run's command records the list.
 */
const skippable = ['decode', 'soak', 'flood', 'embeddings', 'conversation', 'runtime-memory'] as const;
const SKIP = new Set(
  (process.env.BENCH_SKIP ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
);
for (const name of SKIP) {
  if (!(skippable as readonly string[]).includes(name)) {
    process.stderr.write(`bench: unknown BENCH_SKIP entry ${name} (known: ${skippable.join(', ')})\n`);
    process.exit(2);
  }
}
const fullRunCommand = `${QUICK ? 'BENCH_QUICK=1 ' : ''}${SKIP.size > 0 ? `BENCH_SKIP=${[...SKIP].join(',')} ` : ''}npm run bench`;
const THREADS = 2;
/** Tokens of context per sequence on every stack. */
const CTX_PER_SEQ = 4096;
/** Sequences (service PARALLEL, llama-server -np, node-llama-cpp `sequences`). */
const PARALLEL = 4;
const MAX_TOKENS = QUICK ? 32 : 128;
const REPS = QUICK ? 2 : 5;
const STREAMS = 4;
const HEALTH_ROUNDS = QUICK ? 1 : 2;
const HEALTH_INTERVAL_MS = 25;
const HEALTH_MAX_PROBES = 600;
const STARTUP_REPS = QUICK ? 1 : 3;
const THREAD_REPS = QUICK ? 1 : 3;
const THREAD_TOKENS = QUICK ? 16 : 48;
/** Per-generation time budget in the thread sweep: oversubscribed settings can run at < 1 token/s. */
const THREAD_BUDGET_MS = 8_000;
const REQUEST_TIMEOUT_MS = 180_000;
const READY_TIMEOUT_MS = 120_000;
/**
 * The measurement is aborted (children killed, partial results written beside the committed ones) this long
 * after set-up (model, llama.cpp build, service compile) has finished: a cold llama.cpp build takes ~10 minutes
 * here and is not part of what the deadline guards. Each skipped scenario shortens it.
 */
const MEASUREMENT_DEADLINE_MS = 30 * 60_000;

const SYSTEM_PROMPT = 'You are a helpful assistant.';
const userPrompt = (i: number): string =>
  `Request ${i}: write a short story about a lighthouse keeper who finds a message in a bottle. ` +
  'Use vivid imagery, three paragraphs, and end with a twist.';
const messagesFor = (i: number) => [
  { role: 'system' as const, content: SYSTEM_PROMPT },
  { role: 'user' as const, content: userPrompt(i) },
];

const runStamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = QUICK ? join(repoRoot, '.cache/bench/quick') : join(repoRoot, 'bench');
const docsPath = QUICK ? join(repoRoot, '.cache/bench/quick/benchmarks.md') : join(repoRoot, 'docs/benchmarks.md');
/** Where a run cut short (error, signal, deadline) writes what it measured: never over the committed results. */
const partialDir = join(repoRoot, '.cache/bench/partial', runStamp);
const logDir = join(repoRoot, '.cache/bench/logs', runStamp);

type Stack = 'service' | 'direct' | 'llamaServer';
const stacks: readonly Stack[] = ['service', 'direct', 'llamaServer'];

// ------------------------------------------------------------------------------------------------
// Results shape
// ------------------------------------------------------------------------------------------------

/** One generation's figures (HTTP or direct), normalised. */
export interface GenSample {
  stack: Stack;
  rep: number;
  stream: number;
  promptIndex: number;
  ttftMs: number;
  /** (completionTokens - 1) / (last - first content chunk). */
  decodeTokPerS: number;
  totalMs: number;
  completionTokens: number;
  promptTokens: number;
  contentChunks: number;
  firstAtMs: number;
  lastAtMs: number;
  sentAtMs: number;
  finishReason: string | null;
  serverTimings?: Record<string, number>;
  textHead: string;
  error?: string;
}

export interface ConcurrentRun {
  stack: Stack;
  rep: number;
  streams: GenSample[];
  /** Σ(n_i - 1) / (max last - min first) over the streams. */
  aggregateDecodeTokPerS: number;
  /** Σ n_i / (max end - start): includes prefill and TTFT. */
  aggregateEndToEndTokPerS: number;
  wallMs: number;
  maxRssBytes: number;
  /** A stream failed: kept as a raw sample, left out of the medians, the repetition was run again. */
  failed?: boolean;
}

export interface Results {
  schema: 1;
  quick: boolean;
  startedAt: string;
  finishedAt?: string;
  totalSeconds?: number;
  partial: boolean;
  errors: { phase: string; error: string }[];
  machine: Record<string, unknown>;
  versions: Record<string, unknown>;
  parameters: Record<string, unknown>;
  commands: Record<string, string | string[]>;
  llamaBuild?: Omit<LlamaBuild, 'buildDir'> & { buildDir: string };
  model?: { path: string; bytes: number; kvCacheMiB?: number };
  loadAverage: { start: number[]; beforeMeasurements?: number[]; end?: number[]; phases: { phase: string; start: number[]; end: number[]; seconds: number }[] };
  llamaBench?: { raw: unknown; rows: { test: string; flashAttn: string; avgTokPerS: number; stdevTokPerS: number }[] };
  synth?: { samplesSeconds: number[]; medianSeconds: number; error?: string };
  startup?: Record<string, { samplesSeconds: number[]; medianSeconds: number; idleRssAfterReadyBytes: number[] }>;
  decode?: {
    single: GenSample[];
    concurrent: ConcurrentRun[];
    summary: Record<string, Record<string, number | null>>;
    tokenCountsMatch: boolean;
    failedRequests?: { stack: Stack; rep: number; stream: number; error: string }[];
    textsMatch: Record<string, boolean>;
  };
  health?: Record<string, { idleMs: number[]; underLoadMs: number[]; failures: number; summary: Record<string, number | null> }>;
  memory?: Record<
    string,
    { idleAfterReadyBytes?: number; idleSteadyBytes?: number; underLoadMaxBytes?: number; idleAfterLoadBytes?: number; hwmBytes?: number }
  >;
  threads?: {
    confinements: {
      name: string;
      how: string;
      availableParallelism?: number;
      defaultMaxThreads?: number;
      configs: {
        label: string;
        threadsRequested: number | string;
        threadsUsed?: number;
        samplesTokPerS: number[];
        medianTokPerS: number | null;
        note?: string;
        auto?: unknown;
      }[];
      serviceAuto?: { threadsChosen?: number; source?: string; samplesTokPerS: number[]; medianTokPerS: number | null; error?: string };
      bestFixed?: { label: string; medianTokPerS: number | null };
      autoVsBest?: number | null;
      serviceAutoVsBest?: number | null;
      error?: string;
    }[];
  };
  targets?: { name: string; target: string; value: string; met: boolean | null }[];
}

const results: Results = {
  schema: 1,
  quick: QUICK,
  startedAt: new Date().toISOString(),
  partial: true,
  errors: [],
  machine: {},
  versions: {},
  parameters: {
    threads: THREADS,
    contextPerSequence: CTX_PER_SEQ,
    parallelSequences: PARALLEL,
    maxTokens: MAX_TOKENS,
    repetitions: REPS,
    concurrentStreams: STREAMS,
    sampling: 'temperature 0 (greedy) on every stack; no repetition penalty',
    prompt: { system: SYSTEM_PROMPT, user: userPrompt(0).replace('Request 0', 'Request <i>') },
    healthProbeIntervalMs: HEALTH_INTERVAL_MS,
    threadSweep: { repetitions: THREAD_REPS, maxTokens: THREAD_TOKENS, budgetMs: THREAD_BUDGET_MS },
  },
  commands: { bench: fullRunCommand },
  loadAverage: { start: os.loadavg(), phases: [] },
};

const t0 = performance.now();
const log = (msg: string): void => {
  const s = ((performance.now() - t0) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[bench ${s}s] ${msg}\n`);
};

async function phase<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
  log(`== ${name} (load average ${os.loadavg()[0]?.toFixed(2)})`);
  const started = performance.now();
  const loadStart = os.loadavg();
  const record = () =>
    results.loadAverage.phases.push({ phase: name, start: loadStart, end: os.loadavg(), seconds: round((performance.now() - started) / 1000, 1) ?? 0 });
  try {
    const r = await fn();
    record();
    log(`== ${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return r;
  } catch (err) {
    record();
    const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log(`!! ${name} failed: ${msg.slice(0, 2000)}`);
    results.errors.push({ phase: name, error: msg.slice(0, 4000) });
    return undefined;
  }
}

// ------------------------------------------------------------------------------------------------
// Machine and versions
// ------------------------------------------------------------------------------------------------

async function text(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args, { timeout: 30_000 });
    return (stdout || stderr).trim();
  } catch (err) {
    return `unavailable (${(err as Error).message.split('\n')[0]})`;
  }
}

async function pkgVersion(name: string): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

async function describeMachine(): Promise<void> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const flags = /^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.split(' ') ?? [];
  results.machine = {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    logicalCpus: os.cpus().length,
    availableParallelism: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    kernel: `${os.type()} ${os.release()}`,
    arch: os.arch(),
    simd: ['avx2', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'f16c', 'fma'].filter((f) => flags.includes(f)),
    lscpu: await text('lscpu', []),
  };
  const [nlc, fastify, tsx] = await Promise.all([pkgVersion('node-llama-cpp'), pkgVersion('fastify'), pkgVersion('tsx')]);
  const info = JSON.parse(await readFile(join(repoRoot, 'node_modules/node-llama-cpp/llama/llama.cpp.info.json'), 'utf8').catch(() => '{}')) as {
    tag?: string;
  };
  const prebuilt = JSON.parse(
    await readFile(join(repoRoot, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/_nlcBuildMetadata.json'), 'utf8').catch(() => '{}'),
  ) as Record<string, unknown>;
  results.versions = {
    node: process.version,
    nodeLlamaCpp: nlc,
    nodeLlamaCppLlamaCppRelease: info.tag ?? 'unknown',
    nodeLlamaCppPrebuiltBinary: prebuilt,
    fastify,
    tsx,
    gcc: (await text('g++', ['--version'])).split('\n')[0],
    cmake: (await text('cmake', ['--version'])).split('\n')[0],
  };
}

// ------------------------------------------------------------------------------------------------
// Starting the three stacks
// ------------------------------------------------------------------------------------------------

interface Server {
  proc: Managed;
  base: string;
  readyPath: string;
}

type Confine = { kind: 'none' } | { kind: 'taskset'; cpus: string } | { kind: 'cgroup'; dir: string };

/** Wraps a command so it runs under the confinement (taskset, or moved into a cgroup before exec). */
function confined(confine: Confine, cmd: string, args: readonly string[]): { cmd: string; args: string[] } {
  if (confine.kind === 'taskset') return { cmd: 'taskset', args: ['-c', confine.cpus, cmd, ...args] };
  if (confine.kind === 'cgroup') {
    return {
      cmd: 'sh',
      args: ['-c', `echo $$ > '${confine.dir}/cgroup.procs' && exec "$@"`, 'sh', cmd, ...args],
    };
  }
  return { cmd, args: [...args] };
}

/** A shell-like command line with paths relative to the repository. */
const quote = (args: readonly string[]): string =>
  args
    .map((a) => a.replaceAll(`${repoRoot}/`, ''))
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`))
    .join(' ');

let launchCounter = 0;

interface ServiceOptions {
  modelPath: string;
  threads?: number;
  parallel?: number;
  compiledEntry?: string;
  confine?: Confine;
  label?: string;
}

async function startService(o: ServiceOptions): Promise<Server> {
  const port = await freePort();
  const env: Record<string, string> = {
    MODEL: o.modelPath,
    MODEL_CACHE_DIR: join(repoRoot, '.cache/bench/model-cache'),
    HOST: '127.0.0.1',
    PORT: String(port),
    CONTEXT_SIZE: String(CTX_PER_SEQ),
    PARALLEL: String(o.parallel ?? PARALLEL),
    MAX_QUEUE: '16',
    LOG_LEVEL: 'info',
    // The decode and TTFT figures compare evaluation without a prompt cache on both sides (llama-server gets
    // cache_prompt: false below); prompt reuse is measured by bench/scenarios/conversation.ts.
    PROMPT_CACHE: 'off',
    // As the container image and the manifests run it (service/contract.ts serverRuntimeEnv).
    ...serverRuntimeEnv,
  };
  if (o.threads !== undefined) env.THREADS = String(o.threads);
  const entryArgs = o.compiledEntry ? [o.compiledEntry] : ['--import', 'tsx', 'service/main.ts'];
  const { cmd, args } = confined(o.confine ?? { kind: 'none' }, process.execPath, entryArgs);
  const label = o.label ?? 'service';
  results.commands[`${label}`] = `${Object.entries(env)
    .map(([k, v]) => `${k}=${v.replaceAll(`${repoRoot}/`, '')}`)
    .join(' ')} ${quote([cmd === process.execPath ? 'node' : cmd, ...args.map((a) => (a === process.execPath ? 'node' : a))])}`;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (o.threads === undefined) delete childEnv.THREADS;
  const proc = start({
    name: label,
    cmd,
    args,
    env: childEnv,
    cwd: repoRoot,
    logFile: join(logDir, `${label}-${++launchCounter}.log`),
  });
  return { proc, base: `http://127.0.0.1:${port}`, readyPath: '/health/ready' };
}

async function startLlamaServer(build: LlamaBuild, modelPath: string, label = 'llama-server'): Promise<Server> {
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
    // -c is the total KV size, split evenly over the -np slots (no unified KV): 4096 per sequence.
    '-c',
    String(CTX_PER_SEQ * PARALLEL),
    '-np',
    String(PARALLEL),
    '--no-kv-unified',
    // node-llama-cpp's context uses batch = ubatch = 512 (min(contextSize * sequences, 512)).
    '-b',
    '512',
    '-ub',
    '512',
    '-ngl',
    '0',
    '--no-webui',
  ];
  results.commands[label] = quote([build.server, ...args]);
  const proc = start({ name: label, cmd: build.server, args, cwd: repoRoot, logFile: join(logDir, `${label}-${++launchCounter}.log`) });
  return { proc, base: `http://127.0.0.1:${port}`, readyPath: '/health' };
}

async function startWorker(
  modelPath: string,
  confine: Confine,
  label: string,
): Promise<{ proc: Managed; client: WorkerClient; loadInfo: Record<string, unknown> }> {
  const { cmd, args } = confined(confine, process.execPath, ['--import', 'tsx', 'bench/direct-worker.ts']);
  results.commands[label] = quote([cmd === process.execPath ? 'node' : cmd, ...args.map((a) => (a === process.execPath ? 'node' : a))]);
  const proc = start({ name: label, cmd, args, cwd: repoRoot, stdin: 'pipe', logFile: join(logDir, `${label}-${++launchCounter}.log`) });
  const client = new WorkerClient(proc);
  const loadInfo = await client.send({ cmd: 'load', modelPath }, READY_TIMEOUT_MS);
  return { proc, client, loadInfo };
}

// ------------------------------------------------------------------------------------------------
// Generations
// ------------------------------------------------------------------------------------------------

function httpBody(stack: 'service' | 'llamaServer', promptIndex: number, maxTokens: number): Record<string, unknown> {
  const body: Record<string, unknown> = {
    messages: messagesFor(promptIndex),
    max_tokens: maxTokens,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  };
  if (stack === 'llamaServer') {
    // Random weights never pick EOS anyway; ignore_eos makes sure. No prompt cache reuse across
    // requests on either stack (the service runs with PROMPT_CACHE=off here).
    body.ignore_eos = true;
    body.cache_prompt = false;
  }
  return body;
}

/** Decode tokens/s of one request: tokens after the first over the time from the first to the last. */
function decodeRate(completionTokens: number, firstAt: number, lastAt: number): number {
  return completionTokens >= 2 && lastAt > firstAt ? (completionTokens - 1) / ((lastAt - firstAt) / 1000) : Number.NaN;
}

function fromStream(stack: Stack, rep: number, stream: number, promptIndex: number, s: StreamSample): GenSample {
  const n = s.completionTokens;
  const decode = decodeRate(n, s.firstAt, s.lastAt);
  const g: GenSample = {
    stack,
    rep,
    stream,
    promptIndex,
    ttftMs: s.ttftMs,
    decodeTokPerS: decode,
    totalMs: s.totalMs,
    completionTokens: n,
    promptTokens: s.promptTokens,
    contentChunks: s.contentChunks,
    firstAtMs: s.firstAt - t0,
    lastAtMs: s.lastAt - t0,
    sentAtMs: s.sentAt - t0,
    finishReason: s.finishReason,
    textHead: s.text.slice(0, 120),
  };
  if (s.serverTimings) g.serverTimings = s.serverTimings;
  if (s.error) g.error = s.error;
  return g;
}

function fromDirect(rep: number, stream: number, promptIndex: number, s: DirectSample): GenSample {
  const n = s.completionTokens;
  const decode = decodeRate(n, s.firstAt, s.lastAt);
  return {
    stack: 'direct',
    rep,
    stream,
    promptIndex,
    ttftMs: s.ttftMs,
    decodeTokPerS: decode,
    totalMs: s.totalMs,
    completionTokens: n,
    promptTokens: s.promptTokens,
    contentChunks: s.contentChunks,
    // Worker clocks differ from ours: keep times relative to the request.
    firstAtMs: s.firstAt - s.sentAt,
    lastAtMs: s.lastAt - s.sentAt,
    sentAtMs: 0,
    finishReason: s.stopReason === 'maxTokens' ? 'length' : s.stopReason,
    textHead: s.text.slice(0, 120),
  };
}

interface Stacks {
  service: Server;
  llamaServer: Server;
  worker: WorkerClient;
  workerProc: Managed;
}

/** Runs `count` concurrent generations on one stack; returns normalised samples (stream order). */
async function generate(st: Stacks, stack: Stack, rep: number, promptIndices: number[], maxTokens: number): Promise<GenSample[]> {
  if (stack === 'direct') {
    const reply = await st.worker.send<{ samples: DirectSample[] }>(
      {
        cmd: 'generate',
        requests: promptIndices.map((i) => ({ messages: messagesFor(i), maxTokens })),
        budgetMs: REQUEST_TIMEOUT_MS,
      },
      REQUEST_TIMEOUT_MS + 10_000,
    );
    return reply.samples.map((s, k) => fromDirect(rep, k, promptIndices[k] as number, s));
  }
  const server = stack === 'service' ? st.service : st.llamaServer;
  const path = '/v1/chat/completions';
  const samples = await Promise.all(promptIndices.map((i) => streamRequest(`${server.base}${path}`, httpBody(stack, i, maxTokens), REQUEST_TIMEOUT_MS)));
  return samples.map((s, k) => fromStream(stack, rep, k, promptIndices[k] as number, s));
}

function pidOf(st: Stacks, stack: Stack): number {
  return stack === 'service' ? st.service.proc.pid : stack === 'llamaServer' ? st.llamaServer.proc.pid : st.workerProc.pid;
}

/** Samples a process's RSS every `everyMs` until `stopSignal` resolves; returns the maximum. */
async function rssMaxWhile(pid: number, work: Promise<unknown>, everyMs = 200): Promise<number> {
  let done = false;
  void work.finally(() => {
    done = true;
  });
  let peak = Number.NaN;
  for (let i = 0; i < 5_000 && !done; i++) {
    const m = await memoryOf(pid);
    if (m && (!Number.isFinite(peak) || m.rss > peak)) peak = m.rss;
    await Promise.race([sleep(everyMs), work.catch(() => undefined)]);
  }
  const m = await memoryOf(pid);
  if (m && (!Number.isFinite(peak) || m.rss > peak)) peak = m.rss;
  return peak;
}

// ------------------------------------------------------------------------------------------------
// Phases
// ------------------------------------------------------------------------------------------------

async function runLlamaBench(build: LlamaBuild, modelPath: string): Promise<void> {
  const args = ['-m', modelPath, '-t', String(THREADS), '-p', '64', '-n', String(MAX_TOKENS), '-fa', '0,1', '-r', QUICK ? '1' : '3', '-o', 'json'];
  results.commands.llamaBench = quote([build.bench, ...args]);
  const { stdout } = await execFileAsync(build.bench, args, { timeout: 5 * 60_000, maxBuffer: 16 * 2 ** 20 });
  const raw = JSON.parse(stdout) as { n_prompt: number; n_gen: number; flash_attn?: boolean | number | string; avg_ts: number; stddev_ts: number }[];
  results.llamaBench = {
    raw,
    rows: raw.map((r) => ({
      test: r.n_prompt > 0 ? `pp${r.n_prompt}` : `tg${r.n_gen}`,
      flashAttn: String(r.flash_attn),
      avgTokPerS: round(r.avg_ts, 2) ?? Number.NaN,
      stdevTokPerS: round(r.stddev_ts, 2) ?? Number.NaN,
    })),
  };
}

async function runSynth(): Promise<void> {
  // A private copy, so `npm run synth` never rewrites the shared checkout's dist/ and argocd/.
  const dir = join(repoRoot, '.cache/bench/synth-copy');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // README.md and docs/: synth regenerates the README's prerequisites and docs/rules.md (charts/synth.ts).
  for (const entry of ['charts', 'imports', 'service', 'package.json', 'tsconfig.json', 'cdk8s.yaml', 'README.md', 'docs']) {
    if (existsSync(join(repoRoot, entry))) await cp(join(repoRoot, entry), join(dir, entry), { recursive: true });
  }
  await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  results.commands.synth = 'npm run synth   (timed in a private copy of the checkout, .cache/bench/synth-copy)';
  const samples: number[] = [];
  for (let i = 0; i < (QUICK ? 1 : 2); i++) {
    const s = performance.now();
    try {
      await execFileAsync('npm', ['run', 'synth'], { cwd: dir, timeout: 5 * 60_000, maxBuffer: 64 * 2 ** 20 });
    } catch (err) {
      results.synth = { samplesSeconds: samples, medianSeconds: median(samples), error: (err as Error).message.slice(0, 2000) };
      throw err;
    }
    samples.push((performance.now() - s) / 1000);
  }
  results.synth = { samplesSeconds: samples.map((x) => round(x, 2) ?? Number.NaN), medianSeconds: round(median(samples), 2) ?? Number.NaN };
}

/** Compiles the service layer with its own tsconfig (as the container does) into .cache/bench/service-build. */
async function compileService(): Promise<string | undefined> {
  const out = join(repoRoot, '.cache/bench/service-build');
  await rm(out, { recursive: true, force: true });
  const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
  // A build-info file of its own: the project's (.cache/tsc) says "up to date" and tsc would emit nothing here.
  results.commands.compileService = `node node_modules/typescript/bin/tsc -p service/tsconfig.json --outDir .cache/bench/service-build/service --tsBuildInfoFile .cache/bench/service-build/tsbuildinfo`;
  try {
    await execFileAsync(
      process.execPath,
      [tsc, '-p', 'service/tsconfig.json', '--outDir', join(out, 'service'), '--tsBuildInfoFile', join(out, 'tsbuildinfo')],
      {
        cwd: repoRoot,
        timeout: 10 * 60_000,
      },
    );
  } catch (err) {
    // tsc emits despite type errors (noEmitOnError is off); only a missing entry is fatal here.
    log(`tsc reported problems (the service is being edited?): ${(err as Error).message.split('\n').slice(0, 3).join(' ')}`);
  }
  const entry = join(out, 'service/main.js');
  return existsSync(entry) ? entry : undefined;
}

async function measureStartup(build: LlamaBuild, modelPath: string, compiledEntry: string | undefined): Promise<void> {
  const startup: NonNullable<Results['startup']> = {};
  const kinds: { key: string; launch: () => Promise<Server> }[] = [
    { key: 'service', launch: () => startService({ modelPath, threads: THREADS, label: 'service' }) },
  ];
  if (compiledEntry) {
    kinds.push({ key: 'serviceCompiled', launch: () => startService({ modelPath, threads: THREADS, compiledEntry, label: 'service-compiled' }) });
  }
  kinds.push({ key: 'llamaServer', launch: () => startLlamaServer(build, modelPath) });
  for (const k of kinds) startup[k.key] = { samplesSeconds: [], medianSeconds: Number.NaN, idleRssAfterReadyBytes: [] };
  // Interleaved, so drift in machine load hits every stack alike.
  for (let rep = 0; rep < STARTUP_REPS; rep++) {
    for (const k of kinds) {
      const s = await k.launch();
      try {
        const ms = await waitReady(s.proc, s.base + s.readyPath, READY_TIMEOUT_MS, 10);
        const entry = startup[k.key] as NonNullable<Results['startup']>[string];
        entry.samplesSeconds.push(round(ms / 1000, 3) ?? Number.NaN);
        await sleep(1_000);
        entry.idleRssAfterReadyBytes.push((await memoryOf(s.proc.pid))?.rss ?? Number.NaN);
        log(`startup ${k.key} #${rep + 1}: ${(ms / 1000).toFixed(2)} s`);
      } finally {
        await stop(s.proc);
      }
    }
  }
  for (const v of Object.values(startup)) v.medianSeconds = round(median(v.samplesSeconds), 3) ?? Number.NaN;
  results.startup = startup;
}

/** f16 K and V for every layer, KV head and position of all sequences, from the GGUF metadata. */
async function kvCacheMiB(modelPath: string): Promise<number | undefined> {
  const info = await readGgufFileInfo(modelPath, { readTensorInfo: false });
  const meta = info.metadata as unknown as Record<string, Record<string, unknown> | undefined>;
  const arch = (meta.general?.architecture as string | undefined) ?? 'qwen2';
  const a = meta[arch] as { block_count?: number; embedding_length?: number; attention?: { head_count?: number; head_count_kv?: number } } | undefined;
  const layers = a?.block_count;
  const heads = a?.attention?.head_count;
  const kvHeads = a?.attention?.head_count_kv ?? heads;
  const embd = a?.embedding_length;
  if (!layers || !heads || !kvHeads || !embd) return undefined;
  const bytes = 2 * layers * CTX_PER_SEQ * PARALLEL * kvHeads * (embd / heads) * 2;
  return bytes / 2 ** 20;
}

async function measureMain(build: LlamaBuild, modelPath: string): Promise<void> {
  const memory: NonNullable<Results['memory']> = { service: {}, llamaServer: {}, direct: {} };
  results.memory = memory;
  const service = await startService({ modelPath, threads: THREADS, label: 'service' });
  const llamaServer = await startLlamaServer(build, modelPath);
  const w = await startWorker(modelPath, { kind: 'none' }, 'direct-worker');
  await w.client.send({ cmd: 'context', threads: THREADS, contextSize: CTX_PER_SEQ, sequences: PARALLEL }, 60_000);
  await waitReady(service.proc, service.base + service.readyPath, READY_TIMEOUT_MS);
  await waitReady(llamaServer.proc, llamaServer.base + llamaServer.readyPath, READY_TIMEOUT_MS);
  const st: Stacks = { service, llamaServer, worker: w.client, workerProc: w.proc };

  await sleep(1_000);
  for (const stack of stacks) memory[stack] = { idleAfterReadyBytes: (await memoryOf(pidOf(st, stack)))?.rss ?? Number.NaN };

  // Warm-up (discarded): touches every weight page and JIT-compiles the hot paths.
  for (const stack of stacks) {
    const warm = await generate(st, stack, -1, [1000], 16);
    if (warm[0]?.error) throw new Error(`${stack} warm-up failed: ${warm[0].error}`);
  }
  for (const stack of stacks) {
    const warm = await generate(st, stack, -1, [1001, 1002, 1003, 1004], 8);
    const bad = warm.find((x) => x.error);
    if (bad) throw new Error(`${stack} concurrent warm-up failed: ${bad.error}`);
  }
  await sleep(2_000);
  for (const stack of stacks) (memory[stack] as Record<string, number>).idleSteadyBytes = (await memoryOf(pidOf(st, stack)))?.rss ?? Number.NaN;

  results.loadAverage.beforeMeasurements = os.loadavg();
  const single: GenSample[] = [];
  const concurrent: ConcurrentRun[] = [];
  results.decode = { single, concurrent, summary: {}, tokenCountsMatch: false, textsMatch: {} };

  // 1 stream: rotate the order of the stacks each repetition.
  for (let rep = 0; rep < REPS; rep++) {
    for (let k = 0; k < stacks.length; k++) {
      const stack = stacks[(rep + k) % stacks.length] as Stack;
      // A failed request (e.g. llama-server rejecting random output its chat parser cannot read) is
      // kept in the raw samples and the repetition is run once more with another prompt.
      for (let attempt = 0; attempt < 2; attempt++) {
        const [s] = await generate(st, stack, rep, [rep + attempt * 1000], MAX_TOKENS);
        if (!s) break;
        single.push(s);
        log(
          `1-stream ${stack} #${rep + 1}: ttft ${s.ttftMs.toFixed(1)} ms, ${s.decodeTokPerS.toFixed(2)} tok/s, ${s.completionTokens} tokens${s.error ? ` ERROR ${s.error}` : ''}`,
        );
        if (!s.error) break;
      }
    }
  }

  // 4 concurrent streams.
  for (let rep = 0; rep < REPS; rep++) {
    for (let k = 0; k < stacks.length; k++) {
      const stack = stacks[(rep + k) % stacks.length] as Stack;
      for (let attempt = 0; attempt < 2; attempt++) {
        const prompts = Array.from({ length: STREAMS }, (_, j) => 100 + rep * STREAMS + j + attempt * 1000);
        const started = performance.now();
        const work = generate(st, stack, rep, prompts, MAX_TOKENS);
        const peak = rssMaxWhile(pidOf(st, stack), work);
        const streams = await work;
        const wallMs = performance.now() - started;
        const firsts = streams.map((s) => s.firstAtMs);
        const lasts = streams.map((s) => s.lastAtMs);
        const tokens = streams.map((s) => s.completionTokens);
        const aggregate = tokens.reduce((a, n) => a + (n - 1), 0) / ((max(lasts) - min(firsts)) / 1000);
        const run: ConcurrentRun = {
          stack,
          rep,
          streams,
          aggregateDecodeTokPerS: aggregate,
          aggregateEndToEndTokPerS: tokens.reduce((a, n) => a + n, 0) / (wallMs / 1000),
          wallMs,
          maxRssBytes: await peak,
        };
        const errs = streams.filter((s) => s.error).map((s) => s.error);
        if (errs.length > 0) run.failed = true;
        concurrent.push(run);
        log(
          `4-stream ${stack} #${rep + 1}: aggregate ${aggregate.toFixed(2)} tok/s, ttft median ${median(streams.map((s) => s.ttftMs)).toFixed(1)} ms${errs.length ? ` ERRORS ${errs.join('; ')}` : ''}`,
        );
        if (errs.length === 0) break;
      }
    }
  }
  summariseDecode();

  // /health/live (service) and /health (llama-server): idle, then while 4 streams generate.
  const health: NonNullable<Results['health']> = {};
  results.health = health;
  for (const stack of ['service', 'llamaServer'] as const) {
    const server = stack === 'service' ? service : llamaServer;
    const url = server.base + (stack === 'service' ? '/health/live' : '/health');
    const entry = { idleMs: [] as number[], underLoadMs: [] as number[], failures: 0, summary: {} as Record<string, number | null> };
    health[stack] = entry;
    for (let i = 0; i < 100; i++) {
      const r = await probe(url);
      if (r.status === 200) entry.idleMs.push(r.ms);
      else entry.failures++;
      await sleep(10);
    }
    for (let round_ = 0; round_ < HEALTH_ROUNDS; round_++) {
      const prompts = Array.from({ length: STREAMS }, (_, j) => 500 + round_ * STREAMS + j);
      let finished = false;
      const work = generate(st, stack, round_, prompts, MAX_TOKENS).finally(() => {
        finished = true;
      });
      await sleep(300);
      for (let i = 0; i < HEALTH_MAX_PROBES && !finished; i++) {
        const r = await probe(url, 10_000);
        if (r.status === 200) entry.underLoadMs.push(r.ms);
        else entry.failures++;
        await sleep(HEALTH_INTERVAL_MS);
      }
      const load = await work;
      const bad = load.find((x) => x.error);
      if (bad) throw new Error(`${stack} load during health probes failed: ${bad.error}`);
    }
    entry.summary = {
      idleP50Ms: round(percentile(entry.idleMs, 50), 3),
      idleP99Ms: round(percentile(entry.idleMs, 99), 3),
      underLoadP50Ms: round(percentile(entry.underLoadMs, 50), 3),
      underLoadP99Ms: round(percentile(entry.underLoadMs, 99), 3),
      underLoadMaxMs: round(max(entry.underLoadMs), 3),
      underLoadSamples: entry.underLoadMs.length,
      failures: entry.failures,
    };
    entry.idleMs = entry.idleMs.map((x) => round(x, 3) ?? Number.NaN);
    entry.underLoadMs = entry.underLoadMs.map((x) => round(x, 3) ?? Number.NaN);
    log(`health ${stack}: ${JSON.stringify(entry.summary)}`);
  }

  for (const stack of stacks) {
    const m = memory[stack] as Record<string, number>;
    m.underLoadMaxBytes = max(concurrent.filter((r) => r.stack === stack).map((r) => r.maxRssBytes));
    const now = await memoryOf(pidOf(st, stack));
    m.idleAfterLoadBytes = now?.rss ?? Number.NaN;
    m.hwmBytes = now?.hwm ?? Number.NaN;
  }

  await w.client.send({ cmd: 'exit' }, 10_000).catch(() => undefined);
  await Promise.all([stop(service.proc), stop(llamaServer.proc), stop(w.proc)]);
}

function summariseDecode(): void {
  const d = results.decode;
  if (!d) return;
  const summary: Record<string, Record<string, number | null>> = {};
  for (const stack of stacks) {
    const one = d.single.filter((s) => s.stack === stack && !s.error);
    const runs = d.concurrent.filter((r) => r.stack === stack && !r.failed);
    const streams = runs.flatMap((r) => r.streams).filter((s) => !s.error);
    summary[stack] = {
      singleDecodeTokPerS: round(median(one.map((s) => s.decodeTokPerS))),
      singleTtftMs: round(median(one.map((s) => s.ttftMs))),
      singleEndToEndMs: round(median(one.map((s) => s.totalMs))),
      singlePromptTokens: round(median(one.map((s) => s.promptTokens)), 0),
      concurrentAggregateDecodeTokPerS: round(median(runs.map((r) => r.aggregateDecodeTokPerS))),
      concurrentAggregateEndToEndTokPerS: round(median(runs.map((r) => r.aggregateEndToEndTokPerS))),
      concurrentPerStreamDecodeTokPerS: round(median(streams.map((s) => s.decodeTokPerS))),
      concurrentTtftMs: round(median(streams.map((s) => s.ttftMs))),
      concurrentTtftMaxMs: round(max(streams.map((s) => s.ttftMs))),
      samples1: one.length,
      samples4: runs.length,
    };
  }
  const svc = summary.service as Record<string, number | null>;
  const dir = summary.direct as Record<string, number | null>;
  const ls = summary.llamaServer as Record<string, number | null>;
  const n = (x: number | null | undefined) => x ?? Number.NaN;
  summary.ratios = {
    serviceVsLlamaServerDecode1: round(ratio(n(svc.singleDecodeTokPerS), n(ls.singleDecodeTokPerS)), 3),
    serviceVsLlamaServerDecode4: round(ratio(n(svc.concurrentAggregateDecodeTokPerS), n(ls.concurrentAggregateDecodeTokPerS)), 3),
    directVsLlamaServerDecode1: round(ratio(n(dir.singleDecodeTokPerS), n(ls.singleDecodeTokPerS)), 3),
    directVsLlamaServerDecode4: round(ratio(n(dir.concurrentAggregateDecodeTokPerS), n(ls.concurrentAggregateDecodeTokPerS)), 3),
    serviceVsDirectDecode1: round(ratio(n(svc.singleDecodeTokPerS), n(dir.singleDecodeTokPerS)), 3),
    serviceVsDirectDecode4: round(ratio(n(svc.concurrentAggregateDecodeTokPerS), n(dir.concurrentAggregateDecodeTokPerS)), 3),
    serviceMinusLlamaServerTtft1Ms: round(n(svc.singleTtftMs) - n(ls.singleTtftMs)),
    serviceMinusLlamaServerTtft4Ms: round(n(svc.concurrentTtftMs) - n(ls.concurrentTtftMs)),
    directMinusLlamaServerTtft1Ms: round(n(dir.singleTtftMs) - n(ls.singleTtftMs)),
    serviceVsLlamaServerTtft1: round(ratio(n(svc.singleTtftMs), n(ls.singleTtftMs)), 3),
    serviceVsLlamaServerTtft4: round(ratio(n(svc.concurrentTtftMs), n(ls.concurrentTtftMs)), 3),
  };
  d.summary = summary;
  const all = [...d.single, ...d.concurrent.flatMap((r) => r.streams)];
  const ok = all.filter((s) => !s.error);
  d.tokenCountsMatch = ok.length > 0 && ok.every((s) => s.completionTokens === MAX_TOKENS);
  d.failedRequests = all.filter((s) => s.error).map((s) => ({ stack: s.stack, rep: s.rep, stream: s.stream, error: s.error ?? '' }));
  // Same greedy continuation on every stack? (Float rounding may differ between builds.)
  for (const stack of ['direct', 'llamaServer'] as const) {
    const pairs = d.single.filter((s) => s.stack === stack);
    d.textsMatch[`serviceVs${stack[0]?.toUpperCase()}${stack.slice(1)}`] = pairs.every((p) => {
      const svcSample = d.single.find((s) => s.stack === 'service' && s.promptIndex === p.promptIndex);
      return svcSample !== undefined && svcSample.textHead === p.textHead;
    });
  }
}

// ------------------------------------------------------------------------------------------------
// Thread sizing
// ------------------------------------------------------------------------------------------------

async function makeCgroup(): Promise<{ dir: string; how: string } | undefined> {
  const name = `gguf-bench-${process.pid}`;
  // cgroup v2 (unified hierarchy with the cpu controller) first, then v1's cpu controller.
  const v2 = '/sys/fs/cgroup';
  try {
    const controllers = await readFile(join(v2, 'cgroup.controllers'), 'utf8');
    if (controllers.split(/\s+/).includes('cpu')) {
      const sub = await readFile(join(v2, 'cgroup.subtree_control'), 'utf8');
      if (!sub.split(/\s+/).includes('cpu')) await writeFile(join(v2, 'cgroup.subtree_control'), '+cpu');
      const dir = join(v2, name);
      await mkdir(dir);
      await writeFile(join(dir, 'cpu.max'), '100000 100000');
      return { dir, how: `cgroup v2 ${dir}/cpu.max = "100000 100000" (1 CPU)` };
    }
  } catch {
    // not v2, or not writable
  }
  try {
    const base = join(v2, 'cpu');
    await stat(join(base, 'cpu.cfs_quota_us'));
    const dir = join(base, name);
    await mkdir(dir);
    await writeFile(join(dir, 'cpu.cfs_period_us'), '100000');
    await writeFile(join(dir, 'cpu.cfs_quota_us'), '100000');
    return { dir, how: `cgroup v1 ${dir}: cpu.cfs_quota_us=100000, cpu.cfs_period_us=100000 (1 CPU)` };
  } catch {
    return undefined;
  }
}

async function removeCgroup(dir: string): Promise<void> {
  // A cgroup directory is removed with rmdir(2) once its processes have exited.
  for (let i = 0; i < 20; i++) {
    try {
      await rmdir(dir);
      return;
    } catch {
      await sleep(250);
    }
  }
}

/** Decode rate of a budgeted direct generation, from token callbacks (robust to sub-token text). */
function tokenRate(s: DirectSample): number {
  const n = s.completionTokens;
  if (n >= 3 && s.lastTokenAt > s.firstTokenAt) return (n - 1) / ((s.lastTokenAt - s.firstTokenAt) / 1000);
  return n > 0 ? n / (s.totalMs / 1000) : 0;
}

async function measureThreads(modelPath: string): Promise<void> {
  const out: NonNullable<Results['threads']> = { confinements: [] };
  results.threads = out;
  const cgroup = await makeCgroup();
  const confinements: { name: string; how: string; confine: Confine }[] = [
    { name: '2 CPUs (taskset -c 0,1)', how: 'taskset -c 0,1', confine: { kind: 'taskset', cpus: '0,1' } },
    { name: '1 CPU (taskset -c 0)', how: 'taskset -c 0', confine: { kind: 'taskset', cpus: '0' } },
  ];
  if (cgroup) confinements.push({ name: '1 CPU quota (cgroup)', how: cgroup.how, confine: { kind: 'cgroup', dir: cgroup.dir } });
  else results.errors.push({ phase: 'threads', error: 'no writable cgroup cpu controller: the CPU-quota case was skipped' });
  try {
    for (const c of confinements) {
      const entry: NonNullable<Results['threads']>['confinements'][number] = { name: c.name, how: c.how, configs: [] };
      out.confinements.push(entry);
      try {
        await sweepOne(modelPath, c, entry);
      } catch (err) {
        entry.error = (err as Error).message.slice(0, 2000);
        results.errors.push({ phase: `threads ${c.name}`, error: entry.error });
        await killAll();
      }
    }
  } finally {
    if (cgroup) await removeCgroup(cgroup.dir);
  }
}

async function sweepOne(
  modelPath: string,
  c: { name: string; how: string; confine: Confine },
  entry: NonNullable<Results['threads']>['confinements'][number],
): Promise<void> {
  log(`threads: ${c.name}`);
  const w = await startWorker(modelPath, c.confine, `thread-worker`);
  entry.defaultMaxThreads = w.loadInfo.defaultMaxThreads as number;
  const configs: { label: string; threads: number | 'default' | 'auto' }[] = [
    { label: 'auto (chooseThreads)', threads: 'auto' },
    { label: 'THREADS=1', threads: 1 },
    { label: 'THREADS=2', threads: 2 },
    { label: 'THREADS=3', threads: 3 },
    { label: 'THREADS=4', threads: 4 },
    { label: 'node-llama-cpp default', threads: 'default' },
  ];
  try {
    for (const cfg of configs) {
      const ctx = await w.client.send<{ idealThreads: number; auto?: { threads: number; source: string; cpuAllowance: number } }>(
        { cmd: 'context', threads: cfg.threads, contextSize: CTX_PER_SEQ, sequences: 1 },
        60_000,
      );
      if (ctx.auto) entry.availableParallelism = ctx.auto.cpuAllowance;
      const gen = (i: number, maxTokens: number) =>
        w.client.send<{ samples: DirectSample[] }>(
          { cmd: 'generate', requests: [{ messages: messagesFor(i), maxTokens }], budgetMs: THREAD_BUDGET_MS },
          THREAD_BUDGET_MS + 120_000,
        );
      const warm = await gen(900, 8);
      const warmRate = tokenRate(warm.samples[0] as DirectSample);
      const samples: number[] = [];
      let note: string | undefined;
      for (let rep = 0; rep < THREAD_REPS; rep++) {
        const r = await gen(900 + rep, THREAD_TOKENS);
        const s = r.samples[0] as DirectSample;
        samples.push(tokenRate(s));
        if (s.completionTokens < THREAD_TOKENS) note = `time budget ${THREAD_BUDGET_MS} ms reached after ${s.completionTokens} tokens`;
        // Pathologically slow settings (oversubscribed): one budgeted sample says enough.
        if (warmRate < 3 && rep === 0) {
          note = `${note ? `${note}; ` : ''}1 sample only (warm-up ran at ${warmRate.toFixed(2)} tok/s)`;
          break;
        }
      }
      const row = {
        label: cfg.label,
        threadsRequested: cfg.threads,
        threadsUsed: ctx.idealThreads,
        samplesTokPerS: samples.map((x) => round(x, 2) ?? Number.NaN),
        medianTokPerS: round(median(samples), 2),
        ...(note ? { note } : {}),
        ...(ctx.auto ? { auto: ctx.auto } : {}),
      };
      entry.configs.push(row);
      log(`threads ${c.name} ${cfg.label} (${ctx.idealThreads} threads): ${samples.map((x) => x.toFixed(2)).join(', ')} tok/s`);
    }
  } finally {
    await w.client.send({ cmd: 'exit' }, 10_000).catch(() => undefined);
    await stop(w.proc);
  }

  // The service itself, started without THREADS under the same confinement.
  const svcEntry: NonNullable<typeof entry.serviceAuto> = { samplesTokPerS: [], medianTokPerS: null };
  entry.serviceAuto = svcEntry;
  const svc = await startService({ modelPath, parallel: 1, confine: c.confine, label: `service-auto-${c.confine.kind}` });
  try {
    await waitReady(svc.proc, svc.base + svc.readyPath, READY_TIMEOUT_MS);
    const m = /using (\d+) inference thread\(s\) \(source: ([\w-]+)\)/.exec(svc.proc.output());
    if (m) {
      svcEntry.threadsChosen = Number(m[1]);
      svcEntry.source = m[2] as string;
    }
    const st = { service: svc } as unknown as Stacks;
    await generate(st, 'service', -1, [900], 8);
    for (let rep = 0; rep < THREAD_REPS; rep++) {
      const [s] = await generate(st, 'service', rep, [900 + rep], THREAD_TOKENS);
      if (s?.error) throw new Error(s.error);
      if (s) svcEntry.samplesTokPerS.push(round(s.decodeTokPerS, 2) ?? Number.NaN);
    }
    svcEntry.medianTokPerS = round(median(svcEntry.samplesTokPerS), 2);
    log(`threads ${c.name} service auto (${svcEntry.threadsChosen} threads, ${svcEntry.source}): ${svcEntry.samplesTokPerS.join(', ')} tok/s`);
  } catch (err) {
    svcEntry.error = (err as Error).message.slice(0, 1000);
  } finally {
    await stop(svc.proc);
  }

  const fixed = entry.configs.filter((r) => typeof r.threadsRequested === 'number');
  const best = fixed.reduce<(typeof fixed)[number] | undefined>((b, r) => ((r.medianTokPerS ?? -1) > (b?.medianTokPerS ?? -1) ? r : b), undefined);
  const auto = entry.configs.find((r) => r.threadsRequested === 'auto');
  if (best) {
    entry.bestFixed = { label: best.label, medianTokPerS: best.medianTokPerS };
    entry.autoVsBest = round(ratio(auto?.medianTokPerS ?? Number.NaN, best.medianTokPerS ?? Number.NaN), 3);
    entry.serviceAutoVsBest = round(ratio(svcEntry.medianTokPerS ?? Number.NaN, best.medianTokPerS ?? Number.NaN), 3);
  }
}

// ------------------------------------------------------------------------------------------------
// Targets
// ------------------------------------------------------------------------------------------------

function evaluateTargets(): void {
  const t: NonNullable<Results['targets']> = [];
  const r = results.decode?.summary.ratios;
  const fmt = (x: number | null | undefined, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));
  const met = (x: number | null | undefined, ok: (v: number) => boolean) => (x === null || x === undefined || !Number.isFinite(x) ? null : ok(x));
  t.push({
    name: 'Decode, 1 stream',
    target: '>= 1.0x llama-server',
    value: `${fmt(r?.serviceVsLlamaServerDecode1, 3)}x`,
    met: met(r?.serviceVsLlamaServerDecode1, (v) => v >= 1.0),
  });
  t.push({
    name: 'Decode, 4 streams (aggregate)',
    target: '>= 0.95x llama-server',
    value: `${fmt(r?.serviceVsLlamaServerDecode4, 3)}x`,
    met: met(r?.serviceVsLlamaServerDecode4, (v) => v >= 0.95),
  });
  t.push({
    name: 'TTFT, 1 stream',
    target: 'within 10 ms of llama-server',
    value: `${fmt(r?.serviceMinusLlamaServerTtft1Ms, 1)} ms`,
    met: met(r?.serviceMinusLlamaServerTtft1Ms, (v) => v <= 10),
  });
  t.push({
    name: 'TTFT, 4 streams',
    target: 'within 10 ms of llama-server',
    value: `${fmt(r?.serviceMinusLlamaServerTtft4Ms, 1)} ms`,
    met: met(r?.serviceMinusLlamaServerTtft4Ms, (v) => v <= 10),
  });
  const h = results.health?.service?.summary;
  t.push({
    name: '/health/live p99 under 4 streams',
    target: '<= 20 ms',
    value: `${fmt(h?.underLoadP99Ms, 2)} ms`,
    met: met(h?.underLoadP99Ms, (v) => v <= 20),
  });
  for (const c of results.threads?.confinements ?? []) {
    t.push({
      name: `Automatic threads, ${c.name}`,
      target: 'within 10% of the best fixed choice',
      value: `${fmt(c.autoVsBest, 3)}x of ${c.bestFixed?.label ?? 'n/a'}`,
      met: met(c.autoVsBest, (v) => v >= 0.9),
    });
  }
  const model = results.model?.bytes;
  const idle = results.memory?.service?.idleSteadyBytes;
  const over = model !== undefined && idle !== undefined ? (idle - model) / 2 ** 20 : Number.NaN;
  t.push({
    name: 'Idle RSS (model loaded, after warm-up)',
    target: '<= model size + 200 MB',
    value: `model + ${fmt(over, 0)} MiB`,
    met: met(over, (v) => v <= (200 * 1e6) / 2 ** 20),
  });
  // Both processes hold the same model file and the same KV cache (same context and sequences), so their
  // difference is what each stack adds on top: the comparison the parity issue sets.
  const serverIdle = results.memory?.llamaServer?.idleSteadyBytes;
  const overServer = idle !== undefined && serverIdle !== undefined ? (idle - serverIdle) / 2 ** 20 : Number.NaN;
  t.push({
    name: 'Idle RSS vs llama-server (model file and KV cache on both)',
    target: '<= llama-server + 100 MiB',
    value: `llama-server ${overServer >= 0 ? '+' : ''}${fmt(overServer, 0)} MiB`,
    met: met(overServer, (v) => v <= 100),
  });
  // Prompt reuse (bench/scenarios/conversation.ts), when it ran in this process.
  if (conversationRun !== undefined) t.push(...conversationRun.targets);
  results.targets = t;
}

/** The conversation scenario's run in this process (its targets join the table). */
let conversationRun: ConversationRun | undefined;

// ------------------------------------------------------------------------------------------------
// Main
// ------------------------------------------------------------------------------------------------

async function writeOutputs(): Promise<void> {
  if (onlyScenario !== undefined) return;
  results.finishedAt = new Date().toISOString();
  results.totalSeconds = round((performance.now() - t0) / 1000, 1) ?? Number.NaN;
  results.loadAverage.end = os.loadavg();
  evaluateTargets();
  results.partial = results.partial === true || results.errors.length > 0;
  // A partial run's page starts from the committed one (its other sections kept) but is written beside it.
  const resultsDir = results.partial ? partialDir : outDir;
  const pagePath = results.partial ? join(partialDir, 'benchmarks.md') : docsPath;
  await mkdir(resultsDir, { recursive: true });
  await writeFile(join(resultsDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  // The memory soak and the flood own their own sections of the same file (bench/scenarios/): keep them.
  await writeFile(
    pagePath,
    await withRuntimeMemorySection(
      await withConversationSection(
        await withDecodeSection(
          await withEmbeddingsSection(
            await withFloodSection(withSoakSection(renderMarkdown(results), await readFile(docsPath, 'utf8').catch(() => undefined))),
          ),
          QUICK,
        ),
      ),
    ),
  );
  log(`wrote ${join(resultsDir, 'results.json')} and ${pagePath}${results.partial ? ' (partial run: the committed results are unchanged)' : ''}`);
}

async function main(): Promise<void> {
  await mkdir(logDir, { recursive: true });
  log(
    `logs in ${logDir}; load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  await describeMachine();

  const [modelPath, build, compiledEntry] = await Promise.all([
    phase('model', async () => {
      const path = await ensureTestModel({ shape: 'qwen2.5-0.5b', quant: 'q8_0' });
      results.model = { path: path.replace(`${repoRoot}/`, ''), bytes: (await stat(path)).size };
      const kv = await kvCacheMiB(path).catch(() => undefined);
      if (kv !== undefined) results.model.kvCacheMiB = kv;
      return path;
    }),
    phase('llama.cpp build', async () => {
      const b = await ensureLlamaBuild((l) => log(l));
      results.llamaBuild = {
        ...b,
        buildDir: b.buildDir.replace(`${repoRoot}/`, ''),
        server: b.server.replace(`${repoRoot}/`, ''),
        bench: b.bench.replace(`${repoRoot}/`, ''),
      };
      results.commands.llamaBuild = b.commands.map((c) => c.replaceAll(`${repoRoot}/`, ''));
      results.versions.llamaCppCommit = b.commit;
      results.versions.llamaServer = await text(b.server, ['--version']);
      log(`llama.cpp ${b.commit.slice(0, 12)}: ${b.built ? `built in ${b.buildSeconds.toFixed(0)} s` : 'cached build reused'}`);
      return b;
    }),
    phase('compile service', compileService),
  ]);
  if (!modelPath || !build) throw new Error('cannot continue without the model and the llama.cpp build');
  startMeasurementDeadline();

  await phase('llama-bench reference', () => runLlamaBench(build, modelPath));
  await phase('npm run synth', runSynth);
  await phase('start-up time', () => measureStartup(build, modelPath, compiledEntry));
  await phase('decode, TTFT, health, memory', () => measureMain(build, modelPath));
  await phase('thread sizing', () => measureThreads(modelPath));
  const scenario = async <T>(name: (typeof skippable)[number], title: string, run: () => Promise<T>): Promise<T | undefined> => {
    if (SKIP.has(name)) {
      log(`${title}: skipped (BENCH_SKIP)`);
      return undefined;
    }
    return phase(title, run);
  };
  await scenario('decode', 'decode loop', () => runDecode({ quick: QUICK, log, logDir, command: fullRunCommand }));
  await scenario('soak', 'memory soak', () => runSoak({ quick: QUICK, log, command: fullRunCommand }));
  await scenario('flood', 'flood', () => floodCli(log, logDir, docsPath));
  await scenario('embeddings', 'embeddings', () => embeddingsCli(log, logDir, docsPath, fullRunCommand));
  conversationRun = await scenario('conversation', 'conversation and shared prompt', () => conversationCli(log, logDir, docsPath, fullRunCommand));
  await scenario('runtime-memory', 'runtime settings and memory', () => runtimeMemoryCli(log, logDir, docsPath, fullRunCommand));
  results.partial = results.errors.length > 0;
}

let finishing = false;
async function finish(code: number): Promise<never> {
  if (!finishing) {
    finishing = true;
    await killAll().catch(() => undefined);
    if (onlyScenario === undefined) await writeOutputs().catch((err: unknown) => log(`could not write results: ${String(err)}`));
  }
  process.exit(code);
}

process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping children`);
    results.errors.push({ phase: 'signal', error: sig });
    void finish(130);
  });
}
function startMeasurementDeadline(): void {
  const deadline = setTimeout(() => {
    log(`measurement deadline of ${MEASUREMENT_DEADLINE_MS / 60_000} min after set-up reached: aborting`);
    results.errors.push({ phase: 'deadline', error: `aborted ${MEASUREMENT_DEADLINE_MS} ms after set-up` });
    void finish(1);
  }, MEASUREMENT_DEADLINE_MS);
  deadline.unref();
}

/** `npm run bench -- --only soak|flood`: one scenario alone (bench/scenarios/), which writes its own outputs. */
async function runOnly(): Promise<void> {
  await mkdir(logDir, { recursive: true });
  if (onlyScenario === 'decode') {
    const command = `${QUICK ? 'BENCH_QUICK=1 ' : ''}npm run bench -- --only decode`;
    const decode = await runDecode({ quick: QUICK, log, logDir, command });
    await writeFile(docsPath, await withDecodeSection(await readFile(docsPath, 'utf8').catch(() => '# Benchmarks\n'), QUICK));
    log(`decode: wrote the decode section of ${docsPath}`);
    const failed = decode.configs.filter((c) => c.error !== undefined);
    if (failed.length > 0) results.errors.push({ phase: 'decode', error: failed.map((c) => `${c.name}: ${c.error}`).join('; ') });
  } else if (onlyScenario === 'soak') {
    const soak = await runSoak({ quick: QUICK, log, command: `${QUICK ? 'BENCH_QUICK=1 ' : ''}npm run bench -- --only soak` });
    if (soak.target?.met !== true) results.errors.push({ phase: 'memory soak', error: `target not met: ${soak.target?.value ?? 'n/a'}` });
  } else if (onlyScenario === 'embeddings') {
    const ok = await embeddingsCli(log, logDir, docsPath, 'npm run bench -- --only embeddings');
    if (!ok) results.errors.push({ phase: 'embeddings', error: 'not every input length was measured' });
  } else if (onlyScenario === 'conversation') {
    const run = await conversationCli(log, logDir, docsPath, `${QUICK ? 'BENCH_QUICK=1 ' : ''}npm run bench -- --only conversation`);
    const missed = run.targets.filter((t) => t.met !== true);
    if (missed.length > 0) results.errors.push({ phase: 'conversation', error: `targets not met: ${missed.map((t) => `${t.name} ${t.value}`).join('; ')}` });
  } else if (onlyScenario === 'runtime-memory') {
    const ok = await runtimeMemoryCli(log, logDir, docsPath, 'npm run bench -- --only runtime-memory');
    if (!ok) results.errors.push({ phase: 'runtime-memory', error: 'not every variant was measured in every round' });
  } else {
    const ok = await floodCli(log, logDir, docsPath);
    if (!ok) results.errors.push({ phase: 'flood', error: 'targets not met (see docs/benchmarks.md)' });
  }
}

(onlyScenario !== undefined ? runOnly() : main()).then(
  () => finish(results.errors.length > 0 ? 1 : 0),
  (err: unknown) => {
    results.errors.push({ phase: 'main', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    log(`failed: ${String(err)}`);
    return finish(1);
  },
);
