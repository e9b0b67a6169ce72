import { App, Chart, Yaml } from 'cdk8s';
import type { Construct } from 'constructs';
import { Application } from '../../imports/argocd-application-argoproj.io.js';
import { AppProject } from '../../imports/argocd-appproject-argoproj.io.js';
import type { ResolvedCompanion } from '../companions/resolve.js';
import { namespaceLabels, type EnvironmentBuild } from '../environment-chart.js';
import { syncWave } from '../lib/argocd.js';
import { ChartConfigError, type ConfigProblem } from '../lib/config-error.js';
import { partOf } from '../lib/labels.js';

export interface GitOpsSettings {
  /** Git clone URL of this repository (charts/site.ts). */
  readonly repoURL: string;
  /** Branch or tag Argo CD syncs for argocd/ and for every environment without its own revision. */
  readonly targetRevision: string;
  /** Revision per environment name (charts/site.ts environmentRevisions). @default {} — every environment on targetRevision */
  readonly environmentRevisions?: Readonly<Record<string, string>>;
  /** Namespace Argo CD runs in; Applications and AppProjects live there. */
  readonly argocdNamespace: string;
  /** AppProject of the inference environments; the self-managing root gets `<project>-gitops`. */
  readonly project: string;
}

/** The repository directory the root Application syncs: this module's own output. */
export const gitopsDir = 'argocd';

/** The file holding the root Application: `kubectl apply -f argocd/<this>` is the whole bootstrap. */
export const bootstrapFile = `${gitopsDir}/bootstrap.yaml`;

/**
 * Sync waves of the objects in argocd/, which the root Application syncs: the projects first, then each
 * environment's companions declared `before-models`, the environments' model services, and the companions declared
 * `after-models`. Between Applications a wave waits for the earlier ones to be Healthy only when Argo CD assesses
 * Application health, which it stopped doing by default in 1.8 (argo-cd docs/operator-manual/health.md, "Argo CD
 * App"; issue 3781): docs/companions.md has the argocd-cm health check that restores it. Without it the waves
 * order creation only.
 */
export const applicationWaves = { projects: -2, companionsBeforeModels: -1, models: 0, companionsAfterModels: 1 } as const;

/** The API server of the cluster Argo CD runs in, as Argo CD names it. */
const inCluster = 'https://kubernetes.default.svc';

/** Kinds the synthesized manifests contain; the AppProject allows these and nothing else to be synced. */
export const deployedKinds = [
  { group: 'apps', kind: 'Deployment' },
  { group: '', kind: 'Service' },
  { group: '', kind: 'ServiceAccount' },
  { group: '', kind: 'PersistentVolumeClaim' },
  { group: 'policy', kind: 'PodDisruptionBudget' },
  { group: 'networking.k8s.io', kind: 'NetworkPolicy' },
  { group: 'networking.k8s.io', kind: 'Ingress' },
  { group: 'autoscaling', kind: 'HorizontalPodAutoscaler' },
  { group: 'keda.sh', kind: 'ScaledObject' },
  // The KEDA HTTP add-on's route of a service that scales to zero (charts/constructs/scale-to-zero.ts).
  { group: 'http.keda.sh', kind: 'HTTPScaledObject' },
  { group: 'monitoring.coreos.com', kind: 'ServiceMonitor' },
  { group: 'monitoring.coreos.com', kind: 'PrometheusRule' },
  // The namespace budget (charts/constructs/namespace-budget.ts), when an environment declares one.
  { group: '', kind: 'ResourceQuota' },
  { group: '', kind: 'LimitRange' },
  // The Grafana dashboard of each environment (charts/constructs/grafana-dashboard.ts).
  { group: '', kind: 'ConfigMap' },
  // The Role and RoleBinding letting a service account use its PodSecurityPolicy (charts/constructs/pod-security-policy.ts).
  { group: 'rbac.authorization.k8s.io', kind: 'Role' },
  { group: 'rbac.authorization.k8s.io', kind: 'RoleBinding' },
] as const;

