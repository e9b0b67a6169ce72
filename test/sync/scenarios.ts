/**
 * The sync scenarios, each returning a timeline and checks with the measured values (see
 * docs/sync-conformance.md). Every scenario runs on one Application from argocd/ and its environment.
 */
import type { Operation } from './argocd.js';
import { kindOrder, objectSyncOptions, selfHealDelaySeconds, trackingAnnotation } from './argocd.js';
import { resolveIntOrPercent } from './cluster.js';
import { getResourceHealth, healthSource } from './health/health.js';
import { condition, group, resourceKey, shortName, type Obj } from './objects.js';
import { applyOldPvcLayout, applySafeLayout, claimConsumers, prerequisiteSecrets, SyncSim, withBindingMode, type SimOptions } from './sim.js';
import type { Target } from './source.js';
import { SyncChecks, type SyncScenarioResult } from './timeline.js';

const t = (s: number | undefined): string => (s === undefined ? 'never' : `t=+${s}s`);

function result(sim: SyncSim, scenario: string, checks: SyncChecks, facts: SyncScenarioResult['facts'] = {}): SyncScenarioResult {
  return { scenario, application: sim.target.app.name, timeline: sim.timeline, checks: checks.list, facts };
}

function opSummary(op: Operation | undefined): string {
  if (!op) return 'no operation';
  return `${op.phase} ${op.finishedAt !== undefined ? `at ${t(op.finishedAt)}` : '(still running)'}: ${op.message}${op.retryCount ? `, ${op.retryCount} retries` : ''}`;
}

/** The wave table: wave, object, file, applied, healthy, by which health check. */
function waveTable(sim: SyncSim, attempt: number): string[] {
  const c = sim.controller;
  const rows: string[] = [];
  for (const w of c.waves.filter((x) => x.appliedAt >= attempt)) {
    for (const o of w.objects) {
      const live = sim.cluster.get(o.key);
      const h = live ? getResourceHealth(live) : undefined;
      rows.push(
        `wave ${String(w.wave).padStart(2)}  ${o.name.padEnd(44)} ${String(o.file ?? '').padEnd(28)} applied ${t(w.appliedAt).padEnd(9)} healthy ${t(c.firstHealthyAt.get(o.key)).padEnd(9)} now ${h?.status ?? (live ? 'no health check' : 'absent')}  [${live ? healthSource(live) : ''}]`,
      );
    }
  }
  return rows;
}

/** Checks on one first sync: operation, app status, deadlines, wave order, kind order, waiting. */
function firstSyncChecks(sim: SyncSim, checks: SyncChecks, startedAt: number): void {
  const c = sim.controller;
  const op = c.operations[0];
  const last = c.operation ?? c.lastOperation;
  checks.must('the sync operation succeeds', last?.phase === 'Succeeded', opSummary(last));
  checks.must(
    'the application is Synced and Healthy',
    c.syncStatus === 'Synced' && c.health === 'Healthy',
    `${c.syncStatus}, ${c.health} at ${t(sim.timeline.now)}`,
  );
  for (const d of sim.deployments()) {
    const key = resourceKey(d.object);
    const applied = c.appliedAt.get(key);
    const healthy = c.firstHealthyAt.get(key);
    const deadline = Number(d.object.spec?.progressDeadlineSeconds ?? 600);
    const took = applied !== undefined && healthy !== undefined ? healthy - applied : undefined;
    checks.must(
      `${shortName(d.object)} (${d.file}) Healthy within its progress deadline`,
      took !== undefined && took <= deadline,
      applied === undefined
        ? `never applied (deadline ${deadline}s)`
        : took === undefined
          ? `applied ${t(applied)}, not Healthy by ${t(sim.timeline.now)} (deadline ${deadline}s)`
          : `applied ${t(applied)}, Healthy ${t(healthy)}: ${took}s of ${deadline}s`,
    );
  }
  const waves = c.waves.filter((w) => w.appliedAt >= startedAt);
  const order = waves.map((w) => `${w.phase}:${w.wave}`);
  const ascending = waves.every(
    (w, i) => i === 0 || (waves[i - 1]?.phase === 'PreSync' && w.phase === 'Sync') || (w.phase === waves[i - 1]?.phase && w.wave > (waves[i - 1]?.wave ?? 0)),
  );
  checks.must('waves are applied in ascending order', ascending && op !== undefined, `applied waves ${order.join(' -> ') || 'none'}`);
  const kindsOk = waves.every((w) => {
    const applies = w.objects;
    return applies.every((o, i) => {
      if (i === 0) return true;
      const a = (applies[i - 1] as typeof o).key.split('/')[1] as string;
      const b = o.key.split('/')[1] as string;
      return kindOrder(a) <= kindOrder(b);
    });
  });
  checks.must(
    'kinds within a wave follow gitops-engine kindOrder',
    kindsOk,
    waves.map((w) => `wave ${w.wave}: ${w.objects.map((o) => o.key.split('/')[1]).join(', ')}`).join('; '),
  );
  const waits: string[] = [];
  let waited = true;
  waves.forEach((w, i) => {
    if (i === 0) return;
    for (const prev of waves.slice(0, i)) {
      for (const o of prev.objects) {
        const h = c.firstHealthyAt.get(o.key);
        if (h === undefined || h > w.appliedAt) {
          waited = false;
          waits.push(`${o.name} Healthy ${t(h)} after wave ${w.wave} applied ${t(w.appliedAt)}`);
        }
      }
    }
    waits.push(`wave ${w.wave} applied ${t(w.appliedAt)} after wave ${waves[i - 1]?.wave} Healthy`);
  });
  checks.must('each wave is applied only once every object of the earlier waves is Healthy', waited, waits.join('; ') || 'one wave');
}

