/**
 * The decode loop alone (`npm run bench -- --only decode`): node-llama-cpp driven directly by
 * bench/scenarios/decode-worker.ts on the bench model (random-weight Qwen2.5-0.5B shape, q8_0), 2 threads,
 * 4 sequences x 4096 tokens, greedy, with every native decode and sample call timed. Each configuration runs
 * its variants interleaved in one process (ABAB), so the comparison between variants holds on a loaded
 * machine even when the absolute rates do not.
 *
 * Outputs: bench/decode-results.json (every run and step split) and the "Decode loop" section of
 * docs/benchmarks.md, between markers that the main report keeps when it rewrites the file
 * (`withDecodeSection`). BENCH_QUICK=1 writes to .cache/bench/quick/ instead.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { repoRoot } from '../llama-build.js';
import { start, type Managed } from '../lib/proc.js';
import type { DecodeVariant, DecodeWorkerJob, VariantRun } from './decode-worker.js';

export interface DecodeConfig {
  name: string;
  job: Omit<DecodeWorkerJob, 'modelPath'>;
  env: Record<string, string>;
}

export interface DecodeConfigResult {
  name: string;
  command: string;
  loadAverageStart: number[];
  loadAverageEnd: number[];
  runs: VariantRun[];
  error?: string;
}

export interface DecodeResults {
  startedAt: string;
  command: string;
  model: string;
  machine: { cpus: number; loadAverageStart: number[] };
  configs: DecodeConfigResult[];
}

const MARK_START = '<!-- decode-loop:start (bench/scenarios/decode.ts writes this section) -->';
const MARK_END = '<!-- decode-loop:end -->';

const baseEnv = { UV_THREADPOOL_SIZE: '1', MALLOC_ARENA_MAX: '2' };

export function decodeConfigs(quick: boolean): DecodeConfig[] {
  const common = { threads: 2, contextSize: 4096, sequences: 4, maxTokens: quick ? 24 : 64, repetitions: quick ? 1 : 3 };
  const all: DecodeVariant[] = ['chat', 'chat-ungathered', 'evaluate', 'evaluate-ungathered'];
  return [
    { name: '4 streams', job: { ...common, streams: 4, variants: [...all, 'chat-reversed', 'chat-reversed-unordered'] }, env: baseEnv },
    { name: '1 stream', job: { ...common, streams: 1, variants: ['chat', 'evaluate'] }, env: baseEnv },
    { name: '4 streams, UV_THREADPOOL_SIZE=4', job: { ...common, streams: 4, variants: ['chat', 'evaluate'] }, env: { ...baseEnv, UV_THREADPOOL_SIZE: '4' } },
  ];
}

const resultsPath = (quick: boolean) => join(repoRoot, quick ? '.cache/bench/quick/decode-results.json' : 'bench/decode-results.json');

async function runWorker(config: DecodeConfig, modelPath: string, logFile: string, timeoutMs: number): Promise<DecodeConfigResult> {
  const job: DecodeWorkerJob = { ...config.job, modelPath };
  const args = ['--import', 'tsx', 'bench/scenarios/decode-worker.ts', JSON.stringify(job)];
  const command = `${Object.entries(config.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')} node ${args.slice(0, 3).join(' ')} '${JSON.stringify({ ...job, modelPath: modelPath.replace(`${repoRoot}/`, '') })}'`;
  const loadAverageStart = os.loadavg();
  const proc: Managed = start({
    name: `decode-worker ${config.name}`,
    cmd: process.execPath,
    args,
    cwd: repoRoot,
    env: { ...process.env, ...config.env },
    logFile,
  });
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  const line = proc
    .output()
    .split('\n')
    .find((l) => l.startsWith('@@'));
  const reply = line !== undefined ? (JSON.parse(line.slice(2)) as { ok: boolean; runs?: VariantRun[]; error?: string }) : undefined;
  const base = { name: config.name, command, loadAverageStart, loadAverageEnd: os.loadavg() };
  if (reply?.ok !== true || reply.runs === undefined) {
    return { ...base, runs: [], error: reply?.error ?? `exited ${String(code)} without a result (time budget ${timeoutMs} ms)` };
  }
  // Step splits are kept whole in the JSON; texts only to check the variants generate the same text.
  return { ...base, runs: reply.runs };
}

/** Runs every configuration (default: `decodeConfigs(quick)`) and saves bench/decode-results.json. */
export async function runDecode(o: {
  quick: boolean;
  log: (line: string) => void;
  logDir: string;
  command: string;
  configs?: DecodeConfig[];
}): Promise<DecodeResults> {
  const modelPath = await ensureTestModel({ shape: 'qwen2.5-0.5b', quant: 'q8_0' });
  const results: DecodeResults = {
    startedAt: new Date().toISOString(),
    command: o.command,
    model: modelPath.replace(`${repoRoot}/`, ''),
    machine: { cpus: os.availableParallelism(), loadAverageStart: os.loadavg() },
    configs: [],
  };
  await mkdir(o.logDir, { recursive: true });
  for (const [i, config] of (o.configs ?? decodeConfigs(o.quick)).entries()) {
    o.log(`decode: ${config.name} (load average ${os.loadavg()[0]?.toFixed(2)})`);
    const r = await runWorker(config, modelPath, join(o.logDir, `decode-worker-${i}.log`), 15 * 60_000);
    if (r.error !== undefined) o.log(`decode: ${config.name} failed: ${r.error}`);
    results.configs.push(r);
  }
  const out = resultsPath(o.quick);
  await mkdir(join(out, '..'), { recursive: true });
  await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
  return results;
}

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

