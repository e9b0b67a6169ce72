/**
 * Prompt reuse: a growing conversation and a shared system prompt, on this service with prompt reuse
 * (PROMPT_CACHE=on, the default), this service without it (PROMPT_CACHE=off), and llama.cpp's llama-server
 * with its default prompt cache (`cache_prompt` left unset: true by default, tools/server/README.md).
 *
 * (a) Conversation: CONVERSATION_REPS conversations of 6 turns; every turn sends the whole history (system
 *     prompt, every earlier user message and the stack's own earlier answers), as chat clients do, and adds
 *     a ~300-token user message, so the last prompt is ~2,000 tokens. TTFT per turn.
 * (b) Shared prompt: a ~1,000-token system prompt and SHARED_REQUESTS independent one-question requests,
 *     one after another. TTFT per request; the first is cold on every stack.
 *
 * Each stack runs alone (the others stopped), on the bench model, 2 threads, PARALLEL 2, CONTEXT_SIZE 4096
 * per sequence, greedy (temperature 0), 32-token answers. The greedy texts of reuse on and off are compared
 * turn by turn (a mismatch is reported, not hidden: see README "Prompt reuse" on quantized weights).
 * node-llama-cpp called directly is not a stack here: bench/direct-worker.ts serves the main scenario's
 * fixed prompts and keeps no history, and a conversation over it would be a second implementation of the
 * very reuse being measured.
 *
 * Targets (issue 13): TTFT of turns 2-6 <= 1.1x llama-server's and <= 0.3x of no reuse; shared-prompt TTFT
 * (requests 2..n) <= 0.3x of no reuse. Raw samples go to bench/conversation-results.json; docs/benchmarks.md
 * gets a section between markers. Run alone: `npm run bench -- --only conversation`.
 */
import os from 'node:os';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serverRuntimeEnv } from '../../service/contract.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { ensureLlamaBuild, repoRoot } from '../llama-build.js';
import { freePort, start, stop, waitReady, type Managed } from '../lib/proc.js';
import { streamRequest, type StreamSample } from '../lib/sse.js';
import { median, ratio, round } from '../lib/stats.js';

const QUICK = process.env.BENCH_QUICK === '1';
const REPS = Number(process.env.CONVERSATION_REPS ?? (QUICK ? 1 : 3));
const TURNS = 6;
const SHARED_REQUESTS = QUICK ? 4 : 8;
const MAX_TOKENS = 32;
const THREADS = 2;
const PARALLEL = 2;
const CTX_PER_SEQ = 4096;
const REQUEST_TIMEOUT_MS = 180_000;

/** BENCH_QUICK=1 runs write next to the other quick outputs, never over the committed results. */
export const conversationResultsPath = join(repoRoot, QUICK ? '.cache/bench/quick/conversation-results.json' : 'bench/conversation-results.json');
const sectionStart = '<!-- conversation:start -->';
const sectionEnd = '<!-- conversation:end -->';

export type ReuseStack = 'serviceReuse' | 'serviceNoReuse' | 'llamaServer';
const stackNames: readonly ReuseStack[] = ['serviceNoReuse', 'llamaServer', 'serviceReuse'];

interface TurnSample {
  rep: number;
  turn: number;
  ttftMs: number;
  totalMs: number;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  text: string;
  error?: string;
}

export interface ConversationRun {
  at: string;
  command: string;
  commands: Record<string, string>;
  model: string;
  loadAverage: { start: number[]; end: number[] };
  conversation: Record<ReuseStack, TurnSample[]>;
  shared: Record<ReuseStack, TurnSample[]>;
  summary: {
    /** Median TTFT of turns 2-6 per stack, ms. */
    laterTurnsTtftMs: Record<ReuseStack, number | null>;
    firstTurnTtftMs: Record<ReuseStack, number | null>;
    /** Median TTFT of shared-prompt requests 2..n per stack, ms. */
    sharedWarmTtftMs: Record<ReuseStack, number | null>;
    sharedColdTtftMs: Record<ReuseStack, number | null>;
    reuseVsLlamaServerLaterTurns: number | null;
    reuseVsNoReuseLaterTurns: number | null;
    reuseVsNoReuseShared: number | null;
    /** Greedy texts of reuse on vs off, per turn / request: how many are identical. */
    textsMatch: { conversation: string; shared: string };
  };
  targets: { name: string; target: string; value: string; met: boolean | null }[];
}

