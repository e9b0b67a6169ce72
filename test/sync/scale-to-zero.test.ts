/**
 * The sync harness on services that scale to zero (charts/constructs/scale-to-zero.ts, docs/scale-to-zero.md):
 * after the first sync, KEDA takes an idle service to zero pods and later wakes it for a request the add-on's
 * interceptor holds. Argo CD must stay Synced and Healthy throughout (the Application ignores /spec/replicas),
 * and the woken pod must turn Ready within the interceptor's hold.
 */
import { describe, expect, it } from 'vitest';
import { idleDurationSeconds } from '../../charts/sizing/cold-start.js';
import { resourceKey, type Obj } from './objects.js';
import { crdTyped, syncedSim } from './scenarios.js';
import { podTimingFor } from './sim.js';
import { pathApplications, resolveTarget } from './source.js';

const applications = pathApplications();

describe.each(applications.map((a) => [a.name, a] as const))('Application %s with services that scale to zero', (_name, app) => {
  const target = resolveTarget(app);
  const routes = crdTyped(target).filter((o) => o.kind === 'HTTPScaledObject');

  it.runIf(routes.length > 0)('idles to zero pods and wakes within the hold, Synced and Healthy throughout', () => {
    const sim = syncedSim(target, 'scale to zero and wake');
    const deploymentKey = (route: Obj): string => `apps/Deployment/${route.metadata.namespace}/${route.spec.scaleTargetRef.name}`;
    const ready = (route: Obj): number => Number(sim.cluster.get(deploymentKey(route))?.status?.readyReplicas ?? 0);
    const state = (): string => `${sim.controller.syncStatus}/${sim.controller.health}\n${sim.timeline.format()}`;

    // KEDA, once no trigger was active for cooldownPeriod, sets the Deployment's replicas to 0 itself, past its HPA
    // (kedacore/keda pkg/scaling/executor/scale_scaledobjects.go, scaleToZeroOrIdle).
    for (const route of routes) {
      sim.cluster.edit(deploymentKey(route), (d) => (d.spec.replicas = 0));
      sim.timeline.add('user', `KEDA: ${route.metadata.name} idle for its cooldownPeriod: Deployment scaled to 0`);
    }
    sim.runUntil(() => false, 120);
    for (const route of routes) {
      expect(sim.cluster.get(deploymentKey(route))?.spec.replicas, state()).toBe(0);
      expect(ready(route), state()).toBe(0);
      expect(sim.cluster.get(resourceKey(route)), `${route.metadata.name} is live`).toBeDefined();
    }
    expect(sim.controller.syncStatus, state()).toBe('Synced');
    expect(sim.controller.health, state()).toBe('Healthy');

    // A request arrives: the interceptor holds it, the add-on's external scaler reports it and KEDA scales to one pod.
    const wokeAt = sim.timeline.now;
    for (const route of routes) {
      sim.cluster.edit(deploymentKey(route), (d) => (d.spec.replicas = 1));
      sim.timeline.add('user', `interceptor holds a request for ${route.spec.hosts[0]}; KEDA scales ${route.spec.scaleTargetRef.name} to 1`);
    }
    const holds = routes.map((r) => idleDurationSeconds(r.spec.timeouts.conditionWait)!);
    // Seconds from the wake until each service's first Ready pod.
    const wokeIn = new Map<Obj, number>();
    sim.runUntil(
      () => {
        for (const r of routes) if (!wokeIn.has(r) && ready(r) >= 1) wokeIn.set(r, sim.timeline.now - wokeAt);
        return wokeIn.size === routes.length;
      },
      Math.max(...holds) * 2,
    );
    for (const [i, route] of routes.entries()) {
      expect(wokeIn.has(route), `${route.metadata.name} never turned Ready\n${state()}`).toBe(true);
      // The harness runs the init container's download on every pod; a persistent cache (what these services use)
      // keeps the file while no pod runs, so the woken pod's download is not part of the hold.
      const deployment = sim.cluster.get(deploymentKey(route))!;
      const persistent = (deployment.spec.template.spec.volumes ?? []).some((v: { persistentVolumeClaim?: unknown }) => v.persistentVolumeClaim);
      const download = persistent ? podTimingFor(target, deployment).initSeconds : 0;
      const woke = wokeIn.get(route)!;
      expect(woke - download, `${route.metadata.name}: woke in ${woke}s (download ${download}s), hold ${holds[i]}s\n${state()}`).toBeLessThanOrEqual(holds[i]!);
    }
    sim.runUntil(() => sim.settled(), 120);
    expect(sim.controller.syncStatus, state()).toBe('Synced');
    expect(sim.controller.health, state()).toBe('Healthy');
  });
});