export interface FirstSyncOptions extends SimOptions {
  layout?: 'committed' | 'safe' | 'old-pvc';
  title?: string;
}

/** The first sync on an empty cluster. */
export function firstSync(target: Target, o: FirstSyncOptions = {}): SyncScenarioResult {
  const layout = o.layout ?? 'committed';
  const title = o.title ?? `first sync (${layout} wave layout)`;
  const sim = new SyncSim(target, title, o);
  const changed = layout === 'safe' ? applySafeLayout(sim) : layout === 'old-pvc' ? applyOldPvcLayout(sim) : '';
  if (layout !== 'committed') sim.timeline.note(`layout rewritten in memory: ${changed || 'nothing to change, the committed layout already is it'}`);
  const checks = new SyncChecks();
  sim.runUntil(() => sim.settled(), sim.horizon());
  firstSyncChecks(sim, checks, 0);
  for (const row of waveTable(sim, 0)) sim.timeline.note(row);
  return result(sim, title, checks, { seconds: sim.timeline.now, waves: sim.controller.waves.length });
}

/**
 * The old layout (a PVC one wave before the Deployment that mounts it) on a class that binds on first
 * consumer: the sync waits for the PVC forever, and the Deployment that would bind it is never applied.
 * The checks pass when the hang is reproduced.
 */
export function oldLayoutHang(target: Target): SyncScenarioResult {
  const profile = withBindingMode(target.profile, 'WaitForFirstConsumer');
  const sim = new SyncSim(target, 'BROKEN on purpose: PVC one wave before its Deployment, WaitForFirstConsumer class', { profile });
  sim.timeline.note(`layout rewritten in memory: ${applyOldPvcLayout(sim) || 'already the old layout'}`);
  const horizon = sim.horizon();
  sim.runUntil(() => sim.settled(), horizon);
  const c = sim.controller;
  const op = c.operation;
  sim.timeline.add('argocd', `at the deadline: operation ${op?.phase ?? 'none'} for ${sim.timeline.now - (op?.startedAt ?? 0)}s: ${op?.message ?? ''}`);
  for (const { pvc } of claimConsumers(sim.desired())) {
    const live = sim.cluster.get(resourceKey(pvc.object));
    sim.timeline.add(
      'health',
      `${shortName(pvc.object)} ${live?.status?.phase ?? 'absent'} -> ${live ? getResourceHealth(live)?.status : 'Missing'} (${pvc.file})`,
    );
  }
  const checks = new SyncChecks();
  checks.must(
    'the sync is still Running at the deadline',
    op?.phase === 'Running',
    `${t(sim.timeline.now)} (2 x the largest progress deadline + the retry budget): ${opSummary(op ?? c.lastOperation)}`,
  );
  checks.must('it waits for a PersistentVolumeClaim', op?.message.includes('/PersistentVolumeClaim/') === true, op?.message ?? '');
  for (const { pvc, consumers } of claimConsumers(sim.desired())) {
    const live = sim.cluster.get(resourceKey(pvc.object));
    const h = live ? getResourceHealth(live) : undefined;
    checks.must(
      `${shortName(pvc.object)} (${pvc.file}) stays Progressing`,
      h?.status === 'Progressing',
      `${live?.status?.phase ?? 'absent'} -> ${h?.status ?? 'no health'} (${live ? healthSource(live) : ''})`,
    );
    for (const d of consumers)
      checks.must(
        `${shortName(d.object)} (${d.file}) is never applied`,
        sim.cluster.get(resourceKey(d.object)) === undefined,
        sim.cluster.get(resourceKey(d.object)) ? 'applied' : `not in the cluster at ${t(sim.timeline.now)}`,
      );
  }
  for (const row of waveTable(sim, 0)) sim.timeline.note(row);
  return result(sim, 'old PVC wave on WaitForFirstConsumer (hang)', checks, { seconds: sim.timeline.now });
}

