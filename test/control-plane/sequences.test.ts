/**
 * The day-2 sequences (test/sync/sequences.ts) replayed on a real Kubernetes API server: for every environment, each
 * commit of each sequence is synthesized (`synthesizeCommit`) and its dist/ files server-side applied in Argo CD's
 * wave order with Argo CD's field manager (apply.ts), the objects the commit no longer has pruned as Argo CD prunes
 * them (except `Prune=false`; an environment removal keeps only `Delete=false`). What the sync harness predicts must
 * be what the API server does:
 * - every synthesized commit is admitted (the commits keep a claim per model identity, so none of them changes a
 *   bound claim's immutable spec or shrinks it);
 * - the updates the harness refuses (`validateUpdate` in test/sync/cluster.ts) are refused by Kubernetes itself, on
 *   the environment's own objects: a bound claim whose storage request shrinks below status.capacity, a bound
 *   claim's storageClassName and accessModes, a Deployment's selector; each real message names the field and the
 *   reason the harness names; and updates both allow (the claim as committed, a pod-template annotation) are admitted.
 * One control plane for the file; each environment on its profile's nodes (onProfileCluster), whose kubelets report
 * pods Ready so rollouts finish and claims on WaitForFirstConsumer classes bind.
 */
import { ApiException, CoreV1Api, KubernetesObjectApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { environments } from '../../charts/environments/index.js';
import type { Environment } from '../../charts/environments/types.js';
import type { ManifestDoc } from '../support/manifests.js';
import { validateUpdate } from '../sync/cluster.js';
import type { Obj } from '../sync/objects.js';
import { sequencesFor, subjectService, synthesizeCommit, type CommitOutput } from '../sync/sequences.js';
import { applyInSyncOrder, installCrds, objectRef, refusalMessage } from './apply.js';
import { onProfileCluster } from './cluster.js';
import { controlPlaneAvailabilityTest, controlPlaneMissing, useControlPlane } from './setup.js';

const syncOptions = (o: Obj): string[] => (o.metadata.annotations?.['argocd.argoproj.io/sync-options'] ?? '').split(',').map((s) => s.trim());
const docsOf = (out: CommitOutput & { kind: 'files' }): ManifestDoc[] =>
  [...out.files].flatMap(([file, objects]) => objects.map((object) => ({ file, object: object as ManifestDoc['object'] })));

/**
 * The environment's objects as Argo CD keeps them in sync with one commit after another: the commit applied in wave
 * order, then what the previous commit had and this one has not deleted (prune), unless it says Prune=false.
 */
class Replay {
  private live = new Map<string, ManifestDoc>();
  private readonly objects: KubernetesObjectApi;

  constructor(private readonly kubeConfig: KubeConfig) {
    this.objects = KubernetesObjectApi.makeApiClient(kubeConfig);
  }

  /** Applies the commit's documents and prunes the rest; returns the refusals as `file object: message`. */
  async commit(docs: readonly ManifestDoc[]): Promise<string[]> {
    const refusals = (await applyInSyncOrder(this.kubeConfig, docs)).map((r) => `${r.file} ${r.object}: ${r.message}`);
    const next = new Map(docs.map((d) => [objectRef(d.object), d]));
    for (const [ref, d] of this.live) if (!next.has(ref) && !syncOptions(d.object as Obj).includes('Prune=false')) await this.remove(d);
    this.live = next;
    return refusals;
  }

  /** The Application deleted with its resources: everything goes but what says Delete=false. */
  async removeApplication(): Promise<void> {
    for (const [ref, d] of this.live) {
      if (syncOptions(d.object as Obj).includes('Delete=false')) continue;
      await this.remove(d);
      this.live.delete(ref);
    }
  }

  /**
   * Deletes one object; one already gone is pruned already (a claim pruned earlier that a later commit applied while
   * the pvc-protection finalizer still held it Terminating disappears once its pods are gone).
   */
  private async remove(d: ManifestDoc): Promise<void> {
    await this.objects.delete(d.object as KubernetesObject).catch((err: unknown) => {
      if (err instanceof ApiException && err.code === 404) return;
      throw new Error(`${d.file} ${objectRef(d.object)}: delete refused: ${refusalMessage(err)}`);
    });
  }
}

/** Waits until the claim is Bound with a capacity (the PV controller writes it once the stand-in provisioner's volume binds). */
async function boundClaim(kubeConfig: KubeConfig, namespace: string, name: string, timeoutMs = 120_000): Promise<Obj> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const claim = await core.readNamespacedPersistentVolumeClaim({ name, namespace });
    if (claim.status?.phase === 'Bound' && claim.status.capacity?.storage) return JSON.parse(JSON.stringify(claim)) as Obj;
    if (Date.now() > deadline) throw new Error(`claim ${namespace}/${name} not Bound within ${timeoutMs / 1000} s (phase ${claim.status?.phase})`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** `<field>: <reason>` of a harness refusal ("X is invalid: spec.selector: Invalid value: field is immutable"). */
function fieldAndReason(message: string): { field: string; reason: string } {
  const detail = message.split(' is invalid: ')[1] ?? message;
  const field = detail.split(':')[0]!;
  const reason = detail.split(': ').at(-1)!;
  return { field, reason };
}

/** Storage one Gi below what the claim holds. */
function shrunk(capacity: string): string {
  const m = /^(\d+)Gi$/.exec(capacity);
  if (!m) throw new Error(`capacity ${capacity} is not whole Gi`);
  return `${Number(m[1]) - 1}Gi`;
}

const replayed = environments.filter((e) => sequencesFor(e).length > 0);

controlPlaneAvailabilityTest();

describe.skipIf(controlPlaneMissing !== undefined).sequential('day-2 sequences on a real API server', () => {
  const controlPlane = useControlPlane();

  it('installs the CRDs kept in crds/', async () => {
    expect(await installCrds(controlPlane().kubeConfig)).toEqual([]);
  });

  it.each(replayed.map((e) => [e.name, e] as const))(
    '%s: every synthesized commit is admitted; a shrinking claim and immutable fields are refused as the harness predicts',
    async (_name, env: Environment) => {
      const { kubeConfig } = controlPlane();
      await onProfileCluster(kubeConfig, env.cluster, env.namespace, { kubelet: true }, async () => {
        const replay = new Replay(kubeConfig);
        const first = synthesizeCommit(env);
        if (first.kind !== 'files') throw new Error(`${env.definedIn}: the committed environment does not synthesize (${first.kind})`);
        const base = docsOf(first);
        expect(await replay.commit(base), 'the committed environment').toEqual([]);

        // Updates of the subject service's bound claim and its Deployment, judged by both: the ones the harness refuses,
        // and as positive controls ones both allow (the claim as committed, a template annotation).
        const subject = subjectService(env)!;
        const claimDoc = base.find((d) => d.object.kind === 'PersistentVolumeClaim' && d.object.metadata.labels?.['app.kubernetes.io/name'] === subject);
        const deploymentDoc = base.find((d) => d.object.kind === 'Deployment' && d.object.metadata.name === subject)!;
        const refusedUpdates: Array<{ what: string; harness: string | undefined; real: string }> = [];
        const allowedUpdates: typeof refusedUpdates = [];
        // The harness's live object is the applied manifest with the status the cluster gave it.
        const judge = async (what: string, doc: ManifestDoc, live: Obj, next: Obj) => {
          const refusals = await applyInSyncOrder(kubeConfig, [{ file: doc.file, object: next as ManifestDoc['object'] }]);
          return { what, harness: validateUpdate(live, next, env.cluster), real: refusals.map((r) => r.message).join('; ') };
        };
        const tryUpdate = async (what: string, doc: ManifestDoc, live: Obj, next: Obj) => void refusedUpdates.push(await judge(what, doc, live, next));
        if (claimDoc) {
          const claim = claimDoc.object as Obj;
          const live = { ...claim, status: (await boundClaim(kubeConfig, env.namespace, claim.metadata.name)).status };
          const capacity = String(live.status.capacity.storage);
          allowedUpdates.push(await judge('claim as committed', claimDoc, live, claim));
          await tryUpdate('claim storage below status.capacity', claimDoc, live, {
            ...claim,
            spec: { ...claim.spec, resources: { ...claim.spec.resources, requests: { ...claim.spec.resources.requests, storage: shrunk(capacity) } } },
          });
          const otherClass = env.cluster.storageClasses.find((c) => c.name !== claim.spec.storageClassName)?.name ?? 'another-class';
          await tryUpdate('claim storageClassName', claimDoc, live, { ...claim, spec: { ...claim.spec, storageClassName: otherClass } });
          const otherMode = claim.spec.accessModes?.[0] === 'ReadWriteMany' ? 'ReadWriteOnce' : 'ReadWriteMany';
          await tryUpdate('claim accessModes', claimDoc, live, { ...claim, spec: { ...claim.spec, accessModes: [otherMode] } });
        }
        const deployment = deploymentDoc.object as Obj;
        const template = deployment.spec.template;
        allowedUpdates.push(
          await judge('Deployment template annotation', deploymentDoc, deployment, {
            ...deployment,
            spec: {
              ...deployment.spec,
              template: {
                ...template,
                metadata: { ...template.metadata, annotations: { ...template.metadata.annotations, 'gguf-on-k8s.test/replayed': 'true' } },
              },
            },
          }),
        );
        const moved = { 'gguf-on-k8s.test/selector': 'changed' };
        await tryUpdate('Deployment spec.selector', deploymentDoc, deployment, {
          ...deployment,
          spec: {
            ...deployment.spec,
            selector: { matchLabels: { ...deployment.spec.selector.matchLabels, ...moved } },
            template: {
              ...deployment.spec.template,
              metadata: { ...deployment.spec.template.metadata, labels: { ...deployment.spec.template.metadata.labels, ...moved } },
            },
          },
        });
        if (process.env.SYNC_VERBOSE)
          for (const u of [...allowedUpdates, ...refusedUpdates])
            process.stdout.write(`${env.name} ${u.what}: harness ${u.harness ?? 'allows'}; API server ${u.real || 'allows'}\n`);
        expect(allowedUpdates, 'updates both allow').toEqual(allowedUpdates.map((u) => ({ what: u.what, harness: undefined, real: '' })));
        expect(refusedUpdates.length).toBe(claimDoc ? 4 : 1);
        for (const u of refusedUpdates) {
          expect(u.harness, `${u.what}: the harness refuses it`).toBeDefined();
          expect(u.real, `${u.what}: the API server refuses it (harness: ${u.harness})`).not.toBe('');
          const { field, reason } = fieldAndReason(u.harness!);
          expect(u.real, `${u.what}: the real refusal names the harness's field`).toContain(`${field}:`);
          expect(u.real, `${u.what}: and its reason`).toContain(reason);
        }

        // Every commit of every sequence, each sequence from the committed environment.
        const refused: string[] = [];
        let applied = 0;
        for (const seq of sequencesFor(env)) {
          refused.push(...(await replay.commit(base)).map((r) => `${seq.name}, back to the committed environment: ${r}`));
          let current: Environment = env;
          let main: Environment = env;
          for (const [i, commit] of seq.commits.entries()) {
            // The branch logic of runSequence: a commit on main, a promotion to it, or one on the tracked branch.
            if (commit.lands === 'main') main = commit.edit(main) ?? main;
            const next = commit.lands === undefined ? commit.edit(current) : main;
            if (commit.lands === undefined && next !== null) main = next;
            const out = synthesizeCommit(next);
            if (out.kind === 'refused') continue; // refused at synth: nothing reaches the cluster
            if (out.kind === 'removed') {
              await replay.removeApplication();
              continue;
            }
            current = out.environment;
            applied += 1;
            refused.push(...(await replay.commit(docsOf(out))).map((r) => `${seq.name}, commit ${i + 1} (${commit.title}): ${r}`));
          }
        }
        expect(applied, 'commits applied').toBeGreaterThanOrEqual(sequencesFor(env).length - 1);
        expect(refused, 'objects of synthesized commits the API server refused').toEqual([]);
      });
    },
    600_000,
  );
});