// ------------------------------------------------------------------------------------------------
// Prompts: deterministic text, different per rep, ~300 tokens per user turn
// ------------------------------------------------------------------------------------------------

const topics = ['harbours', 'glaciers', 'orchards', 'observatories', 'railways', 'libraries', 'bridges', 'markets'];
function paragraph(seed: number, sentences: number): string {
  const out: string[] = [];
  for (let i = 0; i < sentences; i++) {
    const a = topics[(seed + i) % topics.length] as string;
    const b = topics[(seed * 3 + i * 5 + 1) % topics.length] as string;
    out.push(
      `Note ${seed}.${i}: the ${a} near the old ${b} were rebuilt in year ${1800 + ((seed * 37 + i * 11) % 200)}, and visitors still describe the ${a} as quiet, careful work.`,
    );
  }
  return out.join(' ');
}
const conversationSystem = (rep: number) => `Conversation ${rep}. You are a patient archivist. ${paragraph(rep * 100, 3)}`;
const userTurn = (rep: number, turn: number) => `Turn ${turn}. ${paragraph(rep * 100 + turn * 7, 9)} What stands out in these notes?`;
const sharedSystem = `You are the help desk of a city archive. ${paragraph(9000, 28)}`;
const sharedQuestion = (i: number) => `Question ${i}: which ${topics[i % topics.length] ?? 'places'} are mentioned, and when were they rebuilt?`;

type Message = { role: 'system' | 'user' | 'assistant'; content: string };

// ------------------------------------------------------------------------------------------------
// Stacks
// ------------------------------------------------------------------------------------------------

interface Server {
  proc: Managed;
  base: string;
  command: string;
}

async function startStack(stack: ReuseStack, modelPath: string, logDir: string): Promise<Server> {
  const port = await freePort();
  if (stack === 'llamaServer') {
    const build = await ensureLlamaBuild();
    // -c is the total KV size, split over the -np slots (no unified KV): CTX_PER_SEQ per sequence, as the service.
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
      '-c',
      String(CTX_PER_SEQ * PARALLEL),
      '-np',
      String(PARALLEL),
      '--no-kv-unified',
      '-b',
      '512',
      '-ub',
      '512',
      '-ngl',
      '0',
      '--no-webui',
    ];
    const proc = start({ name: 'conversation-llama-server', cmd: build.server, args, cwd: repoRoot, logFile: join(logDir, 'conversation-llama-server.log') });
    await waitReady(proc, `http://127.0.0.1:${port}/health`, 120_000);
    return { proc, base: `http://127.0.0.1:${port}`, command: [build.server, ...args].join(' ').replaceAll(`${repoRoot}/`, '') };
  }
  const env: Record<string, string> = {
    MODEL: modelPath,
    HOST: '127.0.0.1',
    PORT: String(port),
    THREADS: String(THREADS),
    CONTEXT_SIZE: String(CTX_PER_SEQ),
    PARALLEL: String(PARALLEL),
    MAX_QUEUE: '8',
    LOG_LEVEL: 'warn',
    PROMPT_CACHE: stack === 'serviceReuse' ? 'on' : 'off',
    ...serverRuntimeEnv,
  };
  const args = ['--import', 'tsx', 'service/main.ts'];
  const proc = start({
    name: `conversation-${stack}`,
    cmd: process.execPath,
    args,
    env: { ...process.env, ...env },
    cwd: repoRoot,
    logFile: join(logDir, `conversation-${stack}.log`),
  });
  await waitReady(proc, `http://127.0.0.1:${port}/health/ready`, 120_000);
  const command = `${Object.entries(env)
    .map(([k, v]) => `${k}=${v.replaceAll(`${repoRoot}/`, '')}`)
    .join(' ')} node ${args.join(' ')}`;
  return { proc, base: `http://127.0.0.1:${port}`, command };
}