/** A simulation brought to Synced + Healthy with the safe layout; throws with the timeline if it cannot be. */
export function syncedSim(target: Target, title: string, o: SimOptions = {}): SyncSim {
  const sim = new SyncSim(target, title, o);
  const changed = applySafeLayout(sim);
  if (changed) sim.timeline.note(`layout rewritten in memory before the first sync: ${changed}`);
  if (!sim.runUntil(() => sim.settled(), sim.horizon())) {
    throw new Error(
      `${title}: the first sync did not settle: ${opSummary(sim.controller.operation ?? sim.controller.lastOperation)}\n${sim.timeline.format()}`,
    );
  }
  sim.timeline.add('user', `---- first sync settled; the scenario starts here ----`);
  return sim;
}

function bumpImage(image: string): string {
  return `${image}-next`;
}

/** An image bump of every Deployment rolls out per its strategy within its progress deadline. */
export function imageBump(target: Target): SyncScenarioResult {
  const sim = syncedSim(target, 'image bump');
  const start = sim.timeline.now;
  const rev = sim.repo.mutate(sim.target.app.sourcePath, 'bump every image', (o) => {
    if (!o.spec?.template?.spec) return;
    for (const c of [...(o.spec.template.spec.containers ?? []), ...(o.spec.template.spec.initContainers ?? [])]) c.image = bumpImage(c.image);
  });
  sim.timeline.add('user', `git commit ${rev}: every container image tag +"-next"`);
  const deps = sim.deployments();
  const stats = new Map<
    string,
    { maxPods: number; minReady: number; coexist: number; healthyAt?: number; rolloutStarted?: number; maxGap: number; degraded: boolean }
  >();
  for (const d of deps) stats.set(resourceKey(d.object), { maxPods: 0, minReady: Infinity, coexist: 0, maxGap: 0, degraded: false });
  const newImage = (d: Obj): string => d.spec.template.spec.containers[0].image;
  const rolled = (): boolean =>
    deps.every((d) => {
      const live = sim.cluster.get(resourceKey(d.object));
      if (!live) return false;
      const pods = sim.cluster.podsOf(live);
      return pods.length === live.spec.replicas && pods.every((p) => p.spec.containers[0].image === newImage(d.object) && sim.cluster.podReady(p));
    });
  sim.runUntil(() => {
    for (const d of deps) {
      const key = resourceKey(d.object);
      const live = sim.cluster.get(key);
      const s = stats.get(key);
      if (!live || !s) continue;
      const pods = sim.cluster.podsOf(live);
      const fresh = pods.filter((p) => p.spec.containers[0].image === newImage(d.object));
      const old = pods.filter((p) => p.spec.containers[0].image !== newImage(d.object));
      if (fresh.length > 0 && s.rolloutStarted === undefined) s.rolloutStarted = sim.timeline.now;
      if (s.rolloutStarted === undefined && live.spec.template.spec.containers[0].image !== newImage(d.object)) continue;
      s.rolloutStarted ??= sim.timeline.now;
      const alive = pods.filter((p) => p.metadata.deletionTimestamp === undefined);
      s.maxPods = Math.max(s.maxPods, alive.length);
      s.minReady = Math.min(s.minReady, alive.filter((p) => sim.cluster.podReady(p)).length);
      if (fresh.length > 0 && old.length > 0) s.coexist++;
      const h = getResourceHealth(live);
      const progressing = condition(live, 'Progressing') as { lastUpdateTime?: number } | undefined;
      // The controller refreshes Progressing when the new template arrives: a lastUpdateTime older than the rollout is the
      // previous rollout's (sampled before the controller's first pass), and the deadline counts from the rollout's start.
      if (s.healthyAt === undefined)
        s.maxGap = Math.max(s.maxGap, sim.timeline.now - Math.max(progressing?.lastUpdateTime ?? sim.timeline.now, s.rolloutStarted));
      if (h?.status === 'Degraded') s.degraded = true;
      if (s.healthyAt === undefined && h?.status === 'Healthy' && fresh.length === live.spec.replicas && old.length === 0) s.healthyAt = sim.timeline.now;
    }
    return sim.settled() && rolled();
  }, sim.horizon());
  const checks = new SyncChecks();
  checks.must(
    'the application is Synced and Healthy on the new revision',
    sim.settled() && sim.controller.lastOperation?.revision === rev,
    `${sim.controller.syncStatus}, ${sim.controller.health}; last operation ${opSummary(sim.controller.lastOperation)}`,
  );
  for (const d of deps) {
    const key = resourceKey(d.object);
    const live = sim.cluster.get(key) as Obj;
    const s = stats.get(key) as NonNullable<ReturnType<typeof stats.get>>;
    const replicas = live.spec.replicas as number;
    const pods = sim.cluster.podsOf(live);
    checks.must(
      `${shortName(d.object)} (${d.file}) runs the new image on every replica`,
      pods.length === replicas && pods.every((p) => p.spec.containers[0].image === newImage(d.object) && sim.cluster.podReady(p)),
      `${pods.filter((p) => p.spec.containers[0].image === newImage(d.object) && sim.cluster.podReady(p)).length}/${replicas} Ready on ${newImage(d.object)}`,
    );
    const strategy = live.spec.strategy;
    if (strategy.type === 'Recreate') {
      checks.must(
        `${shortName(d.object)} Recreate: old and new pods never run together`,
        s.coexist === 0,
        `${s.coexist}s with both; at most ${s.maxPods} pod(s) for ${replicas} replica(s)`,
      );
    } else {
      const surge = resolveIntOrPercent(strategy.rollingUpdate?.maxSurge ?? '25%', replicas, true);
      const unavailable = resolveIntOrPercent(strategy.rollingUpdate?.maxUnavailable ?? '25%', replicas, false);
      checks.must(
        `${shortName(d.object)} RollingUpdate: pods <= replicas + maxSurge and Ready >= replicas - maxUnavailable`,
        s.maxPods <= replicas + surge && s.minReady >= replicas - unavailable,
        `at most ${s.maxPods} pods (limit ${replicas + surge}), at least ${s.minReady} Ready (floor ${replicas - unavailable})`,
      );
    }
    // The deadline bounds the time without progress (kubernetes pkg/controller/deployment/progress.go), not the whole rollout.
    const deadline = Number(live.spec.progressDeadlineSeconds);
    const took = s.healthyAt !== undefined && s.rolloutStarted !== undefined ? s.healthyAt - s.rolloutStarted : undefined;
    checks.must(
      `${shortName(d.object)} rollout completes, never longer than its progress deadline without progress`,
      took !== undefined && !s.degraded && s.maxGap <= deadline,
      `longest stretch without progress ${s.maxGap}s of ${deadline}s; rollout ${took ?? 'not complete'}s (started ${t(s.rolloutStarted)}, Healthy ${t(s.healthyAt)})${s.degraded ? ', went Degraded' : ''}`,
    );
  }
  return result(sim, 'image bump rolls out', checks, { rolloutSeconds: sim.timeline.now - start });
}

