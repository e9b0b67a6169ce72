/**
 * Argo CD's application controller for one Application, on the simulated clock: compare (sync status and
 * health), auto-sync, and the sync operation itself.
 *
 * - Auto-sync follows argo-cd controller/appcontroller.go `autoSync`: only when OutOfSync; no new attempt
 *   for a revision already attempted unless selfHeal is on and the last attempt succeeded (then only the
 *   out-of-sync resources, after the self-heal timeout, `shouldSelfHeal`); with prune on and allowEmpty
 *   off, "Skipping sync attempt to <rev>: auto-sync will wipe out all resources" when every resource would
 *   be pruned. A source path that does not exist is a ComparisonError ("app path does not exist",
 *   argo-cd util/app/path/path.go), which leaves the sync status Unknown and auto-sync idle.
 * - The operation follows gitops-engine pkg/sync/sync_context.go `Sync`: tasks from the desired and live
 *   objects (pkg/sync/sync_tasks.go order: phase, wave, kind, name), discovery and project permission
 *   checks (any failure: "one or more synchronization tasks are not valid"), then on the first pass the
 *   namespace creation (CreateNamespace=true) and a dry run of every task ("one or more objects failed to
 *   apply (dry run)"). Each pass updates running tasks from their live health (Healthy or no health check:
 *   succeeded; Degraded: failed), waits while any task of a multi-wave sync is running ("waiting for healthy
 *   state of ..."), fails when one completed unsuccessfully, and otherwise applies the next wave (prunes
 *   first). The last wave's objects are not waited for: applying it ends the operation ("successfully
 *   synced (all tasks run)"). Prune tasks run in reverse wave order, and after the last wave with PruneLast.
 * - A failed operation is retried per syncPolicy.retry (backoff duration x factor^n, capped).
 * - Resource messages about missing API types are rewritten as argo-cd util/argo/argo.go AugmentSyncMsg does.
 * - Argo CD tracks what it applied with the `argocd.argoproj.io/tracking-id` annotation (annotation
 *   tracking, the Argo CD 3 default); tracked live objects with no desired object require pruning.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- objects are unstructured JSON */
import type { SimCluster } from './cluster.js';
import { getResourceHealth, isWorse, type HealthStatusCode } from './health/health.js';
import { clone, group, resourceKey, shortName, syncWave, type Obj } from './objects.js';
import type { ManifestObject, Repo, Target } from './source.js';
import type { SyncTimeline } from './timeline.js';

export const trackingAnnotation = 'argocd.argoproj.io/tracking-id';

/**
 * Self-heal backoff (Argo CD >= 2.14, argo-cd commit dc27102cff, PR 20275; v3.5.0
 * cmd/argocd-application-controller/commands/argocd_application_controller.go defaults
 * `--self-heal-backoff-timeout-seconds` 2, `--self-heal-backoff-factor` 3, `--self-heal-backoff-cap-seconds` 300).
 * controller/appcontroller.go selfHealRemainingBackoff steps a wait.Backoff `SelfHealAttemptsCount` times from
 * the last operation's end: the first self-heal of a revision is immediate, then 2 s, 6 s, 18 s, 54 s, 162 s,
 * then 300 s (k8s.io/apimachinery wait.Backoff.Step: once the next duration passes the cap it stays at the cap).
 */
export const selfHealBackoff = { durationSeconds: 2, factor: 3, capSeconds: 300 } as const;

/** Seconds to wait after the last operation before self-heal attempt number `attempts + 1`. */
export function selfHealDelaySeconds(attempts: number): number {
  let duration: number = selfHealBackoff.durationSeconds;
  let delay = 0;
  for (let i = 0; i < attempts; i++) {
    delay = duration;
    duration = Math.min(duration * selfHealBackoff.factor, selfHealBackoff.capSeconds);
  }
  return delay;
}

