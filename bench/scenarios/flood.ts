/**
 * Flood: can 8 clients sending oversized and near-limit requests starve the health endpoints?
 *
 * The server runs as in production (service/main.ts, CONTEXT_SIZE 4096, PARALLEL 2, MAX_QUEUE 8, 2
 * threads, serverRuntimeEnv) on the random-weight test model (the real Qwen2 tokenizer, which is where
 * the CPU goes). For FLOOD_SECONDS (60), 8 clients loop over four request kinds:
 *   - a 1 MB completion prompt (oversized: far beyond what 4096 tokens can hold, under a 1 MiB limit);
 *   - a chat body of 30,000 short messages (~930 KB, oversized);
 *   - a 120 KiB completion prompt (near the body limit at 4096 tokens: ~25k tokens, cannot fit);
 *   - a 24 KiB chat message (near the context: ~4.8k tokens, just over 4096).
 * Meanwhile a kubelet-like prober GETs /health/live every 100 ms on a new connection with a 5 s timeout.
 * Then a second phase holds 300 connections each with an unfinished ~100 KiB body, measures the RSS they
 * pin and whether the server lets them go. RSS is sampled from /proc throughout.
 *
 * Target (issue 15): /health/live p99 <= 100 ms and no liveness failure during the flood, and RSS back
 * within 20 MB of its idle level after it. Results go to bench/flood-results.json under FLOOD_LABEL
 * (e.g. "before" run against another checkout with FLOOD_SERVICE_ROOT, "after" on this one), and
 * docs/benchmarks.md gets a section rendered from all labels.
 *
 * Run alone: `npm run bench -- --only flood` (FLOOD_LABEL=after by default).
 */
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serverRuntimeEnv } from '../../service/contract.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { repoRoot } from '../llama-build.js';
import { freePort, memoryOf, sleep, start, stop, waitReady, type Managed } from '../lib/proc.js';
import { max, percentile, round } from '../lib/stats.js';

const FLOOD_SECONDS = Number(process.env.FLOOD_SECONDS ?? 60);
const CLIENTS = 8;
const PROBE_EVERY_MS = 100;
const PROBE_TIMEOUT_MS = 5_000;
const HELD_CONNECTIONS = 300;
const HELD_BODY_BYTES = 100 * 1024;
/** How long the held connections are kept open (and the server watched) before the harness closes them. */
const HELD_WATCH_MS = 45_000;
const SETTLE_MS = 20_000;
const BASELINE_SECONDS = 10;
const TARGET_P99_MS = 100;
const TARGET_RSS_DELTA_BYTES = 20 * 1e6;

export const floodResultsPath = join(repoRoot, 'bench/flood-results.json');
const sectionStart = '<!-- flood:start -->';
const sectionEnd = '<!-- flood:end -->';

export interface FloodRun {
  label: string;
  at: string;
  command: string;
  serviceRoot: string;
  serviceCommit?: string;
  loadAverage: { start: number[]; end: number[] };
  cpus: number;
  floodSeconds: number;
  clients: number;
  requestsByKind: Record<string, Record<string, number>>;
  liveness: { probes: number; failures: number; p50Ms: number; p99Ms: number; maxMs: number; longestFailStreakMs: number };
  /** The same prober for BASELINE_SECONDS before the flood, no load from this scenario: the machine's own noise. */
  baseline: { probes: number; failures: number; p50Ms: number; p99Ms: number; maxMs: number };
  /** The server's own event-loop delay during the flood (prom-client's nodejs_eventloop_lag_*), scraped after it. */
  eventLoopLagMs?: { p99: number; max: number };
  rss: { idleBytes: number; peakBytes: number; afterBytes: number; deltaAfterBytes: number };
  held: { connections: number; rssWhileHeldBytes: number; closedByServer: number; closedWithinMs?: number; rssAfterBytes: number };
  targetsMet: { livenessP99: boolean; noLivenessFailure: boolean; rssReturns: boolean };
}

// ------------------------------------------------------------------------------------------------
// Bodies
// ------------------------------------------------------------------------------------------------