/** Removing one service's file from dist/ prunes exactly its objects; nothing else is touched. */
export function pruneService(target: Target, file: string): SyncScenarioResult {
  const sim = syncedSim(target, `remove ${file}`);
  const removed = sim.desired().filter((m) => m.file === file);
  const kept = sim.desired().filter((m) => m.file !== file);
  const before = new Map(kept.map((m) => [resourceKey(m.object), sim.cluster.get(resourceKey(m.object))?.metadata.uid]));
  const podsBefore = new Map(
    kept
      .filter((m) => m.object.kind === 'Deployment')
      .map((m) => [
        resourceKey(m.object),
        sim.cluster
          .podsOf(sim.cluster.get(resourceKey(m.object)) as Obj)
          .map((p) => p.metadata.name)
          .sort()
          .join(','),
      ]),
  );
  const removedPods = removed
    .filter((m) => m.object.kind === 'Deployment')
    .flatMap((m) => sim.cluster.podsOf(sim.cluster.get(resourceKey(m.object)) as Obj).map((p) => resourceKey(p)));
  const commitAt = sim.timeline.now;
  const rev = sim.repo.commit(`remove ${file}`, { files: { [file]: null } });
  sim.timeline.add('user', `git commit ${rev}: ${file} deleted (${removed.length} objects)`);
  sim.runUntil(() => sim.settled() && sim.controller.lastOperation?.revision === rev, sim.horizon());
  const checks = new SyncChecks();
  checks.must(
    'the sync succeeds and the application is Synced and Healthy',
    sim.settled(),
    `${sim.controller.syncStatus}, ${sim.controller.health}; ${opSummary(sim.controller.lastOperation)}`,
  );
  const left = removed.filter((m) => sim.cluster.get(resourceKey(m.object)) !== undefined);
  checks.must(
    `every object of ${file} is pruned`,
    left.length === 0,
    left.length
      ? `still there: ${left.map((m) => shortName(m.object)).join(', ')}`
      : `${removed.length} pruned: ${removed.map((m) => shortName(m.object)).join(', ')}`,
  );
  const podsLeft = removedPods.filter((k) => sim.cluster.get(k) !== undefined);
  checks.must(`the pods of ${file} are gone`, podsLeft.length === 0, `${removedPods.length} pod(s) before, ${podsLeft.length} left`);
  const changed = kept.filter((m) => sim.cluster.get(resourceKey(m.object))?.metadata.uid !== before.get(resourceKey(m.object)));
  checks.must(
    'every other object is untouched (same uid)',
    changed.length === 0,
    changed.length ? `recreated or deleted: ${changed.map((m) => shortName(m.object)).join(', ')}` : `${kept.length} objects kept`,
  );
  const restarted = [...podsBefore].filter(
    ([k, names]) =>
      sim.cluster
        .podsOf(sim.cluster.get(k) as Obj)
        .map((p) => p.metadata.name)
        .sort()
        .join(',') !== names,
  );
  checks.must(
    'no pod of another service was replaced',
    restarted.length === 0,
    restarted.length ? restarted.map(([k]) => k).join(', ') : `${podsBefore.size} other Deployment(s), same pods`,
  );
  const after = sim.controller.waves.filter((w) => w.appliedAt >= commitAt);
  const isRemoved = (key: string): boolean => removed.some((m) => resourceKey(m.object) === key);
  const pruneWaves = after.filter((w) => w.objects.some((o) => isRemoved(o.key))).map((w) => w.wave);
  const applyWaves = after.filter((w) => w.objects.some((o) => !isRemoved(o.key))).map((w) => w.wave);
  if (sim.target.app.syncOptions.includes('PruneLast=true')) {
    checks.must(
      'PruneLast: pruning runs after the last sync wave',
      pruneWaves.length > 0 && Math.min(...pruneWaves) > Math.max(-Infinity, ...applyWaves),
      `prune wave(s) ${pruneWaves.join(', ') || 'none'}, waves applied by the same sync ${applyWaves.join(', ') || 'none'} (${sim.desired().length} objects, all already Synced)`,
    );
  }
  return result(sim, `remove ${file}`, checks, { pruned: removed.length });
}