/** Kind order within a wave (gitops-engine pkg/sync/sync_tasks.go kindOrder, from Helm's kind sorter); unknown kinds sort last. */
const kindOrderList = [
  'Namespace',
  'NetworkPolicy',
  'ResourceQuota',
  'LimitRange',
  'PodSecurityPolicy',
  'PodDisruptionBudget',
  'ServiceAccount',
  'Secret',
  'SecretList',
  'ConfigMap',
  'StorageClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleList',
  'ClusterRoleBinding',
  'ClusterRoleBindingList',
  'Role',
  'RoleList',
  'RoleBinding',
  'RoleBindingList',
  'Service',
  'DaemonSet',
  'Pod',
  'ReplicationController',
  'ReplicaSet',
  'Deployment',
  'HorizontalPodAutoscaler',
  'StatefulSet',
  'Job',
  'CronJob',
  'IngressClass',
  'Ingress',
  'APIService',
];
export function kindOrder(kind: string): number {
  const i = kindOrderList.indexOf(kind);
  return i < 0 ? 0 : i - kindOrderList.length;
}

type SyncPhase = 'PreSync' | 'Sync';
const phaseOrder: Record<SyncPhase, number> = { PreSync: -1, Sync: 0 };

type OperationPhase = 'Running' | 'Succeeded' | 'Failed' | 'Error';

interface ResourceResult {
  syncStatus: 'Synced' | 'SyncFailed' | 'Pruned' | 'PruneSkipped';
  operationState: OperationPhase;
  message: string;
}

interface Task {
  key: string;
  phase: SyncPhase;
  target?: ManifestObject;
  live?: Obj;
  prune: boolean;
  wave: number;
}

export interface Operation {
  revision: string;
  /** Self-heal attempts to this revision so far, this one included (argo-cd SyncOperation.SelfHealAttemptsCount). */
  selfHealAttempts: number;
  prune: boolean;
  /** Resource keys to sync (self-heal syncs only the out-of-sync ones); undefined: all. */
  resources?: Set<string>;
  startedAt: number;
  finishedAt?: number;
  phase: OperationPhase;
  message: string;
  retryCount: number;
  nextAttemptAt?: number;
  started: boolean;
  results: Map<string, ResourceResult>;
  /** Resource results of every attempt, for the report. */
  failures: string[];
}

export interface ResourceStatus {
  key: string;
  target?: ManifestObject;
  live?: Obj;
  status: 'Synced' | 'OutOfSync';
  requiresPruning: boolean;
  health?: HealthStatusCode;
}

export interface WaveRecord {
  phase: SyncPhase;
  wave: number;
  appliedAt: number;
  objects: { key: string; name: string; file?: string }[];
}

export class ApplicationController {
  syncStatus: 'Synced' | 'OutOfSync' | 'Unknown' = 'Unknown';
  health: HealthStatusCode = 'Missing';
  conditions: string[] = [];
  resources: ResourceStatus[] = [];
  operation: Operation | undefined;
  lastOperation: Operation | undefined;
  /** Every operation, finished or running. */
  readonly operations: Operation[] = [];
  /** Waves as applied, per operation attempt (the timeline's wave lines). */
  readonly waves: WaveRecord[] = [];
  /** First time each resource was seen Healthy (or applied, for kinds without health), by key. */
  readonly firstHealthyAt = new Map<string, number>();
  readonly appliedAt = new Map<string, number>();
  private lastLogged = '';
  /** The repo server's render of the current revision (treated as read-only). */
  private rendered: { revision: string; objects: ManifestObject[] | undefined } | undefined;

  constructor(
    readonly target: Target,
    readonly repo: Repo,
    readonly cluster: SimCluster,
    readonly timeline: SyncTimeline,
  ) {}

  private log(text: string): void {
    this.timeline.add('argocd', text);
  }

  private get app() {
    return this.target.app;
  }

  private option(name: string): boolean {
    return this.app.syncOptions.includes(`${name}=true`);
  }

  // ------------------------------------------------------------------------------------------
  // Compare
  // ------------------------------------------------------------------------------------------

