/**
 * Every committed environment on a real Kubernetes v1.37 control plane (issue 27): the CRDs from crds/, then each
 * environment's dist/ files server-side applied in Argo CD's wave order onto its cluster profile's nodes, checked
 * by the real schema validation, defaulting and admission (PodSecurity, ResourceQuota, LimitRanger, Priority,
 * RuntimeClass), the real ReplicaSet controller creating the pods and the real scheduler placing them; then
 * argocd/. Environments come from charts/environments, never a fixed list.
 */
import { KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { environments, gitops } from '../../charts/environments/index.js';
import { committedManifests } from '../support/manifests.js';
import { clusterMinor } from '../../charts/clusters/versions.js';
import { apisRemovedBeforeControlPlane, applyInSyncOrder, installCrds, type Refusal } from './apply.js';
import { onProfileCluster } from './cluster.js';
import { awaitDeployments } from './observe.js';
import { controlPlaneAvailabilityTest, controlPlaneMissing, useControlPlane } from './setup.js';

const committed = committedManifests();

controlPlaneAvailabilityTest();

describe.skipIf(controlPlaneMissing !== undefined).sequential('every environment on a real control plane', () => {
  const controlPlane = useControlPlane();

  it('installs the CRDs kept in crds/ (Argo CD, prometheus-operator, KEDA, cert-manager)', async () => {
    expect(await installCrds(controlPlane().kubeConfig)).toEqual([]);
  });

  it.each(environments.map((e) => [e.name, e] as const))(
    '%s: applied in wave order, admitted, and every pod scheduled on its profile',
    async (name, env) => {
      const { kubeConfig } = controlPlane();
      const docs = committed.filter((d) => d.file.startsWith(`dist/${name}/`));
      expect(docs.length).toBeGreaterThan(0);
      await onProfileCluster(kubeConfig, env.cluster, env.namespace, { kubelet: false }, async (cluster) => {
        const unserved: Refusal[] = [];
        const refusals = await applyInSyncOrder(kubeConfig, docs, { unserved });
        expect(refusals, 'objects the API server refused (file, object, message)').toEqual([]);
        // Only a profile older than an API's removal may carry its objects (the synth rules refuse the rest);
        // those objects are the ones the real control plane cannot judge (docs/control-plane.md).
        const minor = clusterMinor(env.cluster);
        for (const u of unserved) {
          const api = apisRemovedBeforeControlPlane.find((a) => u.object.startsWith(`${a.kind}/`))!;
          expect(minor, `${u.file} ${u.object} on a 1.${minor} profile`).toBeLessThan(api.removedMinor);
        }

        const outcomes = await awaitDeployments(kubeConfig, env.namespace);
        const deployments = docs.filter((d) => d.object.kind === 'Deployment');
        expect(outcomes.map((o) => o.deployment).sort()).toEqual(deployments.map((d) => d.object.metadata.name).sort());
        const fileOf = (deployment: string) => deployments.find((d) => d.object.metadata.name === deployment)!.file;
        const refused = outcomes.filter((o) => o.refused).map((o) => `${fileOf(o.deployment)} Deployment/${o.deployment}: ${o.refused}`);
        expect(refused, 'pods admission refused').toEqual([]);
        const pending = outcomes.flatMap((o) =>
          o.pods
            .filter((p) => !p.node)
            .map((p) => `${fileOf(o.deployment)} Deployment/${o.deployment} pod ${p.pod}: ${p.unschedulable ?? 'not placed in time'}`),
        );
        expect(pending, 'pods the scheduler left Pending').toEqual([]);
        // Each pod landed on a node of the profile (the nodes are the only ones registered).
        const nodes = new Set(cluster.nodes.map((n) => n.name));
        for (const o of outcomes) for (const p of o.pods) expect(nodes.has(p.node!), `${o.deployment} ${p.pod} on ${p.node}`).toBe(true);
        // Claims on classes whose driver the profile lists were provisioned and bound by the real PV controller.
        const claims = docs.filter((d) => d.object.kind === 'PersistentVolumeClaim');
        for (const c of claims) expect(cluster.provisioned, `${c.file} ${c.object.metadata.name}`).toContain(`${env.namespace}/${c.object.metadata.name}`);
      });
    },
    300_000,
  );

  it('argocd/: the AppProject and Applications are admitted by the Argo CD CRDs', async () => {
    const { kubeConfig } = controlPlane();
    const api = KubernetesObjectApi.makeApiClient(kubeConfig);
    // Argo CD's own install creates its namespace; the objects in argocd/ live there.
    await api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: gitops.argocdNamespace } } as KubernetesObject);
    const docs = committed.filter((d) => d.file.startsWith('argocd/'));
    expect(docs.length).toBeGreaterThan(0);
    expect(await applyInSyncOrder(kubeConfig, docs)).toEqual([]);
  });

  it('a refused object names its file and object (negative control)', async () => {
    const { kubeConfig } = controlPlane();
    const app = committed.find((d) => d.file.startsWith('argocd/') && d.object.kind === 'Application')!;
    const broken = { ...app, object: { ...app.object, spec: { ...app.object.spec, destination: 'not-an-object' } } };
    const refusals = await applyInSyncOrder(kubeConfig, [broken]);
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({ file: app.file, object: `Application/${app.object.metadata.namespace}/${app.object.metadata.name}` });
    expect(refusals[0]!.message).toMatch(/destination/);
  });
});
