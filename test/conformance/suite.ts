/**
 * Conformance: every Deployment committed in dist/ runs the real service (and its init container)
 * under a simulated kubelet with the manifest's own command, env, probes, preStop and grace period,
 * on the random-weight test model, with every manifest duration × TIME_SCALE (timescale.ts).
 * See docs/conformance.md. Each scenario prints its timeline; a failing one carries it in the message.
 *
 * The suite is defined here and run by the shard files (shard-<k>.test.ts, shards.ts), each on the
 * Deployments of its shard, so vitest spreads them over its workers. Run every shard:
 * `npx vitest run test/conformance`; one: `npx vitest run test/conformance/shard-1.test.ts`.
 * On a busy machine raise the scale: `CONFORMANCE_TIME_SCALE=0.2 npx vitest run test/conformance`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findDeployments, type DeploymentFile } from './deployment.js';
import { createFixture, failedChecks, formatResult, type Fixture, type ScenarioResult } from './harness.js';
import { busyThenRollout, fetchChecksumMismatch, fetchDownloadThenNoop, fetchResume, gpuFallback, modelFault, slowLoad, wiring } from './scenarios.js';
import { memoryGuardDrain } from './memory-guard.js';
import { fetchSharedCache, sharedCachePods } from './shared-cache.js';
import { splitModel } from './split-model.js';
import { TIME_SCALE } from './timescale.js';
import { embeddingServing, embeddingWiring, servesEmbeddings } from './embedding.js';
import { assignShards, modelFaults, scenarioPlan } from './shards.js';
import { ensureBertTestModel } from '../../tools/test-model/bert.js';
import { resolvePod, envValue } from './deployment.js';
import { envVars } from '../../service/contract.js';

const verbose = process.env.CONFORMANCE_VERBOSE === '1';

/** Prints the timeline (env substitution notes only when verbose) and fails with the full one. */
const printed = new WeakSet<object>();

function expectConformant(r: ScenarioResult): void {
  const findings = r.checks.filter((c) => c.severity === 'finding' && !c.ok);
  // Scenarios that share a pod share a timeline: print it once.
  const text = formatResult(r, { notes: verbose });
  console.log(printed.has(r.timeline) ? `(timeline printed with the previous scenario)\n${text.slice(text.indexOf('── checks'))}\n` : `${text}\n`);
  printed.add(r.timeline);
  for (const f of findings) console.warn(`FINDING [${r.deployment} / ${r.scenario}] ${f.name}: ${f.detail}`);
  const failed = failedChecks(r).map((c) => `${c.name}: ${c.detail}`);
  expect(failed, `\n${formatResult(r)}\n`).toEqual([]);
}

/**
 * Every scenario for the Deployments of one shard (1-based, shards.ts). Fixtures are made per shard (each runs in
 * its own worker); the embedding model is trained for the largest CONTEXT_SIZE of ALL embedding Deployments, so a
 * Deployment meets the same model whichever shard it lands in (and the cached model is shared by the shards).
 */
