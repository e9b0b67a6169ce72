/**
 * One simulation: an Application's controller, its repository and a simulated cluster on one clock, plus
 * the pod timing taken from the service plans, and the in-memory layouts scenarios apply.
 */
import type { ClusterProfile } from '../../charts/clusters/types.js';
import { startupMargin } from '../../charts/sizing/probes.js';
import { podStartAllowanceSeconds } from '../../charts/sizing/plan.js';
import { ApplicationController } from './argocd.js';
import { clusterTimings, SimCluster, type PodTiming } from './cluster.js';
import { claimNames, group, secretRefs, shortName, syncWave, syncWaveAnnotation, type Obj } from './objects.js';
import { Repo, type ApplicationSpec, type ManifestObject, type Target } from './source.js';
import { SyncTimeline } from './timeline.js';

export interface SimOptions {
  /** Replace the environment's cluster profile (a scenario's variant of the cluster). */
  profile?: ClusterProfile;
  /** Replace the Application (a scenario's variant, e.g. allowEmpty on). */
  app?: ApplicationSpec;
  /** Prerequisite Secrets that are NOT created before the sync (`namespace/name`). */
  withoutSecrets?: readonly string[];
}

/**
 * Pod timing of a Deployment: from its service plan (charts/sizing/plan.ts) when the environment declares
 * the service: the plan's pod start allowance (scheduling, image pull), its download time (what the
 * progress deadline budgets for it: progressDeadlineSeconds - podStartAllowanceSeconds - startup window)
 * and its expected model load, rounded up to the startup probe's period (readiness runs right after the
 * startup probe succeeds). Without a plan, from the manifest's startup probe: the load the window was sized
 * for (window / startupMargin, charts/sizing/probes.ts).
 */
export function podTimingFor(target: Target, d: Obj): PodTiming {
  const c = d.spec?.template?.spec?.containers?.[0];
  const sp = c?.startupProbe;
  const period = Number(sp?.periodSeconds ?? 10);
  const plan = target.plans.get(d.metadata.name);
  if (plan) {
    const download = Math.max(0, plan.progressDeadlineSeconds - podStartAllowanceSeconds - plan.startup.windowSeconds);
    return {
      startSeconds: podStartAllowanceSeconds,
      initSeconds: download,
      readySeconds: Math.ceil(plan.startup.expectedLoadSeconds / period) * period,
      source: `plan of ${target.environment?.name}/${plan.name} (charts/sizing/plan.ts): pod start ${podStartAllowanceSeconds}s, download ${download}s, load ${plan.startup.expectedLoadSeconds}s`,
    };
  }
  const window = sp ? Number(sp.initialDelaySeconds ?? 0) + period * Number(sp.failureThreshold ?? 3) : 0;
  const load = Math.ceil(window / startupMargin);
  return {
    startSeconds: 0,
    initSeconds: 0,
    readySeconds: Math.ceil(load / period) * period,
    source: `startup probe of ${d.metadata.name}: window ${window}s / margin ${startupMargin}`,
  };
}

/** Every Secret the Application's pod templates reference (`namespace/name`): prerequisites an operator creates. */
export function prerequisiteSecrets(objects: readonly ManifestObject[], namespace: string | undefined): string[] {
  const out = new Set<string>();
  for (const { object } of objects) {
    const pod = object.spec?.template?.spec;
    if (!pod) continue;
    for (const s of secretRefs(pod)) out.add(`${object.metadata.namespace ?? namespace ?? ''}/${s}`);
  }
  return [...out].sort();
}

export class SyncSim {
  readonly timeline: SyncTimeline;
  readonly cluster: SimCluster;
  readonly repo: Repo;
  readonly controller: ApplicationController;
  readonly target: Target;

