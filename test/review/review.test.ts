/**
 * `npm run review` on the change sequences (test/sync/sequences.ts): a model bump of every environment is
 * reviewed against the current synth, and the tool answers --help with exit 0.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ModelServiceReference } from '../../charts/companions/references.js';
import { failoverResponderName } from '../../charts/constructs/scale-to-zero-failover.js';
import { environments } from '../../charts/environments/index.js';
import type { Environment } from '../../charts/environments/types.js';
import { modelCatalogue } from '../../charts/models/catalogue.js';
import { modelBumpSubject, sequencesFor, synthesizeCommit } from '../sync/sequences.js';
import { renderReview, reviewEnvironment } from '../../tools/review/review.js';

/** Companions handed a reference to `service` (env or Helm values): they restart when its model changes. */
function companionsReferencing(env: Environment, service: string): Set<string> {
  const refers = (v: unknown): boolean =>
    v instanceof ModelServiceReference ? v.service === service : typeof v === 'object' && v !== null && Object.values(v).some(refers);
  return new Set(
    Object.entries(env.companions ?? {})
      .filter(([, c]) => refers(c.source))
      .map(([n]) => n),
  );
}

const root = fileURLToPath(new URL('../..', import.meta.url));
const objectsOf = (out: ReturnType<typeof synthesizeCommit>): unknown[] => (out.kind === 'files' ? [...out.files.values()].flat() : []);

describe.each(environments.map((e) => [e.name, e] as const))('review of a model bump in %s', (_n, env) => {
  const seq = sequencesFor(env).find((s) => s.name === 'model bump and revert');
  it.runIf(seq !== undefined)('names the restart, the unavailability and the bytes of the new model, or the synth refusal', () => {
    const before = objectsOf(synthesizeCommit(env));
    const bumped = seq!.commits[0]!.edit(env)!;
    const out = synthesizeCommit(bumped);
    if (out.kind === 'refused') {
      expect(out.message).toMatch(/charts\/environments\//);
      return;
    }
    const r = reviewEnvironment(env.name, before, objectsOf(out), env, 'all passed');
    const { name, to } = modelBumpSubject(env)!;
    const svc = r.services.find((s) => s.service === name)!;
    expect(svc.restart).toMatch(/restarted/);
    expect(svc.unavailability).toMatch(/downtime|capacity|no capacity lost/);
    expect(svc.downloadBytes).toBe(modelCatalogue[to.id]!.fileBytes);
    // Every other service is untouched (negative control on the same output), but for a companion handed the
    // model's id, which restarts with it, and the scale-to-zero failover responder when the bumped service scales to
    // zero: its routes name the model, so it rolls, with nothing down.
    const referencing = companionsReferencing(env, name);
    for (const other of r.services.filter((s) => s.service !== name && !referencing.has(s.service))) {
      if (other.service === failoverResponderName && env.services[name]!.scaleToZero !== undefined) expect(other.restart).toMatch(/rolling, .*none down/);
      else expect(other.restart, other.service).toBe('no change');
    }
    const md = renderReview([r], 'test');
    expect(md).toContain(`| ${name} |`);
    expect(md).toMatch(/\| memory \|/);
  });

  it('an unchanged environment has no service changes (negative control)', () => {
    const same = objectsOf(synthesizeCommit(env));
    const r = reviewEnvironment(env.name, same, same, env, 'all passed');
    expect(r.services.every((s) => s.restart === 'no change')).toBe(true);
    expect(renderReview([r], 'test')).toContain('No service changes.');
  });

  it('an environment removal keeps its claims (Delete=false)', () => {
    const r = reviewEnvironment(env.name, objectsOf(synthesizeCommit(env)), undefined, env, 'all passed');
    for (const s of r.services) expect(s.restart).toMatch(/removed/);
    for (const s of r.services.filter((x) => x.downloads.includes('claim'))) expect(s.downloads).toContain('kept (Delete=false)');
  });
});

describe('npm run review', () => {
  // The base side reads a revision's committed dist/, the working-tree side synthesizes in memory: on a tree
  // whose charts, companions and dist/ equal HEAD the two must agree on every file, companions' subfolders
  // included (they once did not, and research's companions showed as added by every change).
  const dirty = execFileSync('git', ['status', '--porcelain', '--', 'charts', 'companions', 'dist'], { cwd: root, encoding: 'utf8' }).trim();
  it.runIf(dirty === '')(
    'reports no change for every environment when the working tree equals its base',
    () => {
      const tsx = `${root}node_modules/.bin/tsx`;
      const md = execFileSync(tsx, ['tools/review/main.ts', '--base', 'HEAD'], { cwd: root, encoding: 'utf8' });
      for (const env of environments) {
        const section = md.split(`### ${env.name}\n`)[1]?.split('\n### ')[0] ?? '';
        expect(section, `${env.name}:\n${section}`).toContain('No service changes.');
        // Rule findings are counted per environment, not summed over all of them.
        expect(section).toMatch(/Rules: (all passed|passed, \d+ warning)/);
      }
    },
    120_000,
  );

  it('--help exits 0 and an unknown option exits 2', () => {
    const tsx = `${root}node_modules/.bin/tsx`;
    expect(execFileSync(tsx, ['tools/review/main.ts', '--help'], { cwd: root, encoding: 'utf8' })).toContain('usage: npm run review');
    let code = 0;
    try {
      execFileSync(tsx, ['tools/review/main.ts', '--bogus'], { cwd: root, stdio: 'pipe' });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(2);
  });
});
