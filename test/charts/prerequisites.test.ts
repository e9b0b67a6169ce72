import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { environments } from '../../charts/environments/index.js';
import { derivePrerequisites, prerequisitesBegin, prerequisitesEnd } from '../../charts/prerequisites.js';
import { prerequisitesDocPath } from '../../charts/synth.js';
import { committedManifests, repoRoot } from '../support/manifests.js';

/** docs/prerequisites.md's generated block against the committed manifests, read independently. */
const docs = committedManifests();
const prerequisites = derivePrerequisites(docs, environments);
const page = readFileSync(join(repoRoot, prerequisitesDocPath), 'utf8');
const block = page.slice(page.indexOf(prerequisitesBegin), page.indexOf(prerequisitesEnd));

describe('docs/prerequisites.md', () => {
  it('holds the generated block, under its title, and the README links to it', () => {
    expect(page.indexOf('# Prerequisites')).toBe(0);
    expect(page.indexOf(prerequisitesBegin)).toBeGreaterThan(0);
    expect(readFileSync(join(repoRoot, 'README.md'), 'utf8')).toContain(`](${prerequisitesDocPath})`);
  });

  it('list every Secret a committed object references, in its namespace', () => {
    const referenced = new Set<string>();
    for (const { object } of docs) {
      const text = JSON.stringify(object);
      // A TLS Secret cert-manager issues is not created by hand: it is listed with cert-manager instead.
      const issued = object.kind === 'Ingress' && Object.keys(object.metadata.annotations ?? {}).some((k) => k.startsWith('cert-manager.io/'));
      if (issued) {
        for (const t of object.spec.tls ?? [])
          expect(
            prerequisites.controllers.some((c) => c.what.startsWith('cert-manager') && c.why.includes(`\`${t.secretName}\``)),
            t.secretName,
          ).toBe(true);
        continue;
      }
      for (const m of text.matchAll(/"secretKeyRef":\{"key":"[^"]*","name":"([^"]+)"/g)) referenced.add(`${object.metadata.namespace}/${m[1]}`);
      for (const m of text.matchAll(/"secretName":"([^"]+)"/g)) referenced.add(`${object.metadata.namespace}/${m[1]}`);
    }
    expect(referenced.size).toBeGreaterThan(0);
    expect(prerequisites.secrets.map((s) => `${s.namespace}/${s.name}`).sort()).toEqual([...referenced].sort());
    for (const s of prerequisites.secrets) expect(block).toContain(`| \`${s.namespace}\` | \`${s.name}\` |`);
  });

  it('name every CRD-typed kind by the CRD that serves it (checked against the CRD files)', () => {
    const crdDir = join(repoRoot, 'crds');
    const served = new Map(
      readdirSync(crdDir)
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => {
          const crd = parse(readFileSync(join(crdDir, f), 'utf8')) as { metadata: { name: string }; spec: { names: { kind: string } } };
          return [crd.spec.names.kind, crd.metadata.name] as const;
        }),
    );
    const kinds = [
      ...new Set(
        docs
          .filter(
            (d) =>
              !['v1', 'apps/v1', 'policy/v1', 'policy/v1beta1', 'autoscaling/v2', 'networking.k8s.io/v1', 'rbac.authorization.k8s.io/v1'].includes(
                d.object.apiVersion,
              ),
          )
          .map((d) => d.object.kind),
      ),
    ];
    expect(kinds.length).toBeGreaterThan(0);
    for (const kind of kinds) {
      const entry = prerequisites.crds.find((c) => c.kinds.includes(kind));
      expect(entry?.name, kind).toBe(served.get(kind));
      expect(block).toContain(`\`${entry!.name}\``);
    }
  });

  it('state the minimum Kubernetes version as the newest field in use, and it moves when that field goes', () => {
    expect(block).toContain(`**Kubernetes ${prerequisites.minimumKubernetes.version} or newer**, set by \`${prerequisites.minimumKubernetes.field}\``);
    const top = prerequisites.minimumKubernetes;
    const versions = prerequisites.versionedFields.map((f) => Number(f.version.split('.')[1]));
    expect(Number(top.version.split('.')[1])).toBe(Math.max(...versions));
    // Without the PDB field the next newest one sets the floor: the figure is derived, not typed.
    const withoutPdbPolicy = docs.map((d) =>
      d.object.kind === 'PodDisruptionBudget' ? { ...d, object: { ...d.object, spec: { ...d.object.spec, unhealthyPodEvictionPolicy: undefined } } } : d,
    );
    const lower = derivePrerequisites(withoutPdbPolicy, environments).minimumKubernetes;
    if (top.field.includes('unhealthyPodEvictionPolicy')) expect(Number(lower.version.split('.')[1])).toBeLessThan(Number(top.version.split('.')[1]));
  });

  it('list the clusters every Application targets and the namespaces the NetworkPolicies name', () => {
    for (const app of docs.filter((d) => d.object.kind === 'Application' && d.object.spec.destination.name)) {
      expect(block).toContain(`| \`${app.object.spec.destination.name}\` |`);
    }
    for (const np of docs.filter((d) => d.object.kind === 'NetworkPolicy')) {
      for (const m of JSON.stringify(np.object.spec).matchAll(/"kubernetes.io\/metadata.name":"([^"]+)"/g)) {
        if (m[1] !== np.object.metadata.namespace) expect(block).toContain(`| \`${m[1]}\` |`);
      }
    }
  });
});