/** Tokens per steady-state step: the most common batch size of at most `streams` tokens. */
function typicalBatch(run: VariantRun, streams: number): string {
  const entries = Object.entries(run.batchSizes).filter(([k]) => Number(k) <= streams);
  entries.sort((a, b) => b[1] - a[1]);
  return entries.map(([k, n]) => `${k}: ${n}`).join(', ');
}

export function renderDecodeSection(r: DecodeResults): string {
  const lines: string[] = [MARK_START, '', '## Decode loop', ''];
  lines.push(
    `Command: \`${r.command}\` (started ${r.startedAt}); raw runs and every step: \`${resultsPath(false).replace(`${repoRoot}/`, '')}\`. ` +
      `Model \`${r.model}\`, 2 threads, 4 sequences x 4096 tokens, greedy, node-llama-cpp called directly (bench/scenarios/decode-worker.ts). ` +
      `Variants of one configuration run interleaved in one process, so their ratio holds under load; the absolute rates are noisy on a shared machine ` +
      `(${r.machine.cpus} CPUs, load average ${r.machine.loadAverageStart.map((x) => x.toFixed(1)).join(' ')} at start).`,
    '',
    'What the split means, what was found and what was tried: [decode-loop.md](decode-loop.md).',
    '',
    'A step is one llama_decode of all queued tokens: *decode* is decodeBatch() called to settled, *sample* from there to the last sampleToken() of the step, *JS* from there to the next decodeBatch() call (the generations\' own per-token work). "ungathered" is node-llama-cpp 3.21.1 as published (the batching fix of patches/node-llama-cpp+3.21.1.patch off); "reversed" starts the generations from the highest sequence to the lowest, and "unordered" switches the patch\'s batch ordering off, so a batch goes to llama.cpp in queue order as published.',
    '',
    '| configuration | variant | aggregate tok/s (median) | vs chat | tokens per step (steps) | decode ms | sample ms | JS ms | CPU ms per token | main-thread utilisation | load avg start / end |',
    '| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |',
  );
  for (const c of r.configs) {
    if (c.error !== undefined) {
      lines.push(`| ${c.name} | failed: ${c.error.replaceAll('|', '/')} |  |  |  |  |  |  |  |  |  |`);
      continue;
    }
    const streams = c.runs[0]?.perStreamTokPerS.length ?? 0;
    const variants = [...new Set(c.runs.map((x) => x.variant))];
    const rate = (v: string) => median(c.runs.filter((x) => x.variant === v).map((x) => x.aggregateTokPerS));
    const base = rate('chat');
    for (const v of variants) {
      const runs = c.runs.filter((x) => x.variant === v);
      const last = runs.at(-1) as VariantRun;
      const m = (k: keyof VariantRun['median']) => median(runs.map((x) => x.median[k]));
      lines.push(
        `| ${c.name} | ${v} | ${f(rate(v), 2)} | ${f(rate(v) / base, 3)}x | ${typicalBatch(last, streams)} | ${f(m('decodeMs'))} | ${f(m('sampleMs'), 2)} | ${f(m('jsMs'), 2)} | ${f(median(runs.map((x) => x.cpuMsPerToken)))} | ${f(median(runs.map((x) => x.eventLoopUtilization)), 3)} | ${c.loadAverageStart[0]?.toFixed(1)} / ${c.loadAverageEnd[0]?.toFixed(1)} |`,
      );
    }
  }
  lines.push('', 'Commands:', '');
  for (const c of r.configs) lines.push(`- ${c.name}: \`${c.command}\``);
  lines.push('', MARK_END);
  return lines.join('\n');
}

async function readDecodeResults(quick: boolean): Promise<DecodeResults | undefined> {
  try {
    return JSON.parse(await readFile(resultsPath(quick), 'utf8')) as DecodeResults;
  } catch {
    return undefined;
  }
}

/** Puts the saved decode section into `markdown` (replacing an older one), as the other scenarios do. */
export async function withDecodeSection(markdown: string, quick = false): Promise<string> {
  const saved = await readDecodeResults(quick);
  if (saved === undefined) return markdown;
  const section = renderDecodeSection(saved);
  const a = markdown.indexOf(MARK_START);
  const b = markdown.indexOf(MARK_END);
  if (a >= 0 && b > a) return `${markdown.slice(0, a)}${section}${markdown.slice(b + MARK_END.length)}`;
  return `${markdown.trimEnd()}\n\n${section}\n`;
}
