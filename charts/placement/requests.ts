import type { IContainer, IPodSpec } from 'kubernetes-models/v1';
import { cpuMillis, parseQuantity } from '../lib/quantity.js';

/** The extended resource a GPU pod requests (the NVIDIA device plugin's). */
export const gpuResource = 'nvidia.com/gpu';

/** Effective pod requests as the scheduler sees them (see podRequests). */
export interface PodRequests {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly ephemeralStorageBytes: number;
  readonly gpus: number;
}

type Quantities = Readonly<Record<string, string | number>>;

export const noRequests: PodRequests = { cpuMillis: 0, memoryBytes: 0, ephemeralStorageBytes: 0, gpus: 0 };

export function addRequests(a: PodRequests, b: PodRequests): PodRequests {
  return {
    cpuMillis: a.cpuMillis + b.cpuMillis,
    memoryBytes: a.memoryBytes + b.memoryBytes,
    ephemeralStorageBytes: a.ephemeralStorageBytes + b.ephemeralStorageBytes,
    gpus: a.gpus + b.gpus,
  };
}

function maxRequests(a: PodRequests, b: PodRequests): PodRequests {
  return {
    cpuMillis: Math.max(a.cpuMillis, b.cpuMillis),
    memoryBytes: Math.max(a.memoryBytes, b.memoryBytes),
    ephemeralStorageBytes: Math.max(a.ephemeralStorageBytes, b.ephemeralStorageBytes),
    gpus: Math.max(a.gpus, b.gpus),
  };
}

export function scale(r: PodRequests, n: number): PodRequests {
  return { cpuMillis: r.cpuMillis * n, memoryBytes: r.memoryBytes * n, ephemeralStorageBytes: r.ephemeralStorageBytes * n, gpus: r.gpus * n };
}

function fromQuantities(q: Quantities): PodRequests {
  return {
    cpuMillis: cpuMillis(q['cpu']),
    memoryBytes: parseQuantity(q['memory']) ?? 0,
    ephemeralStorageBytes: parseQuantity(q['ephemeral-storage']) ?? 0,
    gpus: parseQuantity(q[gpuResource]) ?? 0,
  };
}

/**
 * A container's requests after the API server's defaulting of the pod the ReplicaSet creates: a resource with a
 * limit and no request is requested at its limit (kubernetes/kubernetes pkg/apis/core/v1/defaults.go SetDefaults_Pod).
 */
export function containerRequests(c: Pick<IContainer, 'resources'>): PodRequests {
  return fromQuantities({ ...(c.resources?.limits ?? {}), ...(c.resources?.requests ?? {}) });
}

/**
 * The pod's requests as the scheduler's NodeResourcesFit filter counts them (kubernetes/kubernetes
 * staging/src/k8s.io/component-helpers/resource/helpers.go PodRequests, AggregateContainerRequests): the sum of
 * the app containers and of the restartable init containers (sidecars, restartPolicy Always), or, where larger
 * per resource, what the pod needs while an init container runs (that container plus the sidecars started
 * before it); then the pod overhead, when the spec carries one.
 */
export function podRequests(pod: Pick<IPodSpec, 'containers' | 'initContainers' | 'overhead'> | undefined): PodRequests {
  let total = (pod?.containers ?? []).map(containerRequests).reduce(addRequests, noRequests);
  let sidecars = noRequests;
  let initPeak = noRequests;
  for (const c of pod?.initContainers ?? []) {
    const own = containerRequests(c);
    if (c.restartPolicy === 'Always') {
      total = addRequests(total, own);
      sidecars = addRequests(sidecars, own);
      initPeak = maxRequests(initPeak, sidecars);
    } else {
      initPeak = maxRequests(initPeak, addRequests(own, sidecars));
    }
  }
  return addRequests(maxRequests(total, initPeak), fromQuantities(pod?.overhead ?? {}));
}