const words = 'the quick brown fox jumps over the lazy dog while the lighthouse keeper reads a message ';
const textOf = (bytes: number): string => words.repeat(Math.ceil(bytes / words.length)).slice(0, bytes);

function bodies(): Array<{ kind: string; path: string; body: string }> {
  return [
    // Just under a 1 MiB body limit (what the service accepted before the limit followed the context).
    { kind: '1 MB prompt', path: '/v1/completions', body: JSON.stringify({ prompt: textOf(1_000_000), max_tokens: 1 }) },
    {
      kind: '30k-message chat',
      path: '/v1/chat/completions',
      body: JSON.stringify({ messages: Array.from({ length: 30_000 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'hi' })), max_tokens: 1 }),
    },
    // Near the body limit at CONTEXT_SIZE 4096 (128 KiB): ~25k tokens, cannot fit.
    { kind: '120 KiB prompt', path: '/v1/completions', body: JSON.stringify({ prompt: textOf(120 * 1024), max_tokens: 1 }) },
    // Near the context: ~4.8k tokens, just over 4096.
    {
      kind: '24 KiB chat message',
      path: '/v1/chat/completions',
      body: JSON.stringify({ messages: [{ role: 'user', content: textOf(24 * 1024) }], max_tokens: 1 }),
    },
  ];
}

// ------------------------------------------------------------------------------------------------
// HTTP helpers (bounded: every request has a timeout, every loop a deadline)
// ------------------------------------------------------------------------------------------------

function post(base: string, path: string, body: string, agent: http.Agent): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.request(`${base}${path}`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      timeout: 30_000,
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve('response error'));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? err.message));
    req.end(body);
  });
}

/** One kubelet-style probe: a new connection, GET, 5 s timeout. */
function probeLive(base: string): Promise<{ ok: boolean; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get(`${base}/health/live`, { agent: false, timeout: PROBE_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, ms: performance.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ ok: false, ms: performance.now() - t0 }));
  });
}

async function probeLoop(base: string, until: number): Promise<Array<{ at: number; ok: boolean; ms: number }>> {
  const probes: Array<{ at: number; ok: boolean; ms: number }> = [];
  while (performance.now() < until) {
    const at = performance.now();
    const r = await probeLive(base);
    probes.push({ at, ...r });
    await sleep(Math.max(0, PROBE_EVERY_MS - (performance.now() - at)));
  }
  return probes;
}

function summary(probes: ReadonlyArray<{ ok: boolean; ms: number }>): { probes: number; failures: number; p50Ms: number; p99Ms: number; maxMs: number } {
  const ms = probes.map((p) => p.ms);
  return {
    probes: probes.length,
    failures: probes.filter((p) => !p.ok).length,
    p50Ms: round(percentile(ms, 50), 1) ?? Number.NaN,
    p99Ms: round(percentile(ms, 99), 1) ?? Number.NaN,
    maxMs: round(max(ms), 1) ?? Number.NaN,
  };
}

/** prom-client's event-loop delay gauges (reset at each scrape), in ms. */
async function eventLoopLag(base: string): Promise<{ p99: number; max: number } | undefined> {
  try {
    const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const value = (name: string): number => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    return {
      p99: round(value('nodejs_eventloop_lag_p99_seconds') * 1000, 1) ?? Number.NaN,
      max: round(value('nodejs_eventloop_lag_max_seconds') * 1000, 1) ?? Number.NaN,
    };
  } catch {
    return undefined;
  }
}

async function rssOf(pid: number): Promise<number> {
  return (await memoryOf(pid))?.rss ?? 0;
}

/** RSS after things calm down: the minimum of samples over the last seconds of `ms`. */
async function settledRss(pid: number, ms: number): Promise<number> {
  const samples: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    samples.push(await rssOf(pid));
    await sleep(500);
  }
  return Math.min(...samples.slice(-6));
}

// ------------------------------------------------------------------------------------------------
// The scenario
// ------------------------------------------------------------------------------------------------

