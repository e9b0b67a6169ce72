/**
 * Conformance of an embedding service (SERVICE_KIND=embedding in the manifest): the synthesized Deployment
 * runs the real service on the random-weight BERT model (tools/test-model/bert.ts) under the kubelet
 * simulation. The pod starts, becomes Ready, answers /v1/embeddings through the official `openai` client
 * with vectors of the model's own dimension, survives liveness through long batches of embeddings (the
 * one embedding context busy and a request queued behind it), and drains an in-flight batch on SIGTERM.
 * Every number (probe schedule, CONTEXT_SIZE, MAX_QUEUE, timeouts, grace) comes from the manifest.
 */
import OpenAI from 'openai';
import { chatOnlyEnvVars, envVars } from '../../service/contract.js';
import { bodyLimitFor } from '../../service/inference/input-bounds.js';
import { readGguf } from '../../tools/test-model/gguf.js';
import { envValue, resolvePod, type DeploymentFile } from './deployment.js';
import { Checks, createPod, fmtS, startupWindowMs, type Fixture, type PodUnderTest, type ScenarioResult } from './harness.js';
import { Timeline } from './timeline.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** True when the manifest's server runs as an embedding service. */
export function servesEmbeddings(d: DeploymentFile): boolean {
  const server = resolvePod(d).containers[0];
  return server !== undefined && envValue(server, envVars.serviceKind) === 'embedding';
}

/** The manifest asks for embeddings and says nothing a chat service alone would read. */
export function embeddingWiring(d: DeploymentFile): ScenarioResult {
  const server = resolvePod(d).containers[0]!;
  const timeline = new Timeline(`${d.label} (${d.file}) — embedding wiring`);
  const c = new Checks();
  const context = Number(envValue(server, envVars.contextSize));
  const batch = Number(envValue(server, envVars.batchSize));
  c.must('SERVICE_KIND is embedding', envValue(server, envVars.serviceKind) === 'embedding', envValue(server, envVars.serviceKind) ?? '(unset)');
  c.must('BATCH_SIZE holds a whole input (>= CONTEXT_SIZE)', batch >= context, `BATCH_SIZE ${batch}, CONTEXT_SIZE ${context}`);
  const chatOnly = chatOnlyEnvVars.filter((name) => envValue(server, name) !== undefined);
  c.must('no chat-only settings', chatOnly.length === 0, chatOnly.join(', ') || `none of ${chatOnlyEnvVars.join(', ')}`);
  return { scenario: 'embedding wiring', deployment: d.label, timeline, checks: c.list, facts: {} };
}

function clientFor(p: PodUnderTest): OpenAI {
  // No SDK retries: a 429 or 5xx must show in the checks, not be papered over.
  return new OpenAI({ baseURL: `${p.kubelet.baseUrl}/v1`, apiKey: p.apiKey ?? 'unused', maxRetries: 0, timeout: 120_000 });
}

/** Inputs of about `tokens` WordPiece tokens each (one short word is one token of the bge vocabulary). */
function inputs(count: number, tokens: number, salt: string): string[] {
  return Array.from(
    { length: count },
    (_, i) => `${salt} ${i} ${Array.from({ length: tokens }, (_, j) => ['river', 'stone', 'light', 'green', 'paper'][(i + j) % 5]).join(' ')}`,
  );
}

interface BatchOutcome {
  ok: boolean;
  vectors: number;
  dimension: number | undefined;
  ms: number;
  error?: string;
}

async function embedBatch(client: OpenAI, model: string, batch: string[]): Promise<BatchOutcome> {
  const t0 = performance.now();
  try {
    const res = await client.embeddings.create({ model, input: batch, encoding_format: 'float' });
    return { ok: true, vectors: res.data.length, dimension: res.data[0]?.embedding.length, ms: performance.now() - t0 };
  } catch (err) {
    const e = err as { status?: number; message?: string };
    return { ok: false, vectors: 0, dimension: undefined, ms: performance.now() - t0, error: `${e.status ?? ''} ${e.message ?? String(err)}`.trim() };
  }
}

/**
 * One pod: Ready, then two clients send long batches of embeddings back to back for `periods` liveness
 * periods (one runs, one waits in the queue), then the pod is deleted with a batch in flight.
 */
