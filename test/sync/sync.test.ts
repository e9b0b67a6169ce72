/**
 * The Argo CD sync harness over every Application in argocd/ (docs/sync-conformance.md). Each test prints
 * its timeline with SYNC_VERBOSE=1 and carries it in its assertion message.
 */
import { describe, expect, it } from 'vitest';
import { getResourceHealth } from './health/health.js';
import {
  addressed,
  crdTyped,
  emptySource,
  firstSync,
  hasClaims,
  imageBump,
  missingCrds,
  missingSecret,
  noAddressControllers,
  oldLayoutHang,
  podSecurityPolicies,
  podSecurityPolicyUnbound,
  pruneService,
  secretsOf,
  selfHeal,
  serviceFiles,
  syncedSim,
} from './scenarios.js';
import { withBindingMode } from './sim.js';
import { findApplications, pathApplications, resolveTarget } from './source.js';
import { formatSyncResult, type SyncScenarioResult } from './timeline.js';

function expectPass(r: SyncScenarioResult): void {
  const text = formatSyncResult(r);
  if (process.env.SYNC_VERBOSE) process.stdout.write(`${text}\n`);
  const failed = r.checks.filter((c) => !c.ok);
  expect(r.checks.length, `${r.scenario}: no checks ran\n${text}`).toBeGreaterThan(0);
  expect(
    failed.map((c) => `${c.name}: ${c.detail}`),
    `${r.application} — ${r.scenario}\n${text}`,
  ).toEqual([]);
}

const all = findApplications();
const applications = pathApplications();

describe('argocd/', () => {
  it('holds at least one Application, each naming its source path or a Helm chart', () => {
    expect(applications.length).toBeGreaterThan(0);
    for (const a of all)
      expect(a.sourcePath !== '' || a.chart !== undefined, `${a.file}: ${a.name} has neither spec.source.path nor spec.source.chart`).toBe(true);
  });
});

describe.each(applications.map((a) => [a.name, a] as const))('Application %s', (_name, app) => {
  const target = resolveTarget(app);
  const files = serviceFiles(target);
  const secrets = secretsOf(target);
  const claims = hasClaims(target);
  const crds = crdTyped(target);
  const waitsForAddress = addressed(target).length > 0;

  it('first sync of the committed manifests reaches Synced + Healthy within the progress deadlines', () => {
    expectPass(firstSync(target, { layout: 'committed' }));
  });

  it.runIf(podSecurityPolicies(target).length > 0)('PodSecurityPolicy enforced: without the RoleBindings no pod is admitted (break demo)', () => {
    expectPass(podSecurityPolicyUnbound(target));
  });

  it("first sync with the PVC in its Deployment's wave and monitoring before the workload reaches Synced + Healthy", () => {
    expectPass(firstSync(target, { layout: 'safe' }));
  });

  it.runIf(claims)('the old layout (PVC a wave before its Deployment) syncs on Immediate classes', () => {
    expectPass(
      firstSync(target, {
        layout: 'old-pvc',
        profile: withBindingMode(target.profile, 'Immediate'),
        title: 'first sync, PVC a wave early, every class Immediate',
      }),
    );
  });

  it.runIf(claims)('the old layout on a WaitForFirstConsumer class hangs: detected (break demo)', () => {
    expectPass(oldLayoutHang(target));
  });

  it.runIf(files.length > 0)('an image bump rolls out every Deployment per its strategy', () => {
    expectPass(imageBump(target));
  });

  it.each(files)('removing %s prunes exactly its objects', (file) => {
    expectPass(pruneService(target, file));
  });

  it.runIf(app.automated !== undefined)('an emptied source directory is refused before anything is pruned', () => {
    expectPass(emptySource(target, 'empty'));
  });

  it.runIf(app.automated !== undefined)('a deleted source directory is refused before anything is pruned', () => {
    expectPass(emptySource(target, 'missing'));
  });

  it.runIf(app.automated?.prune === true)('control: with allowEmpty: true the emptied directory would prune everything', () => {
    expectPass(emptySource(target, 'empty', { allowEmpty: true }));
  });

  it.runIf(app.automated?.selfHeal === true)('selfHeal restores a hand-changed field and leaves ignored fields alone', () => {
    expectPass(selfHeal(target));
  });

  it.runIf(crds.length > 0)('a cluster without the CRDs fails the sync before applying anything', () => {
    expectPass(missingCrds(target));
  });

  it.runIf(waitsForAddress)('without a load balancer or ingress controller the LoadBalancer Services and Ingresses stay Progressing', () => {
    expectPass(noAddressControllers(target));
  });

  it.each(secrets)('a missing Secret %s keeps its pods from ever becoming Ready', (secret) => {
    expectPass(missingSecret(target, secret));
  });
});

describe.each(applications.map((a) => [a.name, a] as const))('Application %s with KEDA ScaledObjects', (_name, app) => {
  const target = resolveTarget(app);
  const scaledObjects = crdTyped(target).filter((o) => o.kind === 'ScaledObject');

  it.runIf(scaledObjects.length > 0)("KEDA's HPA holds each Deployment inside its bounds and the ScaledObject reads Healthy", () => {
    const sim = syncedSim(target, 'first sync with queue autoscaling');
    for (const so of scaledObjects) {
      const ns = so.metadata.namespace as string;
      const live = sim.cluster.get(`keda.sh/ScaledObject/${ns}/${so.metadata.name}`)!;
      expect(getResourceHealth(live)?.status, sim.timeline.format()).toBe('Healthy');
      const hpa = sim.cluster.get(`autoscaling/HorizontalPodAutoscaler/${ns}/keda-hpa-${so.metadata.name}`);
      expect(hpa?.metadata.ownerReferences?.[0]?.uid).toBe(live.metadata.uid);
      const deployment = sim.cluster.get(`apps/Deployment/${ns}/${so.spec.scaleTargetRef.name}`)!;
      expect(deployment.spec.replicas).toBeGreaterThanOrEqual(Math.max(1, so.spec.minReplicaCount));
      expect(deployment.spec.replicas).toBeLessThanOrEqual(so.spec.maxReplicaCount);
    }
  });
});