function body(stack: ReuseStack, messages: readonly Message[]): Record<string, unknown> {
  const b: Record<string, unknown> = { messages, max_tokens: MAX_TOKENS, temperature: 0, stream: true, stream_options: { include_usage: true } };
  // Random weights rarely pick EOS; make llama-server generate the same number of tokens as the service would.
  if (stack === 'llamaServer') b.ignore_eos = true;
  return b;
}

function toTurn(rep: number, turn: number, s: StreamSample): TurnSample {
  return {
    rep,
    turn,
    ttftMs: round(s.ttftMs, 1) ?? Number.NaN,
    totalMs: round(s.totalMs, 1) ?? Number.NaN,
    promptTokens: s.promptTokens,
    cachedTokens: s.cachedTokens,
    completionTokens: s.completionTokens,
    text: s.text,
    ...(s.error !== undefined ? { error: s.error } : {}),
  };
}

async function runStack(stack: ReuseStack, modelPath: string, log: (line: string) => void, logDir: string, commands: Record<string, string>) {
  const server = await startStack(stack, modelPath, logDir);
  commands[stack] = server.command;
  const url = `${server.base}/v1/chat/completions`;
  const conversation: TurnSample[] = [];
  const shared: TurnSample[] = [];
  try {
    // Warm-up: one short request, so lazy initialisation is not counted; then a different conversation.
    await streamRequest(url, body(stack, [{ role: 'user', content: 'warm up' }]), REQUEST_TIMEOUT_MS);
    for (let rep = 0; rep < REPS; rep++) {
      const messages: Message[] = [{ role: 'system', content: conversationSystem(rep) }];
      for (let turn = 1; turn <= TURNS; turn++) {
        messages.push({ role: 'user', content: userTurn(rep, turn) });
        const s = toTurn(rep, turn, await streamRequest(url, body(stack, messages), REQUEST_TIMEOUT_MS));
        conversation.push(s);
        log(
          `conversation ${stack} rep ${rep + 1} turn ${turn}: ttft ${s.ttftMs} ms, prompt ${s.promptTokens}, cached ${s.cachedTokens}${s.error ? ` ERROR ${s.error}` : ''}`,
        );
        messages.push({ role: 'assistant', content: s.text });
        if (s.error !== undefined) throw new Error(`${stack}: conversation turn ${turn} failed: ${s.error}`);
      }
    }
    for (let i = 0; i < SHARED_REQUESTS; i++) {
      const messages: Message[] = [
        { role: 'system', content: sharedSystem },
        { role: 'user', content: sharedQuestion(i) },
      ];
      const s = toTurn(0, i + 1, await streamRequest(url, body(stack, messages), REQUEST_TIMEOUT_MS));
      shared.push(s);
      log(`shared ${stack} #${i + 1}: ttft ${s.ttftMs} ms, prompt ${s.promptTokens}, cached ${s.cachedTokens}${s.error ? ` ERROR ${s.error}` : ''}`);
      if (s.error !== undefined) throw new Error(`${stack}: shared-prompt request ${i + 1} failed: ${s.error}`);
    }
  } finally {
    await stop(server.proc);
  }
  return { conversation, shared };
}

// ------------------------------------------------------------------------------------------------
// Run, summarise, render
// ------------------------------------------------------------------------------------------------

const medianOf = (xs: readonly TurnSample[]): number | null => {
  const ok = xs.filter((x) => x.error === undefined && Number.isFinite(x.ttftMs)).map((x) => x.ttftMs);
  return ok.length > 0 ? round(median(ok), 1) : null;
};
const perStack = <T>(f: (s: ReuseStack) => T): Record<ReuseStack, T> => Object.fromEntries(stackNames.map((s) => [s, f(s)])) as Record<ReuseStack, T>;
const div = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : round(ratio(a, b), 3));

