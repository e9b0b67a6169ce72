/**
 * A simulated cluster built from a cluster profile (charts/clusters/*): an object store with the API
 * server's discovery, defaulting and cascading deletion, and the controllers whose work Argo CD waits for.
 * Time is a simulated clock in whole seconds; `tick()` advances it and runs every controller once.
 *
 * Modelled on Kubernetes (kubernetes/kubernetes):
 * - PV controller (pkg/controller/volume/persistentvolume/pv_controller.go): a claim of an `Immediate` class
 *   is provisioned at once; of a `WaitForFirstConsumer` class only after the scheduler picked a node for a
 *   pod that mounts it (the `volume.kubernetes.io/selected-node` annotation); event "waiting for first
 *   consumer to be created before binding" meanwhile. A class that is missing or whose CSI driver is not
 *   installed leaves the claim Pending.
 * - Scheduler (volume binding + node affinity + taints + GPU capacity): a pod waits for every claim it
 *   mounts; a pod whose claim binds on first consumer triggers the binding; a node pool must match its
 *   nodeSelector and required node affinity, tolerate its taints (charts/placement/, the rules' predicates)
 *   and have a free GPU when it asks for one.
 * - Kubelet: image pull and pod start, init containers, then the serving container; a container whose
 *   env references a Secret that does not exist waits in CreateContainerConfigError (re-checked every sync
 *   loop); Ready after the load; deletion runs the preStop hook, then the pod is gone.
 * - ReplicaSet controller (pkg/controller/replicaset): creates and deletes pods to match spec.replicas.
 * - Deployment controller (pkg/controller/deployment: recreate.go, rolling.go, progress.go, util): one
 *   ReplicaSet per pod template; Recreate scales every old ReplicaSet to 0 and creates new pods only when no
 *   old pod is left; RollingUpdate keeps total pods <= replicas + maxSurge (rounded up) and available >=
 *   replicas - maxUnavailable (rounded down); the Progressing condition's lastUpdateTime moves on every
 *   progress, and more than progressDeadlineSeconds without progress sets reason ProgressDeadlineExceeded.
 * - Service controller: a LoadBalancer Service gets an address when the profile has a load balancer.
 * - Ingress controller: an Ingress gets an address when its class has a controller in the profile.
 * - HPA controller (pkg/controller/podautoscaler): every 15 s (--horizontal-pod-autoscaler-sync-period)
 *   writes AbleToScale / ScalingActive / ScalingLimited and raises the target to minReplicas.
 * - Disruption controller (pkg/controller/disruption): writes the DisruptionAllowed condition.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- objects are unstructured JSON */
import { createHash } from 'node:crypto';
import type { IPodSpec } from 'kubernetes-models/v1';
import type { ClusterProfile, NodePool } from '../../charts/clusters/types.js';
import { gpuResource, podRequests, selects, tolerates } from '../../charts/placement/index.js';
import { claimNames, clone, condition, containerSecretRefs, group, resourceKey, shortName, type Obj } from './objects.js';
import type { SyncTimeline } from './timeline.js';
import { clusterMinor, podSecurityPolicyRemovedMinor } from '../../charts/clusters/versions.js';
import { podSecurityPolicyViolations, usablePolicies } from '../../charts/rules/pod-security-policy.js';
import type { Manifest } from '../../charts/rules/types.js';

/**
 * Durations of cluster-side work the manifests do not determine. They are modelling assumptions, printed
 * in every timeline; none of them is near a deadline (the smallest progress deadline in dist/ is minutes).
 */
export const clusterTimings = {
  /** CSI CreateVolume + PV creation + bind, seconds. */
  volumeProvisionSeconds: 10,
  /** Cloud load balancer creation until the Service status carries its address, seconds. */
  loadBalancerAddressSeconds: 30,
  /** Ingress controller's status sync, seconds. */
  ingressAddressSeconds: 10,
  /** HPA controller resync period (kube-controller-manager --horizontal-pod-autoscaler-sync-period default). */
  hpaSyncPeriodSeconds: 15,
} as const;

/** How long a pod of a Deployment takes, in seconds, and where the figures come from. */
export interface PodTiming {
  /** Scheduling to the first init container: image pull and sandbox. */
  startSeconds: number;
  /** Init containers (the model download). */
  initSeconds: number;
  /** Serving container start to Ready (the model load, then the first readiness probe). */
  readySeconds: number;
  /** Where the figures come from, for the timeline. */
  source: string;
}

export interface SimClusterOptions {
  profile: ClusterProfile;
  timeline: SyncTimeline;
  /** Secrets that exist before any sync (`namespace/name`): the prerequisites an operator creates by hand. */
  secrets?: Iterable<string>;
  /** Pod timing of a Deployment's pods. */
  podTiming: (deployment: Obj) => PodTiming;
}

/** Built-in API types of the simulated API server, by group (the kinds these manifests and their controllers use). */
const builtinKinds: Record<string, readonly string[]> = {
  '': ['Namespace', 'ServiceAccount', 'PersistentVolumeClaim', 'Service', 'Secret', 'ConfigMap', 'Pod', 'Endpoints', 'ResourceQuota', 'LimitRange'],
  apps: ['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet'],
  policy: ['PodDisruptionBudget'],
  'networking.k8s.io': ['NetworkPolicy', 'Ingress', 'IngressClass'],
  autoscaling: ['HorizontalPodAutoscaler'],
  batch: ['Job', 'CronJob'],
  'rbac.authorization.k8s.io': ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'],
  'apiextensions.k8s.io': ['CustomResourceDefinition'],
};

/** Kinds an API server serves only up to a minor: policy/v1beta1 PodSecurityPolicy until 1.24 (removed in 1.25). */
const removedKinds: ReadonlyArray<{ readonly group: string; readonly kind: string; readonly removedInMinor: number }> = [
  { group: 'policy', kind: 'PodSecurityPolicy', removedInMinor: podSecurityPolicyRemovedMinor },
];

const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'IngressClass', 'PodSecurityPolicy']);