  /** The desired objects at the current revision, namespaced into the destination namespace; undefined when the path does not exist. */
  desired(): ManifestObject[] | undefined {
    if (this.rendered?.revision === this.repo.revision) return this.rendered.objects;
    const rendered = this.repo.render(this.app.sourcePath);
    this.rendered = { revision: this.repo.revision, objects: rendered };
    if (!rendered) return undefined;
    for (const m of rendered) {
      if (this.cluster.isNamespaced(m.object) && !m.object.metadata.namespace && this.app.destination.namespace)
        m.object.metadata.namespace = this.app.destination.namespace;
    }
    return rendered;
  }

  private tracked(): Obj[] {
    return [...this.cluster.objects.values()].filter((o) => o.metadata.annotations?.[trackingAnnotation]?.startsWith(`${this.app.name}:`));
  }

  private ignoredPointers(o: Obj): string[] {
    return this.app.ignoreDifferences
      .filter(
        (d) =>
          (d.group ?? '') === group(o) &&
          d.kind === o.kind &&
          (d.name === undefined || d.name === o.metadata.name) &&
          (d.namespace === undefined || d.namespace === o.metadata.namespace),
      )
      .flatMap((d) => d.jsonPointers ?? []);
  }

  /** Desired fields missing or different in live (the diff Argo CD shows), with ignoreDifferences removed. */
  diff(desired: Obj, live: Obj): string[] {
    const ignored = this.ignoredPointers(desired);
    const d = ignored.length > 0 ? clone(desired) : desired;
    const l = ignored.length > 0 ? clone(live) : live;
    for (const p of ignored) {
      removePointer(d, p);
      removePointer(l, p);
    }
    const out: string[] = [];
    const walk = (a: any, b: any, path: string): void => {
      if (a === null || typeof a !== 'object') {
        if (a !== b && !(a === undefined)) out.push(`${path}: ${JSON.stringify(b)} (live) != ${JSON.stringify(a)} (desired)`);
        return;
      }
      if (Array.isArray(a)) {
        if (!Array.isArray(b) || a.length !== b.length) {
          out.push(`${path}: ${Array.isArray(b) ? `${b.length} items` : JSON.stringify(b)} (live) != ${a.length} items (desired)`);
          return;
        }
        a.forEach((x, i) => walk(x, b[i], `${path}/${i}`));
        return;
      }
      if (b === null || typeof b !== 'object') {
        out.push(`${path}: missing in live`);
        return;
      }
      for (const k of Object.keys(a)) walk(a[k], b[k], `${path}/${k}`);
    };
    walk(
      { spec: d.spec, labels: d.metadata.labels, annotations: d.metadata.annotations, ...topLevel(d) },
      { spec: l.spec, labels: l.metadata.labels, annotations: l.metadata.annotations, ...topLevel(l) },
      '',
    );
    return out;
  }

  compare(): ManifestObject[] | undefined {
    const desired = this.desired();
    if (!desired) {
      this.setConditions([`ComparisonError: ${this.app.sourcePath}: app path does not exist`]);
      this.syncStatus = 'Unknown';
      return undefined;
    }
    const resources: ResourceStatus[] = [];
    const keys = new Set<string>();
    for (const m of desired) {
      const key = resourceKey(m.object);
      keys.add(key);
      const live = this.cluster.get(key);
      const status = live && this.diff(m.object, live).length === 0 ? 'Synced' : 'OutOfSync';
      const h = live ? getResourceHealth(live)?.status : 'Missing';
      resources.push({ key, target: m, ...(live ? { live } : {}), status, requiresPruning: false, ...(h ? { health: h } : {}) });
    }
    for (const live of this.tracked()) {
      const key = resourceKey(live);
      if (keys.has(key)) continue;
      const h = getResourceHealth(live)?.status;
      resources.push({ key, live, status: 'OutOfSync', requiresPruning: true, ...(h ? { health: h } : {}) });
    }
    this.resources = resources;
    this.syncStatus = resources.every((r) => r.status === 'Synced') ? 'Synced' : 'OutOfSync';
    // argo-cd controller/health.go setApplicationHealth: the worst health of the live resources (a missing
    // one only shows as OutOfSync), Missing when none of them exists yet.
    let health: HealthStatusCode = 'Healthy';
    for (const r of resources) if (r.live && r.health && isWorse(health, r.health)) health = r.health;
    if (resources.length > 0 && resources.every((r) => !r.live) && isWorse(health, 'Missing')) health = 'Missing';
    this.health = health;
    for (const r of resources) {
      if (r.live && !this.firstHealthyAt.has(r.key) && (r.health === undefined || r.health === 'Healthy')) this.firstHealthyAt.set(r.key, this.timeline.now);
    }
    return desired;
  }

