import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/manifests.js';

/**
 * package.json `engines.node` is a promise about every installed package: each Node version it
 * admits must be one each dependency's own `engines.node` admits (the lockfile records them).
 */
const semver = createRequire(import.meta.url)('semver') as {
  subset(sub: string, dom: string): boolean;
  satisfies(v: string, range: string): boolean;
  minVersion(range: string): { version: string } | null;
};
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
};

describe('engines', () => {
  const declared = Object.entries(lock.packages).flatMap(([path, p]) => {
    const range = !Array.isArray(p.engines) ? p.engines?.node : undefined;
    return path !== '' && range ? [{ name: `${path.replace(/^.*node_modules\//, '')}@${p.version}`, range }] : [];
  });

  it('package.json and the lockfile state the same Node range', () => {
    expect(lock.packages['']?.engines).toEqual(pkg.engines);
  });

  it('every dependency runs on every Node version package.json admits', () => {
    expect(declared.length).toBeGreaterThan(50);
    const broken = declared.filter((d) => !semver.subset(pkg.engines.node, d.range)).map((d) => `${d.name} needs node ${d.range}`);
    expect(broken).toEqual([]);
  });

  it('the README states the same minimum, and the Node running the tests is admitted', () => {
    const min = semver.minVersion(pkg.engines.node)!.version;
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    expect(readme).toContain(`Node.js ${pkg.engines.node}`);
    expect(semver.satisfies(process.versions.node, pkg.engines.node), `node ${process.versions.node}`).toBe(true);
    expect(min.startsWith('20.')).toBe(true);
  });
});
