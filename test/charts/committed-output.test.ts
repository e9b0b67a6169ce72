import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedDocPaths, listFiles, synthesizeAll } from '../../charts/synth.js';
import { committedManifests, repoRoot, validateSchema } from '../support/manifests.js';

describe('committed dist/ and argocd/', () => {
  const output = synthesizeAll();

  it('equal a fresh synth byte for byte (run `npm run synth` and commit when this fails)', () => {
    const committed = [...listFiles(repoRoot, 'dist'), ...listFiles(repoRoot, 'argocd'), ...generatedDocPaths].sort();
    expect(committed).toEqual([...output.files.keys()].sort());
    for (const [path, yaml] of output.files) {
      expect(readFileSync(join(repoRoot, path), 'utf8'), path).toBe(yaml);
    }
  });

  it('validate against the Kubernetes, Argo CD and prometheus-operator schemas offline', () => {
    const docs = committedManifests();
    expect(docs.length).toBeGreaterThan(20);
    for (const { file, object } of docs) {
      expect(() => validateSchema(object), `${file}: ${object.kind}/${object.metadata.name}`).not.toThrow();
    }
  });

  it('schema validation rejects a malformed object (the check can fail)', () => {
    const deployment = committedManifests().find((d) => d.object.kind === 'Deployment');
    expect(deployment).toBeDefined();
    const broken = structuredClone(deployment!.object);
    broken.spec.replicas = 'two';
    expect(() => validateSchema(broken)).toThrow();
    expect(() => validateSchema({ ...broken, kind: 'Unknown' })).toThrow(/no offline schema/);
  });
});