  private setConditions(conditions: string[]): void {
    if (JSON.stringify(conditions) !== JSON.stringify(this.conditions)) {
      for (const c of conditions) if (!this.conditions.includes(c)) this.log(`condition ${c}`);
      this.conditions = conditions;
    }
  }

  // ------------------------------------------------------------------------------------------
  // The reconcile loop
  // ------------------------------------------------------------------------------------------

  reconcile(): void {
    const desired = this.compare();
    if (this.operation) {
      this.runOperation(desired);
    } else if (desired) {
      this.autoSync();
    }
    const state = `${this.syncStatus}/${this.health}${this.operation ? ` (operation ${this.operation.phase})` : ''}`;
    if (state !== this.lastLogged) {
      this.lastLogged = state;
      this.timeline.add(
        'health',
        `application ${this.app.name}: ${this.syncStatus}, ${this.health}${this.operation ? `; operation ${this.operation.phase}: ${this.operation.message}` : ''}`,
      );
    }
  }

  /** argo-cd controller/appcontroller.go autoSync. */
  private autoSync(): void {
    const auto = this.app.automated;
    if (!auto) return;
    if (this.syncStatus !== 'OutOfSync') {
      if (this.conditions.some((c) => c.startsWith('SyncError'))) this.setConditions([]);
      return;
    }
    const outOfSync = this.resources.filter((r) => r.status !== 'Synced');
    if (!auto.prune && outOfSync.every((r) => r.requiresPruning)) return;
    const revision = this.repo.revision;
    const last = this.lastOperation;
    const alreadyAttempted = last !== undefined && last.revision === revision;
    let resources: Set<string> | undefined;
    let selfHealAttempts = 0;
    if (alreadyAttempted && (!auto.selfHeal || last.phase !== 'Succeeded')) {
      if (last.phase !== 'Succeeded') this.setConditions([`SyncError: Failed sync attempt to ${revision}: ${last.message}`]);
      return;
    } else if (alreadyAttempted && auto.selfHeal) {
      if (this.timeline.now - (last.finishedAt ?? 0) < selfHealDelaySeconds(last.selfHealAttempts)) return;
      resources = new Set(outOfSync.map((r) => r.key));
      selfHealAttempts = last.selfHealAttempts + 1;
    }
    if (auto.prune && !auto.allowEmpty && this.resources.every((r) => r.requiresPruning)) {
      this.setConditions([`SyncError: Skipping sync attempt to ${revision}: auto-sync will wipe out all resources`]);
      return;
    }
    this.setConditions([]);
    const op: Operation = {
      revision,
      selfHealAttempts,
      prune: auto.prune,
      ...(resources ? { resources } : {}),
      startedAt: this.timeline.now,
      phase: 'Running',
      message: 'one or more tasks are running',
      retryCount: 0,
      started: false,
      results: new Map(),
      failures: [],
    };
    this.operation = op;
    this.operations.push(op);
    this.log(
      resources
        ? `self-heal: automated sync of ${resources.size} out-of-sync resource(s) (${[...resources].map((k) => k.split('/').slice(1, 2).concat(k.split('/').slice(-1)).join('/')).join(', ')}) to ${revision}`
        : `Initiated automated sync to '${revision}'`,
    );
  }

