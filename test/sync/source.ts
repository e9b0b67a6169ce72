/**
 * What the harness syncs: every Argo CD Application committed in argocd/ (never a fixed list), the
 * AppProject it belongs to, the manifests its source path holds (a "repository" the scenarios can commit
 * to in memory), and the cluster profile and service plans of the environment it deploys to.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { ClusterProfile } from '../../charts/clusters/types.js';
import { buildEnvironment } from '../../charts/environment-chart.js';
import { environments } from '../../charts/environments/index.js';
import type { Environment } from '../../charts/environments/types.js';
import type { InferenceServicePlan } from '../../charts/sizing/plan.js';
import { clone, type Obj } from './objects.js';

/** The repository root (two levels above test/sync/). */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface ManifestObject {
  /** Repository-relative file the object comes from. */
  file: string;
  object: Obj;
}

export interface ApplicationSpec {
  name: string;
  file: string;
  project: string;
  sourcePath: string;
  /** The source's repository (a Git repository, or a Helm chart repository for `chart`). */
  repoURL: string;
  /** A Helm chart source (`spec.source.chart`): rendered by the repo server from the chart repository, not from this repository. */
  chart?: { name: string; version: string };
  /** `spec.source.directory.recurse`: whether subdirectories of the path are read (default false). */
  recurse: boolean;
  destination: { name?: string; server?: string; namespace?: string };
  automated?: { prune: boolean; selfHeal: boolean; allowEmpty: boolean };
  syncOptions: string[];
  retry?: { limit: number; backoff: { durationSeconds: number; factor: number; maxDurationSeconds: number } };
  ignoreDifferences: { group?: string; kind: string; name?: string; namespace?: string; jsonPointers: string[] }[];
  raw: Obj;
}

export interface ProjectSpec {
  name: string;
  file: string;
  clusterResourceWhitelist: { group: string; kind: string }[] | undefined;
  namespaceResourceWhitelist: { group: string; kind: string }[] | undefined;
  destinations: { name?: string; server?: string; namespace?: string }[];
  sourceRepos: string[];
}

