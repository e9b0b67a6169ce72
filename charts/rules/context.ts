import type { ClusterProfile } from '../clusters/types.js';
import type { EnvironmentBuild } from '../environment-chart.js';
import { cpuMillis, parseQuantity } from '../lib/quantity.js';
import type { EnvironmentContext, Manifest, PodRequests, ServiceContext } from './types.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- synthesized manifests are read as plain JSON */
function containerRequests(c: any): PodRequests {
  const req = c.resources?.requests ?? {};
  const lim = c.resources?.limits ?? {};
  return {
    cpuMillis: cpuMillis(req.cpu),
    memoryBytes: parseQuantity(req.memory) ?? 0,
    ephemeralStorageBytes: parseQuantity(req['ephemeral-storage']) ?? 0,
    gpus: parseQuantity(lim['nvidia.com/gpu'] ?? req['nvidia.com/gpu']) ?? 0,
  };
}

const zero: PodRequests = { cpuMillis: 0, memoryBytes: 0, ephemeralStorageBytes: 0, gpus: 0 };
const add = (a: PodRequests, b: PodRequests): PodRequests => ({
  cpuMillis: a.cpuMillis + b.cpuMillis,
  memoryBytes: a.memoryBytes + b.memoryBytes,
  ephemeralStorageBytes: a.ephemeralStorageBytes + b.ephemeralStorageBytes,
  gpus: a.gpus + b.gpus,
});
const max = (a: PodRequests, b: PodRequests): PodRequests => ({
  cpuMillis: Math.max(a.cpuMillis, b.cpuMillis),
  memoryBytes: Math.max(a.memoryBytes, b.memoryBytes),
  ephemeralStorageBytes: Math.max(a.ephemeralStorageBytes, b.ephemeralStorageBytes),
  gpus: Math.max(a.gpus, b.gpus),
});

/** The scheduler's view of a pod: the larger of the biggest init container and the sum of the app containers. */
export function podRequests(pod: any): PodRequests {
  const app = (pod.containers ?? []).map(containerRequests).reduce(add, zero);
  const init = (pod.initContainers ?? []).map(containerRequests).reduce(max, zero);
  return max(app, init);
}

export function scale(r: PodRequests, n: number): PodRequests {
  return { cpuMillis: r.cpuMillis * n, memoryBytes: r.memoryBytes * n, ephemeralStorageBytes: r.ephemeralStorageBytes * n, gpus: r.gpus * n };
}
export { add as addRequests, zero as noRequests };

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