  private runOperation(desired: ManifestObject[] | undefined): void {
    const op = this.operation as Operation;
    if (op.nextAttemptAt !== undefined && this.timeline.now < op.nextAttemptAt) return;
    if (!desired) {
      op.phase = 'Error';
      op.message = `ComparisonError: ${this.app.sourcePath}: app path does not exist`;
    } else {
      this.sync(op, desired);
    }
    if (op.phase === 'Failed' || op.phase === 'Error') {
      const retry = this.app.retry;
      for (const [key, r] of op.results) if (r.syncStatus === 'SyncFailed' || r.operationState === 'Failed') op.failures.push(`${key}: ${r.message}`);
      if (retry && op.retryCount < retry.limit) {
        op.retryCount++;
        const backoff = Math.min(retry.backoff.durationSeconds * retry.backoff.factor ** (op.retryCount - 1), retry.backoff.maxDurationSeconds);
        this.log(`operation ${op.phase}: ${op.message}; retrying attempt #${op.retryCount} of ${retry.limit} in ${backoff}s`);
        op.nextAttemptAt = this.timeline.now + backoff;
        op.phase = 'Running';
        op.started = false;
        op.results = new Map();
        return;
      }
      this.finish(op);
    } else if (op.phase === 'Succeeded') {
      this.finish(op);
    }
  }

  private finish(op: Operation): void {
    op.finishedAt = this.timeline.now;
    this.log(`operation ${op.phase}: ${op.message}${op.retryCount ? ` (after ${op.retryCount} retries)` : ''}`);
    this.lastOperation = op;
    this.operation = undefined;
  }

  // ------------------------------------------------------------------------------------------
  // The sync operation (gitops-engine pkg/sync/sync_context.go)
  // ------------------------------------------------------------------------------------------

