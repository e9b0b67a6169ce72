/**
 * Applying manifests as Argo CD does: server-side apply with its field manager (`argocd-controller`:
 * argo-cd common/common.go `ArgoCDSSAManager`, passed by controller/sync.go `sync.WithServerSideApplyManager`
 * when the ServerSideApply=true sync option is on), objects ordered by sync wave, then kind, then name
 * (gitops-engine pkg/sync/sync_tasks.go). A refusal is recorded with the file and the object.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { ApiException, CoreV1Api, KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { podSecurityPolicyRemovedMinor } from '../../charts/clusters/versions.js';
import { kindOrder } from '../sync/argocd.js';
import { syncWave } from '../sync/objects.js';
import { repoRoot, type ManifestDoc } from '../support/manifests.js';

/** Argo CD's field manager for server-side apply. */
export const argocdFieldManager = 'argocd-controller';

export interface Refusal {
  readonly file: string;
  /** kind/namespace/name */
  readonly object: string;
  readonly message: string;
}

export const objectRef = (o: Pick<KubernetesObject, 'kind' | 'metadata'>): string =>
  `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;

/** Sync order: wave, then gitops-engine's kind order, then name. */
export function inSyncOrder(docs: readonly ManifestDoc[]): ManifestDoc[] {
  return [...docs].sort(
    (a, b) =>
      syncWave(a.object as never) - syncWave(b.object as never) ||
      kindOrder(a.object.kind) - kindOrder(b.object.kind) ||
      a.object.metadata.name.localeCompare(b.object.metadata.name),
  );
}

/** The message of a refused request: the API server's Status message when there is one. */
export function refusalMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = err.body;
    if (typeof body === 'string') {
      try {
        return (JSON.parse(body) as { message?: string }).message ?? body;
      } catch {
        return body;
      }
    }
    if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
    return `HTTP ${err.code}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * The client's object API with its discovery (kind to resource path) exposed. Its own `patch` re-serialises a
 * built-in kind through the generated models, which drops every key the model does not know (unknown or misspelt
 * fields, and JSON names that differ from the model's, such as a CRD schema's `x-kubernetes-int-or-string`):
 * the API server would never see them. The manifest bytes are sent unchanged instead, as Argo CD sends them.
 */
class ResourcePaths extends KubernetesObjectApi {
  pathOf(o: KubernetesObject): Promise<string> {
    return this.specUriPath(structuredClone(o), 'patch');
  }
}

/** One server-side apply of the object's JSON as it is, with strict field validation (kubectl's default). */
async function serverSideApply(kubeConfig: KubeConfig, paths: ResourcePaths, o: KubernetesObject): Promise<void> {
  const path = await paths.pathOf(o);
  const query = new URLSearchParams({ fieldManager: argocdFieldManager, force: 'true', fieldValidation: 'Strict' });
  const url = new URL(`${kubeConfig.getCurrentCluster()!.server}${path}?${query}`);
  const options: RequestOptions = { method: 'PATCH', headers: { 'content-type': PatchStrategy.ServerSideApply, accept: 'application/json' } };
  await kubeConfig.applyToHTTPSOptions(options);
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsRequest(url, options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(o));
  });
  if (status >= 300) throw new ApiException(status, `HTTP ${status}`, body, {});
}

/**
 * APIs the manifests write for older clusters that this control plane (v1.37) no longer serves, each with the
 * minor that removed it: an object of one is not applied here (the API server would answer 404 for the whole
 * API), and the tests say which objects that left unexercised. A profile at or past the removal never gets
 * one: a synth rule refuses it (pod-security-policy-admits for PodSecurityPolicy).
 */
export const apisRemovedBeforeControlPlane: readonly { apiVersion: string; kind: string; removedMinor: number }[] = [
  { apiVersion: 'policy/v1beta1', kind: 'PodSecurityPolicy', removedMinor: podSecurityPolicyRemovedMinor },
];

/** Whether this control plane serves the object's API (see `apisRemovedBeforeControlPlane`). */
export const servedByControlPlane = (o: Pick<KubernetesObject, 'apiVersion' | 'kind'>): boolean =>
  !apisRemovedBeforeControlPlane.some((a) => a.apiVersion === o.apiVersion && a.kind === o.kind);

/**
 * Server-side applies each document in sync order; returns what the API server refused. Objects of an API this
 * control plane does not serve are left out and listed in `options.unserved` when given.
 */
export async function applyInSyncOrder(kubeConfig: KubeConfig, docs: readonly ManifestDoc[], options: { unserved?: Refusal[] } = {}): Promise<Refusal[]> {
  const paths = kubeConfig.makeApiClient(ResourcePaths);
  const refusals: Refusal[] = [];
  for (const doc of inSyncOrder(docs)) {
    if (!servedByControlPlane(doc.object as KubernetesObject)) {
      options.unserved?.push({ file: doc.file, object: objectRef(doc.object), message: `${doc.object.apiVersion} ${doc.object.kind} is not served by v1.37` });
      continue;
    }
    try {
      await serverSideApply(kubeConfig, paths, doc.object as KubernetesObject);
    } catch (err) {
      refusals.push({ file: doc.file, object: objectRef(doc.object), message: refusalMessage(err) });
    }
  }
  return refusals;
}

/** The CRD files kept in crds/ (crds/SOURCES.md). */
export function crdDocs(): ManifestDoc[] {
  const dir = join(repoRoot, 'crds');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => ({ file: `crds/${f}`, object: parse(readFileSync(join(dir, f), 'utf8')) as ManifestDoc['object'] }));
}

/** Installs every CRD in crds/ and waits until each is Established (its API served). */
export async function installCrds(kubeConfig: KubeConfig, timeoutMs = 120_000): Promise<Refusal[]> {
  const docs = crdDocs();
  const refusals = await applyInSyncOrder(kubeConfig, docs);
  const api = KubernetesObjectApi.makeApiClient(kubeConfig);
  const deadline = Date.now() + timeoutMs;
  for (const { object } of docs) {
    for (;;) {
      const live = (await api.read({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: object.metadata.name },
      })) as KubernetesObject & {
        status?: { conditions?: Array<{ type: string; status: string }> };
      };
      if (live.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${object.metadata.name} not Established within ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return refusals;
}

/**
 * Removes an environment's namespace and everything in it, pods at once (no kubelet confirms a graceful
 * deletion here), and waits until the namespace is gone, so its pods no longer take room on the next
 * profile's nodes.
 */
export async function deleteNamespace(kubeConfig: KubeConfig, namespace: string, timeoutMs = 120_000): Promise<void> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = await core.listNamespacedPod({ namespace }).catch(() => ({ items: [] }));
    for (const pod of pods.items) await core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
    const gone = await core.readNamespace({ name: namespace }).then(
      () => false,
      (err: unknown) => err instanceof ApiException && err.code === 404,
    );
    if (gone) return;
    if (Date.now() > deadline) throw new Error(`namespace ${namespace} not deleted within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
