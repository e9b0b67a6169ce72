import { App, Chart, Yaml } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { grafanaOf } from './clusters/grafana.js';
import { clusterMinor, podSecurityPolicyRemovedMinor } from './clusters/versions.js';
import { ChartConfigError } from './lib/config-error.js';
import { prometheusOf } from './clusters/prometheus.js';
import { InferenceDashboard } from './constructs/grafana-dashboard.js';
import { GgufInferenceService } from './constructs/gguf-inference-service.js';
import { NamespaceBudget } from './constructs/namespace-budget.js';
import { defaultKedaHttpAddOn, routedHosts } from './constructs/scale-to-zero.js';
import { failoverResponderName, ScaleToZeroFailover } from './constructs/scale-to-zero-failover.js';
import { queueMetricsViaOf } from './constructs/queue-autoscaling.js';
import { argocdSyncOptions, syncWave, waves } from './lib/argocd.js';
import { partOf } from './lib/labels.js';
import { assertKnownProps } from './environments/known-props.js';
import { namespacePodSecurityLevel } from './lib/pod-security.js';
import type { Environment } from './environments/types.js';
import { modelServiceFacts, resolveCompanions, type ResolvedCompanion } from './companions/resolve.js';

/** The labels of an environment's Namespace: also what a companion's Application sets when it creates the namespace first. */
export const namespaceLabels: Readonly<Record<string, string>> = {
  'app.kubernetes.io/part-of': partOf,
  'app.kubernetes.io/managed-by': 'cdk8s',
  'pod-security.kubernetes.io/enforce': namespacePodSecurityLevel,
  'pod-security.kubernetes.io/warn': namespacePodSecurityLevel,
};

/** The namespace of an environment, enforcing the `restricted` Pod Security Standard, with its declared ResourceQuota and LimitRange. */
export class NamespaceChart extends Chart {
  constructor(scope: Construct, env: Environment) {
    super(scope, 'namespace', { disableResourceNameHashes: true });
    new kplus.Namespace(this, 'namespace', {
      metadata: {
        name: env.namespace,
        labels: { ...namespaceLabels },
        // Never pruned and kept when the Application is deleted: the namespace holds the model caches, and its
        // removal must be an explicit act (docs in README: removing an environment).
        annotations: { ...syncWave(waves.namespace), ...argocdSyncOptions(['Prune=false', 'Delete=false']) },
      },
    });
    if (env.quota !== undefined || env.limitRange !== undefined) {
      new NamespaceBudget(this, 'budget', {
        namespace: env.namespace,
        labels: { 'app.kubernetes.io/part-of': partOf, 'app.kubernetes.io/managed-by': 'cdk8s' },
        annotations: syncWave(waves.namespaceBudget),
        ...(env.quota !== undefined ? { quota: env.quota } : {}),
        ...(env.limitRange !== undefined ? { limitRange: env.limitRange } : {}),
        where: { file: env.definedIn, object: env.name },
      });
    }
  }
}

/** One chart, hence one file, per service: a pull request touching one service diffs one file. */
export class ServiceChart extends Chart {
  readonly service: GgufInferenceService;

  constructor(scope: Construct, env: Environment, name: string) {
    super(scope, name, { namespace: env.namespace, disableResourceNameHashes: true });
    const declaration = env.services[name];
    if (declaration === undefined) throw new Error(`${env.definedIn}: no service named ${name}`);
    // The cache volume's read rate comes from the cluster profile unless the service declares it.
    const cache = declaration.modelCache;
    const storageClass = cache.kind === 'persistentVolumeClaim' ? env.cluster.storageClasses.find((c) => c.name === cache.storageClassName) : undefined;
    // The ingress controller's namespace comes from the profile (captured from the IngressClass's Helm release).
    const exposure = declaration.exposure;
    const ingressClass = exposure?.kind === 'ingress' ? (exposure.className ?? 'nginx') : undefined;
    const ingressNamespace = ingressClass !== undefined ? env.cluster.ingressControllerNamespaces?.[ingressClass] : undefined;
    const ingressController = ingressClass !== undefined ? env.cluster.ingressControllers?.[ingressClass] : undefined;
    this.service = new GgufInferenceService(this, name, {
      ...declaration,
      modelCache: storageClass && cache.readMiBps === undefined ? { ...cache, readMiBps: storageClass.readMiBps } : cache,
      environment: env.name,
      definedIn: env.definedIn,
      image: declaration.image ?? env.image,
      ...(env.imagePullSecrets !== undefined ? { imagePullSecrets: env.imagePullSecrets } : {}),
      prometheus: prometheusOf(env.cluster),
      ...(env.cluster.kubernetesVersion !== undefined ? { kubernetesVersion: env.cluster.kubernetesVersion } : {}),
      ...(ingressNamespace !== undefined ? { ingressControllerNamespace: ingressNamespace } : {}),
      // A capacity-type preference is built from the labels the profile's pools carry.
      nodePools: env.cluster.nodePools,
      ...(ingressController !== undefined ? { ingressController } : {}),
      queueMetricsVia: queueMetricsViaOf(env.cluster),
      // Only where the API server still serves policy/v1beta1 (rule pod-security-admission-matches says so otherwise).
      podSecurityPolicy: env.cluster.podSecurityPolicyAdmission === true && clusterMinor(env.cluster) < podSecurityPolicyRemovedMinor,
      ...(env.cluster.kedaHttpAddOn !== undefined ? { kedaHttpAddOn: env.cluster.kedaHttpAddOn } : {}),
    });
  }
}