function matches(a: readonly TurnSample[], b: readonly TurnSample[]): string {
  let same = 0;
  for (const x of a) if (b.find((y) => y.rep === x.rep && y.turn === x.turn)?.text === x.text) same++;
  return `${same}/${a.length}`;
}

export async function runConversation(o: { log: (line: string) => void; logDir: string; command: string }): Promise<ConversationRun> {
  const modelPath = await ensureTestModel({ shape: 'qwen2.5-0.5b', quant: 'q8_0' });
  await mkdir(o.logDir, { recursive: true });
  const loadStart = os.loadavg();
  const commands: Record<string, string> = {};
  const conversation = {} as Record<ReuseStack, TurnSample[]>;
  const shared = {} as Record<ReuseStack, TurnSample[]>;
  for (const stack of stackNames) {
    const r = await runStack(stack, modelPath, o.log, o.logDir, commands);
    conversation[stack] = r.conversation;
    shared[stack] = r.shared;
  }
  const later = perStack((s) => medianOf(conversation[s].filter((x) => x.turn >= 2)));
  const firstTurn = perStack((s) => medianOf(conversation[s].filter((x) => x.turn === 1)));
  const warm = perStack((s) => medianOf(shared[s].filter((x) => x.turn >= 2)));
  const cold = perStack((s) => medianOf(shared[s].filter((x) => x.turn === 1)));
  const summary: ConversationRun['summary'] = {
    laterTurnsTtftMs: later,
    firstTurnTtftMs: firstTurn,
    sharedWarmTtftMs: warm,
    sharedColdTtftMs: cold,
    reuseVsLlamaServerLaterTurns: div(later.serviceReuse, later.llamaServer),
    reuseVsNoReuseLaterTurns: div(later.serviceReuse, later.serviceNoReuse),
    reuseVsNoReuseShared: div(warm.serviceReuse, warm.serviceNoReuse),
    textsMatch: { conversation: matches(conversation.serviceReuse, conversation.serviceNoReuse), shared: matches(shared.serviceReuse, shared.serviceNoReuse) },
  };
  const fmt = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(3)}x`);
  const met = (x: number | null, limit: number) => (x === null ? null : x <= limit);
  const targets: ConversationRun['targets'] = [
    {
      name: 'Conversation TTFT, turns 2-6, vs llama-server',
      target: '<= 1.1x',
      value: fmt(summary.reuseVsLlamaServerLaterTurns),
      met: met(summary.reuseVsLlamaServerLaterTurns, 1.1),
    },
    {
      name: 'Conversation TTFT, turns 2-6, vs no reuse',
      target: '<= 0.3x',
      value: fmt(summary.reuseVsNoReuseLaterTurns),
      met: met(summary.reuseVsNoReuseLaterTurns, 0.3),
    },
    {
      name: 'Shared 1,000-token system prompt TTFT, vs no reuse',
      target: '<= 0.3x',
      value: fmt(summary.reuseVsNoReuseShared),
      met: met(summary.reuseVsNoReuseShared, 0.3),
    },
  ];
  return {
    at: new Date().toISOString(),
    command: o.command,
    commands,
    model: modelPath.replace(`${repoRoot}/`, ''),
    loadAverage: { start: loadStart, end: os.loadavg() },
    conversation,
    shared,
    summary,
    targets,
  };
}

export function renderConversationSection(run: ConversationRun): string {
  const s = run.summary;
  const label: Record<ReuseStack, string> = {
    serviceReuse: 'service, PROMPT_CACHE=on',
    serviceNoReuse: 'service, PROMPT_CACHE=off',
    llamaServer: 'llama-server (cache_prompt default)',
  };
  const ms = (x: number | null) => (x === null ? 'n/a' : x.toFixed(1));
  const turns = Array.from({ length: TURNS }, (_, i) => i + 1);
  const perTurn = (stack: ReuseStack, turn: number) => {
    const xs = run.conversation[stack].filter((x) => x.turn === turn);
    const p = xs[0];
    return `${ms(medianOf(xs))}${p ? ` (${p.cachedTokens >= 0 ? p.cachedTokens : '?'}/${p.promptTokens})` : ''}`;
  };
  return [
    sectionStart,
    '## Prompt reuse: conversation and shared system prompt',
    '',
    `\`${run.command}\` (bench/scenarios/conversation.ts; every raw sample in bench/conversation-results.json). Model ${run.model}; ${THREADS} threads, PARALLEL ${PARALLEL}, ${CTX_PER_SEQ} tokens per sequence, greedy, ${MAX_TOKENS}-token answers; each stack runs alone. (a) ${REPS} conversation(s) of ${TURNS} turns, each turn resending the whole history plus a ~300-token message; (b) a ~1,000-token system prompt shared by ${SHARED_REQUESTS} independent requests, one after another. TTFT figures are CPU-bound and noisy on a shared machine (load average ${run.loadAverage.start.map((x) => x.toFixed(1)).join(' ')} at start, ${run.loadAverage.end.map((x) => x.toFixed(1)).join(' ')} at the end).`,
    '',
    'Median TTFT per turn, ms (first rep: cached / prompt tokens as each stack reports them):',
    '',
    `| stack | ${turns.map((t) => `turn ${t}`).join(' | ')} | turns 2-${TURNS} | shared, first | shared, rest |`,
    `| --- | ${turns.map(() => '---:').join(' | ')} | ---: | ---: | ---: |`,
    ...stackNames.map(
      (st) =>
        `| ${label[st]} | ${turns.map((t) => perTurn(st, t)).join(' | ')} | ${ms(s.laterTurnsTtftMs[st])} | ${ms(s.sharedColdTtftMs[st])} | ${ms(s.sharedWarmTtftMs[st])} |`,
    ),
    '',
    `Greedy texts, reuse on vs off: conversation turns identical ${s.textsMatch.conversation}, shared-prompt answers identical ${s.textsMatch.shared}.`,
    '',
    '| target | limit | measured | met |',
    '| --- | --- | ---: | --- |',
    ...run.targets.map((t) => `| ${t.name} | ${t.target} | ${t.value} | ${t.met === null ? 'n/a' : t.met ? 'yes' : 'NO'} |`),
    '',
    'Commands:',
    '',
    ...stackNames.map((st) => `- ${label[st]}: \`${run.commands[st] ?? ''}\``),
    sectionEnd,
  ].join('\n');
}

