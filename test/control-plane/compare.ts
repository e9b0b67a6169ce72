/**
 * One environment through both judges: the synth rules (run on the synthesized objects, as `npm run synth`
 * does, but without stopping at the first refusal) and the real control plane (the same objects applied in
 * wave order onto the profile's nodes, scaled to what the autoscalers may reach, then rolled once), with a
 * verdict per service from each.
 */
import { ApiException, AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { buildEnvironment, environmentCharts, renderCharts } from '../../charts/environment-chart.js';
import type { Environment } from '../../charts/environments/types.js';
import { runRules } from '../../charts/rules/engine.js';
import type { Finding } from '../../charts/rules/types.js';
import type { ManifestDoc } from '../support/manifests.js';
import { applyInSyncOrder } from './apply.js';
import { onProfileCluster } from './cluster.js';
import { eventsFor, placementOf, stuckForMs } from './observe.js';

/** The environment's manifests and every rule finding, whether or not synth would refuse it. */
export function synthUnchecked(env: Environment): { docs: ManifestDoc[]; errors: Finding[] } {
  const build = buildEnvironment(env);
  // Everything synth writes for the environment: its services, the dashboard and the scale-to-zero failover responder.
  const files = renderCharts(build.app, environmentCharts(build));
  const docs = [...files].flatMap(([file, text]) =>
    parseAllDocuments(text).map((d) => ({ file: `dist/${env.name}/${file}`, object: d.toJSON() as ManifestDoc['object'] })),
  );
  return { docs, errors: [...runRules([build]).errors] };
}

/** What the real control plane did to one service: nothing wrong, or why its pods cannot all run. */
export interface RealVerdict {
  readonly service: string;
  /** Empty when every object was admitted, every pod placed, every claim bound and the rollout finished. */
  readonly problems: readonly string[];
}

const mergePatchOptions = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * Reads the API server again after a transient failure (429 from API Priority and Fairness, a 5xx, or a dropped
 * connection on a loaded machine): the verdict is about what Kubernetes decided, not about one lost response.
 */
async function reading<T>(read: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      const transient = !(err instanceof ApiException) || err.code === 429 || err.code >= 500;
      if (!transient || attempt >= attempts) throw err;
      await sleep(500 * attempt);
    }
  }
}
/** Set by the PV controller on a claim it leaves to an external provisioner (the driver's name). */
const storageProvisionerAnnotation = 'volume.kubernetes.io/storage-provisioner';
const serviceOf = (labels: Record<string, string> | undefined): string | undefined => labels?.['app.kubernetes.io/name'];

/** The most replicas an autoscaler may set, from the HPA or ScaledObject aimed at the Deployment. */
function fullScale(docs: readonly ManifestDoc[], deployment: string, declared: number): number {
  for (const { object } of docs) {
    if (object.kind === 'HorizontalPodAutoscaler' && object.spec?.scaleTargetRef?.name === deployment) return object.spec.maxReplicas as number;
    if (object.kind === 'ScaledObject' && object.spec?.scaleTargetRef?.name === deployment) return (object.spec.maxReplicaCount as number | undefined) ?? 100;
  }
  return declared;
}

/**
 * Applies the documents onto a fresh profile cluster whose kubelets report pods Ready, scales every Deployment to
 * its autoscaler's maximum, restarts each once (a template change, as a new image would), and waits until each
 * Deployment finished or is stuck; then removes everything again.
 */