export async function runFlood(o: { label: string; serviceRoot: string; log: (line: string) => void; logDir: string }): Promise<FloodRun> {
  const modelPath = await ensureTestModel();
  const port = await freePort();
  const env: Record<string, string> = {
    MODEL: modelPath,
    HOST: '127.0.0.1',
    PORT: String(port),
    THREADS: '2',
    CONTEXT_SIZE: '4096',
    PARALLEL: '2',
    MAX_QUEUE: '8',
    LOG_LEVEL: 'warn',
    ...serverRuntimeEnv,
  };
  const args = ['--import', 'tsx', 'service/main.ts'];
  const command = `${Object.entries(env)
    .map(([k, v]) => `${k}=${v.replaceAll(`${repoRoot}/`, '')}`)
    .join(' ')} node ${args.join(' ')}  (cwd ${o.serviceRoot === repoRoot ? '.' : o.serviceRoot})`;
  await mkdir(o.logDir, { recursive: true });
  const proc: Managed = start({
    name: `flood-${o.label}`,
    cmd: process.execPath,
    args,
    env: { ...process.env, ...env },
    cwd: o.serviceRoot,
    logFile: join(o.logDir, `flood-${o.label}.log`),
  });
  const base = `http://127.0.0.1:${port}`;
  const loadStart = os.loadavg();
  try {
    await waitReady(proc, `${base}/health/ready`, 120_000);
    // Warm-up: one real generation, a few probes, so lazy initialisation is not counted as flood cost.
    const warm = new http.Agent({ keepAlive: true });
    await post(base, '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }), warm);
    for (let i = 0; i < 5; i++) await probeLive(base);
    warm.destroy();
    const idle = await settledRss(proc.pid, 10_000);
    const baseline = summary(await probeLoop(base, performance.now() + BASELINE_SECONDS * 1000));
    await eventLoopLag(base); // resets the server's event-loop delay histogram
    o.log(
      `flood[${o.label}]: idle RSS ${(idle / 1e6).toFixed(1)} MB; baseline liveness ${JSON.stringify(baseline)}; ${CLIENTS} clients for ${FLOOD_SECONDS} s`,
    );

    // Phase 1: the flood, with the prober and an RSS sampler.
    const kinds = bodies();
    const counts: Record<string, Record<string, number>> = {};
    const probes: Array<{ at: number; ok: boolean; ms: number }> = [];
    let peak = idle;
    const deadline = performance.now() + FLOOD_SECONDS * 1000;
    const agents: http.Agent[] = [];
    const clients = Array.from({ length: CLIENTS }, async (_, c) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      for (let i = c; performance.now() < deadline; i++) {
        const k = kinds[i % kinds.length] as (typeof kinds)[number];
        const status = String(await post(base, k.path, k.body, agent));
        const byKind = (counts[k.kind] ??= {});
        byKind[status] = (byKind[status] ?? 0) + 1;
      }
    });
    const prober = probeLoop(base, deadline).then((list) => probes.push(...list));
    const sampler = (async () => {
      while (performance.now() < deadline) {
        peak = Math.max(peak, await rssOf(proc.pid));
        await sleep(250);
      }
    })();
    await Promise.all([...clients, prober, sampler]);
    for (const a of agents) a.destroy();
    const lag = await eventLoopLag(base);
    const after = await settledRss(proc.pid, SETTLE_MS);

    let streak = 0;
    let streakStart = 0;
    let longest = 0;
    for (const p of probes) {
      if (!p.ok) {
        if (streak === 0) streakStart = p.at;
        streak++;
        longest = Math.max(longest, p.at + p.ms - streakStart);
      } else streak = 0;
    }
    const liveness = { ...summary(probes), longestFailStreakMs: Math.round(longest) };
    o.log(`flood[${o.label}]: liveness ${JSON.stringify(liveness)}; RSS peak ${(peak / 1e6).toFixed(1)} MB, after ${(after / 1e6).toFixed(1)} MB`);

    // Phase 2: connections holding unfinished bodies.
    const sockets: net.Socket[] = [];
    let closedByServer = 0;
    let lastClosedAt: number | undefined;
    const heldAt = performance.now();
    for (let i = 0; i < HELD_CONNECTIONS; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('close', () => {
        if (!(s as net.Socket & { closedByUs?: boolean }).closedByUs) {
          closedByServer++;
          lastClosedAt = performance.now();
        }
      });
      s.on('data', () => undefined);
      s.write(
        `POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${HELD_BODY_BYTES + 1024}\r\n\r\n` +
          `{"prompt":"${textOf(HELD_BODY_BYTES)}`,
      );
      sockets.push(s);
    }
    let heldPeak = 0;
    const heldEnd = performance.now() + HELD_WATCH_MS;
    while (performance.now() < heldEnd && closedByServer < HELD_CONNECTIONS) {
      heldPeak = Math.max(heldPeak, await rssOf(proc.pid));
      await sleep(500);
    }
    for (const s of sockets) {
      (s as net.Socket & { closedByUs?: boolean }).closedByUs = true;
      s.destroy();
    }
    const heldAfter = await settledRss(proc.pid, 8_000);
    const held = {
      connections: HELD_CONNECTIONS,
      rssWhileHeldBytes: heldPeak,
      closedByServer,
      ...(lastClosedAt !== undefined && closedByServer === HELD_CONNECTIONS ? { closedWithinMs: Math.round(lastClosedAt - heldAt) } : {}),
      rssAfterBytes: heldAfter,
    };
    o.log(`flood[${o.label}]: held bodies ${JSON.stringify(held)}`);

    return {
      label: o.label,
      at: new Date().toISOString(),
      command,
      serviceRoot: o.serviceRoot === repoRoot ? '.' : o.serviceRoot,
      loadAverage: { start: loadStart, end: os.loadavg() },
      cpus: os.cpus().length,
      floodSeconds: FLOOD_SECONDS,
      clients: CLIENTS,
      requestsByKind: counts,
      liveness,
      baseline,
      ...(lag ? { eventLoopLagMs: lag } : {}),
      rss: { idleBytes: idle, peakBytes: peak, afterBytes: after, deltaAfterBytes: after - idle },
      held,
      targetsMet: {
        livenessP99: liveness.p99Ms <= TARGET_P99_MS,
        noLivenessFailure: liveness.failures === 0,
        rssReturns: after - idle <= TARGET_RSS_DELTA_BYTES,
      },
    };
  } finally {
    await stop(proc);
  }
}