interface PodState {
  scheduledAt?: number;
  initDoneAt?: number;
  startedAt?: number;
  readyAt?: number;
  deletedAt?: number;
  goneAt?: number;
  pool?: string;
  timing: PodTiming;
  lastWaiting?: string;
}

export class SimCluster {
  readonly objects = new Map<string, Obj>();
  readonly secrets: Set<string>;
  private uid = 0;
  private readonly pods = new Map<string, PodState>();
  private readonly pendingSince = new Map<string, number>();
  private lastHpaSync = -Infinity;
  private readonly notedOnce = new Set<string>();

  constructor(readonly o: SimClusterOptions) {
    this.secrets = new Set(o.secrets ?? []);
  }

  get now(): number {
    return this.o.timeline.now;
  }

  private log(text: string): void {
    this.o.timeline.add('cluster', text);
  }

  private logOnce(key: string, text: string): void {
    if (this.notedOnce.has(key)) return;
    this.notedOnce.add(key);
    this.log(text);
  }

  // ------------------------------------------------------------------------------------------
  // API server
  // ------------------------------------------------------------------------------------------

  /**
   * Discovery as gitops-engine's kube.ServerResourceForGroupVersionKind sees it: an unknown group version
   * fails with the API server's 404 text, an unknown kind in a known group with a NotFound for the kind.
   */
  discover(o: Pick<Obj, 'apiVersion' | 'kind'>): string | undefined {
    const g = group(o);
    const crds = (this.o.profile.customResourceTypes ?? []).filter((c) => c.group === g);
    const minor = clusterMinor(this.o.profile);
    const served = removedKinds.filter((r) => r.group === g && minor < r.removedInMinor).map((r) => r.kind);
    const kinds = [...(builtinKinds[g] ?? []), ...served, ...crds.map((c) => c.kind)];
    if (kinds.length === 0) {
      return `failed to discover server resources for group version ${o.apiVersion}: the server could not find the requested resource`;
    }
    if (!kinds.includes(o.kind)) return `${o.kind}.${g} "" not found`;
    return undefined;
  }

  isNamespaced(o: Pick<Obj, 'kind'>): boolean {
    return !clusterScoped.has(o.kind);
  }

  get(key: string): Obj | undefined {
    return this.objects.get(key);
  }

  list(kind: string, namespace?: string): Obj[] {
    return [...this.objects.values()].filter((o) => o.kind === kind && (namespace === undefined || o.metadata.namespace === namespace));
  }

  /** Client-side dry run of an apply: the type must exist and a namespaced object needs its namespace set. */
  dryRun(o: Obj): string | undefined {
    const err = this.discover(o);
    if (err) return err;
    if (this.isNamespaced(o) && !o.metadata.namespace) return `${o.kind} ${o.metadata.name}: the namespace of the object is required`;
    return undefined;
  }

  /** kubectl apply: create with defaults, or update spec/labels/annotations (generation moves when spec changes). */
  apply(desired: Obj): { created: boolean; configured: boolean } {
    const err = this.dryRun(desired);
    if (err) throw new Error(err);
    const key = resourceKey(desired);
    const live = this.objects.get(key);
    if (!live) {
      const o = clone(desired);
      o.metadata.uid = `uid-${++this.uid}`;
      o.metadata.generation = 1;
      o.metadata.creationTimestamp = this.now;
      this.defaults(o);
      this.objects.set(key, o);
      this.onCreate(o);
      return { created: true, configured: false };
    }
    const next = clone(desired);
    this.defaults(next);
    const refused = validateUpdate(live, next, this.o.profile);
    if (refused) throw new Error(refused);
    const specChanged = JSON.stringify(live.spec) !== JSON.stringify(next.spec);
    const metaChanged =
      JSON.stringify(live.metadata.labels) !== JSON.stringify(next.metadata.labels) ||
      JSON.stringify(live.metadata.annotations) !== JSON.stringify(next.metadata.annotations);
    for (const field of Object.keys(next)) if (!['metadata', 'status', 'apiVersion', 'kind'].includes(field)) live[field] = next[field];
    live.metadata.labels = next.metadata.labels ?? {};
    live.metadata.annotations = { ...(next.metadata.annotations ?? {}), ...this.controllerAnnotations(live) };
    if (specChanged) live.metadata.generation = (live.metadata.generation ?? 1) + 1;
    return { created: false, configured: specChanged || metaChanged };
  }

  /** A hand edit (`kubectl edit`): mutate the live object; generation moves when the spec changed. */
  edit(key: string, mutate: (o: Obj) => void): void {
    const live = this.objects.get(key);
    if (!live) throw new Error(`edit: ${key} does not exist`);
    const before = JSON.stringify(live.spec);
    mutate(live);
    if (JSON.stringify(live.spec) !== before) live.metadata.generation = (live.metadata.generation ?? 1) + 1;
  }

  /** Annotations controllers own on a live object and that an apply of the manifest does not remove. */
  private controllerAnnotations(live: Obj): Record<string, string> {
    const keep: Record<string, string> = {};
    const selected = live.metadata.annotations?.['volume.kubernetes.io/selected-node'];
    if (selected) keep['volume.kubernetes.io/selected-node'] = selected;
    return keep;
  }

