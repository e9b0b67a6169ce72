import type { ClusterProfile } from '../clusters/types.js';
import type { EnvironmentBuild } from '../environment-chart.js';
import { podRequests } from '../placement/index.js';
import type { EnvironmentContext, Manifest, ScaledObject, ServiceContext } from './types.js';

export function buildRuleContext(build: EnvironmentBuild, cluster: ClusterProfile): EnvironmentContext {
  const services: ServiceContext[] = build.services.map((chart) => {
    const objects = chart.toJson() as Manifest[];
    // The objects of a service chart, by kind: cdk8s writes each with its metadata and spec.
    const find = <T>(kind: string): T | undefined => objects.find((o) => o.kind === kind) as T | undefined;
    const deployment = find<ServiceContext['deployment']>('Deployment');
    const pod = deployment?.spec.template.spec;
    const server = pod?.containers.find((c) => c.name === 'server') ?? pod?.containers[0];
    if (deployment === undefined || pod === undefined || server === undefined)
      throw new Error(`${chart.service.plan.name}: the service chart synthesized no Deployment with a container; the rules have nothing to check`);
    const hpa = find<ServiceContext['hpa']>('HorizontalPodAutoscaler');
    const scaledObject = objects.find((o): o is Manifest & ScaledObject => o.kind === 'ScaledObject' && o.apiVersion.startsWith('keda.sh/'));
    // KEDA's HPA defaults maxReplicaCount to 100 (kedacore/keda apis/keda/v1alpha1/scaledobject_types.go defaultHPAMaxReplicas).
    const replicas = hpa ? hpa.spec.maxReplicas : scaledObject ? (scaledObject.spec.maxReplicaCount ?? 100) : (deployment.spec.replicas ?? 1);
    const surge = deployment.spec.strategy?.type === 'RollingUpdate' ? Number(deployment.spec.strategy.rollingUpdate?.maxSurge ?? 1) : 0;
    return {
      name: chart.service.plan.name,
      plan: chart.service.plan,
      objects,
      deployment,
      pod,
      server,
      pvc: find('PersistentVolumeClaim'),
      pdb: find('PodDisruptionBudget'),
      hpa,
      scaledObject,
      // The model's own Service; a service that scales to zero also has the interceptor's ExternalName alias.
      service: objects.find((o) => o.kind === 'Service' && (o.spec as { type?: string } | undefined)?.type !== 'ExternalName') as ServiceContext['service'],
      ingress: find('Ingress'),
      requests: podRequests(pod),
      replicas,
      surgePods: surge,
    };
  });
  return {
    environment: build.environment,
    cluster,
    services,
    namespaceObjects: build.namespace.toJson() as Manifest[],
    failoverObjects: (build.failover?.toJson() ?? []) as Manifest[],
    companions: build.companions,
  };
}
