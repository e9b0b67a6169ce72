import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prometheusOf } from '../../charts/clusters/prometheus.js';
import { bootstrapFile, gitopsDir } from '../../charts/gitops/argocd.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { environments } from '../../charts/environments/index.js';
import type { Environment } from '../../charts/environments/types.js';
import { synthesizeAll } from '../../charts/synth.js';
import { committedManifests, repoRoot, type K8sObject, type ManifestDoc } from '../support/manifests.js';

/**
 * Sync order and Argo CD objects, asserted over whatever environments and services dist/ holds.
 * Waves follow gitops-engine (pkg/sync/sync_context.go: wave N+1 waits for every object of wave N
 * to be Healthy; pkg/health/health_pvc.go: a Pending claim is Progressing).
 */
const docs = committedManifests();
const waveOf = (o: K8sObject): number => Number(o.metadata.annotations?.['argocd.argoproj.io/sync-wave'] ?? 0);
const envDirs = [...new Set(docs.filter((d) => d.file.startsWith('dist/')).map((d) => d.file.split('/')[1]!))];
const argo = docs.filter((d) => d.file.startsWith(`${gitopsDir}/`)).map((d) => d.object);
const applications = argo.filter((o) => o.kind === 'Application');
const projects = argo.filter((o) => o.kind === 'AppProject');
const environmentOf = (dir: string): Environment => {
  const env = environments.find((e) => e.name === dir);
  if (!env) throw new Error(`dist/${dir} has no environment in charts/environments/index.ts`);
  return env;
};