  /** API server defaulting the controllers below rely on. */
  private defaults(o: Obj): void {
    if (o.kind === 'Deployment') {
      o.spec.replicas ??= 1;
      o.spec.progressDeadlineSeconds ??= 600;
      o.spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };
    }
    if (o.kind === 'Service') o.spec.type ??= 'ClusterIP';
  }

  private onCreate(o: Obj): void {
    if (o.kind === 'Namespace') o.status = { phase: 'Active' };
    if (o.kind === 'PersistentVolumeClaim') o.status = { phase: 'Pending' };
    if (o.kind === 'Secret' && o.metadata.namespace) this.secrets.add(`${o.metadata.namespace}/${o.metadata.name}`);
  }

  /**
   * Delete with foreground propagation (Argo CD's default for prune): dependents go first, the owner
   * carries a deletionTimestamp until they are gone. Pods terminate through their preStop hook.
   */
  delete(key: string): void {
    const o = this.objects.get(key);
    if (!o || o.metadata.deletionTimestamp !== undefined) return;
    o.metadata.deletionTimestamp = this.now;
    for (const d of this.dependents(o)) this.delete(resourceKey(d));
    // The namespace controller deletes everything in a namespace being deleted.
    if (o.kind === 'Namespace') for (const x of this.objects.values()) if (x.metadata.namespace === o.metadata.name) this.delete(resourceKey(x));
    if (o.kind === 'Pod') {
      const st = this.pods.get(key);
      if (st) {
        st.deletedAt = this.now;
        const preStop = preStopSeconds(o);
        st.goneAt = st.startedAt !== undefined ? this.now + preStop : this.now;
      }
    }
  }

  private dependents(o: Obj): Obj[] {
    const uid = o.metadata.uid;
    return [...this.objects.values()].filter((d) => d.metadata.ownerReferences?.some((r) => r.uid === uid));
  }

  // ------------------------------------------------------------------------------------------
  // Controllers
  // ------------------------------------------------------------------------------------------

  /** Advance the clock by one second and run every controller once. */
  tick(): void {
    this.o.timeline.now += 1;
    this.finalizeDeletions();
    this.kedaOperator();
    this.hpaController();
    this.deploymentController();
    this.replicaSetController();
    this.scheduler();
    this.pvController();
    this.kubelet();
    this.replicaSetStatus();
    this.deploymentStatus();
    this.serviceController();
    this.ingressController();
    this.disruptionController();
  }

  private finalizeDeletions(): void {
    for (const [key, o] of [...this.objects]) {
      if (o.metadata.deletionTimestamp === undefined) continue;
      if (o.kind === 'Pod') {
        const st = this.pods.get(key);
        if (st?.goneAt !== undefined && this.now >= st.goneAt) {
          this.objects.delete(key);
          this.pods.delete(key);
          this.log(`Pod ${o.metadata.name} terminated${st.startedAt !== undefined ? ` (preStop ${preStopSeconds(o)}s)` : ''}`);
        }
        continue;
      }
      const contents = o.kind === 'Namespace' ? [...this.objects.values()].filter((x) => x.metadata.namespace === o.metadata.name) : [];
      if (this.dependents(o).length === 0 && contents.length === 0) {
        this.objects.delete(key);
        if (o.kind === 'Secret') this.secrets.delete(`${o.metadata.namespace}/${o.metadata.name}`);
        if (o.kind === 'PersistentVolumeClaim') this.cacheFiles.delete(`${o.metadata.namespace}/${o.metadata.name}`);
        if (o.kind !== 'ReplicaSet') this.log(`${shortName(o)} deleted`);
      }
    }
  }

  private pvController(): void {
    for (const pvc of this.list('PersistentVolumeClaim')) {
      if (pvc.status?.phase !== 'Pending' || pvc.metadata.deletionTimestamp !== undefined) continue;
      const key = resourceKey(pvc);
      const className = pvc.spec?.storageClassName as string | undefined;
      const cls = this.o.profile.storageClasses.find((c) => c.name === className);
      if (!cls) {
        this.logOnce(`pvc-class-${key}`, `PVC ${pvc.metadata.name} Pending: storageclass.storage.k8s.io "${className ?? ''}" not found`);
        continue;
      }
      if (!cls.csiDriverInstalled) {
        this.logOnce(
          `pvc-csi-${key}`,
          `PVC ${pvc.metadata.name} Pending: waiting for a volume to be created by the external provisioner "${cls.provisioner}" (its CSI driver is not installed)`,
        );
        continue;
      }
      const mode = cls.volumeBindingMode ?? 'Immediate';
      const selected = pvc.metadata.annotations?.['volume.kubernetes.io/selected-node'];
      if (mode === 'WaitForFirstConsumer' && !selected) {
        this.logOnce(
          `pvc-wffc-${key}`,
          `PVC ${pvc.metadata.name} Pending (class ${cls.name}, WaitForFirstConsumer): waiting for first consumer to be created before binding`,
        );
        continue;
      }
      const since = this.pendingSince.get(key) ?? this.now;
      this.pendingSince.set(key, since);
      if (this.now - since >= clusterTimings.volumeProvisionSeconds) {
        pvc.status = { phase: 'Bound', accessModes: pvc.spec?.accessModes, capacity: pvc.spec?.resources?.requests };
        pvc.spec.volumeName = `pvc-${pvc.metadata.uid}`;
        this.log(`PVC ${pvc.metadata.name} Bound (class ${cls.name}, ${mode}${selected ? `, node ${selected}` : ''})`);
      }
    }
  }

  private deploymentController(): void {
    for (const d of this.list('Deployment')) {
      if (d.metadata.deletionTimestamp !== undefined) continue;
      const hash = templateHash(d.spec.template);
      const owned = this.list('ReplicaSet', d.metadata.namespace).filter((rs) => rs.metadata.ownerReferences?.some((r) => r.uid === d.metadata.uid));
      let newRs = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
      const old = owned.filter((rs) => rs !== newRs);
      const desired = d.spec.replicas as number;
      if (!newRs) {
        const name = `${d.metadata.name}-${hash}`;
        newRs = {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: {
            name,
            namespace: d.metadata.namespace as string,
            labels: { ...(d.spec.template.metadata?.labels ?? {}), 'pod-template-hash': hash },
            ownerReferences: [{ kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid as string }],
          },
          spec: { replicas: 0, selector: d.spec.selector, template: clone(d.spec.template) },
        };
        this.apply(newRs);
        newRs = this.get(resourceKey(newRs)) as Obj;
        this.log(`Deployment ${d.metadata.name}: ReplicaSet ${name} created (${d.spec.strategy.type})`);
        this.progress(d, 'ReplicaSetUpdated', `ReplicaSet "${name}" is progressing.`);
      }
      const podsOf = (rs: Obj): Obj[] =>
        this.list('Pod', d.metadata.namespace).filter((p) => p.metadata.ownerReferences?.some((r) => r.uid === rs.metadata.uid));
      if (d.spec.strategy.type === 'Recreate') {
        for (const rs of old) if (rs.spec.replicas > 0) this.scale(d, rs, 0);
        const oldPods = old.flatMap(podsOf);
        if (oldPods.length === 0 && newRs.spec.replicas !== desired) this.scale(d, newRs, desired);
      } else {
        const ru = d.spec.strategy.rollingUpdate ?? {};
        let maxSurge = resolveIntOrPercent(ru.maxSurge ?? '25%', desired, true);
        const maxUnavailable = resolveIntOrPercent(ru.maxUnavailable ?? '25%', desired, false);
        if (maxSurge === 0 && maxUnavailable === 0) maxSurge = 1;
        const all = [newRs, ...old];
        const total = all.reduce((s, rs) => s + (rs.spec.replicas as number), 0);
        // rolling.go reconcileNewReplicaSet: scale up within replicas + maxSurge.
        if (newRs.spec.replicas < desired) {
          const room = desired + maxSurge - total;
          if (room > 0) this.scale(d, newRs, Math.min(desired, newRs.spec.replicas + room));
        } else if (newRs.spec.replicas > desired) {
          this.scale(d, newRs, desired);
        }
        // rolling.go reconcileOldReplicaSets: scale down while available stays >= replicas - maxUnavailable.
        const minAvailable = desired - maxUnavailable;
        const allPods = all.reduce((s, rs) => s + (rs.spec.replicas as number), 0);
        const newUnavailable = newRs.spec.replicas - (newRs.status?.availableReplicas ?? 0);
        let canScaleDown = allPods - minAvailable - newUnavailable;
        for (const rs of old) {
          if (canScaleDown <= 0) break;
          if (rs.spec.replicas === 0) continue;
          const by = Math.min(rs.spec.replicas, canScaleDown);
          this.scale(d, rs, rs.spec.replicas - by);
          canScaleDown -= by;
        }
      }
      // revisionHistoryLimit: old ReplicaSets at 0 beyond the limit are removed.
      const limit = d.spec.revisionHistoryLimit ?? 10;
      const idle = old.filter((rs) => rs.spec.replicas === 0 && podsOf(rs).length === 0);
      for (const rs of idle.slice(0, Math.max(0, idle.length - limit))) this.delete(resourceKey(rs));
    }
  }

  private scale(d: Obj, rs: Obj, replicas: number): void {
    const from = rs.spec.replicas as number;
    rs.spec.replicas = replicas;
    rs.metadata.generation = (rs.metadata.generation ?? 1) + 1;
    this.log(`Deployment ${d.metadata.name}: scaled ReplicaSet ${rs.metadata.name} ${from} -> ${replicas}`);
    this.progress(d, 'ReplicaSetUpdated', `ReplicaSet "${rs.metadata.name}" is progressing.`);
  }

  /** Sets the Progressing condition and moves its lastUpdateTime (deployment util SetDeploymentCondition). */
  private progress(d: Obj, reason: string, message: string): void {
    d.status ??= {};
    const conditions = ((d.status.conditions ?? []) as any[]).filter((c) => c.type !== 'Progressing');
    conditions.push({ type: 'Progressing', status: 'True', reason, message, lastUpdateTime: this.now });
    d.status.conditions = conditions;
  }

  private replicaSetController(): void {
    for (const rs of this.list('ReplicaSet')) {
      if (rs.metadata.deletionTimestamp !== undefined) continue;
      const pods = this.list('Pod', rs.metadata.namespace).filter(
        (p) => p.metadata.deletionTimestamp === undefined && p.metadata.ownerReferences?.some((r) => r.uid === rs.metadata.uid),
      );
      const want = rs.spec.replicas as number;
      for (let i = pods.length; i < want; i++) this.createPod(rs);
      if (pods.length > want) {
        // Delete the least far along first: unscheduled, then not ready, then the newest.
        const rank = (p: Obj): number => {
          const st = this.pods.get(resourceKey(p));
          return st?.readyAt !== undefined && this.now >= st.readyAt ? 2 : st?.scheduledAt !== undefined ? 1 : 0;
        };
        const victims = [...pods]
          .sort((a, b) => rank(a) - rank(b) || (b.metadata.creationTimestamp ?? 0) - (a.metadata.creationTimestamp ?? 0))
          .slice(0, pods.length - want);
        for (const p of victims) {
          this.delete(resourceKey(p));
          this.log(`Pod ${p.metadata.name} deleted by ReplicaSet ${rs.metadata.name} (scale down)`);
        }
      }
    }
  }

  /**
   * PodSecurityPolicy admission (1.24 and older, where the profile enforces it): the policies the pod's service
   * account may use (plugin/pkg/admission/security/podsecuritypolicy/admission.go; the ReplicaSet controller's own
   * account is granted none here), checked as charts/rules/pod-security-policy.ts models the provider. Returns the
   * refusal the API server would answer, or undefined when a policy admits the pod.
   */
  private podSecurityPolicyRefusal(namespace: string, pod: IPodSpec): string | undefined {
    if (this.o.profile.podSecurityPolicyAdmission !== true || clusterMinor(this.o.profile) >= podSecurityPolicyRemovedMinor) return undefined;
    const visible = [...this.objects.values()].filter(
      (o) => o.kind === 'PodSecurityPolicy' || ((o.kind === 'Role' || o.kind === 'RoleBinding') && o.metadata.namespace === namespace),
    ) as unknown as Manifest[];
    const usable = usablePolicies(visible, pod.serviceAccountName ?? 'default', namespace);
    const verdicts = usable.map((p) => podSecurityPolicyViolations(pod, p));
    if (verdicts.some((v) => v.length === 0)) return undefined;
    return `PodSecurityPolicy: unable to admit pod: [${verdicts.flat().join('; ') || 'no policy the service account may use'}]`;
  }

  private createPod(rs: Obj): void {
    const owner = this.list('Deployment', rs.metadata.namespace).find((d) => rs.metadata.ownerReferences?.some((r) => r.uid === d.metadata.uid));
    const refusal = this.podSecurityPolicyRefusal(rs.metadata.namespace as string, rs.spec.template.spec as IPodSpec);
    if (refusal !== undefined) {
      // The ReplicaSet controller retries with back-off and records FailedCreate; no pod exists.
      this.logOnce(`psp:${resourceKey(rs)}`, `ReplicaSet ${rs.metadata.name}: FailedCreate: pods "${rs.metadata.name}-" is forbidden: ${refusal}`);
      return;
    }
    const name = `${rs.metadata.name}-${(++this.uid).toString(36).padStart(5, '0')}`;
    const pod: Obj = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: rs.metadata.namespace as string,
        labels: { ...(rs.spec.template.metadata?.labels ?? {}), 'pod-template-hash': rs.metadata.labels?.['pod-template-hash'] ?? '' },
        ownerReferences: [{ kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid as string }],
      },
      spec: clone(rs.spec.template.spec),
      status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False' }] },
    };
    this.apply(pod);
    const timing = owner ? this.o.podTiming(owner) : { startSeconds: 0, initSeconds: 0, readySeconds: 0, source: 'no owner' };
    this.pods.set(resourceKey(pod), { timing });
    this.log(`Pod ${name} created by ReplicaSet ${rs.metadata.name}`);
  }

  private scheduler(): void {
    for (const pod of this.list('Pod')) {
      const key = resourceKey(pod);
      const st = this.pods.get(key);
      if (!st || st.scheduledAt !== undefined || pod.metadata.deletionTimestamp !== undefined) continue;
      const ns = pod.metadata.namespace as string;
      const reasons: string[] = [];
      const claims = claimNames(pod.spec).map((c) => ({ name: c, pvc: this.get(`/PersistentVolumeClaim/${ns}/${c}`) }));
      const missing = claims.filter((c) => !c.pvc);
      if (missing.length > 0) reasons.push(`persistentvolumeclaim "${missing[0]?.name}" not found`);
      const pool = this.pickPool(pod, reasons);
      const unboundImmediate = claims.filter((c) => c.pvc && c.pvc.status?.phase !== 'Bound' && this.bindingMode(c.pvc) === 'Immediate');
      if (unboundImmediate.length > 0) reasons.push('pod has unbound immediate PersistentVolumeClaims');
      if (reasons.length > 0 || !pool) {
        this.waiting(pod, st, `Pending, unschedulable: ${reasons.join('; ')}`);
        continue;
      }
      // Volume binding: a claim that binds on first consumer gets this pod's node; the pod waits until every claim is Bound.
      const node = `${pool.name}-0`;
      for (const c of claims) {
        if (c.pvc && c.pvc.status?.phase !== 'Bound' && !c.pvc.metadata.annotations?.['volume.kubernetes.io/selected-node']) {
          c.pvc.metadata.annotations = { ...(c.pvc.metadata.annotations ?? {}), 'volume.kubernetes.io/selected-node': node };
          this.log(`scheduler: Pod ${pod.metadata.name} selects node ${node}, which triggers provisioning of PVC ${c.name}`);
        }
      }
      if (claims.some((c) => c.pvc?.status?.phase !== 'Bound')) {
        this.waiting(pod, st, 'Pending: waiting for its volumes to bind');
        continue;
      }
      st.scheduledAt = this.now;
      st.pool = pool.name;
      pod.spec.nodeName = node;
      pod.status.conditions = [{ type: 'PodScheduled', status: 'True' }];
      this.log(`Pod ${pod.metadata.name} scheduled on ${node} (pool ${pool.name})`);
    }
  }

  private bindingMode(pvc: Obj): 'Immediate' | 'WaitForFirstConsumer' {
    return this.o.profile.storageClasses.find((c) => c.name === pvc.spec?.storageClassName)?.volumeBindingMode ?? 'Immediate';
  }

  private waiting(pod: Obj, st: PodState, text: string): void {
    if (st.lastWaiting === text) return;
    st.lastWaiting = text;
    pod.status.message = text;
    this.log(`Pod ${pod.metadata.name} ${text}`);
  }

  /**
   * A node pool the pod fits: node selector and required node affinity, tolerated taints, a free GPU when it
   * requests one. The predicates are the synth rules' own (charts/placement/), so the simulated scheduler and
   * the rules cannot disagree on where a pod may run.
   */
  private pickPool(pod: Obj, reasons: string[]): NodePool | undefined {
    const spec = pod.spec as IPodSpec;
    const gpus = podRequests(spec).gpus;
    const pools = this.o.profile.nodePools;
    const fits = pools.filter((p) => selects(spec, p));
    if (fits.length === 0) {
      reasons.push(`0/${pools.length} node pools match the Pod's node selector ${JSON.stringify(spec.nodeSelector ?? {})} or required node affinity`);
      return undefined;
    }
    const tolerated = fits.filter((p) => tolerates(spec, p));
    if (tolerated.length === 0) {
      reasons.push(`the matching node pools have taints the Pod does not tolerate`);
      return undefined;
    }
    if (gpus === 0) return tolerated[0];
    const free = tolerated.find((p) => {
      const capacity = (p.gpus?.count ?? 0) * p.count;
      const used = this.list('Pod')
        .filter((q) => this.pods.get(resourceKey(q))?.pool === p.name)
        .reduce((s, q) => s + podRequests(q.spec as IPodSpec).gpus, 0);
      return capacity - used >= gpus;
    });
    if (!free) reasons.push(`Insufficient ${gpuResource} (every GPU of the matching pools is allocated)`);
    return free;
  }

  private kubelet(): void {
    for (const pod of this.list('Pod')) {
      const key = resourceKey(pod);
      const st = this.pods.get(key);
      if (!st || st.scheduledAt === undefined || pod.metadata.deletionTimestamp !== undefined) continue;
      const t = st.timing;
      const ns = pod.metadata.namespace as string;
      if (st.initDoneAt === undefined) {
        const initStart = st.scheduledAt + t.startSeconds;
        if (this.now < initStart) continue;
        if ((pod.spec.initContainers ?? []).length === 0 || this.now >= initStart + t.initSeconds) {
          st.initDoneAt = this.now;
          if ((pod.spec.initContainers ?? []).length > 0) this.log(`Pod ${pod.metadata.name}: init containers completed`);
          this.recordCacheFile(pod);
        } else {
          continue;
        }
      }
      if (st.startedAt === undefined) {
        const server = pod.spec.containers[0];
        const missing = (pod.spec.containers as any[]).flatMap((c) => containerSecretRefs(c)).filter((s) => !this.secrets.has(`${ns}/${s}`));
        if (missing.length > 0) {
          const message = `secret "${missing[0]}" not found`;
          pod.status.containerStatuses = [{ name: server.name, ready: false, state: { waiting: { reason: 'CreateContainerConfigError', message } } }];
          this.waiting(pod, st, `container ${server.name} CreateContainerConfigError: ${message}`);
          continue;
        }
        st.startedAt = this.now;
        st.readyAt = this.now + t.readySeconds;
        pod.status.phase = 'Running';
        pod.status.message = undefined;
        pod.status.containerStatuses = [{ name: server.name, ready: false, state: { running: { startedAt: this.now } } }];
        this.log(`Pod ${pod.metadata.name}: container ${server.name} started (Ready expected in ${t.readySeconds}s)`);
      }
      if (st.readyAt !== undefined && this.now >= st.readyAt && condition(pod, 'Ready')?.status !== 'True') {
        pod.status.conditions = [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Ready', status: 'True' },
        ];
        for (const c of pod.status.containerStatuses ?? []) c.ready = true;
        this.log(`Pod ${pod.metadata.name} Ready`);
      }
    }
  }

  private isReady(pod: Obj): boolean {
    return pod.metadata.deletionTimestamp === undefined && condition(pod, 'Ready')?.status === 'True';
  }

  private replicaSetStatus(): void {
    for (const rs of this.list('ReplicaSet')) {
      const pods = this.list('Pod', rs.metadata.namespace).filter(
        (p) => p.metadata.deletionTimestamp === undefined && p.metadata.ownerReferences?.some((r) => r.uid === rs.metadata.uid),
      );
      const ready = pods.filter((p) => this.isReady(p)).length;
      const before = JSON.stringify(rs.status ?? {});
      rs.status = { replicas: pods.length, readyReplicas: ready, availableReplicas: ready, observedGeneration: rs.metadata.generation };
      if (JSON.stringify(rs.status) !== before) {
        const d = this.list('Deployment', rs.metadata.namespace).find((x) => rs.metadata.ownerReferences?.some((r) => r.uid === x.metadata.uid));
        if (d && ready > 0 && ready !== (JSON.parse(before).readyReplicas ?? 0))
          this.progress(d, 'ReplicaSetUpdated', `ReplicaSet "${rs.metadata.name}" is progressing.`);
      }
    }
  }

  private deploymentStatus(): void {
    for (const d of this.list('Deployment')) {
      const owned = this.list('ReplicaSet', d.metadata.namespace).filter((rs) => rs.metadata.ownerReferences?.some((r) => r.uid === d.metadata.uid));
      const hash = templateHash(d.spec.template);
      const newRs = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
      const sum = (f: string): number => owned.reduce((s, rs) => s + (rs.status?.[f] ?? 0), 0);
      d.status ??= {};
      d.status.observedGeneration = d.metadata.generation;
      d.status.replicas = sum('replicas');
      d.status.updatedReplicas = newRs?.status?.replicas ?? 0;
      d.status.readyReplicas = sum('readyReplicas');
      d.status.availableReplicas = sum('availableReplicas');
      const desired = d.spec.replicas as number;
      const complete = d.status.updatedReplicas === desired && d.status.replicas === desired && d.status.availableReplicas === desired;
      const prog = condition(d, 'Progressing') as any;
      if (complete) {
        if (prog?.reason !== 'NewReplicaSetAvailable') {
          this.progress(d, 'NewReplicaSetAvailable', `ReplicaSet "${newRs?.metadata.name ?? ''}" has successfully progressed.`);
          this.log(`Deployment ${d.metadata.name}: rollout complete (${desired}/${desired} available)`);
        }
      } else if (
        prog &&
        prog.reason !== 'ProgressDeadlineExceeded' &&
        prog.reason !== 'NewReplicaSetAvailable' &&
        this.now - prog.lastUpdateTime > d.spec.progressDeadlineSeconds
      ) {
        prog.status = 'False';
        prog.reason = 'ProgressDeadlineExceeded';
        prog.message = `ReplicaSet "${newRs?.metadata.name ?? ''}" has timed out progressing.`;
        this.log(`Deployment ${d.metadata.name}: Progressing=False ProgressDeadlineExceeded (no progress for more than ${d.spec.progressDeadlineSeconds}s)`);
      } else if (prog?.reason === 'NewReplicaSetAvailable' && !complete) {
        this.progress(d, 'ReplicaSetUpdated', `ReplicaSet "${newRs?.metadata.name ?? ''}" is progressing.`);
      }
    }
  }

  private serviceController(): void {
    for (const svc of this.list('Service')) {
      if (svc.spec?.type !== 'LoadBalancer' || (svc.status?.loadBalancer?.ingress ?? []).length > 0) continue;
      const lb = this.o.profile.loadBalancer;
      if (lb.kind === 'none') {
        this.logOnce(`lb-${resourceKey(svc)}`, `Service ${svc.metadata.name} (LoadBalancer): no load balancer controller in the profile, no address`);
        continue;
      }
      if (this.now - (svc.metadata.creationTimestamp ?? 0) >= clusterTimings.loadBalancerAddressSeconds) {
        const hostname = `${svc.metadata.name}-${svc.metadata.namespace}.${lb.kind}.example`;
        svc.status = { loadBalancer: { ingress: [{ hostname }] } };
        this.log(`Service ${svc.metadata.name} (LoadBalancer, ${lb.kind}): address ${hostname}`);
      }
    }
  }

  private ingressController(): void {
    for (const ing of this.list('Ingress')) {
      if ((ing.status?.loadBalancer?.ingress ?? []).length > 0) continue;
      const cls = ing.spec?.ingressClassName as string | undefined;
      if (!cls || !(this.o.profile.ingressClassNames ?? []).includes(cls)) {
        this.logOnce(`ing-${resourceKey(ing)}`, `Ingress ${ing.metadata.name}: no controller for class "${cls ?? ''}" in the profile, no address`);
        continue;
      }
      if (this.now - (ing.metadata.creationTimestamp ?? 0) >= clusterTimings.ingressAddressSeconds) {
        ing.status = { loadBalancer: { ingress: [{ hostname: `ingress-${cls}.example` }] } };
        this.log(`Ingress ${ing.metadata.name} (class ${cls}): address ingress-${cls}.example`);
      }
    }
  }

  /**
   * KEDA's operator, as far as Argo CD sees it: for each ScaledObject it creates the HPA `keda-hpa-<name>`
   * (owned by the ScaledObject, so untracked by Argo CD; KEDA's HPA minimum is at least 1, scaledobject_types.go
   * GetHPAMinReplicas) and writes the Ready condition health.lua reads; a missing scale target is Ready False.
   * The metric itself is not simulated: the HPA holds the replica count inside its bounds.
   */
  private kedaOperator(): void {
    for (const so of this.list('ScaledObject')) {
      if (this.discover(so) !== undefined || so.metadata.deletionTimestamp !== undefined) continue;
      const ref = so.spec.scaleTargetRef as { name: string };
      const ns = so.metadata.namespace as string;
      if (!this.get(`apps/Deployment/${ns}/${ref.name}`)) {
        so.status = { conditions: [{ type: 'Ready', status: 'False', reason: 'ScaledObjectCheckFailed', message: `Deployment.apps "${ref.name}" not found` }] };
        continue;
      }
      const hpaName = `keda-hpa-${so.metadata.name}`;
      if (!this.get(`autoscaling/HorizontalPodAutoscaler/${ns}/${hpaName}`)) {
        this.apply({
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscaler',
          metadata: { name: hpaName, namespace: ns, ownerReferences: [{ kind: 'ScaledObject', name: so.metadata.name, uid: so.metadata.uid as string }] },
          spec: {
            scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: ref.name },
            minReplicas: Math.max(1, (so.spec.minReplicaCount ?? 0) as number),
            maxReplicas: (so.spec.maxReplicaCount ?? 100) as number,
            behavior: so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior,
          },
        });
        this.log(`KEDA: ScaledObject ${so.metadata.name} created HPA ${hpaName}`);
      }
      so.status = {
        hpaName,
        conditions: [
          { type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: 'ScaledObject is defined correctly and is ready for scaling' },
          { type: 'Active', status: 'False', reason: 'ScalerNotActive', message: 'Scaling is not performed because triggers are not active' },
          { type: 'Fallback', status: 'False', reason: 'NoFallbackFound', message: 'No fallbacks are active on this scaled object' },
        ],
      };
    }
  }

  private hpaController(): void {
    if (this.now - this.lastHpaSync < clusterTimings.hpaSyncPeriodSeconds) return;
    this.lastHpaSync = this.now;
    for (const hpa of this.list('HorizontalPodAutoscaler')) {
      const ref = hpa.spec.scaleTargetRef as { kind: string; name: string };
      const target = this.get(`${ref.kind === 'Deployment' ? 'apps' : ''}/${ref.kind}/${hpa.metadata.namespace}/${ref.name}`);
      if (!target) {
        hpa.status = {
          conditions: [{ type: 'AbleToScale', status: 'False', reason: 'FailedGetScale', message: `deployments/scale.apps "${ref.name}" not found` }],
        };
        continue;
      }
      const min = (hpa.spec.minReplicas ?? 1) as number;
      const max = hpa.spec.maxReplicas as number;
      const current = target.spec.replicas as number;
      // A target KEDA scaled to zero is left alone (kubernetes pkg/controller/podautoscaler/horizontal.go: replicas 0
      // with minReplicas != 0 disables autoscaling, ScalingActive False, ScalingDisabled); KEDA itself scales it up again.
      if (current === 0 && min !== 0) {
        hpa.status = {
          currentReplicas: 0,
          desiredReplicas: 0,
          conditions: [
            { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale', message: "the HPA controller was able to get the target's current scale" },
            { type: 'ScalingActive', status: 'False', reason: 'ScalingDisabled', message: 'scaling is disabled since the replica count of the target is zero' },
          ],
        };
        continue;
      }
      const desired = Math.min(max, Math.max(min, current));
      hpa.status = {
        currentReplicas: current,
        desiredReplicas: desired,
        conditions: [
          { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale', message: "the HPA controller was able to get the target's current scale" },
          { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: 'the HPA was able to successfully calculate a replica count' },
          { type: 'ScalingLimited', status: current < min ? 'True' : 'False', reason: current < min ? 'TooFewReplicas' : 'DesiredWithinRange', message: '' },
        ],
      };
      if (desired !== current) {
        this.edit(resourceKey(target), (o) => (o.spec.replicas = desired));
        this.log(`HPA ${hpa.metadata.name}: scaled Deployment ${ref.name} ${current} -> ${desired} (minReplicas ${min})`);
      }
    }
  }

  private disruptionController(): void {
    for (const pdb of this.list('PodDisruptionBudget')) {
      const sel = (pdb.spec.selector?.matchLabels ?? {}) as Record<string, string>;
      const pods = this.list('Pod', pdb.metadata.namespace).filter(
        (p) => p.metadata.deletionTimestamp === undefined && Object.entries(sel).every(([k, v]) => p.metadata.labels?.[k] === v),
      );
      const healthy = pods.filter((p) => this.isReady(p)).length;
      const expected = pods.length;
      const desiredHealthy =
        pdb.spec.minAvailable !== undefined
          ? resolveIntOrPercent(pdb.spec.minAvailable, expected, true)
          : Math.max(0, expected - resolveIntOrPercent(pdb.spec.maxUnavailable ?? 0, expected, true));
      const allowed = Math.max(0, healthy - desiredHealthy);
      pdb.status = {
        observedGeneration: pdb.metadata.generation,
        currentHealthy: healthy,
        desiredHealthy,
        expectedPods: expected,
        disruptionsAllowed: allowed,
        conditions: [
          allowed > 0
            ? { type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods' }
            : { type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods' },
        ],
      };
    }
  }

  /**
   * Files in each cache claim (`namespace/claim` -> model file names), and every download: the init container
   * (service/model/download.ts) fetches MODEL into the cache unless the file is already there. A claim's files
   * go with the claim when it is deleted.
   */
  readonly cacheFiles = new Map<string, Set<string>>();
  readonly downloads: { claim: string; file: string; at: number }[] = [];

  private recordCacheFile(pod: Obj): void {
    const ns = pod.metadata.namespace as string;
    const model = (pod.spec.initContainers ?? []).flatMap((c: any) => c.env ?? []).find((e: any) => e.name === 'MODEL')?.value as string | undefined;
    if (!model) return;
    const file = model.split('/').pop() as string;
    for (const claim of claimNames(pod.spec)) {
      const key = `${ns}/${claim}`;
      const files = this.cacheFiles.get(key) ?? new Set<string>();
      if (!files.has(file)) {
        files.add(file);
        this.downloads.push({ claim: key, file, at: this.now });
        this.log(`Pod ${pod.metadata.name}: downloaded ${file} into claim ${claim}`);
      }
      this.cacheFiles.set(key, files);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Observations for the scenarios
  // ------------------------------------------------------------------------------------------

  /** Pods of a Deployment (through its ReplicaSets), terminating ones included. */
  podsOf(d: Obj): Obj[] {
    const rsUids = new Set(
      this.list('ReplicaSet', d.metadata.namespace)
        .filter((rs) => rs.metadata.ownerReferences?.some((r) => r.uid === d.metadata.uid))
        .map((rs) => rs.metadata.uid),
    );
    return this.list('Pod', d.metadata.namespace).filter((p) => p.metadata.ownerReferences?.some((r) => rsUids.has(r.uid)));
  }

  podReady(p: Obj): boolean {
    return this.isReady(p);
  }
}

/**
 * What the API server refuses in an update (kubernetes pkg/apis/core/validation/validation.go and
 * pkg/apis/apps/validation/validation.go); undefined when the update is allowed:
 * - PersistentVolumeClaim (ValidatePersistentVolumeClaimUpdate): a bound claim's spec is immutable except
 *   `resources.requests` (and volumeAttributesClassName); `requests.storage` below `status.capacity` is
 *   "field can not be less than status.capacity"; growing it needs `allowVolumeExpansion` on the class
 *   (the admission plugin PersistentVolumeClaimResize, plugin/pkg/admission/storage/persistentvolume/resize).
 * - Deployment (ValidateDeploymentUpdate): `spec.selector` is immutable in apps/v1.
 * - Service (ValidateServiceUpdate): `spec.clusterIP` may not change once allocated.
 */
export function validateUpdate(live: Obj, next: Obj, profile: ClusterProfile): string | undefined {
  const name = `${live.kind} "${live.metadata.name}"`;
  if (live.kind === 'PersistentVolumeClaim' && live.status?.phase === 'Bound') {
    const { resources: _a, volumeName: _b, ...liveRest } = live.spec ?? {};
    const { resources: _c, volumeName: _d, ...nextRest } = next.spec ?? {};
    if (JSON.stringify(liveRest) !== JSON.stringify(nextRest)) {
      return `${name} is invalid: spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims`;
    }
    const capacity = parseGi(live.status?.capacity?.storage);
    const asked = parseGi(next.spec?.resources?.requests?.storage);
    if (asked < capacity) return `${name} is invalid: spec.resources.requests.storage: Forbidden: field can not be less than status.capacity`;
    if (asked > capacity) {
      const cls = profile.storageClasses.find((c) => c.name === live.spec?.storageClassName) as { allowVolumeExpansion?: boolean } | undefined;
      if (cls?.allowVolumeExpansion !== true)
        return `${name} is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize`;
    }
  }
  if (live.kind === 'Deployment' && JSON.stringify(live.spec?.selector) !== JSON.stringify(next.spec?.selector)) {
    return `${name} is invalid: spec.selector: Invalid value: field is immutable`;
  }
  if (live.kind === 'Service' && live.spec?.clusterIP !== undefined && next.spec?.clusterIP !== undefined && live.spec.clusterIP !== next.spec.clusterIP) {
    return `${name} is invalid: spec.clusterIP: Invalid value: field is immutable`;
  }
  return undefined;
}

function parseGi(q: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(Gi|Mi|Ti)?$/.exec(q ?? '0');
  if (!m) return 0;
  return Number(m[1]) * (m[2] === 'Ti' ? 1024 : m[2] === 'Mi' ? 1 / 1024 : 1);
}

/** Stable short hash of a pod template, the ReplicaSet's pod-template-hash. */
export function templateHash(template: unknown): string {
  return createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
}

/** An int-or-percent against a total: percentages round up for surge / minAvailable and down for maxUnavailable (deployment util ResolveFenceposts). */
export function resolveIntOrPercent(v: number | string, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (!m) return Number(v);
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

/** The `sleep N` of a pod's preStop exec hook, seconds (0 when there is none). */
export function preStopSeconds(pod: Obj): number {
  const cmd = pod.spec?.containers?.[0]?.lifecycle?.preStop?.exec?.command as string[] | undefined;
  if (cmd && cmd[0] === 'sleep' && /^\d+$/.test(cmd[1] ?? '')) return Number(cmd[1]);
  return 0;
}