/** An emptied or missing source directory is refused before anything could be pruned (allowEmpty: false). */
export function emptySource(target: Target, variant: 'empty' | 'missing', opts: { allowEmpty?: boolean } = {}): SyncScenarioResult {
  const app = opts.allowEmpty && target.app.automated ? { ...target.app, automated: { ...target.app.automated, allowEmpty: true } } : target.app;
  const label = `${variant === 'empty' ? 'emptied' : 'deleted'} ${target.app.sourcePath}${opts.allowEmpty ? ' with allowEmpty: true (control)' : ''}`;
  const sim = syncedSim(target, label, { app });
  const tracked = [...sim.cluster.objects.values()].filter((o) => o.metadata.annotations?.[trackingAnnotation]);
  const uids = new Map(tracked.map((o) => [resourceKey(o), o.metadata.uid]));
  const opsBefore = sim.controller.operations.length;
  const rev =
    variant === 'empty'
      ? sim.repo.commit('empty the directory', { files: Object.fromEntries(sim.repo.filesUnder(sim.target.app.sourcePath).map((f) => [f, null])) })
      : sim.repo.commit('delete the directory', { removeDir: sim.target.app.sourcePath });
  sim.timeline.add(
    'user',
    `git commit ${rev}: ${variant === 'empty' ? `every file under ${sim.target.app.sourcePath} deleted, the directory kept` : `${sim.target.app.sourcePath} deleted`}`,
  );
  sim.runUntil(() => false, 600);
  const survivors = [...uids].filter(([k, uid]) => sim.cluster.get(k)?.metadata.uid === uid && sim.cluster.get(k)?.metadata.deletionTimestamp === undefined);
  const checks = new SyncChecks();
  if (opts.allowEmpty) {
    // Objects with the sync option Prune=false (the Namespace) are never pruned (argo-cd docs/user-guide/sync-options.md).
    const protectedKeys = new Set(tracked.filter((o) => objectSyncOptions(o).includes('Prune=false')).map((o) => resourceKey(o)));
    checks.must(
      'control: with allowEmpty: true the same commit prunes every object but those marked Prune=false',
      survivors.every(([k]) => protectedKeys.has(k)) && survivors.length === protectedKeys.size,
      `${tracked.length - survivors.length} of ${tracked.length} pruned; kept: ${survivors.map(([k]) => k).join(', ') || 'none'}`,
    );
    return result(sim, label, checks);
  }
  const guard =
    app.automated?.allowEmpty === true
      ? 'allowEmpty: true'
      : `allowEmpty: false (${app.raw.spec?.syncPolicy?.automated?.allowEmpty === false ? 'written' : 'the default'} in ${app.file})`;
  checks.must('the Application keeps the guard on', app.automated?.allowEmpty !== true, guard);
  checks.must('no object is pruned or deleted', survivors.length === tracked.length, `${survivors.length} of ${tracked.length} objects still there after 600s`);
  checks.must('no sync operation starts', sim.controller.operations.length === opsBefore, `${sim.controller.operations.length - opsBefore} new operation(s)`);
  const expected = variant === 'empty' ? 'auto-sync will wipe out all resources' : 'app path does not exist';
  checks.must(
    `Argo CD says why ("${expected}")`,
    sim.controller.conditions.some((c) => c.includes(expected)),
    sim.controller.conditions.join('; ') || 'no condition',
  );
  return result(sim, label, checks);
}

