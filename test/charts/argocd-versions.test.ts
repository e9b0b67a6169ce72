import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { argoCdFeatures, minimumArgoCd } from '../../charts/gitops/argocd-versions.js';
import { synthesizeAll } from '../../charts/synth.js';
import { parseAllDocuments } from 'yaml';

/* eslint-disable @typescript-eslint/no-explicit-any -- synthesized objects are read as plain JSON */
const output = synthesizeAll();
const objects: any[] = [...output.files.entries()]
  .filter(([f]) => /\.ya?ml$/.test(f))
  .flatMap(([, text]) => parseAllDocuments(text).map((d) => d.toJSON()))
  .filter((o) => o && typeof o === 'object');

describe('minimum Argo CD version', () => {
  it('follows from the newest feature the generated objects use, and docs/prerequisites.md states it', () => {
    const min = minimumArgoCd(objects);
    expect(min).toBeDefined();
    const newest = [...min!.used].sort((a, b) => b.since.localeCompare(a.since, undefined, { numeric: true }))[0]!;
    expect(min!.version).toBe(newest.since);
    expect(readFileSync(new URL('../../docs/prerequisites.md', import.meta.url), 'utf8')).toContain(`Argo CD ${min!.version} or newer`);
  });

  it('every feature is detected on an object that uses it, and not on one that does not (negative control)', () => {
    const project = { kind: 'AppProject', spec: { clusterResourceWhitelist: [{ group: '', kind: 'Namespace', name: 'llm' }] } };
    const bareProject = { kind: 'AppProject', spec: { clusterResourceWhitelist: [{ group: '', kind: 'Namespace' }] } };
    const annotated = (opts: string) => ({ kind: 'PersistentVolumeClaim', metadata: { annotations: { 'argocd.argoproj.io/sync-options': opts } } });
    const app = { kind: 'Application', spec: { syncPolicy: { syncOptions: ['RespectIgnoreDifferences=true'] } } };
    expect(minimumArgoCd([project])?.version).toBe('v3.3.0');
    expect(minimumArgoCd([bareProject])).toBeUndefined();
    expect(minimumArgoCd([annotated('Prune=false, Delete=false')])?.version).toBe('v2.7.0');
    expect(minimumArgoCd([app])?.version).toBe('v2.3.0');
    for (const f of argoCdFeatures) expect(f.source.length, f.what).toBeGreaterThan(0);
  });
});

/** Every field path of an object that the CRD's openAPIV3Schema does not declare (a pruned field). */
function undeclared(schema: any, value: any, path = ''): string[] {
  if (schema === undefined || value === null || typeof value !== 'object') return [];
  if (schema['x-kubernetes-preserve-unknown-fields'] === true) return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => undeclared(schema.items, v, `${path}[${i}]`));
  const props = schema.properties;
  if (!props) return [];
  return Object.entries(value).flatMap(([k, v]) => (props[k] === undefined ? [`${path}.${k}`] : undeclared(props[k], v, `${path}.${k}`)));
}

// The repository's own copies (crds/SOURCES.md records project, path and revision).
const crdDir = new URL('../../crds/', import.meta.url);

describe('Argo CD objects against the Argo CD CRDs in crds/ (argo-cd manifests/crds, stable)', () => {
  for (const [kind, file] of [
    ['AppProject', 'argoproj.io_appproject-crd.yaml'],
    ['Application', 'argoproj.io_application-crd.yaml'],
  ] as const) {
    it(`every field of every generated ${kind} is declared by the CRD (none would be pruned)`, () => {
      const crd = parseAllDocuments(readFileSync(new URL(file, crdDir), 'utf8'))[0]!.toJSON();
      const schema = crd.spec.versions.find((v: any) => v.name === 'v1alpha1').schema.openAPIV3Schema;
      const generated = objects.filter((o) => o.kind === kind);
      expect(generated.length).toBeGreaterThan(0);
      for (const o of generated) expect(undeclared(schema, { spec: o.spec, metadata: {} }), `${kind} ${o.metadata.name}`).toEqual([]);
      // Negative control: a field the CRD does not have is reported.
      expect(undeclared(schema, { spec: { ...generated[0].spec, notAField: 1 } })).toEqual(['.spec.notAField']);
    });
  }
});