/**
 * Kinds the cluster creates for those objects. The project's whitelist also filters the
 * Application's resource tree (argo-cd controller/appcontroller.go, getResourceTree drops children
 * the project does not permit): without these the UI shows a Deployment with no ReplicaSet, no pod,
 * no pod logs and no events. Nothing in dist/ has these kinds, so allowing them deploys nothing new.
 */
export const observedKinds = [
  { group: 'apps', kind: 'ReplicaSet' },
  { group: '', kind: 'Pod' },
  { group: '', kind: 'Event' },
  { group: 'events.k8s.io', kind: 'Event' },
  { group: '', kind: 'Endpoints' },
  { group: 'discovery.k8s.io', kind: 'EndpointSlice' },
  // cert-manager's ingress-shim creates a Certificate per annotated Ingress, and the Certificate a
  // CertificateRequest: allowed so the tree shows them with Argo CD's health for them
  // (argo-cd resource_customizations/cert-manager.io/Certificate/health.lua: a failed issuance is Degraded).
  { group: 'cert-manager.io', kind: 'Certificate' },
  { group: 'cert-manager.io', kind: 'CertificateRequest' },
] as const;

/**
 * The AppProject of the environments: this repository only, each environment's own cluster and
 * namespace only, and the only cluster-scoped objects it may touch are each environment's Namespace
 * and its services' PodSecurityPolicies, by name (a bare `Namespace` entry would let an Application create or
 * prune any namespace).
 */
export class ProjectChart extends Chart {
  constructor(scope: Construct, settings: GitOpsSettings, builds: readonly EnvironmentBuild[]) {
    super(scope, 'project', { namespace: settings.argocdNamespace, disableResourceNameHashes: true });
    // Companions add the Helm repositories they come from and the kinds they deploy: nothing else is admitted.
    const companions = builds.flatMap((b) => b.companions);
    const helmRepos = [...new Set(companions.flatMap((c) => (c.declaration.source.kind === 'helm' ? [c.declaration.source.repoURL] : [])))].sort();
    const kinds: { group: string; kind: string }[] = [...deployedKinds, ...observedKinds].map((k) => ({ ...k }));
    for (const k of companions.flatMap((c) => c.kinds))
      if (!kinds.some((x) => x.group === k.group && x.kind === k.kind)) kinds.push({ group: k.group, kind: k.kind });
    new AppProject(this, 'project', {
      metadata: { name: settings.project, labels: { 'app.kubernetes.io/part-of': partOf }, annotations: syncWave(applicationWaves.projects) },
      spec: {
        description: 'Self-hosted GGUF inference services, synthesized by cdk8s into dist/',
        sourceRepos: [settings.repoURL, ...helmRepos],
        destinations: builds.map((b) => ({ name: b.environment.clusterName, namespace: b.environment.namespace })),
        clusterResourceWhitelist: builds.flatMap((b) => [
          { group: '', kind: 'Namespace', name: b.environment.namespace },
          // Each service's PodSecurityPolicy on clusters that enforce them, by name like the Namespace.
          ...b.services.flatMap((s) =>
            s
              .toJson()
              .filter((o: { kind?: string }) => o.kind === 'PodSecurityPolicy')
              .map((o: { metadata: { name: string } }) => ({ group: 'policy', kind: 'PodSecurityPolicy', name: o.metadata.name })),
          ),
        ]),
        namespaceResourceWhitelist: kinds,
      },
    });
  }
}

/** Auto-sync as every Application here does it: prune, self-heal, and never to an empty source. */
const automated = { prune: true, selfHeal: true, allowEmpty: false } as const;

/**
 * One Application per environment, syncing dist/<env>/ with auto-sync, prune and self-heal.
 * `allowEmpty: false` is Argo CD's own guard: an automated sync that would leave the Application
 * with no objects is refused rather than pruning everything. Deployments scaled by an HPA have
 * `/spec/replicas` ignored, so a sync never fights the autoscaler.
 */
