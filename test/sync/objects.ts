/**
 * Kubernetes objects as the simulated cluster and the simulated Argo CD see them: plain JSON, like
 * gitops-engine's `unstructured.Unstructured`, with the few typed accessors both sides need.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- objects are unstructured JSON, exactly as in gitops-engine */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  generation?: number;
  /** Simulated seconds. */
  creationTimestamp?: number;
  deletionTimestamp?: number;
  ownerReferences?: { kind: string; name: string; uid: string }[];
}

export interface Obj {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: any;
  status?: any;
  [field: string]: any;
}

export const syncWaveAnnotation = 'argocd.argoproj.io/sync-wave';

export function group(o: Pick<Obj, 'apiVersion'>): string {
  const i = o.apiVersion.indexOf('/');
  return i < 0 ? '' : o.apiVersion.slice(0, i);
}

/** `group/Kind/namespace/name`, the identity of gitops-engine's kube.ResourceKey. */
export function resourceKey(o: Obj): string {
  return `${group(o)}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** `Kind/name` for timelines, with the group when it is not core or apps. */
export function shortName(o: Obj): string {
  const g = group(o);
  return `${g === '' || g === 'apps' ? '' : `${g}/`}${o.kind}/${o.metadata.name}`;
}

/**
 * Sync wave of an object: the annotation parsed as an integer, else 0. (gitops-engine
 * pkg/sync/syncwaves/waves.go falls back to the Helm hook weight, which these manifests never set.)
 */
export function syncWave(o: Obj): number {
  const text = o.metadata.annotations?.[syncWaveAnnotation];
  if (text !== undefined && /^[+-]?\d+$/.test(text.trim())) return Number(text.trim());
  return 0;
}

export function clone<T>(v: T): T {
  return structuredClone(v);
}

export function condition(o: Obj, type: string): { type: string; status: string; reason?: string; message?: string } | undefined {
  const list = (o.status?.conditions ?? []) as { type: string; status: string; reason?: string; message?: string }[];
  return list.find((c) => c.type === type);
}

/** Every Secret name a pod template reads (env, envFrom, volumes), the references the kubelet resolves before it starts a container. */
export function secretRefs(podSpec: any): string[] {
  const names = new Set<string>();
  for (const c of [...(podSpec?.initContainers ?? []), ...(podSpec?.containers ?? [])]) {
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref?.name && ref.optional !== true) names.add(ref.name);
    }
    for (const e of c.envFrom ?? []) if (e.secretRef?.name && e.secretRef.optional !== true) names.add(e.secretRef.name);
  }
  for (const v of podSpec?.volumes ?? []) if (v.secret?.secretName && v.secret.optional !== true) names.add(v.secret.secretName);
  return [...names].sort();
}

/** Secret names a container of the pod needs before it can be created (env references), by container name. */
export function containerSecretRefs(container: any): string[] {
  const names: string[] = [];
  for (const e of container.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref?.name && ref.optional !== true) names.push(ref.name);
  }
  for (const e of container.envFrom ?? []) if (e.secretRef?.name && e.secretRef.optional !== true) names.push(e.secretRef.name);
  return names;
}

/** Claim names of the pod's persistentVolumeClaim volumes. */
export function claimNames(podSpec: any): string[] {
  return (podSpec?.volumes ?? []).flatMap((v: any) => (v.persistentVolumeClaim?.claimName ? [v.persistentVolumeClaim.claimName as string] : []));
}
