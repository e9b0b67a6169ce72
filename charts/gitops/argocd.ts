import { App, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { Application } from '../../imports/argocd-application-argoproj.io.js';
import { AppProject } from '../../imports/argocd-appproject-argoproj.io.js';
import type { EnvironmentBuild } from '../environment-chart.js';
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
 * namespace only, and the one cluster-scoped object it may touch is each environment's Namespace
 * by name (a bare `Namespace` entry would let an Application create or prune any namespace).
 */
export class ProjectChart extends Chart {
  constructor(scope: Construct, settings: GitOpsSettings, builds: readonly EnvironmentBuild[]) {
    super(scope, 'project', { namespace: settings.argocdNamespace, disableResourceNameHashes: true });
    new AppProject(this, 'project', {
      metadata: { name: settings.project, labels: { 'app.kubernetes.io/part-of': partOf }, annotations: syncWave(-1) },
      spec: {
        description: 'Self-hosted GGUF inference services, synthesized by cdk8s into dist/',
        sourceRepos: [settings.repoURL],
        destinations: builds.map((b) => ({ name: b.environment.clusterName, namespace: b.environment.namespace })),
        clusterResourceWhitelist: builds.map((b) => ({ group: '', kind: 'Namespace', name: b.environment.namespace })),
        namespaceResourceWhitelist: [...deployedKinds, ...observedKinds].map((k) => ({ ...k })),
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
        annotations: syncWave(0),
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
      metadata: { name, labels: { 'app.kubernetes.io/part-of': partOf }, annotations: syncWave(-1) },
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
      metadata: { name, labels: { 'app.kubernetes.io/part-of': partOf }, annotations: syncWave(0) },
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
  for (const b of builds) charts.push(new EnvironmentApplicationChart(app, settings, b));
  return { app, charts };
}