export class EnvironmentApplicationChart extends Chart {
  constructor(scope: Construct, settings: GitOpsSettings, build: EnvironmentBuild) {
    const env = build.environment;
    super(scope, env.name, { namespace: settings.argocdNamespace, disableResourceNameHashes: true });
    const autoscaled = build.services.filter((s) => s.service.plan.props.autoscaling !== undefined).map((s) => s.service.plan.name);
    new Application(this, 'application', {
      metadata: {
        name: `llm-${env.name}`,
        labels: { 'app.kubernetes.io/part-of': partOf, environment: env.name },
        annotations: syncWave(applicationWaves.models),
        // Delete the synced resources when the Application is removed.
        finalizers: ['resources-finalizer.argocd.argoproj.io'],
      },
      spec: {
        project: settings.project,
        // Each environment tracks its own revision (promotion moves it); see charts/site.ts.
        source: { repoUrl: settings.repoURL, targetRevision: environmentRevision(settings, env.name), path: `dist/${env.name}` },
        destination: { name: env.clusterName, namespace: env.namespace },
        syncPolicy: {
          automated: { ...automated },
          syncOptions: ['CreateNamespace=true', 'PruneLast=true', 'RespectIgnoreDifferences=true'],
          retry: { limit: 5, backoff: { duration: '10s', factor: 2, maxDuration: '5m' } },
        },
        ignoreDifferences: autoscaled.map((name) => ({ group: 'apps', kind: 'Deployment', name, namespace: env.namespace, jsonPointers: ['/spec/replicas'] })),
      },
    });
  }
}

/**
 * One Application per companion (argocd/<env>-<companion>.yaml), in the environments' project, to the
 * environment's cluster and namespace, in the wave its `order` names. A Helm companion is rendered by Argo CD
 * from its chart repository at the pinned version, with its resolved values (Argo CD uses the Application's name as
 * the release name unless `releaseName` is set: argo-cd docs/user-guide/helm.md); a manifests companion syncs the
 * directory synth wrote. The namespace is created with the environment Namespace's own labels when the companion
 * syncs first (`CreateNamespace=true` with `managedNamespaceMetadata`), so Pod Security applies from its first pod.
 */
export class CompanionApplicationChart extends Chart {
  constructor(scope: Construct, settings: GitOpsSettings, build: EnvironmentBuild, companion: ResolvedCompanion) {
    const env = build.environment;
    super(scope, `${env.name}-${companion.name}`, { namespace: settings.argocdNamespace, disableResourceNameHashes: true });
    const source = companion.declaration.source;
    new Application(this, 'application', {
      metadata: {
        name: `llm-${env.name}-${companion.name}`,
        labels: { 'app.kubernetes.io/part-of': partOf, environment: env.name, companion: companion.name },
        annotations: syncWave(
          companion.declaration.order === 'before-models' ? applicationWaves.companionsBeforeModels : applicationWaves.companionsAfterModels,
        ),
        finalizers: ['resources-finalizer.argocd.argoproj.io'],
      },
      spec: {
        project: settings.project,
        source:
          source.kind === 'helm'
            ? {
                repoUrl: source.repoURL,
                chart: source.chart,
                targetRevision: source.version,
                helm: { releaseName: source.releaseName ?? companion.name, values: Yaml.stringify(companion.helmValues ?? {}) },
              }
            : { repoUrl: settings.repoURL, targetRevision: environmentRevision(settings, env.name), path: companion.outputDir! },
        destination: { name: env.clusterName, namespace: env.namespace },
        syncPolicy: {
          automated: { ...automated },
          syncOptions: ['CreateNamespace=true', 'PruneLast=true'],
          managedNamespaceMetadata: { labels: { ...namespaceLabels } },
          retry: { limit: 5, backoff: { duration: '10s', factor: 2, maxDuration: '5m' } },
        },
      },
    });
  }
}

