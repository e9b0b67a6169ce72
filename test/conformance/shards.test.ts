/**
 * The conformance shards (shards.ts) cover every Deployment in dist/ exactly once, one shard file exists per shard,
 * and the shards carry close to equal work. Static: nothing is started here.
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findDeployments, type DeploymentFile } from './deployment.js';
import { assignShards, conformanceShardCount, scenarioWeight } from './shards.js';

const deployments = findDeployments();
const key = (d: DeploymentFile) => `${d.file} ${d.label}`;
const weight = (shard: readonly DeploymentFile[]) => shard.reduce((a, d) => a + scenarioWeight(d), 0);

describe('dist/', () => {
  it('holds at least one Deployment for every environment', () => {
    const byEnv = new Map<string, string[]>();
    for (const d of deployments) {
      const env = d.file.split('/')[1] ?? '?';
      byEnv.set(env, [...(byEnv.get(env) ?? []), d.label]);
    }
    expect(byEnv.size).toBeGreaterThan(0);
    // Whatever environments exist (CPU-only ones included), each synthesizes at least one Deployment to exercise.
    for (const [env, labels] of byEnv) expect(labels.length, `${env}: ${labels.join(', ')}`).toBeGreaterThan(0);
  });
});

describe('conformance shards', () => {
  it('one shard file per shard: shard-1.test.ts … shard-N.test.ts with N = conformanceShardCount', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const files = readdirSync(here)
      .filter((f) => /^shard-\d+\.test\.ts$/.test(f))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    expect(files).toEqual(Array.from({ length: conformanceShardCount }, (_, i) => `shard-${i + 1}.test.ts`));
  });

  it('every Deployment in exactly one shard, none invented', () => {
    const shards = assignShards(deployments);
    expect(shards).toHaveLength(conformanceShardCount);
    const assigned = shards.flat().map(key);
    expect(new Set(assigned).size, 'no Deployment in two shards').toBe(assigned.length);
    expect([...assigned].sort()).toEqual(deployments.map(key).sort());
    for (const [i, shard] of shards.entries()) console.log(`shard-${i + 1}: weight ${weight(shard)}: ${shard.map((d) => d.label).join(', ')}`);
  });

  it('the shards differ in weight by at most one Deployment (heaviest first onto the lightest)', () => {
    const shards = assignShards(deployments);
    const weights = shards.map(weight);
    const heaviestDeployment = Math.max(...deployments.map(scenarioWeight));
    expect(Math.max(...weights) - Math.min(...weights)).toBeLessThanOrEqual(heaviestDeployment);
    // Control: everything on one shard is as unbalanced as it gets, and the check above would catch it.
    if (deployments.length > 1 && conformanceShardCount > 1) {
      const lopsided = [deployments, ...Array.from({ length: conformanceShardCount - 1 }, () => [])].map(weight);
      expect(Math.max(...lopsided) - Math.min(...lopsided)).toBeGreaterThan(heaviestDeployment);
    }
  });

  it('is deterministic: the same Deployments in another order give the same shards', () => {
    const reversed = assignShards([...deployments].reverse());
    expect(reversed.map((s) => s.map(key))).toEqual(assignShards(deployments).map((s) => s.map(key)));
  });

  it('refuses a shard count that is not a positive integer', () => {
    expect(() => assignShards(deployments, 0)).toThrow(/positive integer/);
    expect(() => assignShards(deployments, 1.5)).toThrow(/positive integer/);
    expect(assignShards(deployments, 1)).toEqual([expect.arrayContaining(deployments)]);
  });
});