/** selfHeal restores a hand-changed field; a field under ignoreDifferences stays as changed. */
export function selfHeal(target: Target): SyncScenarioResult {
  const sim = syncedSim(target, 'selfHeal');
  const checks = new SyncChecks();
  // A Deployment's progressDeadlineSeconds when there is a Deployment, else the first label of any object.
  const d = sim.deployments()[0];
  const labelled = sim.desired().find((m) => Object.keys(m.object.metadata.labels ?? {}).length > 0);
  const edited = d ?? labelled;
  if (!edited) throw new Error(`${target.app.name}: no Deployment and no labelled object to edit`);
  const key = resourceKey(edited.object);
  const label = Object.keys(edited.object.metadata.labels ?? {})[0] as string;
  const read = (o: Obj | undefined): unknown => (d ? o?.spec?.progressDeadlineSeconds : o?.metadata.labels?.[label]);
  const want = read(edited.object);
  const field = d ? 'spec.progressDeadlineSeconds' : `metadata.labels["${label}"]`;
  const editedAt = sim.timeline.now;
  sim.cluster.edit(key, (o) => {
    if (d) o.spec.progressDeadlineSeconds = Number(want) + 60;
    else o.metadata.labels = { ...(o.metadata.labels ?? {}), [label]: `${String(want)}-edited` };
  });
  sim.timeline.add('user', `kubectl edit ${shortName(edited.object)}: ${field} ${String(want)} -> ${String(read(sim.cluster.get(key)))}`);
  const opsBefore = sim.controller.operations.length;
  sim.runUntil(() => read(sim.cluster.get(key)) === want && sim.settled(), 300);
  const healOp = sim.controller.operations[opsBefore];
  const restoredAfter = healOp?.finishedAt !== undefined ? healOp.finishedAt - editedAt : undefined;
  checks.must(
    `the changed ${field} is restored from Git`,
    read(sim.cluster.get(key)) === want,
    `live ${String(read(sim.cluster.get(key)))}, desired ${String(want)}, restored ${restoredAfter ?? '—'}s after the edit (self-heal backoff before attempt 1: ${selfHealDelaySeconds(0)}s, then ${selfHealDelaySeconds(1)}s, ${selfHealDelaySeconds(2)}s, ...)`,
  );
  checks.must(
    'self-heal syncs only the out-of-sync resource',
    healOp?.resources?.size === 1 && healOp.resources.has(key),
    `operation resources: ${healOp?.resources ? [...healOp.resources].join(', ') : 'all'}`,
  );
  for (const ig of sim.target.app.ignoreDifferences) {
    const o = sim
      .desired()
      .find((m) => m.object.kind === ig.kind && (ig.group ?? '') === group(m.object) && (ig.name === undefined || ig.name === m.object.metadata.name));
    if (!o || !(ig.jsonPointers ?? []).includes('/spec/replicas')) continue;
    const k = resourceKey(o.object);
    const live = sim.cluster.get(k) as Obj;
    const to = (live.spec.replicas as number) + 1;
    sim.cluster.edit(k, (x) => (x.spec.replicas = to));
    sim.timeline.add('user', `kubectl scale ${shortName(o.object)} --replicas=${to} (ignoreDifferences /spec/replicas)`);
    sim.runUntil(() => false, 120);
    checks.must(
      `${shortName(o.object)} /spec/replicas is left to the autoscaler (ignoreDifferences)`,
      sim.cluster.get(k)?.spec.replicas === to && sim.controller.syncStatus === 'Synced',
      `replicas ${sim.cluster.get(k)?.spec.replicas} after 120s, ${sim.controller.syncStatus}`,
    );
  }
  return result(sim, 'selfHeal', checks, { restoreSeconds: restoredAfter ?? -1 });
}

/** Objects whose API type the profile's CRDs provide: on a cluster without them the sync fails in its checks. */
export function crdTyped(target: Target): Obj[] {
  const sim = new SyncSim(target, 'probe');
  const bare = { ...target.profile, customResourceTypes: [] };
  const probe = new SyncSim({ ...target, profile: bare }, 'probe');
  return sim
    .desired()
    .map((m) => m.object)
    .filter((o) => sim.cluster.discover(o) === undefined && probe.cluster.discover(o) !== undefined);
}

