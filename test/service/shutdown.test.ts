/**
 * The production entry (`service/main.ts`) as a child process: eager start-up with probes
 * answering while the model loads, and graceful shutdown on SIGTERM.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { endpoints } from '../../service/contract.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { freePort, postJson, readSse, spawnMain, waitFor, type Child, type SseEvent } from './helpers.js';

let model: string;
const children: Child[] = [];

beforeAll(async () => {
  model = await ensureTestModel();
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
});

async function startMain(env: Record<string, string> = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawnMain({
    MODEL: model,
    HOST: '127.0.0.1',
    PORT: String(port),
    THREADS: '1',
    PARALLEL: '2',
    CONTEXT_SIZE: '2048',
    MAX_COMPLETION_LENGTH: '2000',
    LOG_LEVEL: 'info',
    ...env,
  });
  children.push(child);
  const startupStates = new Set<string>();
  let firstAnswerMs: number | undefined;
  await waitFor(
    'the server to become ready',
    async () => {
      if (child.proc.exitCode !== null) throw new Error(`server exited early: ${child.lines.join('\n')}`);
      try {
        const res = await fetch(`${base}${endpoints.startup}`);
        firstAnswerMs ??= performance.now() - child.startedAt;
        const body = (await res.json()) as { state: string };
        if (res.status === 503) startupStates.add(body.state);
        return res.status === 200;
      } catch {
        return false; // not listening yet
      }
    },
    60_000,
    50,
  );
  const readyMs = performance.now() - child.startedAt;
  return { child, base, startupStates, firstAnswerMs: firstAnswerMs ?? readyMs, readyMs };
}

const hasContent = (ev: SseEvent) => Boolean((ev.json as { choices?: Array<{ delta?: { content?: string } }> } | undefined)?.choices?.[0]?.delta?.content);

/** Starts a long stream and returns once its first content chunk arrived; the rest is collected in the background. */
async function startStream(base: string, maxTokens: number) {
  const res = await postJson(base, endpoints.chatCompletions, { messages: [{ role: 'user', content: 'Talk a lot' }], max_tokens: maxTokens, stream: true });
  expect(res.status).toBe(200);
  const it = readSse(res);
  const events: SseEvent[] = [];
  for (;;) {
    const { value, done } = await it.next();
    if (done) break;
    events.push(value);
    if (hasContent(value)) break;
  }
  const finished = (async () => {
    for (;;) {
      const { value, done } = await it.next();
      if (done) return events;
      events.push(value);
    }
  })();
  finished.catch(() => undefined); // the third test kills the server mid-stream
  return { events, finished };
}

describe('service/main.ts as a process', () => {
  it('answers probes while loading, then SIGTERM drains an in-flight stream to [DONE] and exits 0', async () => {
    const { child, base, startupStates, firstAnswerMs, readyMs } = await startMain();
    expect(startupStates.has('loading')).toBe(true);
    console.log(
      `[figures] main.ts child (tsx): probes answer ${Math.round(firstAnswerMs)} ms after spawn, ` +
        `ready ${Math.round(readyMs)} ms after spawn (states seen before ready: ${[...startupStates].join(', ')})`,
    );
    // The probe may see 200 a moment before the line is written.
    await waitFor('the ready log line', async () => child.lines.some((l) => l.includes('"msg":"model loaded: ready to serve"')), 2000);
    expect(child.lines.some((l) => l.includes('inference thread(s) (source: THREADS)'))).toBe(true);

    const stream = await startStream(base, 1500);
    const killedAt = performance.now();
    child.proc.kill('SIGTERM');
    // Readiness flips as soon as the signal is handled, while the server keeps answering
    // (signal delivery is asynchronous, so poll briefly).
    const ready = await waitFor(
      'readiness 503',
      async () => {
        const res = await fetch(`${base}${endpoints.ready}`);
        return res.status === 503 ? res : undefined;
      },
      500,
      5,
    );
    const flippedMs = performance.now() - killedAt;
    expect(((await ready.json()) as { state: string }).state).toBe('draining');
    expect((await fetch(`${base}${endpoints.live}`)).status).toBe(200);
    const refused = await postJson(base, endpoints.chatCompletions, { messages: [{ role: 'user', content: 'x' }], max_tokens: 2 });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('draining');

    const events = await stream.finished;
    expect(events.at(-1)?.data).toBe('[DONE]');
    const final = events.filter((e) => e.json).at(-1)?.json as { choices: Array<{ finish_reason: string }> };
    expect(final.choices[0]?.finish_reason).toBe('length');
    // It ran to max_tokens: every token was delivered despite the SIGTERM.
    const { code, atMs } = await child.exited;
    expect(code).toBe(0);
    const done = child.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'shutdown complete');
    expect(done).toMatchObject({ drained: true });
    console.log(
      `[figures] SIGTERM with one stream in flight: readiness 503 within ${flippedMs.toFixed(1)} ms; ` +
        `stream of 1500 tokens completed; exit 0 ${Math.round(performance.now() - killedAt)} ms after the signal (process ${Math.round(atMs)} ms old)`,
    );
  });

  it('after SHUTDOWN_GRACE_MS the remaining streams are cut with a final chunk and [DONE]; exit 0', async () => {
    const { child, base } = await startMain({ SHUTDOWN_GRACE_MS: '300' });
    const stream = await startStream(base, 2000);
    const t0 = performance.now();
    child.proc.kill('SIGTERM');
    const events = await stream.finished;
    const cutAfter = performance.now() - t0;
    expect(events.at(-1)?.data).toBe('[DONE]');
    const final = events.filter((e) => e.json).at(-1)?.json as { choices: Array<{ finish_reason: string }> };
    expect(final.choices[0]?.finish_reason).toBe('length');
    expect(events.filter(hasContent).length).toBeLessThan(2000);
    expect(cutAfter).toBeLessThan(3000);
    const { code } = await child.exited;
    expect(code).toBe(0);
    const done = child.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'shutdown complete');
    expect(done).toMatchObject({ drained: false });
  });

  it('a second signal exits at once (143)', async () => {
    const { child, base } = await startMain({ SHUTDOWN_GRACE_MS: '60000' });
    const stream = await startStream(base, 2000);
    child.proc.kill('SIGTERM');
    await waitFor('draining', async () => (await fetch(`${base}${endpoints.ready}`)).status === 503);
    const t0 = performance.now();
    child.proc.kill('SIGTERM');
    const { code } = await child.exited;
    expect(code).toBe(143);
    expect(performance.now() - t0).toBeLessThan(2000);
    await stream.finished.catch(() => undefined);
  });
});