export async function judgeOnRealCluster(kubeConfig: KubeConfig, env: Environment, docs: readonly ManifestDoc[], settleMs = 90_000): Promise<RealVerdict[]> {
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return onProfileCluster(kubeConfig, env.cluster, env.namespace, { kubelet: true }, async () => {
    const problems = new Map<string, string[]>(Object.keys(env.services).map((s) => [s, []]));
    const note = (service: string | undefined, problem: string) => (service && problems.has(service) ? problems.get(service)!.push(problem) : undefined);

    for (const r of await applyInSyncOrder(kubeConfig, docs)) {
      const doc = docs.find(
        (d) => `${d.object.kind}/${d.object.metadata.namespace ? `${d.object.metadata.namespace}/` : ''}${d.object.metadata.name}` === r.object,
      );
      note(serviceOf(doc?.object.metadata.labels), `${r.object} refused: ${r.message}`);
    }
    const deployments = docs.filter((d) => d.object.kind === 'Deployment');
    const desired = new Map(
      deployments.map((d) => [d.object.metadata.name, fullScale(docs, d.object.metadata.name, (d.object.spec?.replicas as number | undefined) ?? 1)]),
    );
    const settle = async (phase: string): Promise<void> => {
      const deadline = Date.now() + settleMs;
      // A refusal or a Pending pod counts once it held for a while: a quota's usage is computed just after the
      // quota is created, and the ReplicaSet controller retries a refused pod.
      const firstSeen = new Map<string, number>();
      for (;;) {
        const live = (await reading(() => apps.listNamespacedDeployment({ namespace: env.namespace }))).items;
        const pods = (await reading(() => core.listNamespacedPod({ namespace: env.namespace }))).items;
        const claims = (await reading(() => core.listNamespacedPersistentVolumeClaim({ namespace: env.namespace }))).items;
        // A claim the PV controller handed to an external provisioner (the storage-provisioner annotation that
        // kubernetes/kubernetes pkg/controller/volume/persistentvolume/pv_controller.go provisionClaimOperationExternal
        // sets through setClaimProvisioner, beside its ExternalProvisioning event) and still
        // Pending after stuckForMs waits for a driver that is not running: the stand-in provisioner (cluster.ts)
        // binds an installed driver's claim within a pass of a second. Its service is settled; the claim's own
        // note below says why (without this the loop waited out settleMs, 90 s, for a claim that never binds).
        const waitingOnClaim = new Set<string>();
        for (const claim of claims) {
          if (claim.status?.phase === 'Bound' || claim.metadata?.annotations?.[storageProvisionerAnnotation] === undefined) continue;
          const key = `claim ${claim.metadata!.name!}`;
          firstSeen.set(key, firstSeen.get(key) ?? Date.now());
          const service = serviceOf(claim.metadata?.labels);
          if (service && Date.now() - firstSeen.get(key)! >= stuckForMs) waitingOnClaim.add(service);
        }
        const stuck = new Map<string, string>();
        let done = true;
        for (const d of live) {
          const name = d.metadata!.name!;
          const failure = d.status?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
          if (failure) stuck.set(name, `${phase}: pods refused: ${failure.message}`);
          const pending = pods
            .filter((p) => serviceOf(p.metadata?.labels) === name)
            .map(placementOf)
            .find((p) => p?.unschedulable !== undefined);
          if (pending) stuck.set(name, `${phase}: pod Pending: ${pending.unschedulable}`);
          if (stuck.has(name)) firstSeen.set(`${name} ${stuck.get(name)}`, firstSeen.get(`${name} ${stuck.get(name)}`) ?? Date.now());
          const held = stuck.has(name) && Date.now() - firstSeen.get(`${name} ${stuck.get(name)}`)! >= stuckForMs;
          const want = desired.get(name) ?? 1;
          const finished =
            d.status?.observedGeneration === d.metadata?.generation &&
            d.status?.updatedReplicas === want &&
            d.status?.availableReplicas === want &&
            (d.status?.replicas ?? 0) === want;
          if (!finished && !held && !waitingOnClaim.has(name)) done = false;
        }
        if (done || Date.now() > deadline) {
          for (const d of live) {
            const name = d.metadata!.name!;
            const want = desired.get(name) ?? 1;
            if (stuck.has(name)) note(name, stuck.get(name)!);
            // A service waiting on its claim gets the claim's note below as its reason.
            else if (!waitingOnClaim.has(name) && (d.status?.updatedReplicas !== want || d.status?.availableReplicas !== want))
              note(name, `${phase}: ${d.status?.availableReplicas ?? 0}/${want} available after ${settleMs / 1000} s`);
          }
          for (const claim of (await reading(() => core.listNamespacedPersistentVolumeClaim({ namespace: env.namespace }))).items) {
            if (claim.status?.phase === 'Bound') continue;
            const events = await eventsFor(kubeConfig, env.namespace, 'PersistentVolumeClaim', claim.metadata!.name!);
            // The PV controller's word on it: ExternalProvisioning once it handed the claim to a driver.
            const event = events.find((e) => e.startsWith('ExternalProvisioning')) ?? events.at(-1);
            note(serviceOf(claim.metadata?.labels), `${phase}: claim ${claim.metadata!.name} ${claim.status?.phase ?? 'Pending'}${event ? ` (${event})` : ''}`);
          }
          return;
        }
        await sleep(1_000);
      }
    };

    for (const d of deployments) {
      const name = d.object.metadata.name;
      if (desired.get(name) !== ((d.object.spec?.replicas as number | undefined) ?? 1)) {
        // The autoscaler at its maximum (KEDA and the HPA write spec.replicas through the scale subresource).
        await apps.patchNamespacedDeploymentScale({ name, namespace: env.namespace, body: { spec: { replicas: desired.get(name) } } }, mergePatchOptions);
      }
    }
    await settle('at full scale');
    if ([...problems.values()].every((p) => p.length === 0)) {
      for (const d of deployments) {
        await apps.patchNamespacedDeployment(
          {
            name: d.object.metadata.name,
            namespace: env.namespace,
            body: { spec: { template: { metadata: { annotations: { 'gguf-on-k8s.test/restartedAt': new Date().toISOString() } } } } },
          },
          mergePatchOptions,
        );
      }
      await sleep(2_000);
      await settle('rolling out');
    }
    return [...problems].map(([service, p]) => ({ service, problems: p }));
  });
}