// ------------------------------------------------------------------------------------------------
// Results and the docs section
// ------------------------------------------------------------------------------------------------

export async function readFloodRuns(): Promise<FloodRun[]> {
  if (!existsSync(floodResultsPath)) return [];
  return (JSON.parse(await readFile(floodResultsPath, 'utf8')) as { runs: FloodRun[] }).runs;
}

export async function saveFloodRun(run: FloodRun): Promise<void> {
  const runs = (await readFloodRuns()).filter((r) => r.label !== run.label);
  runs.push(run);
  await writeFile(floodResultsPath, `${JSON.stringify({ runs }, null, 2)}\n`);
}

const mb = (b: number): string => (b / 1e6).toFixed(1);
const yes = (ok: boolean): string => (ok ? 'met' : 'NOT met');

export function renderFloodSection(runs: readonly FloodRun[]): string {
  if (runs.length === 0) return '';
  const rows = runs.map((r) => {
    const l = r.liveness;
    return `| ${r.label} | ${r.baseline ? `${r.baseline.p50Ms} / ${r.baseline.p99Ms}` : '—'} | ${l.probes} | ${l.failures} | ${l.p50Ms} | ${l.p99Ms} | ${l.maxMs} | ${l.longestFailStreakMs} | ${r.eventLoopLagMs ? `${r.eventLoopLagMs.p99} / ${r.eventLoopLagMs.max}` : '—'} | ${mb(r.rss.idleBytes)} | ${mb(r.rss.peakBytes)} | ${mb(r.rss.afterBytes)} (${r.rss.deltaAfterBytes >= 0 ? '+' : ''}${mb(r.rss.deltaAfterBytes)}) | ${mb(r.held.rssWhileHeldBytes)} | ${r.held.closedByServer}/${r.held.connections}${r.held.closedWithinMs !== undefined ? ` in ${(r.held.closedWithinMs / 1000).toFixed(1)} s` : ''} | ${r.loadAverage.start.map((x) => x.toFixed(1)).join(' ')} |`;
  });
  const statuses = runs.map(
    (r) =>
      `- **${r.label}** (${r.at}, ${r.serviceCommit ? `the service as of commit ${r.serviceCommit} (FLOOD_SERVICE_ROOT, a checkout of it)` : r.serviceRoot === '.' ? 'this checkout' : `the service in ${r.serviceRoot}`}): ${Object.entries(
        r.requestsByKind,
      )
        .map(
          ([k, v]) =>
            `${k}: ${Object.entries(v)
              .map(([s, n]) => `${n}× ${s}`)
              .join(', ')}`,
        )
        .join(
          '; ',
        )}. Targets: p99 ${yes(r.targetsMet.livenessP99)}, no liveness failure ${yes(r.targetsMet.noLivenessFailure)}, RSS back within 20 MB ${yes(r.targetsMet.rssReturns)}.`,
  );
  return [
    sectionStart,
    '## Flood: health endpoints under oversized and near-limit requests',
    '',
    `\`npm run bench -- --only flood\` (bench/scenarios/flood.ts; raw figures in bench/flood-results.json). ${runs[0]?.clients ?? CLIENTS} clients loop for ${runs[0]?.floodSeconds ?? FLOOD_SECONDS} s over a 1 MB prompt, a 30,000-message chat body, a 120 KiB prompt and a 24 KiB (~4.8k-token) chat message, while a prober GETs /health/live every ${PROBE_EVERY_MS} ms on a new connection with a ${PROBE_TIMEOUT_MS / 1000} s timeout (the liveness probe's). Then ${HELD_CONNECTIONS} connections each hold an unfinished ${HELD_BODY_BYTES / 1024} KiB body for up to ${HELD_WATCH_MS / 1000} s. Target: p99 <= ${TARGET_P99_MS} ms, no failure, RSS within 20 MB of idle afterwards. Latencies are CPU-bound and noisy on a shared machine (load average at start in the last column): the same prober against the idle server for ${BASELINE_SECONDS} s before the flood gives the machine's own probe latency, and the server's event-loop delay (prom-client, scraped after the flood) shows what the server itself blocked; memory figures are not noisy.`,
    '',
    `Command: \`${runs.at(-1)?.command ?? ''}\``,
    '',
    '| run | idle probe p50 / p99 ms | probes | failures | p50 ms | p99 ms | max ms | longest failing stretch ms | server event-loop delay p99 / max ms | idle RSS MB | peak RSS MB | RSS after MB (vs idle) | RSS with held bodies MB | held closed by server | load avg |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    ...rows,
    '',
    ...statuses,
    sectionEnd,
  ].join('\n');
}