function readYamlObjects(file: string): Obj[] {
  return parseAllDocuments(readFileSync(join(repoRoot, file), 'utf8'))
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}`);
      return d.toJSON() as Obj | null;
    })
    .filter((o): o is Obj => o !== null && typeof o === 'object');
}

function yamlFilesUnder(dir: string): string[] {
  const full = join(repoRoot, dir);
  if (!existsSync(full)) return [];
  const out: string[] = [];
  for (const e of readdirSync(full, { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...yamlFilesUnder(rel));
    else if (/\.(ya?ml|json)$/.test(e.name)) out.push(rel);
  }
  return out.sort();
}

/** Go duration text ("10s", "5m", "1h") in seconds. */
export function durationSeconds(text: string | undefined, fallback: number): number {
  if (!text) return fallback;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|m|s)/g)) total += Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
  return total || fallback;
}

function toApplication(o: Obj, file: string): ApplicationSpec {
  const spec = o.spec ?? {};
  const auto = spec.syncPolicy?.automated;
  const retry = spec.syncPolicy?.retry;
  return {
    name: o.metadata.name,
    file,
    project: spec.project ?? 'default',
    sourcePath: String(spec.source?.path ?? '').replace(/\/+$/, ''),
    repoURL: String(spec.source?.repoURL ?? ''),
    ...(spec.source?.chart !== undefined ? { chart: { name: String(spec.source.chart), version: String(spec.source.targetRevision ?? '') } } : {}),
    recurse: spec.source?.directory?.recurse === true,
    destination: spec.destination ?? {},
    ...(auto ? { automated: { prune: auto.prune === true, selfHeal: auto.selfHeal === true, allowEmpty: auto.allowEmpty === true } } : {}),
    syncOptions: spec.syncPolicy?.syncOptions ?? [],
    ...(retry
      ? {
          retry: {
            limit: retry.limit ?? 5,
            backoff: {
              durationSeconds: durationSeconds(retry.backoff?.duration, 5),
              factor: retry.backoff?.factor ?? 2,
              maxDurationSeconds: durationSeconds(retry.backoff?.maxDuration, 180),
            },
          },
        }
      : {}),
    ignoreDifferences: spec.ignoreDifferences ?? [],
    raw: o,
  };
}

/**
 * The Applications whose source is a path of this repository, which the harness renders; a Helm chart's (a
 * companion's) cannot be rendered offline (test/sync/companions.test.ts checks those).
 */
export function pathApplications(): ApplicationSpec[] {
  return findApplications().filter((a) => a.chart === undefined);
}

/** Every Application in argocd/ (any file, any document). */
export function findApplications(): ApplicationSpec[] {
  return yamlFilesUnder('argocd').flatMap((file) =>
    readYamlObjects(file)
      .filter((o) => o.kind === 'Application' && o.apiVersion.startsWith('argoproj.io/'))
      .map((o) => toApplication(o, file)),
  );
}

export function findProject(name: string): ProjectSpec | undefined {
  for (const file of yamlFilesUnder('argocd')) {
    for (const o of readYamlObjects(file)) {
      if (o.kind === 'AppProject' && o.metadata.name === name) {
        return {
          name,
          file,
          clusterResourceWhitelist: o.spec?.clusterResourceWhitelist,
          namespaceResourceWhitelist: o.spec?.namespaceResourceWhitelist,
          destinations: o.spec?.destinations ?? [],
          sourceRepos: o.spec?.sourceRepos ?? [],
        };
      }
    }
  }
  return undefined;
}

/**
 * The Git side as the repo server renders it: path -> manifests at one revision. Starts as the committed
 * working tree; scenarios commit changes in memory (a new revision each time).
 */
export class Repo {
  private commits = 0;
  revision = 'HEAD';
  private readonly files = new Map<string, Obj[]>();
  private readonly dirs = new Set<string>();
  /**
   * Whether render reads subdirectories. Argo CD's directory source reads only the files directly in its path
   * unless `directory.recurse` is set (argo-cd docs/user-guide/directory.md; reposerver/repository/repository.go
   * findManifests skips subdirectories when recurse is off).
   */
  private readonly recurse: boolean;

  constructor(paths: readonly string[], opts: { recurse?: boolean } = {}) {
    this.recurse = opts.recurse === true;
    for (const p of paths) {
      if (existsSync(join(repoRoot, p)) && statSync(join(repoRoot, p)).isDirectory()) {
        this.dirs.add(p);
        for (const f of yamlFilesUnder(p)) this.files.set(f, readYamlObjects(f));
      }
    }
  }

  /** Manifests under a path, or undefined when the path does not exist at this revision. */
  render(path: string): ManifestObject[] | undefined {
    if (!this.dirs.has(path)) return undefined;
    const out: ManifestObject[] = [];
    for (const [file, objects] of [...this.files].sort(([a], [b]) => a.localeCompare(b))) {
      if (!file.startsWith(`${path}/`) || (!this.recurse && file.slice(path.length + 1).includes('/'))) continue;
      for (const object of objects) out.push({ file, object: clone(object) });
    }
    return out;
  }

  filesUnder(path: string): string[] {
    return [...this.files.keys()].filter((f) => f.startsWith(`${path}/`) && (this.recurse || !f.slice(path.length + 1).includes('/'))).sort();
  }

  /** A commit: replace, add (`objects`) or delete (`null`) files, or remove a whole directory. */
  commit(message: string, change: { files?: Record<string, Obj[] | null>; removeDir?: string }): string {
    for (const [file, objects] of Object.entries(change.files ?? {})) {
      if (objects === null) this.files.delete(file);
      else {
        this.files.set(file, objects.map(clone));
        this.dirs.add(file.slice(0, file.lastIndexOf('/')));
      }
    }
    if (change.removeDir) {
      for (const f of this.filesUnder(change.removeDir)) this.files.delete(f);
      this.dirs.delete(change.removeDir);
    }
    this.revision = `commit-${++this.commits} (${message})`;
    return this.revision;
  }

  /** Edit every object of a path in place as one commit. */
  mutate(path: string, message: string, fn: (o: Obj, file: string) => void): string {
    const files: Record<string, Obj[]> = {};
    for (const f of this.filesUnder(path)) {
      const objects = (this.files.get(f) ?? []).map(clone);
      for (const o of objects) fn(o, f);
      files[f] = objects;
    }
    return this.commit(message, { files });
  }
}

/**
 * Argo CD's source check before it renders anything: the project's sourceRepos must match the Application's
 * repository (argo-cd pkg/apis/application/v1alpha1/app_project_types.go `IsSourcePermitted`, glob match; `*`
 * admits any), else the Application gets an InvalidSpecError and is never synced (util/argo/argo.go
 * `ValidatePermissions`: "application repo <url> is not permitted in project '<name>'").
 */
export function sourceNotPermitted(app: ApplicationSpec, project: ProjectSpec | undefined): string | undefined {
  if (project === undefined) return `application references project ${app.project} which does not exist`;
  const normal = (u: string): string =>
    u
      .replace(/\/+$/, '')
      .replace(/\.git$/, '')
      .toLowerCase();
  const glob = (pattern: string, text: string): boolean =>
    new RegExp(
      `^${pattern
        .split('*')
        .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    ).test(text);
  if (project.sourceRepos.some((r) => r === '*' || glob(normal(r), normal(app.repoURL)))) return undefined;
  return `application repo ${app.repoURL} is not permitted in project '${project.name}'`;
}