  private tasks(op: Operation, desired: ManifestObject[]): Task[] {
    const tasks: Task[] = [];
    const keys = new Set<string>();
    for (const m of desired) {
      const key = resourceKey(m.object);
      keys.add(key);
      if (op.resources && !op.resources.has(key)) continue;
      const live = this.cluster.get(key);
      tasks.push({ key, phase: 'Sync', target: m, ...(live ? { live } : {}), prune: false, wave: syncWave(m.object) });
    }
    for (const live of this.tracked()) {
      const key = resourceKey(live);
      if (keys.has(key) || (op.resources && !op.resources.has(key))) continue;
      tasks.push({ key, phase: 'Sync', live, prune: true, wave: syncWave(live) });
    }
    // Prune tasks run in reverse wave order (symmetric swap of the prune waves)...
    const pruneWaves = [...new Set(tasks.filter((t) => t.prune).map((t) => t.wave))].sort((a, b) => a - b);
    const swapped = new Map(pruneWaves.map((w, i) => [w, pruneWaves[pruneWaves.length - 1 - i] as number]));
    for (const t of tasks) if (t.prune) t.wave = swapped.get(t.wave) ?? t.wave;
    // ... and with PruneLast after the last sync wave.
    if (this.option('PruneLast')) {
      const last = Math.max(0, ...tasks.filter((t) => t.phase === 'Sync').map((t) => t.wave)) + 1;
      for (const t of tasks) if (t.prune) t.wave = last;
    }
    // CreateNamespace=true: a PreSync task when the destination namespace is neither managed nor present.
    const ns = this.app.destination.namespace;
    if (
      this.option('CreateNamespace') &&
      ns &&
      !desired.some((m) => m.object.kind === 'Namespace' && group(m.object) === '' && m.object.metadata.name === ns)
    ) {
      const key = `/Namespace//${ns}`;
      if (!this.cluster.get(key) || op.results.has(key)) {
        tasks.push({
          key,
          phase: 'PreSync',
          target: { file: '(CreateNamespace=true)', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } },
          prune: false,
          wave: 0,
          ...(this.cluster.get(key) ? { live: this.cluster.get(key) as Obj } : {}),
        });
      }
    }
    const objOf = (t: Task): Obj => (t.target?.object ?? t.live) as Obj;
    return tasks.sort(
      (a, b) =>
        phaseOrder[a.phase] - phaseOrder[b.phase] ||
        a.wave - b.wave ||
        kindOrder(objOf(a).kind) - kindOrder(objOf(b).kind) ||
        objOf(a).metadata.name.localeCompare(objOf(b).metadata.name),
    );
  }

  /** Project checks of argo-cd controller/sync.go's permission validator. */
  private permitted(o: Obj): string | undefined {
    const proj = this.target.project;
    if (!proj) return undefined;
    const namespaced = this.cluster.isNamespaced(o);
    const list = namespaced ? proj.namespaceResourceWhitelist : proj.clusterResourceWhitelist;
    const g = group(o);
    const allowed =
      namespaced && list === undefined ? true : (list ?? []).some((w) => (w.group === '*' || w.group === g) && (w.kind === '*' || w.kind === o.kind));
    if (!allowed) return `resource ${g}:${o.kind} is not permitted in project ${proj.name}`;
    if (
      namespaced &&
      !proj.destinations.some(
        (d) =>
          (d.namespace === '*' || d.namespace === o.metadata.namespace) && (d.name === undefined || d.name === '*' || d.name === this.app.destination.name),
      )
    ) {
      return `namespace ${o.metadata.namespace ?? ''} is not permitted in project '${proj.name}'`;
    }
    return undefined;
  }

  /** AugmentSyncMsg (argo-cd util/argo/argo.go): name the missing CRD. */
  private augment(o: Obj, message: string): string {
    if (message.includes('the server could not find the requested resource')) {
      return `The Kubernetes API could not find ${group(o)}/${o.kind} for requested resource ${o.metadata.namespace ?? ''}/${o.metadata.name}. Make sure the "${o.kind}" CRD is installed on the destination cluster.`;
    }
    return message;
  }

  private setPhase(op: Operation, phase: OperationPhase, message: string): void {
    op.phase = phase;
    op.message = message;
  }

  private waitingMessage(tasks: Task[], what: string): string {
    const first = tasks[0] as Task;
    const o = (first.target?.object ?? first.live) as Obj;
    const more = tasks.length - 1;
    return `waiting for ${what} ${group(o)}/${o.kind}/${o.metadata.name}${more > 0 ? ` and ${more} more resources` : ''}`;
  }

  private sync(op: Operation, desired: ManifestObject[]): void {
    const tasks = this.tasks(op, desired);
    // getSyncTasks: discovery and permissions for every task.
    let valid = true;
    for (const t of tasks) {
      const o = (t.target?.object ?? t.live) as Obj;
      const err = this.cluster.discover(o) ?? this.permitted(o);
      if (err) {
        op.results.set(t.key, { syncStatus: 'SyncFailed', operationState: 'Failed', message: this.augment(o, err) });
        valid = false;
      }
    }
    if (!valid) {
      this.setPhase(op, 'Failed', 'one or more synchronization tasks are not valid');
      const failures = [...op.results].filter(([, r]) => r.syncStatus === 'SyncFailed');
      if (op.retryCount === 0) for (const [key, r] of failures) this.log(`${key.replace(/^\//, '')}: ${r.message}${this.fileOf(tasks, key)}`);
      else this.log(`the same ${failures.length} resource(s) fail the checks again`);
      return;
    }
    if (!op.started) {
      op.started = true;
      const nsTask = tasks.find((t) => t.phase === 'PreSync' && t.target?.object.kind === 'Namespace' && !t.live);
      if (nsTask?.target) {
        this.cluster.apply(this.withTracking(nsTask.target.object, false));
        op.results.set(nsTask.key, { syncStatus: 'Synced', operationState: 'Succeeded', message: `namespace/${nsTask.target.object.metadata.name} created` });
        this.log(`CreateNamespace=true: namespace ${nsTask.target.object.metadata.name} created`);
      }
      let dryRunOk = true;
      for (const t of tasks) {
        if (t.prune || t === nsTask || !t.target) continue;
        const err = this.cluster.dryRun(t.target.object);
        if (err) {
          op.results.set(t.key, { syncStatus: 'SyncFailed', operationState: 'Failed', message: this.augment(t.target.object, err) });
          this.log(`dry run: ${shortName(t.target.object)} (${t.target.file}): ${this.augment(t.target.object, err)}`);
          dryRunOk = false;
        }
      }
      if (!dryRunOk) {
        this.setPhase(op, 'Failed', 'one or more objects failed to apply (dry run)');
        return;
      }
      this.log(`dry run of ${tasks.length} task(s) passed`);
    }
    // Update running tasks from the live health (pruned tasks excluded).
    for (const t of tasks) {
      const r = op.results.get(t.key);
      if (t.prune || !r || r.operationState !== 'Running' || !t.live) continue;
      const h = getResourceHealth(t.live);
      if (!h || h.status === 'Healthy') {
        op.results.set(t.key, { ...r, operationState: 'Succeeded', message: h?.message ?? r.message });
        this.timeline.add('health', `${shortName(t.live)} ${h ? 'Healthy' : 'has no health check'}${this.fileOf(tasks, t.key)}`);
      } else if (h.status === 'Degraded') {
        op.results.set(t.key, { ...r, operationState: 'Failed', message: h.message ?? 'Degraded' });
        this.timeline.add('health', `${shortName(t.live)} Degraded: ${h.message ?? ''}${this.fileOf(tasks, t.key)}`);
      }
    }
    const first = tasks[0];
    const lastTask = tasks[tasks.length - 1];
    const multiStep = first !== undefined && lastTask !== undefined && (first.wave !== lastTask.wave || first.phase !== lastTask.phase);
    const running = tasks.filter((t) => multiStep && op.results.get(t.key)?.operationState === 'Running');
    if (running.length > 0) {
      this.setPhase(op, 'Running', this.waitingMessage(running, 'healthy state of'));
      return;
    }
    const prunedPending = tasks.filter(
      (t) => op.results.get(t.key)?.syncStatus === 'Pruned' && this.cluster.get(t.key)?.metadata.deletionTimestamp !== undefined,
    );
    if (prunedPending.length > 0) {
      this.setPhase(op, 'Running', this.waitingMessage(prunedPending, 'deletion of'));
      return;
    }
    const completed = (r: ResourceResult | undefined): boolean => r !== undefined && r.operationState !== 'Running';
    if (tasks.some((t) => completed(op.results.get(t.key)) && op.results.get(t.key)?.operationState !== 'Succeeded')) {
      this.setPhase(op, 'Failed', 'one or more synchronization tasks completed unsuccessfully');
      return;
    }
    const pending = tasks.filter((t) => !op.results.has(t.key));
    if (pending.length === 0) {
      this.setPhase(op, 'Succeeded', 'successfully synced (no more tasks)');
      return;
    }
    const phase = (pending[0] as Task).phase;
    const wave = (pending[0] as Task).wave;
    const current = pending.filter((t) => t.phase === phase && t.wave === wave);
    const remaining = pending.filter((t) => t.phase !== phase || t.wave !== wave);
    this.setPhase(op, 'Running', 'one or more tasks are running');
    const record: WaveRecord = { phase, wave, appliedAt: this.timeline.now, objects: [] };
    this.waves.push(record);
    let failed = false;
    const ordered = [...current.filter((t) => t.prune), ...current.filter((t) => !t.prune)];
    for (const t of ordered) {
      const o = (t.target?.object ?? t.live) as Obj;
      record.objects.push({ key: t.key, name: shortName(o), ...(t.target ? { file: t.target.file } : {}) });
      if (t.prune) {
        // A per-object Prune=false always wins over the Application's prune (argo-cd docs/user-guide/sync-options.md).
        if (op.prune && !objectSyncOptions(o).includes('Prune=false')) {
          this.cluster.delete(t.key);
          op.results.set(t.key, { syncStatus: 'Pruned', operationState: 'Succeeded', message: 'pruned' });
          this.log(`wave ${wave}: prune ${shortName(o)}`);
        } else {
          op.results.set(t.key, { syncStatus: 'PruneSkipped', operationState: 'Succeeded', message: 'ignored (requires pruning)' });
        }
        continue;
      }
      try {
        const applied = this.cluster.apply(this.withTracking(this.respectIgnored(t.target as ManifestObject), true));
        const verb = applied.created ? 'created' : applied.configured ? 'configured' : 'unchanged';
        this.appliedAt.set(t.key, this.timeline.now);
        op.results.set(t.key, { syncStatus: 'Synced', operationState: 'Running', message: `${o.kind.toLowerCase()}/${o.metadata.name} ${verb}` });
        this.log(`${phase === 'Sync' ? '' : `${phase} `}wave ${wave}: apply ${shortName(o)} (${t.target?.file}): ${verb}`);
      } catch (err) {
        failed = true;
        op.results.set(t.key, { syncStatus: 'SyncFailed', operationState: 'Failed', message: err instanceof Error ? err.message : String(err) });
      }
    }
    if (failed) {
      this.setPhase(op, 'Failed', 'one or more objects failed to apply');
    } else if (remaining.length === 0) {
      this.setPhase(op, 'Succeeded', 'successfully synced (all tasks run)');
    } else {
      this.setPhase(op, 'Running', this.waitingMessage(remaining, 'healthy state of'));
    }
  }

  private fileOf(tasks: Task[], key: string): string {
    const f = tasks.find((t) => t.key === key)?.target?.file;
    return f ? ` (${f})` : '';
  }

  /** RespectIgnoreDifferences=true: ignored fields keep their live value on apply (argo-cd controller/sync.go normalizeTargetResources). */
  private respectIgnored(m: ManifestObject): Obj {
    const o = clone(m.object);
    if (!this.option('RespectIgnoreDifferences')) return o;
    const live = this.cluster.get(resourceKey(o));
    if (!live) return o;
    for (const p of this.ignoredPointers(o)) {
      const v = getPointer(live, p);
      if (v !== undefined) setPointer(o, p, v);
    }
    return o;
  }

  private withTracking(o: Obj, track: boolean): Obj {
    const c = clone(o);
    if (track)
      c.metadata.annotations = {
        ...(c.metadata.annotations ?? {}),
        [trackingAnnotation]: `${this.app.name}:${group(c)}/${c.kind}:${c.metadata.namespace ?? ''}/${c.metadata.name}`,
      };
    return c;
  }
}