/** The environment's Grafana dashboard, in its own file (`grafana-dashboard.yaml`). */
export class DashboardChart extends Chart {
  /** The chart's id, hence its file name: no service may take it. */
  static readonly id = 'grafana-dashboard';

  constructor(scope: Construct, env: Environment, services: readonly ServiceChart[]) {
    if (env.services[DashboardChart.id] !== undefined) {
      throw new ChartConfigError([
        {
          file: env.definedIn,
          object: `${env.name}/${DashboardChart.id}`,
          field: 'services',
          problem: `the service name "${DashboardChart.id}" is the file of the environment's Grafana dashboard (dist/${env.name}/${DashboardChart.id}.yaml)`,
          fix: 'rename the service',
        },
      ]);
    }
    super(scope, DashboardChart.id, { namespace: env.namespace, disableResourceNameHashes: true });
    new InferenceDashboard(this, 'dashboard', {
      environment: env.name,
      namespace: env.namespace,
      kinds: new Set(services.map((s) => s.service.plan.kind)),
      grafana: grafanaOf(env.cluster),
      labels: { 'app.kubernetes.io/part-of': partOf, 'app.kubernetes.io/managed-by': 'cdk8s' },
    });
  }
}

/**
 * The failover responder of the environment's services that scale to zero, in its own file
 * (`scale-to-zero-failover.yaml`): present only when one does (charts/constructs/scale-to-zero-failover.ts).
 */
export class FailoverChart extends Chart {
  static readonly id = failoverResponderName;
  readonly responder: ScaleToZeroFailover;

  constructor(scope: Construct, env: Environment, services: readonly ServiceChart[]) {
    super(scope, FailoverChart.id, { namespace: env.namespace, disableResourceNameHashes: true });
    const scaling = services.map((s) => s.service.plan).filter((p) => p.scaleToZero !== undefined);
    this.responder = new ScaleToZeroFailover(this, 'responder', {
      namespace: env.namespace,
      environment: env.name,
      image: env.image,
      ...(env.imagePullSecrets !== undefined ? { imagePullSecrets: env.imagePullSecrets } : {}),
      routes: scaling.map((p) => ({
        hosts: routedHosts(p.name, env.namespace, p.exposure.kind === 'ingress' ? p.exposure.host : undefined),
        service: p.name,
        model: p.props.model.id,
        retryAfterSeconds: p.scaleToZero!.retryAfterSeconds,
        holdSeconds: p.scaleToZero!.holdSeconds,
      })),
      addOn: env.cluster.kedaHttpAddOn ?? defaultKedaHttpAddOn,
      // The model pods' own settings (the restricted Pod Security Standard the namespace enforces).
      security: scaling[0]!.security,
      // As the model services get one (ServiceChart): only where the API server still serves policy/v1beta1.
      podSecurityPolicy: env.cluster.podSecurityPolicyAdmission === true && clusterMinor(env.cluster) < podSecurityPolicyRemovedMinor,
    });
  }
}

/** The charts an environment writes to dist/<env>/, one file each. */
export function environmentCharts(b: EnvironmentBuild): Chart[] {
  return [b.namespace, ...b.services, b.dashboard, ...(b.failover ? [b.failover] : [])];
}

export interface EnvironmentBuild {
  readonly app: App;
  readonly environment: Environment;
  readonly namespace: NamespaceChart;
  readonly services: readonly ServiceChart[];
  readonly dashboard: DashboardChart;
  /** The failover responder, when a service scales to zero. */
  readonly failover: FailoverChart | undefined;
  /** Its companions, resolved against the model services (charts/companions/). */
  readonly companions: readonly ResolvedCompanion[];
}

/** Build (but do not write) every chart of an environment. Throws ChartConfigError on unknown or bad props. */
export function buildEnvironment(env: Environment): EnvironmentBuild {
  assertKnownProps(env);
  if (env.services[FailoverChart.id] !== undefined) {
    throw new ChartConfigError([
      {
        file: env.definedIn,
        object: `${env.name}/${FailoverChart.id}`,
        field: 'services',
        problem: `the service name "${FailoverChart.id}" is the scale-to-zero failover responder's (its Deployment, Service and file dist/${env.name}/${FailoverChart.id}.yaml)`,
        fix: 'rename the service',
      },
    ]);
  }
  const app = new App();
  const namespace = new NamespaceChart(app, env);
  const services = Object.keys(env.services)
    .sort()
    .map((name) => new ServiceChart(app, env, name));
  const companions = resolveCompanions(env, new Map(services.map((s) => [s.service.plan.name, modelServiceFacts(s.toJson(), s.service.plan)])));
  const failover = services.some((s) => s.service.plan.scaleToZero !== undefined) ? new FailoverChart(app, env, services) : undefined;
  return { app, environment: env, namespace, services, dashboard: new DashboardChart(app, env, services), failover, companions };
}

/** Render charts to YAML documents after running every construct validation. */
export function renderCharts(app: App, charts: readonly Chart[]): Map<string, string> {
  app.synthYaml(); // runs node validations for the whole app; output discarded
  const files = new Map<string, string>();
  for (const chart of charts) files.set(`${chart.node.id}.yaml`, Yaml.stringify(...chart.toJson()));
  return files;
}
