import type { ClusterProfile } from '../clusters/types.js';
import type { EnvironmentBuild } from '../environment-chart.js';
import { podRequests } from '../placement/index.js';
import type { EnvironmentContext, Manifest, ServiceContext } from './types.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- synthesized manifests are read as plain JSON */

export function buildRuleContext(build: EnvironmentBuild, cluster: ClusterProfile): EnvironmentContext {
  const services: ServiceContext[] = build.services.map((chart) => {
    const objects = chart.toJson() as Manifest[];
    const find = (kind: string) => objects.find((o) => o.kind === kind);
    const deployment = find('Deployment');
    const pod = deployment?.spec.template.spec;
    const server = pod?.containers.find((c: any) => c.name === 'server') ?? pod?.containers[0];
    const hpa = find('HorizontalPodAutoscaler');
    const scaledObject = objects.find((o) => o.kind === 'ScaledObject' && o.apiVersion.startsWith('keda.sh/'));
    const replicas = hpa ? hpa.spec.maxReplicas : scaledObject ? scaledObject.spec.maxReplicaCount : (deployment?.spec.replicas ?? 1);
    const surge = deployment?.spec.strategy?.type === 'RollingUpdate' ? Number(deployment.spec.strategy.rollingUpdate?.maxSurge ?? 1) : 0;
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
      service: find('Service'),
      ingress: find('Ingress'),
      requests: podRequests(pod),
      replicas,
      surgePods: surge,
    };
  });
  return { environment: build.environment, cluster, services, namespaceObjects: build.namespace.toJson() as Manifest[] };
}