/** The environment an Application deploys to: the one whose cluster and namespace match its destination. */
export function environmentOf(app: ApplicationSpec): Environment | undefined {
  return environments.find(
    (e) =>
      (app.destination.name === e.clusterName || (app.destination.name === undefined && app.sourcePath === `dist/${e.name}`)) &&
      (app.destination.namespace ?? e.namespace) === e.namespace,
  );
}

export interface Target {
  app: ApplicationSpec;
  project: ProjectSpec | undefined;
  environment: Environment | undefined;
  profile: ClusterProfile;
  /** Service plans by Deployment name (charts/sizing/plan.ts), when the Application deploys an environment. */
  plans: Map<string, InferenceServicePlan>;
}

/**
 * Argo CD's own cluster, where Applications that manage argocd/ (app of apps) deploy: it has the Argo CD
 * CRDs, because Argo CD runs there, and nothing this repository's profiles describe.
 */
const argocdCluster: ClusterProfile = {
  name: 'in-cluster (Argo CD)',
  definedIn: 'test/sync/source.ts',
  nodePools: [],
  storageClasses: [],
  loadBalancer: { kind: 'none', idleTimeoutSeconds: 0, idleTimeoutFromAnnotations: false },
  ingressIdleTimeoutSeconds: 60,
  fixedPathIdleTimeoutsSeconds: [],
  namespaceQuotas: {},
  customResourceTypes: [
    { group: 'argoproj.io', kind: 'Application', installedBy: 'Argo CD' },
    { group: 'argoproj.io', kind: 'AppProject', installedBy: 'Argo CD' },
    { group: 'argoproj.io', kind: 'ApplicationSet', installedBy: 'Argo CD' },
  ],
};

export function resolveTarget(app: ApplicationSpec): Target {
  const environment = environmentOf(app);
  const plans = new Map<string, InferenceServicePlan>();
  if (environment) for (const s of buildEnvironment(environment).services) plans.set(s.service.plan.name, s.service.plan);
  return { app, project: findProject(app.project), environment, profile: environment?.cluster ?? argocdCluster, plans };
}