export async function readConversationRun(): Promise<ConversationRun | undefined> {
  if (!existsSync(conversationResultsPath)) return undefined;
  return JSON.parse(await readFile(conversationResultsPath, 'utf8')) as ConversationRun;
}

/** `markdown` with the conversation section (re)placed between its markers, or appended. */
export async function withConversationSection(markdown: string): Promise<string> {
  const run = await readConversationRun();
  if (run === undefined) return markdown;
  const section = renderConversationSection(run);
  const a = markdown.indexOf(sectionStart);
  const b = markdown.indexOf(sectionEnd);
  if (a >= 0 && b > a) return `${markdown.slice(0, a)}${section}${markdown.slice(b + sectionEnd.length)}`;
  return `${markdown.trimEnd()}\n\n${section}\n`;
}

/** Runs the scenario, writes bench/conversation-results.json and the docs section; true when every target is met. */
export async function conversationCli(log: (line: string) => void, logDir: string, docsPath: string, command: string): Promise<ConversationRun> {
  const reps = process.env.CONVERSATION_REPS;
  const run = await runConversation({ log, logDir, command: reps !== undefined ? `CONVERSATION_REPS=${reps} ${command}` : command });
  await mkdir(join(conversationResultsPath, '..'), { recursive: true });
  await writeFile(conversationResultsPath, `${JSON.stringify(run, null, 2)}\n`);
  const docs = existsSync(docsPath) ? await readFile(docsPath, 'utf8') : '';
  await writeFile(docsPath, await withConversationSection(docs));
  log(`conversation: wrote ${conversationResultsPath} and its section of ${docsPath}; targets ${JSON.stringify(run.targets.map((t) => t.met))}`);
  return run;
}