export function missingCrds(target: Target): SyncScenarioResult {
  const profile = { ...target.profile, customResourceTypes: [] };
  const sim = new SyncSim(target, 'cluster without the CRDs', { profile });
  applySafeLayout(sim);
  const typed = crdTyped(target);
  sim.runUntil(() => sim.controller.operation === undefined && sim.controller.lastOperation !== undefined, sim.horizon());
  const op = sim.controller.lastOperation;
  const checks = new SyncChecks();
  checks.must('the sync fails', op?.phase === 'Failed', opSummary(op));
  checks.must('with "one or more synchronization tasks are not valid"', op?.message === 'one or more synchronization tasks are not valid', op?.message ?? '');
  for (const o of typed) {
    const text = `for requested resource ${o.metadata.namespace ?? target.app.destination.namespace ?? ''}/${o.metadata.name}. Make sure the "${o.kind}" CRD is installed on the destination cluster.`;
    const found = op?.failures.find((f) => f.includes(text));
    const installer = target.profile.customResourceTypes?.find((c) => c.group === group(o) && c.kind === o.kind)?.installedBy;
    checks.must(
      `${shortName(o)} names its missing CRD`,
      found !== undefined,
      `${found ?? 'no such message'}${installer ? ` (installed by ${installer} on ${target.profile.name})` : ''}`,
    );
  }
  const tracked = [...sim.cluster.objects.values()].filter((o) => o.metadata.annotations?.[trackingAnnotation]);
  checks.must('nothing is applied', tracked.length === 0, `${tracked.length} object(s) in the cluster`);
  return result(sim, 'missing CRDs', checks, { retries: op?.retryCount ?? 0 });
}

/** A Deployment whose pod reads a Secret that does not exist never becomes Ready. */
export function missingSecret(target: Target, secret: string): SyncScenarioResult {
  const sim = new SyncSim(target, `Secret ${secret} missing`, { withoutSecrets: [secret] });
  applySafeLayout(sim);
  sim.runUntil(() => sim.settled(), sim.horizon());
  const [ns, name] = secret.split('/') as [string, string];
  const checks = new SyncChecks();
  const lastWave = Math.max(...sim.controller.waves.map((w) => w.wave));
  for (const d of sim
    .deployments()
    .filter((m) => (m.object.metadata.namespace ?? ns) === ns && JSON.stringify(m.object.spec.template.spec).includes(`"name":"${name}"`))) {
    const live = sim.cluster.get(resourceKey(d.object));
    const pods = live ? sim.cluster.podsOf(live) : [];
    const waiting = pods.map((p) => p.status?.containerStatuses?.[0]?.state?.waiting).filter(Boolean) as { reason: string; message: string }[];
    checks.must(
      `${shortName(d.object)} pods wait in CreateContainerConfigError`,
      pods.length > 0 && waiting.length === pods.length && waiting.every((w) => w.reason === 'CreateContainerConfigError'),
      waiting.map((w) => `${w.reason}: ${w.message}`).join('; ') || `${pods.length} pod(s), none waiting`,
    );
    checks.must(
      `${shortName(d.object)} pods never become Ready`,
      pods.every((p) => !sim.cluster.podReady(p)),
      `${pods.filter((p) => sim.cluster.podReady(p)).length}/${pods.length} Ready at ${t(sim.timeline.now)}`,
    );
    const h = live ? getResourceHealth(live) : undefined;
    checks.must(
      `${shortName(d.object)} is Degraded once its progress deadline passes`,
      h?.status === 'Degraded' && live !== undefined && condition(live, 'Progressing')?.reason === 'ProgressDeadlineExceeded',
      `${h?.status}: ${h?.message ?? ''}`,
    );
    if (live && Number(d.object.metadata.annotations?.['argocd.argoproj.io/sync-wave'] ?? 0) < lastWave) {
      checks.must(
        'the sync fails (a later wave waited for it)',
        sim.controller.lastOperation?.phase === 'Failed' || sim.controller.operation?.phase === 'Running',
        opSummary(sim.controller.operation ?? sim.controller.lastOperation),
      );
    }
  }
  checks.must('the application is Degraded', sim.controller.health === 'Degraded', `${sim.controller.syncStatus}, ${sim.controller.health}`);
  return result(sim, `missing Secret ${secret}`, checks);
}

/** Helpers for the test file: which scenarios apply to an Application. */
export function serviceFiles(target: Target): string[] {
  const sim = new SyncSim(target, 'probe');
  return [
    ...new Set(
      sim
        .desired()
        .filter((m) => m.object.kind === 'Deployment')
        .map((m) => m.file),
    ),
  ].sort();
}

export function secretsOf(target: Target): string[] {
  const sim = new SyncSim(target, 'probe');
  return prerequisiteSecrets(sim.desired(), target.app.destination.namespace);
}

export function hasClaims(target: Target): boolean {
  const sim = new SyncSim(target, 'probe');
  return claimConsumers(sim.desired()).some((c) => c.consumers.length > 0);
}

