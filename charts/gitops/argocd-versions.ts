/**
 * The Argo CD release the generated objects need, from the fields and options they use. Each entry says which
 * release introduced the feature and where that was checked (argoproj/argo-cd at the named tags), and what an
 * older release does with it, so the floor in README.md follows from the objects rather than from memory.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- synthesized objects are read as plain JSON */

export interface ArgoCdFeature {
  /** The first release that has it, as Argo CD tags it. */
  readonly since: `v${number}.${number}.${number}`;
  /** What the objects use. */
  readonly what: string;
  /** Where the release was read. */
  readonly source: string;
  /** What an older Argo CD does instead. */
  readonly olderDoes: string;
  /** Whether one of the objects (Application, AppProject, or a synced manifest) uses it. */
  readonly usedBy: (o: any) => boolean;
}

const syncOptionsOf = (o: any): string[] => [
  ...(o?.spec?.syncPolicy?.syncOptions ?? []),
  ...String(o?.metadata?.annotations?.['argocd.argoproj.io/sync-options'] ?? '')
    .split(',')
    .map((s: string) => s.trim())
    .filter((s: string) => s !== ''),
];

export const argoCdFeatures: readonly ArgoCdFeature[] = [
  {
    since: 'v3.3.0',
    what: 'AppProject `spec.clusterResourceWhitelist[].name`',
    source: 'argo-cd commit e77acec858 (PR 24674); manifests/crds/appproject-crd.yaml has `name` in ClusterResourceRestrictionItem at v3.3.0 and not at v3.2.0',
    olderDoes: 'the CRD drops the field, so the project allows every Namespace',
    usedBy: (o) => o?.kind === 'AppProject' && (o.spec?.clusterResourceWhitelist ?? []).some((c: any) => c.name !== undefined),
  },
  {
    since: 'v2.7.0',
    what: 'sync option `Delete=false` (kept when the Application is deleted)',
    source: 'argo-cd commit b6cfe676f3 (PR 12448); docs/user-guide/sync-options.md "No Resource Deletion" from v2.7.0',
    olderDoes: 'deletes the object with the Application: an environment removal deletes its model caches',
    usedBy: (o) => syncOptionsOf(o).includes('Delete=false'),
  },
  {
    since: 'v2.3.0',
    what: 'sync option `RespectIgnoreDifferences=true`',
    source: 'docs/user-guide/sync-options.md from v2.3.0 (PR 8212)',
    olderDoes: 'applies the ignored `/spec/replicas`, fighting the autoscaler on every sync',
    usedBy: (o) => syncOptionsOf(o).includes('RespectIgnoreDifferences=true'),
  },
  {
    since: 'v1.5.0',
    what: 'sync option `Prune=false`',
    source: 'docs/user-guide/sync-options.md (marked v1.1; present at v1.5.0)',
    olderDoes: 'prunes the object',
    usedBy: (o) => syncOptionsOf(o).includes('Prune=false'),
  },
];

const parse = (v: string): number[] => v.slice(1).split('.').map(Number);
const newer = (a: string, b: string): boolean => {
  const [x, y] = [parse(a), parse(b)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  return false;
};

/** The newest `since` among the features the objects use, with that feature; undefined when none is used. */
export function minimumArgoCd(objects: readonly any[]): { version: string; feature: ArgoCdFeature; used: ArgoCdFeature[] } | undefined {
  const used = argoCdFeatures.filter((f) => objects.some((o) => f.usedBy(o)));
  if (used.length === 0) return undefined;
  const top = used.reduce((a, b) => (newer(b.since, a.since) ? b : a));
  return { version: top.since, feature: top, used };
}
