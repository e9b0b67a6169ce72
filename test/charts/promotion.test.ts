import { describe, expect, it } from 'vitest';
import { environments, gitops } from '../../charts/environments/index.js';
import { checkEnvironmentRevisions, environmentRevision } from '../../charts/gitops/argocd.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { synthesizeAll } from '../../charts/synth.js';
import { parse, parseAllDocuments } from 'yaml';

const output = synthesizeAll();

describe('promotion: each environment tracks its own revision, set in charts/site.ts', () => {
  it.each(environments.map((e) => [e.name] as const))('the Application of %s tracks environmentRevision()', (name) => {
    const app = parse(output.files.get(`argocd/${name}.yaml`) ?? '');
    expect(app.spec.source.targetRevision).toBe(environmentRevision(gitops, name));
  });

  it('the root Application tracks targetRevision', () => {
    const root = parseAllDocuments(output.files.get('argocd/bootstrap.yaml') ?? '')
      .map((d) => d.toJSON())
      .find((o) => o?.kind === 'Application');
    expect(root.spec.source.targetRevision).toBe(gitops.targetRevision);
  });

  it('refuses a key that names no environment, with the file, the field and the fix (negative control: known names pass)', () => {
    const names = environments.map((e) => e.name);
    expect(() => checkEnvironmentRevisions({ environmentRevisions: Object.fromEntries(names.map((n) => [n, 'release'])) }, names)).not.toThrow();
    let err: unknown;
    try {
      checkEnvironmentRevisions({ environmentRevisions: { prodution: 'release' } }, names);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChartConfigError);
    expect((err as Error).message).toContain('charts/site.ts');
    expect((err as Error).message).toContain('environmentRevisions.prodution');
    expect(() => checkEnvironmentRevisions({ environmentRevisions: { [names[0]!]: 'bad revision' } }, names)).toThrow(/not a branch, tag or commit/);
  });
});
