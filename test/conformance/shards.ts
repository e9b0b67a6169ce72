/**
 * The conformance suite split into shards, so vitest can run them in parallel workers.
 *
 * One test file holds every Deployment's scenarios, and vitest parallelises by file only: the lane ran on one
 * worker while most of its time is spent waiting on scaled probe periods, grace periods and throttled downloads
 * (docs/conformance.md, "Run time"). Each `shard-<k>.test.ts` runs the scenarios of the Deployments assigned to
 * shard k; together the shards cover every Deployment in dist/ exactly once (shards.test.ts proves it).
 *
 * The assignment is computed from whatever Deployments exist, never from a list: the Deployments are dealt out
 * heaviest first (by how many scenarios apply to each, the same plan the suite runs) to the shard with the least
 * weight so far, ties broken by file name, so the shards finish close together and the result is deterministic.
 */
import type { DeploymentFile } from './deployment.js';
import { servesEmbeddings } from './embedding.js';
import { wantsGpu, type ModelFault } from './scenarios.js';

/**
 * How many shard files exist (test/conformance/shard-1.test.ts … shard-N.test.ts). Two: the CI machine has 2
 * cores and the lane runs with `--maxWorkers=2` (package.json "test"); more shards would add a fixture each and
 * more concurrent servers competing for the same cores. shards.test.ts fails if the files and this number differ.
 */
export const conformanceShardCount = 2;

/** The model faults every Deployment is started with (modelFault in scenarios.ts). */
export const modelFaults: readonly ModelFault[] = ['missing', 'checksum-mismatch', 'truncated'];

/** Which scenario groups apply to a Deployment: the one place the suite and the shard weights read it from. */
export interface ScenarioPlan {
  /** SERVICE_KIND=embedding: the embedding scenarios replace the chat ones (serving pod, memory guard, split model). */
  readonly embedding: boolean;
  /** GPU_LAYERS ≠ 0: the GPU-fallback scenario runs; the split-model one does not (same init and load path). */
  readonly gpu: boolean;
  /** A CPU chat Deployment: the split-model scenario runs. */
  readonly split: boolean;
}

export function scenarioPlan(d: DeploymentFile): ScenarioPlan {
  const embedding = servesEmbeddings(d);
  const gpu = wantsGpu(d);
  return { embedding, gpu, split: !gpu && !embedding };
}

/**
 * The number of scenarios that start processes for a Deployment (wiring checks are static and not counted):
 * slow load, the serving pod (busy and rollout count as one pod), the memory guard (chat), the model faults,
 * the GPU fallback, four init-container scenarios and the split model.
 */
export function scenarioWeight(d: DeploymentFile): number {
  const p = scenarioPlan(d);
  return 1 + 1 + (p.embedding ? 0 : 1) + modelFaults.length + (p.gpu ? 1 : 0) + 4 + (p.split ? 1 : 0);
}

/** Deployments per shard (index 0 is shard-1), heaviest first onto the lightest shard; every Deployment once. */
export function assignShards(deployments: readonly DeploymentFile[], shardCount: number = conformanceShardCount): DeploymentFile[][] {
  if (!Number.isInteger(shardCount) || shardCount < 1) throw new Error(`shard count must be a positive integer, got ${shardCount}`);
  const shards: DeploymentFile[][] = Array.from({ length: shardCount }, () => []);
  const load = new Array<number>(shardCount).fill(0);
  const order = [...deployments].sort((a, b) => scenarioWeight(b) - scenarioWeight(a) || a.file.localeCompare(b.file) || a.label.localeCompare(b.label));
  for (const d of order) {
    const lightest = load.indexOf(Math.min(...load));
    shards[lightest]!.push(d);
    load[lightest]! += scenarioWeight(d);
  }
  for (const s of shards) s.sort((a, b) => a.file.localeCompare(b.file) || a.label.localeCompare(b.label));
  return shards;
}