/** The object's own sync options (`argocd.argoproj.io/sync-options`, comma separated). */
export function objectSyncOptions(o: Obj): string[] {
  return String(o.metadata.annotations?.['argocd.argoproj.io/sync-options'] ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

/**
 * Deleting an Application with the resources finalizer (argo-cd controller/appcontroller.go finalizeApplicationDeletion):
 * every tracked object is deleted except those with the sync option Delete=false (Argo CD >= 2.7.0), which stay
 * in the cluster, untracked by any Application. Returns the keys kept.
 */
export function deleteApplication(controller: ApplicationController): string[] {
  const kept: string[] = [];
  for (const o of [...controller.cluster.objects.values()]) {
    if (!o.metadata.annotations?.[trackingAnnotation]?.startsWith(`${controller.target.app.name}:`)) continue;
    if (objectSyncOptions(o).includes('Delete=false')) {
      kept.push(resourceKey(o));
      continue;
    }
    controller.cluster.delete(resourceKey(o));
  }
  controller.timeline.add(
    'argocd',
    `Application ${controller.target.app.name} deleted (resources finalizer); kept with Delete=false: ${kept.join(', ') || 'none'}`,
  );
  return kept;
}

function topLevel(o: Obj): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(k)) out[k] = v;
  return out;
}

function pointerParts(p: string): string[] {
  return p
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getPointer(o: any, p: string): unknown {
  let cur = o;
  for (const part of pointerParts(p)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[part];
  }
  return cur;
}

function setPointer(o: any, p: string, v: unknown): void {
  const parts = pointerParts(p);
  let cur = o;
  for (const part of parts.slice(0, -1)) {
    cur[part] ??= {};
    cur = cur[part];
  }
  cur[parts[parts.length - 1] as string] = v;
}

function removePointer(o: any, p: string): void {
  const parts = pointerParts(p);
  let cur = o;
  for (const part of parts.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return;
    cur = cur[part];
  }
  if (cur && typeof cur === 'object') delete cur[parts[parts.length - 1] as string];
}
