/**
 * The sync harness on services that scale to zero (charts/constructs/scale-to-zero.ts, docs/scale-to-zero.md):
 * after the first sync, KEDA takes an idle service to zero pods and later wakes it for a request the add-on's
 * interceptor holds. Argo CD must stay Synced and Healthy throughout (the Application ignores /spec/replicas),
 * and the woken pod must turn Ready within the interceptor's hold.
 */
import { request as httpRequest } from 'node:http';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { idleDurationSeconds } from '../../charts/sizing/cold-start.js';
import { failoverResponder } from '../../service/contract.js';
import { loadFailoverConfig, runFailover } from '../../service/failover.js';
import { resourceKey, type Obj } from './objects.js';
import { crdTyped, syncedSim } from './scenarios.js';
import { podTimingFor, type SyncSim } from './sim.js';
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
  it.runIf(routes.length > 0)("a load that outlasts the hold ends in the failover responder's 503 with the service's Retry-After", async () => {
    const sim = syncedSim(target, 'scale to zero, a wake slower than the hold');
    const deploymentKey = (route: Obj): string => `apps/Deployment/${route.metadata.namespace}/${route.spec.scaleTargetRef.name}`;
    const ready = (key: string): number => Number(sim.cluster.get(key)?.status?.readyReplicas ?? 0);
    const state = (): string => `${sim.controller.syncStatus}/${sim.controller.health}\n${sim.timeline.format()}`;
    const route = routes[0]!;
    const ref = route.spec.coldStartTimeoutFailoverRef;
    expect(ref, `${route.metadata.name} names no failover`).toBeDefined();
    // The interceptor holds for the failover's timeoutSeconds (kedacore/http-add-on pkg/routing/table.go).
    const hold = Number(ref.timeoutSeconds);
    const key = deploymentKey(route);

    sim.cluster.edit(key, (d) => (d.spec.replicas = 0));
    sim.runUntil(() => false, 120);
    expect(ready(key), state()).toBe(0);
    // This wake loads slower than the plan: the node is new, the cache volume slower than its profile says.
    const planned = sim.cluster.o.podTiming;
    sim.cluster.o.podTiming = (d: Obj) => {
      const t = planned(d);
      return d.metadata.name === route.spec.scaleTargetRef.name ? { ...t, readySeconds: hold + 30, source: `${t.source}; this wake: load ${hold + 30}s` } : t;
    };
    const wokeAt = sim.timeline.now;
    sim.cluster.edit(key, (d) => (d.spec.replicas = 1));
    sim.timeline.add('user', `interceptor holds a request for ${route.spec.hosts[0]}; KEDA scales ${route.spec.scaleTargetRef.name} to 1`);
    sim.runUntil(() => sim.timeline.now - wokeAt >= hold, hold + 60);
    expect(ready(key), `${route.metadata.name} turned Ready within the hold\n${state()}`).toBe(0);

    // The hold ran out: the interceptor forwards to the failover Service in the route's namespace.
    const ns = route.metadata.namespace;
    const service = sim.cluster.get(`/Service/${ns}/${ref.service}`);
    expect(service, `Service ${ref.service} is not live\n${state()}`).toBeDefined();
    const port = service!.spec.ports.find((p: { port: number }) => p.port === ref.port);
    expect(port, `Service ${ref.service} has no port ${ref.port}`).toBeDefined();
    const responder = liveResponder(sim, ns!, service!.spec.selector);
    expect(responder, `no live Deployment behind Service ${ref.service}`).toBeDefined();
    expect(ready(`apps/Deployment/${ns}/${responder!.metadata.name}`), `the responder is not Ready\n${state()}`).toBeGreaterThanOrEqual(1);
    const addOnNamespace = target.profile.kedaHttpAddOn!.namespace;
    const podLabels = responder!.spec.template.metadata.labels as Record<string, string>;
    const policies = sim.cluster
      .list('NetworkPolicy', ns)
      .filter((p) => Object.entries((p.spec.podSelector.matchLabels ?? {}) as Record<string, string>).every(([k, v]) => podLabels[k] === v));
    expect(
      policies.length === 0 ||
        policies.some((p) =>
          (p.spec.ingress ?? []).some(
            (r: { from?: Array<{ namespaceSelector?: { matchLabels?: Record<string, string> } }>; ports?: Array<{ port: number }> }) =>
              (r.ports ?? []).some((rp) => Number(rp.port) === Number(port.targetPort)) &&
              (r.from ?? []).some((f) => f.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === addOnNamespace),
          ),
        ),
      `no NetworkPolicy admits ${addOnNamespace} to the responder`,
    ).toBe(true);

    // What the caller gets: the real responder, configured as the live Deployment is, answering the forwarded request.
    const env = Object.fromEntries((responder!.spec.template.spec.containers[0].env as Array<{ name: string; value: string }>).map((e) => [e.name, e.value]));
    const config = loadFailoverConfig({
      ...env,
      [failoverResponder.envVars.host]: '127.0.0.1',
      [failoverResponder.envVars.port]: '0',
      [failoverResponder.envVars.healthPort]: '0',
    });
    const running = await runFailover(config, pino({ level: 'silent' }));
    try {
      const answer = await new Promise<{ status: number; retryAfter: string | undefined }>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port: running.port, method: 'POST', path: '/v1/chat/completions', headers: { host: route.spec.hosts[0] } },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }));
          },
        );
        req.on('error', reject);
        req.end('{"messages":[{"role":"user","content":"hi"}]}');
      });
      const expected = config.routes.find((r) => r.hosts.includes(route.spec.hosts[0]))!;
      expect(answer).toEqual({ status: 503, retryAfter: String(expected.retryAfterSeconds) });
      sim.timeline.add('user', `hold ${hold}s ran out: the responder answered 503, Retry-After ${answer.retryAfter}s`);
    } finally {
      await running.close();
    }

    // The pod the request woke keeps loading; a retry is held again and served once it is Ready.
    sim.runUntil(() => ready(key) >= 1, 600);
    expect(ready(key), state()).toBeGreaterThanOrEqual(1);
    expect(sim.controller.syncStatus, state()).toBe('Synced');
  });
});

/** The live Deployment whose pods a Service selects. */
function liveResponder(sim: SyncSim, namespace: string, selector: Record<string, string>): Obj | undefined {
  return sim.cluster.list('Deployment', namespace).find((d) => Object.entries(selector).every(([k, v]) => d.spec?.template?.metadata?.labels?.[k] === v));
}