export async function embeddingServing(
  d: DeploymentFile,
  fx: Fixture,
  opts: { periods?: number } = {},
): Promise<{ busy: ScenarioResult; rollout: ScenarioResult }> {
  const p = await createPod(d, fx, 'embedding pod: long batches under liveness, then a rollout');
  const cb = new Checks();
  const cr = new Checks();
  const busyFacts: ScenarioResult['facts'] = {};
  const rolloutFacts: ScenarioResult['facts'] = {};
  const k = p.kubelet;
  const now = (): number => p.timeline.now();
  try {
    await k.start();
    await k.waitFor(() => k.ready || k.restarts > 0 || k.stoppedRestarting, startupWindowMs(k, p.server) * 2 + 20_000);
    cb.must('Ready', k.ready, `ready=${k.ready}, restarts=${k.restarts}`);
    if (!k.ready) {
      cr.must('Ready before the rollout', false, 'never became Ready');
      return { busy: result(p, 'embeddings under liveness', d, cb, busyFacts), rollout: result(p, 'embedding rollout', d, cr, rolloutFacts) };
    }
    const client = clientFor(p);
    const dimension = Number(
      readGguf(fx.modelPath).metadata.get(`${String(readGguf(fx.modelPath).metadata.get('general.architecture')?.value)}.embedding_length`)?.value,
    );
    const models = await client.models.list();
    const model = models.data[0]?.id ?? '';
    cb.must('GET /v1/models names the served model', model !== '', model || 'no model listed');

    // Long inputs (half the context) in batches sized to take about one liveness period each.
    const inputTokens = Math.max(8, Math.floor(p.contextSize / 2) - 16);
    const probe = await embedBatch(client, model, inputs(4, inputTokens, 'probe'));
    const msPerInput = Math.max(1, probe.ms / 4);
    const livePeriod = k.ms(p.server.livenessProbe?.periodSeconds ?? 10);
    // At most what one request may carry under the service's body limit (bodyLimitFor(CONTEXT_SIZE), 413 beyond it).
    const bodyLimit = bodyLimitFor(p.contextSize);
    const maxPerRequest = Math.max(1, Math.floor((bodyLimit - 1024) / (Buffer.byteLength(JSON.stringify(inputs(1, inputTokens, 'w0b0')[0])) + 1)));
    const perBatch = Math.max(1, Math.min(maxPerRequest, Math.max(4, Math.min(2048, Math.round(livePeriod / msPerInput)))));
    const periods = opts.periods ?? 4;
    const phaseMs = periods * livePeriod;
    p.timeline.add(
      'client',
      `load phase: 2 clients × batches of ${perBatch} inputs of ~${inputTokens} tokens (≈${fmtS(perBatch * msPerInput)} each at ${msPerInput.toFixed(1)} ms/input), for ${periods} liveness periods (${fmtS(phaseMs)})`,
    );
    const phaseStart = now();
    const outcomes: BatchOutcome[] = [probe];
    const workers = [0, 1].map(async (w) => {
      let n = 0;
      while (now() - phaseStart < phaseMs && !k.stoppedRestarting) {
        outcomes.push(await embedBatch(client, model, inputs(perBatch, inputTokens, `w${w}b${n++}`)));
      }
    });
    await Promise.all(workers);
    const phaseEnd = now();
    const liveness = k.probes.filter((r) => r.probe === 'liveness' && r.sentAt >= phaseStart && r.sentAt <= phaseEnd);
    const readinessFailed = k.probes.filter((r) => r.probe === 'readiness' && r.sentAt >= phaseStart && r.sentAt <= phaseEnd && !r.outcome.ok);
    const failed = outcomes.filter((o) => !o.ok);
    const vectors = outcomes.reduce((n, o) => n + o.vectors, 0);
    p.timeline.add('client', `load phase over: ${outcomes.length} requests, ${vectors} vectors, ${failed.length} failed`);
    cb.must(
      'every request answered 200 through the openai client',
      failed.length === 0,
      failed.map((f) => f.error).join('; ') || `${outcomes.length} requests`,
    );
    cb.must(
      `every vector has the model's dimension (${dimension})`,
      outcomes.every((o) => !o.ok || o.dimension === dimension),
      [...new Set(outcomes.map((o) => o.dimension))].join(', '),
    );
    cb.must('liveness probed through the phase', liveness.length >= periods - 1, `${liveness.length} liveness probes in ${fmtS(phaseEnd - phaseStart)}`);
    cb.must(
      'zero liveness failures',
      liveness.every((r) => r.outcome.ok),
      `${liveness.filter((r) => !r.outcome.ok).length} of ${liveness.length} failed`,
    );
    cb.must('zero restarts', k.restarts === 0, `restarts=${k.restarts}`);
    cb.must('readiness stayed true', readinessFailed.length === 0 && k.ready, `${readinessFailed.length} readiness failures`);
    Object.assign(busyFacts, { requests: outcomes.length, vectors, perBatch, msPerInput: Math.round(msPerInput * 10) / 10, livenessProbes: liveness.length });

    // Rollout: a batch sized to outlast preStop and a readiness period, at most half the scaled shutdown grace.
    const preStopMs = p.server.preStop?.[0] === 'sleep' ? k.ms(Number(p.server.preStop[1])) : 0;
    const shutdownGraceMs = Number(p.local.get(p.server.name)?.env[envVars.shutdownGraceMs] ?? 20_000);
    const targetMs = Math.min(shutdownGraceMs * 0.5, (preStopMs + k.ms(p.server.readinessProbe?.periodSeconds ?? 5) + 500) * 1.5);
    const wanted = Math.max(4, Math.min(2048, Math.round(targetMs / msPerInput)));
    // One request carries only what the service's body limit admits (bodyLimitFor(CONTEXT_SIZE), a 413 beyond
    // it); a longer batch goes as several requests at once (one runs, the rest wait in the queue, within MAX_QUEUE).
    const env = p.local.get(p.server.name)?.env ?? {};
    const rolloutBodyLimit = bodyLimitFor(Number(env[envVars.contextSize] ?? 512));
    const bytesPerInput = Buffer.byteLength(JSON.stringify(inputs(1, inputTokens, 'rollout-0')[0])) + 1;
    const perRequest = Math.max(1, Math.floor((rolloutBodyLimit - 1024) / bytesPerInput));
    const requests = Math.max(1, Math.min(1 + Number(env[envVars.maxQueue] ?? 0), Math.ceil(wanted / perRequest)));
    const sizes = Array.from({ length: requests }, (_, i) => Math.min(perRequest, wanted - i * perRequest)).filter((n) => n > 0);
    const rolloutBatch = sizes.reduce((a, b) => a + b, 0);
    p.timeline.add(
      'client',
      `rollout batch: ${rolloutBatch} inputs in ${sizes.length} request(s) of at most ${perRequest} (body limit ${rolloutBodyLimit} bytes) ≈ ${fmtS(rolloutBatch * msPerInput)} (target ${fmtS(targetMs)})`,
    );
    const inFlight = Promise.all(sizes.map((n, r) => embedBatch(client, model, inputs(n, inputTokens, `rollout-${r}`))));
    await sleep(Math.min(200, targetMs / 4));
    const term = await k.terminate();
    const rolloutOutcomes = await inFlight;
    const rolloutVectors = rolloutOutcomes.reduce((a, o) => a + o.vectors, 0);
    const rolloutFailed = rolloutOutcomes.find((o) => !o.ok);
    p.timeline.add(
      'client',
      `in-flight batch ended: ${rolloutFailed ? rolloutFailed.error : `${rolloutVectors} vectors`} after ${fmtS(Math.max(...rolloutOutcomes.map((o) => o.ms)))}`,
    );
    cr.must(
      'the in-flight batch completed (200, every vector)',
      !rolloutFailed && rolloutVectors === rolloutBatch,
      rolloutFailed ? (rolloutFailed.error ?? 'failed') : `${rolloutVectors} of ${rolloutBatch}`,
    );
    cr.must(
      'exit 0 before the grace period ends',
      term !== undefined && term.exitCode === 0 && term.exitedBeforeDeadline && !term.sigkilled,
      term
        ? `exit ${term.exitCode ?? term.signal} ${fmtS((term.exitedAt ?? 0) - term.sigtermAt)} after SIGTERM, deadline ${fmtS(term.deadlineAt - term.sigtermAt)}`
        : 'the container had already exited',
    );
    Object.assign(rolloutFacts, { rolloutBatch, exitAfterSigterm: fmtS(term ? (term.exitedAt ?? 0) - term.sigtermAt : undefined) });
  } finally {
    await p.close();
  }
  return { busy: result(p, 'embeddings under liveness', d, cb, busyFacts), rollout: result(p, 'embedding rollout', d, cr, rolloutFacts) };
}

function result(p: { timeline: Timeline }, scenario: string, d: DeploymentFile, checks: Checks, facts: ScenarioResult['facts']): ScenarioResult {
  return { scenario, deployment: d.label, timeline: p.timeline, checks: checks.list, facts };
}
