import { fleetCluster } from '../clusters/fleet.js';
import { qwen25_3bInstructQ4KM, qwen25_7bInstructQ4KM } from '../models/catalogue.js';
import { c4aiCommandRV01Q4KM } from '../models/entries/c4ai-command-r-v01-q4_k_m.js';
import { gptOss120bMxfp4 } from '../models/entries/gpt-oss-120b-mxfp4.js';
import { llama31_8bInstructQ4KM } from '../models/entries/llama-3.1-8b-instruct-q4_k_m.js';
import { qwen25_1_5bInstructQ4KM } from '../models/entries/qwen2.5-1.5b-instruct-q4_k_m.js';
import { qwen25_32bInstructQ4KM } from '../models/entries/qwen2.5-32b-instruct-q4_k_m.js';
import { llama33_70bInstructQ6K } from '../models/entries/llama-3.3-70b-instruct-q6_k.js';
import { inferenceImage, inferenceImageCuda } from './image.js';
import type { Environment, ServiceDeclaration } from './types.js';

/** cert-manager issues every ingress's certificate into its tlsSecretName (ingress-shim). */
const certificateIssuer = { 'cert-manager.io/cluster-issuer': 'internal-ca' };

/** Memory of one GPU of the cluster's GPU pool: the figure the GPU memory rules check against. */
const gpuMemoryGiB = Math.min(...fleetCluster.nodePools.flatMap((p) => (p.gpus ? [p.gpus.memoryGiB] : [])));

/** A large model on the GPU pool: its own gp3 volume (so Recreate), the NVIDIA runtime, the serving priority. */
function gpuService(model: ServiceDeclaration['model'], gpus: number, host: string): ServiceDeclaration {
  return {
    model,
    image: inferenceImageCuda,
    cpu: 4,
    parallel: 2,
    gpu: { count: gpus, memoryGiB: gpuMemoryGiB },
    modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3', accessMode: 'ReadWriteOnce' },
    scheduling: { runtimeClassName: 'nvidia', priorityClassName: 'llm-serving' },
    exposure: { kind: 'ingress', host, className: 'nginx', tlsSecretName: `${host.split('.')[0]}-tls`, annotations: certificateIssuer },
    allowedClientNamespaces: ['apps'],
  };
}

/**
 * A small model on CPU: spot nodes first, on-demand when spot has no room, zero to `maxReplicas` pods on its queue
 * (KEDA), unloaded after 10 idle minutes as the fleet's brief asks (the KEDA HTTP add-on holds the first request
 * while a pod loads), one shared EFS cache for every replica.
 */
function cpuService(model: ServiceDeclaration['model'], cpu: number, maxReplicas: number, host: string): ServiceDeclaration {
  return {
    model,
    cpu,
    parallel: 2,
    autoscaling: { minReplicas: 0, maxReplicas, signal: 'queue' },
    scaleToZero: { idleAfter: '10m' },
    modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'efs-sc', accessMode: 'ReadWriteMany' },
    scheduling: { capacityType: 'spot' },
    exposure: { kind: 'ingress', host, className: 'nginx', tlsSecretName: `${host.split('.')[0]}-tls`, annotations: certificateIssuer },
    allowedClientNamespaces: ['apps'],
  };
}

/**
 * Fleet: eight models in one namespace. Four large ones on GPUs (Llama 3.3 70B and gpt-oss-120b each split over
 * two L40S, the 32B and the 35B on one each) and four small ones on CPU that prefer spot capacity and scale on
 * their queue; every service behind a TLS ingress whose certificate cert-manager issues; a namespace quota sized
 * to all of it at full scale.
 */
export const fleet: Environment = {
  name: 'fleet',
  definedIn: 'charts/environments/fleet.ts',
  namespace: 'llm-fleet',
  clusterName: 'fleet',
  cluster: fleetCluster,
  image: inferenceImage,
  services: {
    'llama-70b': gpuService(llama33_70bInstructQ6K, 2, 'llama-70b.llm.fleet.internal'),
    'gpt-oss-120b': gpuService(gptOss120bMxfp4, 2, 'gpt-oss-120b.llm.fleet.internal'),
    'chat-32b': gpuService(qwen25_32bInstructQ4KM, 1, 'chat-32b.llm.fleet.internal'),
    'command-r-35b': gpuService(c4aiCommandRV01Q4KM, 1, 'command-r-35b.llm.fleet.internal'),
    'chat-1-5b': cpuService(qwen25_1_5bInstructQ4KM, 4, 6, 'chat-1-5b.llm.fleet.internal'),
    'chat-3b': cpuService(qwen25_3bInstructQ4KM, 4, 6, 'chat-3b.llm.fleet.internal'),
    // 7 CPU, not 8: an m6i.4xlarge has 15.89 CPU allocatable, so a node holding two 4-CPU pods keeps 7.89 free and
    // an 8-CPU pod no longer fits it; the scheduler spreads the small pods so, and one 8-CPU pod stayed Pending
    // (cluster-fits-all-pods packs node by node). 7 + 4 + 4 and 7 + 7 fit a node.
    'chat-7b': cpuService(qwen25_7bInstructQ4KM, 7, 4, 'chat-7b.llm.fleet.internal'),
    'llama-8b': cpuService(llama31_8bInstructQ4KM, 7, 4, 'llama-8b.llm.fleet.internal'),
  },
  // At full scale (every autoscaler at its maximum plus each rollout's surge pod) the eight services ask for
  // 142 CPU, 107.4 GiB, 6 GPUs, 28 pods and 8 claims of 202 GiB (namespace-quota-fits prints the sums); the budget
  // leaves room for a debug pod and one more small service's surge. Storage and claims also hold a model change of
  // the largest cache (gpt-oss-120b, 72 GiB) beside the others (cache-change-fits-quota).
  quota: { cpu: 160, memoryGiB: 128, gpus: 6, ephemeralStorageGiB: 32, pods: 32, storageGiB: 280, persistentVolumeClaims: 10 },
  // No CPU bound per container (it would become the inference server's CPU limit); the defaults give a container
  // that states nothing what the quota needs it to state.
  limitRange: {
    maxPerContainer: { memoryMiB: 8 * 1024, ephemeralStorageMiB: 8 * 1024 },
    defaultRequest: { cpu: 0.25, memoryMiB: 256, ephemeralStorageMiB: 256 },
    defaultLimit: { memoryMiB: 256, ephemeralStorageMiB: 256 },
  },
};