/**
 * The root of app-of-apps: an Application that syncs argocd/ (this very file included) into Argo
 * CD's namespace, with its own AppProject that may create Applications and AppProjects there and
 * nothing else. Bootstrap is one `kubectl apply -f argocd/bootstrap.yaml`; from then on a change
 * to argocd/ (a new environment, a project rule) is applied by Argo CD itself. It carries no
 * resources finalizer: deleting the root must not cascade into the environments.
 */
export class BootstrapChart extends Chart {
  constructor(scope: Construct, settings: GitOpsSettings) {
    super(scope, 'bootstrap', { namespace: settings.argocdNamespace, disableResourceNameHashes: true });
    const name = `${settings.project}-gitops`;
    new AppProject(this, 'project', {
      metadata: { name, labels: { 'app.kubernetes.io/part-of': partOf }, annotations: syncWave(applicationWaves.projects) },
      spec: {
        description: 'The Argo CD objects of the GGUF inference services (argocd/), managed by themselves',
        sourceRepos: [settings.repoURL],
        destinations: [{ server: inCluster, namespace: settings.argocdNamespace }],
        clusterResourceWhitelist: [],
        namespaceResourceWhitelist: [
          { group: 'argoproj.io', kind: 'Application' },
          { group: 'argoproj.io', kind: 'AppProject' },
        ],
      },
    });
    new Application(this, 'application', {
      metadata: { name, labels: { 'app.kubernetes.io/part-of': partOf }, annotations: syncWave(applicationWaves.models) },
      spec: {
        project: name,
        source: { repoUrl: settings.repoURL, targetRevision: settings.targetRevision, path: gitopsDir },
        destination: { server: inCluster, namespace: settings.argocdNamespace },
        syncPolicy: {
          automated: { ...automated },
          syncOptions: ['PruneLast=true'],
          retry: { limit: 5, backoff: { duration: '10s', factor: 2, maxDuration: '5m' } },
        },
      },
    });
  }
}

/** The revision an environment's Application tracks. */
export function environmentRevision(settings: Pick<GitOpsSettings, 'targetRevision' | 'environmentRevisions'>, environment: string): string {
  return settings.environmentRevisions?.[environment] ?? settings.targetRevision;
}

/** Refuse an environmentRevisions key that names no environment (a typo would leave it on targetRevision unnoticed). */
export function checkEnvironmentRevisions(
  settings: Pick<GitOpsSettings, 'environmentRevisions'>,
  environmentNames: readonly string[],
  file = 'charts/site.ts',
): void {
  const problems: ConfigProblem[] = [];
  for (const [name, revision] of Object.entries(settings.environmentRevisions ?? {})) {
    if (!environmentNames.includes(name)) {
      problems.push({
        file,
        object: 'site',
        field: `environmentRevisions.${name}`,
        problem: `names no environment (have: ${environmentNames.join(', ')})`,
        fix: 'use an environment name from charts/environments/index.ts, or remove the key',
      });
    } else if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(revision)) {
      problems.push({
        file,
        object: 'site',
        field: `environmentRevisions.${name}`,
        problem: `"${revision}" is not a branch, tag or commit`,
        fix: 'set a branch name (e.g. release), a tag or a commit SHA',
      });
    }
  }
  if (problems.length > 0) throw new ChartConfigError(problems);
}

export function buildGitOps(settings: GitOpsSettings, builds: readonly EnvironmentBuild[]): { app: App; charts: Chart[] } {
  const app = new App();
  const charts: Chart[] = [new BootstrapChart(app, settings), new ProjectChart(app, settings, builds)];
  for (const b of builds) {
    charts.push(new EnvironmentApplicationChart(app, settings, b));
    for (const c of b.companions) charts.push(new CompanionApplicationChart(app, settings, b, c));
  }
  return { app, charts };
}
