import { App, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { Application } from '../../imports/argocd-application-argoproj.io.js';
import { AppProject } from '../../imports/argocd-appproject-argoproj.io.js';
import type { EnvironmentBuild } from '../environment-chart.js';
import { partOf } from '../lib/labels.js';

export interface GitOpsSettings {
  readonly repoURL: string;
  readonly targetRevision: string;
  readonly argocdNamespace: string;
  readonly project: string;
}

/** Kinds the synthesized manifests contain; the AppProject allows these and nothing else. */
const namespacedKinds = [
  { group: 'apps', kind: 'Deployment' },
  { group: '', kind: 'Service' },
  { group: '', kind: 'ServiceAccount' },
  { group: '', kind: 'PersistentVolumeClaim' },
  { group: 'policy', kind: 'PodDisruptionBudget' },
  { group: 'networking.k8s.io', kind: 'NetworkPolicy' },
  { group: 'networking.k8s.io', kind: 'Ingress' },
  { group: 'autoscaling', kind: 'HorizontalPodAutoscaler' },
  { group: 'monitoring.coreos.com', kind: 'ServiceMonitor' },
  { group: 'monitoring.coreos.com', kind: 'PrometheusRule' },
];

/** The AppProject: which repository may deploy where, and which kinds. */
export class ProjectChart extends Chart {
  constructor(scope: Construct, settings: GitOpsSettings, builds: readonly EnvironmentBuild[]) {
    super(scope, 'project', { namespace: settings.argocdNamespace, disableResourceNameHashes: true });
    new AppProject(this, 'project', {
      metadata: { name: settings.project, labels: { 'app.kubernetes.io/part-of': partOf } },
      spec: {
        description: 'Self-hosted GGUF inference services, synthesized by cdk8s into dist/',
        sourceRepos: [settings.repoURL],
        destinations: builds.map((b) => ({ name: b.environment.clusterName, namespace: b.environment.namespace })),
        clusterResourceWhitelist: [{ group: '', kind: 'Namespace' }],
        namespaceResourceWhitelist: namespacedKinds,
      },
    });
  }
}

/**
 * One Application per environment, syncing dist/<env>/ with auto-sync, prune and self-heal.
 * Deployments scaled by an HPA have `/spec/replicas` ignored, so a sync never fights the autoscaler.
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
        // Delete the synced resources when the Application is removed.
        finalizers: ['resources-finalizer.argocd.argoproj.io'],
      },
      spec: {
        project: settings.project,
        source: { repoUrl: settings.repoURL, targetRevision: settings.targetRevision, path: `dist/${env.name}` },
        destination: { name: env.clusterName, namespace: env.namespace },
        syncPolicy: {
          automated: { prune: true, selfHeal: true },
          syncOptions: ['CreateNamespace=true', 'PruneLast=true', 'RespectIgnoreDifferences=true'],
          retry: { limit: 5, backoff: { duration: '10s', factor: 2, maxDuration: '5m' } },
        },
        ignoreDifferences: autoscaled.map((name) => ({ group: 'apps', kind: 'Deployment', name, namespace: env.namespace, jsonPointers: ['/spec/replicas'] })),
      },
    });
  }
}

export function buildGitOps(settings: GitOpsSettings, builds: readonly EnvironmentBuild[]): { app: App; charts: Chart[] } {
  const app = new App();
  const charts: Chart[] = [new ProjectChart(app, settings, builds)];
  for (const b of builds) charts.push(new EnvironmentApplicationChart(app, settings, b));
  return { app, charts };
}