/** `markdown` with the flood section (re)placed between its markers, or appended. */
export async function withFloodSection(markdown: string): Promise<string> {
  const section = renderFloodSection(await readFloodRuns());
  if (section === '') return markdown;
  const a = markdown.indexOf(sectionStart);
  const b = markdown.indexOf(sectionEnd);
  if (a >= 0 && b > a) return `${markdown.slice(0, a)}${section}${markdown.slice(b + sectionEnd.length)}`;
  return `${markdown.trimEnd()}\n\n${section}\n`;
}

/** `npm run bench -- --only flood`: runs the scenario, saves it under FLOOD_LABEL, updates the docs section. */
export async function floodCli(log: (line: string) => void, logDir: string, docsPath: string): Promise<boolean> {
  const label = process.env.FLOOD_LABEL ?? 'after';
  const serviceRoot = process.env.FLOOD_SERVICE_ROOT ?? repoRoot;
  const run = await runFlood({ label, serviceRoot, log, logDir });
  if (process.env.FLOOD_SERVICE_COMMIT) run.serviceCommit = process.env.FLOOD_SERVICE_COMMIT;
  await saveFloodRun(run);
  const docs = existsSync(docsPath) ? await readFile(docsPath, 'utf8') : '';
  await writeFile(docsPath, await withFloodSection(docs));
  log(`flood[${label}]: wrote ${floodResultsPath} and the flood section of ${docsPath}`);
  return Object.values(run.targetsMet).every(Boolean);
}
