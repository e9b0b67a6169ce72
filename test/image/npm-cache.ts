/**
 * The npm registry, for `npm ci` inside the sandbox: the npm cache the checkout's own `npm ci` filled,
 * offline. The sandbox's HOME gets a hard-linked copy of the host cache (npm's cacache writes content
 * files once, under their digest, and never in place: npm/cacache lib/content/write.js), so the
 * Dockerfile's RUN line runs unchanged with `npm_config_offline=true`, and its `npm cache clean --force`
 * and `rm -rf /root/.npm` remove the links, never the host's files.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export function hostNpmCache(): string {
  const result = spawnSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`npm config get cache failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** Makes `<home>/.npm` a hard-linked copy of the host npm cache (same filesystem) or a plain copy. */
export function linkNpmCache(home: string): void {
  const source = join(hostNpmCache(), '_cacache');
  if (!existsSync(source)) throw new Error(`no npm cache at ${source}: run npm ci in the checkout first (the image test installs offline from it)`);
  mkdirSync(join(home, '.npm'), { recursive: true });
  const linked = spawnSync('cp', ['-al', source, join(home, '.npm', '_cacache')], { encoding: 'utf8' });
  if (linked.status === 0) return;
  const copied = spawnSync('cp', ['-a', source, join(home, '.npm', '_cacache')], { encoding: 'utf8' });
  if (copied.status !== 0) throw new Error(`copying the npm cache failed: ${copied.stderr}`);
}
