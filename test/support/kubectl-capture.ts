/**
 * What the cluster-capture tests share: ClusterFacts from in-memory kubectl Lists, and a stand-in `kubectl` on
 * PATH that logs every call and answers from files, so a live capture (`--context`) runs its real command lines.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { factsFromKubectl } from '../../charts/clusters/capture.js';
import type { ClusterFacts } from '../../charts/clusters/facts.js';

/** ClusterFacts from a main List and, when given, an add-ons List; errors name `resources.json` / `addons.json`. */
export function factsOf(version: unknown, main: unknown, addons?: unknown): ClusterFacts {
  return factsFromKubectl({
    version,
    versionFrom: 'version.json',
    list: main,
    listFrom: 'resources.json',
    capturedFrom: 'test',
    capturedAt: 'now',
    ...(addons !== undefined ? { addons, addonsFrom: 'addons.json' } : {}),
  });
}

/** The facts JSON inside a file `cluster:capture` wrote. */
export function capturedFactsOf(text: string): ClusterFacts {
  return JSON.parse(text.slice(text.indexOf('= {') + 2, text.lastIndexOf('};') + 1)) as ClusterFacts;
}

/**
 * Runs `body` with a stand-in kubectl first on PATH. `answers` maps the first word after `get` (`nodes,...` is
 * matched by its first kind) to the file it prints; `version` prints `version.json`. Returns the logged calls.
 */
export function withStandInKubectl(dir: string, answers: Readonly<Record<string, string>>, body: () => void): string[] {
  const work = mkdtempSync(join(tmpdir(), 'stand-in-kubectl-'));
  const log = join(work, 'calls.log');
  const cases = Object.entries(answers)
    .map(([kind, file]) => `${kind === '*' ? '*' : `${kind}|${kind},*`}) cat '${join(dir, file)}' ;;`)
    .join(' ');
  writeFileSync(
    join(work, 'kubectl'),
    [
      '#!/bin/sh',
      `echo "$*" >> '${log}'`,
      'case "$3" in',
      `  version) cat '${join(dir, 'version.json')}' ;;`,
      `  get) case "$4" in ${cases} esac ;;`,
      'esac',
      '',
    ].join('\n'),
  );
  chmodSync(join(work, 'kubectl'), 0o755);
  writeFileSync(log, '');
  const path = process.env.PATH;
  process.env.PATH = `${work}:${path ?? ''}`;
  try {
    body();
    return readFileSync(log, 'utf8').trim().split('\n');
  } finally {
    process.env.PATH = path;
    rmSync(work, { recursive: true, force: true });
  }
}