describe.each(envDirs)('dist/%s', (dir) => {
  const objects: ManifestDoc[] = docs.filter((d) => d.file.startsWith(`dist/${dir}/`));
  const of = (kind: string): K8sObject[] => objects.filter((d) => d.object.kind === kind).map((d) => d.object);

  it('applies the Namespace strictly first', () => {
    const [ns, ...more] = of('Namespace');
    expect(ns).toBeDefined();
    expect(more).toHaveLength(0);
    for (const o of objects.filter((d) => d.object.kind !== 'Namespace')) expect(waveOf(o.object), `${o.file} ${o.object.kind}`).toBeGreaterThan(waveOf(ns!));
  });

  it('puts every claim in the wave of the Deployment that mounts it, never earlier', () => {
    for (const dep of of('Deployment')) {
      const claims = (dep.spec.template.spec.volumes ?? []).flatMap((v: { persistentVolumeClaim?: { claimName: string } }) =>
        v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : [],
      );
      for (const claimName of claims) {
        const pvc = of('PersistentVolumeClaim').find((p) => p.metadata.name === claimName);
        expect(pvc, `${dep.metadata.name} mounts ${claimName}`).toBeDefined();
        expect(waveOf(pvc!)).toBe(waveOf(dep));
      }
    }
    // And no claim is left in a wave of its own, waiting for a pod that comes later.
    for (const pvc of of('PersistentVolumeClaim')) expect(Math.max(...of('Deployment').map(waveOf))).toBeLessThanOrEqual(waveOf(pvc));
  });

  it('applies monitoring before the workload, beside the ServiceAccount and NetworkPolicy', () => {
    const monitoring = [...of('ServiceMonitor'), ...of('PrometheusRule')];
    expect(monitoring.length).toBeGreaterThan(0);
    const firstWorkload = Math.min(...of('Deployment').map(waveOf));
    for (const m of monitoring) {
      expect(waveOf(m), `${m.kind}/${m.metadata.name}`).toBeLessThan(firstWorkload);
      expect(waveOf(m)).toBe(waveOf(of('ServiceAccount').find((s) => s.metadata.name === m.metadata.name)!));
    }
  });

  it("labels monitoring objects with the selectors of the cluster's Prometheus", () => {
    const prometheus = prometheusOf(environmentOf(dir).cluster);
    for (const sm of of('ServiceMonitor')) expect(sm.metadata.labels).toMatchObject(prometheus.serviceMonitorSelector);
    for (const rule of of('PrometheusRule')) expect(rule.metadata.labels).toMatchObject(prometheus.ruleSelector);
    // The model services' policies (cdk8s-managed); a companion's own policy admits what the companion serves, and the
    // scale-to-zero failover responder's only the interceptor (test/charts/scale-to-zero-failover.test.ts).
    const modelPolicy = (o: K8sObject): boolean =>
      o.metadata.labels?.['app.kubernetes.io/managed-by'] === 'cdk8s' && o.metadata.labels['app.kubernetes.io/component'] !== 'failover';
    for (const np of of('NetworkPolicy').filter(modelPolicy)) {
      const peers = np.spec.ingress.flatMap((r: { from: unknown[] }) => r.from);
      if (!peers.some((p: { ipBlock?: unknown }) => p.ipBlock))
        expect(peers).toContainEqual({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': prometheus.namespace } } });
    }
  });

  it('keeps namespace on every alert expression', () => {
    for (const rule of of('PrometheusRule')) {
      for (const r of rule.spec.groups.flatMap((g: { rules: { alert: string; expr: string }[] }) => g.rules)) {
        expect(r.expr, r.alert).toContain(`namespace="${rule.metadata.namespace}"`);
        for (const by of r.expr.matchAll(/by \(([^)]*)\)/g))
          expect(
            String(by[1])
              .split(',')
              .map((l: string) => l.trim()),
            `${r.alert}: ${by[0]}`,
          ).toContain('namespace');
      }
    }
  });

  it('is synced by an Application whose project permits every object in it', () => {
    const env = environmentOf(dir);
    const app = applications.find((a) => a.spec.source.path === `dist/${dir}`);
    expect(app).toBeDefined();
    const project = projects.find((p) => p.metadata.name === app!.spec.project);
    expect(project).toBeDefined();
    expect(project!.spec.destinations).toContainEqual({ name: app!.spec.destination.name, namespace: env.namespace });
    for (const { object } of objects) {
      const group = object.apiVersion.includes('/') ? object.apiVersion.split('/')[0] : '';
      if (object.kind === 'Namespace' || object.kind === 'PodSecurityPolicy') {
        // Cluster-scoped: allowed by name only, and written without a namespace.
        expect(object.metadata.namespace).toBeUndefined();
        expect(project!.spec.clusterResourceWhitelist).toContainEqual({ group, kind: object.kind, name: object.metadata.name });
      } else {
        expect(object.metadata.namespace).toBe(env.namespace);
        expect(project!.spec.namespaceResourceWhitelist, `${object.kind}`).toContainEqual({ group, kind: object.kind });
      }
    }
  });
});

describe('argocd/', () => {
  it("restricts the environments' project to their namespaces and shows their ReplicaSets, Pods and Events", () => {
    for (const app of applications.filter((a) => a.spec.source.path?.startsWith('dist/') === true)) {
      const project = projects.find((p) => p.metadata.name === app.spec.project)!;
      // Companions' Applications share their environment's destination: each namespace once.
      const namespaces = [...new Set(applications.filter((a) => a.spec.project === project.metadata.name).map((a) => a.spec.destination.namespace))];
      expect(project.spec.destinations.map((d: { namespace: string }) => d.namespace).sort()).toEqual(namespaces.sort());
      // Cluster-scoped: only those Namespaces and the PodSecurityPolicies in dist/, each by name (no wildcard, no bare kind).
      const clusterScoped = project.spec.clusterResourceWhitelist as Array<{ group: string; kind: string; name?: string }>;
      expect(
        clusterScoped
          .filter((c) => c.kind === 'Namespace')
          .map((c) => c.name)
          .sort(),
      ).toEqual(namespaces.sort());
      const policies = docs.filter((d) => d.file.startsWith('dist/') && d.object.kind === 'PodSecurityPolicy').map((d) => d.object.metadata.name);
      expect(
        clusterScoped
          .filter((c) => c.kind === 'PodSecurityPolicy')
          .map((c) => c.name)
          .sort(),
      ).toEqual(policies.sort());
      for (const c of clusterScoped)
        expect([
          { group: '', kind: 'Namespace' },
          { group: 'policy', kind: 'PodSecurityPolicy' },
        ]).toContainEqual({ group: c.group, kind: c.kind });
      for (const c of clusterScoped) expect(c.name).toMatch(/^[a-z0-9-]+$/);
      for (const observed of [
        { group: 'apps', kind: 'ReplicaSet' },
        { group: '', kind: 'Pod' },
        { group: '', kind: 'Event' },
        { group: 'discovery.k8s.io', kind: 'EndpointSlice' },
      ]) {
        expect(project.spec.namespaceResourceWhitelist).toContainEqual(observed);
      }
    }
  });

  it('is bootstrapped by one file whose Application then syncs all of argocd/, itself included', () => {
    const roots = applications.filter((a) => a.spec.source.path === gitopsDir);
    expect(roots).toHaveLength(1);
    const root = roots[0]!;
    const rootDoc = docs.find((d) => d.object === root)!;
    expect(rootDoc.file).toBe(bootstrapFile);
    // Argo CD reads a directory source non-recursively by default: every file must sit at its top.
    expect(readdirSync(join(repoRoot, gitopsDir), { withFileTypes: true }).every((e) => e.isFile() && e.name.endsWith('.yaml'))).toBe(true);
    expect(root.spec.source.directory?.recurse).toBeUndefined();
    // Its own project, in the file it is bootstrapped with, may create exactly the objects argocd/ holds.
    const project = projects.find((p) => p.metadata.name === root.spec.project)!;
    expect(docs.find((d) => d.object === project)?.file).toBe(bootstrapFile);
    expect(project.spec.destinations).toEqual([{ server: root.spec.destination.server, namespace: root.spec.destination.namespace }]);
    expect(project.spec.clusterResourceWhitelist).toEqual([]);
    for (const o of argo) {
      expect(o.metadata.namespace).toBe(root.spec.destination.namespace);
      expect(project.spec.namespaceResourceWhitelist).toContainEqual({ group: o.apiVersion.split('/')[0], kind: o.kind });
    }
    expect(project.spec.sourceRepos).toEqual([root.spec.source.repoURL]);
    // A project exists before the Applications that name it.
    for (const app of applications) {
      const p = projects.find((x) => x.metadata.name === app.spec.project);
      expect(p, app.metadata.name).toBeDefined();
      expect(waveOf(p!)).toBeLessThan(waveOf(app));
    }
    // Deleting the root must not cascade into the environments.
    expect(root.metadata).not.toHaveProperty('finalizers');
  });

  it('never auto-syncs an empty source', () => {
    expect(applications.length).toBeGreaterThan(1);
    for (const app of applications) expect(app.spec.syncPolicy.automated.allowEmpty, app.metadata.name).toBe(false);
  });
});

describe('unknown props in an environment file', () => {
  const staging = environments[0]!;
  const [name, declaration] = Object.entries(staging.services)[0]!;
  const failure = (env: Environment): ChartConfigError => {
    try {
      synthesizeAll([env]);
    } catch (e) {
      if (e instanceof ChartConfigError) return e;
      throw e;
    }
    throw new Error('synth accepted an unknown prop');
  };
  const withService = (extra: Record<string, unknown>): Environment => ({
    ...staging,
    services: { ...staging.services, [name]: { ...declaration, ...extra } as never },
  });

  it('fail synth naming the file, the service, the field and the likely spelling', () => {
    const error = failure(withService({ contextsize: 2048 }));
    expect(error.problems).toEqual([expect.objectContaining({ file: staging.definedIn, object: `${staging.name}/${name}`, field: 'contextsize' })]);
    expect(error.message).toContain(`${staging.definedIn}: ${staging.name}/${name}: contextsize: unknown prop`);
    expect(error.message).toContain('did you mean "contextSize"?');
  });

  it('are found in nested props and union variants too, all at once', () => {
    const error = failure(
      withService({
        overrides: { cpulimit: 2, startupProbe: { periodSecond: 5 } },
        modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3', size: 10 },
      }),
    );
    expect(error.problems.map((p) => p.field).sort()).toEqual(['modelCache.size', 'overrides.cpulimit', 'overrides.startupProbe.periodSecond']);
    expect(error.message).toContain('did you mean "cpuLimit"?');
    expect(error.message).toContain('did you mean "periodSeconds"?');
    const badKind = failure(withService({ exposure: { kind: 'loadbalancer' } }));
    expect(badKind.problems[0]).toMatchObject({ field: 'exposure.kind' });
    expect(badKind.message).toContain("'load-balancer'");
  });

  it('are checked at the environment level as well, and every shipped environment passes', () => {
    const error = failure({ ...staging, namspace: 'x' } as never);
    expect(error.problems[0]).toMatchObject({ file: staging.definedIn, object: staging.name, field: 'namspace' });
    expect(() => synthesizeAll()).not.toThrow();
  });
});