  constructor(target: Target, title: string, opts: SimOptions = {}) {
    this.target = { ...target, ...(opts.app ? { app: opts.app } : {}), ...(opts.profile ? { profile: opts.profile } : {}) };
    const app = this.target.app;
    this.timeline = new SyncTimeline(`${app.name} (${app.file} -> ${app.sourcePath}) — ${title}`);
    this.repo = new Repo([app.sourcePath], { recurse: app.recurse });
    const objects = this.repo.render(app.sourcePath) ?? [];
    const missing = new Set(opts.withoutSecrets ?? []);
    const secrets = prerequisiteSecrets(objects, app.destination.namespace).filter((s) => !missing.has(s));
    this.cluster = new SimCluster({ profile: this.target.profile, timeline: this.timeline, secrets, podTiming: (d) => podTimingFor(this.target, d) });
    this.controller = new ApplicationController(this.target, this.repo, this.cluster, this.timeline);
    const p = this.target.profile;
    this.timeline.note(
      `cluster ${p.name} (${p.definedIn}): storage classes ${p.storageClasses.map((c) => `${c.name} ${c.volumeBindingMode ?? 'Immediate'}`).join(', ') || 'none'}; CRDs ${(p.customResourceTypes ?? []).map((c) => `${c.group}/${c.kind}`).join(', ') || 'none'}; load balancer ${p.loadBalancer.kind}; ingress classes ${(p.ingressClassNames ?? []).join(', ') || 'none'}`,
    );
    if (secrets.length > 0) this.timeline.note(`prerequisite Secrets present before the sync: ${secrets.join(', ')}`);
    if (missing.size > 0) this.timeline.note(`prerequisite Secrets NOT created: ${[...missing].join(', ')}`);
    for (const { object } of objects)
      if (object.kind === 'Deployment') this.timeline.note(`pod timing of ${object.metadata.name}: ${podTimingFor(this.target, object).source}`);
    this.timeline.note(
      `cluster-side durations (modelling assumptions): ${Object.entries(clusterTimings)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  }

  step(): void {
    this.cluster.tick();
    this.controller.reconcile();
  }

  /** Run until `done` holds (checked after each second) or `maxSeconds` pass; returns whether `done` held. */
  runUntil(done: () => boolean, maxSeconds: number): boolean {
    const end = this.timeline.now + maxSeconds;
    this.controller.reconcile();
    while (this.timeline.now < end) {
      if (done()) return true;
      this.step();
    }
    return done();
  }

  /** Synced, Healthy and no operation running. */
  settled(): boolean {
    const c = this.controller;
    return c.operation === undefined && c.lastOperation !== undefined && c.syncStatus === 'Synced' && c.health === 'Healthy';
  }

  desired(): ManifestObject[] {
    return this.controller.desired() ?? [];
  }

  deployments(): ManifestObject[] {
    return this.desired().filter((m) => m.object.kind === 'Deployment' && group(m.object) === 'apps');
  }

  /** Simulated seconds a scenario may run: twice the largest progress deadline plus the retry budget. */
  horizon(): number {
    const deadlines = this.deployments().map((m) => Number(m.object.spec?.progressDeadlineSeconds ?? 600));
    const retry = this.target.app.retry;
    const retryBudget = retry ? retry.limit * retry.backoff.maxDurationSeconds : 0;
    return 2 * Math.max(600, ...deadlines) + retryBudget;
  }
}

/** PVCs and the Deployments in the same namespace that mount them. */
export function claimConsumers(objects: readonly ManifestObject[]): { pvc: ManifestObject; consumers: ManifestObject[] }[] {
  return objects
    .filter((m) => m.object.kind === 'PersistentVolumeClaim')
    .map((pvc) => ({
      pvc,
      consumers: objects.filter(
        (m) =>
          m.object.spec?.template?.spec &&
          (m.object.metadata.namespace ?? '') === (pvc.object.metadata.namespace ?? '') &&
          claimNames(m.object.spec.template.spec).includes(pvc.object.metadata.name),
      ),
    }));
}

function setWave(o: Obj, wave: number): void {
  o.metadata.annotations = { ...(o.metadata.annotations ?? {}), [syncWaveAnnotation]: String(wave) };
}

/**
 * The layout that cannot deadlock (docs/sync-conformance.md): every PVC in the same wave as the earliest
 * Deployment that mounts it, never earlier; monitoring objects (monitoring.coreos.com) one wave before the
 * workload, so alerts exist while a rollout is stuck. Returns what it changed ("" when nothing).
 */
export function applySafeLayout(sim: SyncSim): string {
  const objects = sim.desired();
  const changes: string[] = [];
  const pvcWaves = new Map<string, number>();
  for (const { pvc, consumers } of claimConsumers(objects)) {
    if (consumers.length === 0) continue;
    const wave = Math.min(...consumers.map((c) => syncWave(c.object)));
    if (syncWave(pvc.object) !== wave) pvcWaves.set(`${pvc.file}#${pvc.object.metadata.name}`, wave);
  }
  const workloadWave = Math.min(0, ...objects.filter((m) => m.object.spec?.template?.spec).map((m) => syncWave(m.object)));
  sim.repo.mutate(sim.target.app.sourcePath, 'safe wave layout, in memory', (o, file) => {
    const pvcWave = o.kind === 'PersistentVolumeClaim' ? pvcWaves.get(`${file}#${o.metadata.name}`) : undefined;
    if (pvcWave !== undefined) {
      changes.push(`${shortName(o)} wave ${syncWave(o)} -> ${pvcWave}`);
      setWave(o, pvcWave);
    }
    if (group(o) === 'monitoring.coreos.com' && syncWave(o) >= workloadWave) {
      changes.push(`${shortName(o)} wave ${syncWave(o)} -> ${workloadWave - 1}`);
      setWave(o, workloadWave - 1);
    }
  });
  return changes.join(', ');
}

/** The old layout: every PVC one wave before the earliest Deployment that mounts it. Returns what it changed. */
export function applyOldPvcLayout(sim: SyncSim): string {
  const changes: string[] = [];
  const earlier = new Map<string, number>();
  for (const { pvc, consumers } of claimConsumers(sim.desired())) {
    if (consumers.length === 0) continue;
    earlier.set(`${pvc.file}#${pvc.object.metadata.name}`, Math.min(...consumers.map((c) => syncWave(c.object))) - 1);
  }
  sim.repo.mutate(sim.target.app.sourcePath, 'PVC one wave before its Deployment, in memory', (o, file) => {
    const w = o.kind === 'PersistentVolumeClaim' ? earlier.get(`${file}#${o.metadata.name}`) : undefined;
    if (w !== undefined && syncWave(o) !== w) {
      changes.push(`${shortName(o)} wave ${syncWave(o)} -> ${w}`);
      setWave(o, w);
    }
  });
  return changes.join(', ');
}

/** The profile with every storage class binding in one mode. */
export function withBindingMode(profile: ClusterProfile, mode: 'Immediate' | 'WaitForFirstConsumer'): ClusterProfile {
  return { ...profile, storageClasses: profile.storageClasses.map((c) => ({ ...c, volumeBindingMode: mode })) };
}