/** Objects that wait for an address from a controller: LoadBalancer Services and Ingresses. */
export function addressed(target: Target): Obj[] {
  const sim = new SyncSim(target, 'probe');
  return sim
    .desired()
    .map((m) => m.object)
    .filter((o) => (o.kind === 'Service' && o.spec?.type === 'LoadBalancer') || (o.kind === 'Ingress' && group(o) === 'networking.k8s.io'));
}

/**
 * A cluster with no load balancer controller and no ingress controller: LoadBalancer Services and
 * Ingresses never get an address, stay Progressing, and the application never becomes Healthy.
 */
export function noAddressControllers(target: Target): SyncScenarioResult {
  const profile = { ...target.profile, loadBalancer: { ...target.profile.loadBalancer, kind: 'none' as const }, ingressClassNames: [] };
  const sim = new SyncSim(target, 'no load balancer or ingress controller', { profile });
  applySafeLayout(sim);
  sim.runUntil(() => sim.settled(), sim.horizon());
  const checks = new SyncChecks();
  for (const o of addressed(target)) {
    const live = sim.cluster.get(resourceKey(o));
    const h = live ? getResourceHealth(live) : undefined;
    checks.must(
      `${shortName(o)} stays Progressing without an address`,
      h?.status === 'Progressing',
      `${h?.status ?? 'absent'}; status.loadBalancer ${JSON.stringify(live?.status?.loadBalancer ?? {})} (${live ? healthSource(live) : ''})`,
    );
  }
  checks.must(
    'the application never becomes Healthy',
    sim.controller.health === 'Progressing',
    `${sim.controller.syncStatus}, ${sim.controller.health} at ${t(sim.timeline.now)}`,
  );
  return result(sim, 'no address controllers', checks);
}

/** The PodSecurityPolicies of an Application's manifests (generated where the cluster enforces them). */
export function podSecurityPolicies(target: Target): Obj[] {
  return new SyncSim(target, 'inspect').desired().flatMap((m) => (m.object.kind === 'PodSecurityPolicy' ? [m.object] : []));
}

/**
 * PodSecurityPolicy enforced and the RoleBindings that let the service accounts use their policies removed (break
 * demo): the policies exist but no pod's service account may use one, so the ReplicaSets create no pods, each
 * Deployment runs out its progress deadline and the application is Degraded. The committed layout, with the
 * bindings, is what firstSync proves Healthy on the same profile.
 */
export function podSecurityPolicyUnbound(target: Target): SyncScenarioResult {
  const sim = new SyncSim(target, 'BROKEN on purpose: PodSecurityPolicy enforced, RoleBindings removed');
  const files = new Map<string, Obj[]>();
  for (const m of sim.desired()) files.set(m.file, [...(files.get(m.file) ?? []), m.object]);
  const changed = [...files].filter(([, objects]) => objects.some((o) => o.kind === 'RoleBinding'));
  const rev = sim.repo.commit('remove the PodSecurityPolicy RoleBindings', {
    files: Object.fromEntries(changed.map(([file, objects]) => [file, objects.filter((o) => o.kind !== 'RoleBinding')])),
  });
  sim.timeline.add('user', `git commit ${rev}: RoleBindings removed from ${changed.map(([f]) => f).join(', ')}`);
  sim.runUntil(() => sim.settled(), sim.horizon());
  const checks = new SyncChecks();
  checks.must(
    'the profile enforces PodSecurityPolicy',
    sim.target.profile.podSecurityPolicyAdmission === true,
    String(sim.target.profile.podSecurityPolicyAdmission),
  );
  for (const d of sim.deployments()) {
    const live = sim.cluster.get(resourceKey(d.object));
    const pods = live ? sim.cluster.podsOf(live) : [];
    checks.must(`${shortName(d.object)} gets no pod (admission refuses each)`, live !== undefined && pods.length === 0, `${pods.length} pod(s)`);
    const h = live ? getResourceHealth(live) : undefined;
    checks.must(
      `${shortName(d.object)} is Degraded once its progress deadline passes`,
      h?.status === 'Degraded' && live !== undefined && condition(live, 'Progressing')?.reason === 'ProgressDeadlineExceeded',
      `${h?.status}: ${h?.message ?? ''}`,
    );
  }
  const refusals = sim.timeline.events.filter((e) => /FailedCreate: .*PodSecurityPolicy: unable to admit pod/.test(e.text));
  checks.must('the timeline records the admission refusal', refusals.length > 0, refusals[0]?.text ?? 'none');
  checks.must('the application is Degraded', sim.controller.health === 'Degraded', `${sim.controller.syncStatus}, ${sim.controller.health}`);
  return result(sim, 'PodSecurityPolicy without its RoleBindings', checks);
}