export function conformanceSuite(shard: number): void {
  const all = findDeployments();
  const shards = assignShards(all);
  const deployments = shards[shard - 1];
  if (deployments === undefined) throw new Error(`conformance shard ${shard} does not exist: there are ${shards.length} (shards.ts)`);
  const embeddingContext = Math.max(0, ...all.filter(servesEmbeddings).map((d) => Number(envValue(resolvePod(d).containers[0]!, envVars.contextSize) ?? 0)));
  let chatFx: Fixture;
  /** Embedding Deployments run on the BERT test model, trained for the largest CONTEXT_SIZE they ask for. */
  let embeddingFx: Fixture | undefined;

  beforeAll(async () => {
    console.log(
      `conformance shard ${shard}/${shards.length}: ${deployments.length} of ${all.length} Deployments, time scale ${TIME_SCALE}: ${deployments.map((d) => d.file).join(', ')}`,
    );
    chatFx = await createFixture();
    if (embeddingContext > 0 && deployments.some(servesEmbeddings))
      embeddingFx = await createFixture(TIME_SCALE, { modelPath: await ensureBertTestModel({ contextLength: embeddingContext }) });
  });
  afterAll(async () => {
    await chatFx?.close();
    await embeddingFx?.close();
  });

  describe.each(deployments.map((d): [string, DeploymentFile] => [d.file, d]))('%s', (_file, d) => {
    const { embedding, gpu, split } = scenarioPlan(d);
    // The fixture of the model kind the manifest serves (the getter: fixtures exist once beforeAll ran).
    let fx: Fixture;
    beforeAll(() => {
      fx = embedding ? embeddingFx! : chatFx;
    });

    it('wiring: commands, env names, probe paths and ports, shutdown budget agree with the service contract', () => {
      expectConformant(wiring(d));
    });

    it('slow model load: no restart, Ready only after the load', async () => {
      expectConformant(await slowLoad(d, fx));
    });

    it.runIf(embedding)('embedding wiring: SERVICE_KIND embedding, a batch that holds a whole input, no chat-only settings', () => {
      expectConformant(embeddingWiring(d));
    });

    describe.runIf(embedding)('embedding pod (init container, then the server)', () => {
      let run: ReturnType<typeof embeddingServing> | undefined;
      const pod = (): ReturnType<typeof embeddingServing> => (run ??= embeddingServing(d, fx));

      it('long batches of embeddings through the openai client for several liveness periods: no liveness failure, no restart, Ready', async () => {
        expectConformant((await pod()).busy);
      });

      it('rollout: SIGTERM with a batch in flight: the batch completes, exit 0 within the grace period', async () => {
        expectConformant((await pod()).rollout);
      });
    });

    describe.runIf(!embedding)('serving pod (init container, then the server)', () => {
      let run: Promise<Awaited<ReturnType<typeof busyThenRollout>>> | undefined;
      // One pod for both: Ready, every sequence busy, then the rollout (the second test awaits the same run).
      const pod = (): Promise<Awaited<ReturnType<typeof busyThenRollout>>> => (run ??= busyThenRollout(d, fx));

      it('every sequence busy with long streams for several liveness periods: no liveness failure, no restart, Ready', async () => {
        expectConformant((await pod()).busy);
      });

      it('rollout: SIGTERM with streams in flight: NotReady fast, streams complete, exit 0 within the grace period', async () => {
        expectConformant((await pod()).rollout);
      });
    });

    it.runIf(!embedding)(
      'memory guard: RSS within MEMORY_GUARD_HEADROOM_MIB of the limit: NotReady, streams complete, exit 0 by itself, restarted',
      async () => {
        expectConformant(await memoryGuardDrain(d, fx));
      },
    );

    it.each(modelFaults)('model %s: startup fails clearly and fast (exit 1 with a reason), not a probe-kill loop', async (fault) => {
      expectConformant(await modelFault(d, fx, fault));
    });

    it.runIf(gpu)('GPU_LAYERS from the manifest on a machine without a GPU backend: reported, not served from the CPU silently', async () => {
      expectConformant(await gpuFallback(d, fx));
    });

    describe('init container', () => {
      it('downloads the model, and a second run is a no-op', async () => {
        expectConformant(await fetchDownloadThenNoop(d, fx));
      });

      it('resumes after a cut connection and after SIGTERM', async () => {
        expectConformant(await fetchResume(d, fx));
      });

      it('rejects a checksum mismatch and leaves nothing in the cache', async () => {
        expectConformant(await fetchChecksumMismatch(d, fx));
      });

      it(`${sharedCachePods} pods' init containers on one cache at once: one download, one verified file, the server loads it`, async () => {
        expectConformant(await fetchSharedCache(d, fx));
      });
    });

    // CPU Deployments only: the GPU ones run the same init container and load path.
    it.runIf(split)('split model: every part downloaded and verified by the init container, served from the cache', async () => {
      expectConformant(await splitModel(d, fx));
    });
  });
}
