import { qwen25_3bInstructQ4KM, qwen25_7bInstructQ4KM } from '../models/catalogue.js';
import { productionCluster } from '../clusters/production.js';
import { inferenceImage, inferenceImageCuda } from './image.js';
import type { Environment } from './types.js';

/**
 * Production: the CPU chat service autoscales on its queue (KEDA) on a shared ReadWriteMany (EFS) cache, so it can
 * roll pods one at a time; the GPU service sits behind an internal NLB with a ReadWriteOnce cache
 * and is replaced with Recreate (no spare GPU for a surge pod).
 */
export const production: Environment = {
  name: 'production',
  definedIn: 'charts/environments/production.ts',
  namespace: 'llm-production',
  clusterName: 'production',
  cluster: productionCluster,
  image: inferenceImage,
  production: true,
  services: {
    chat: {
      model: qwen25_3bInstructQ4KM,
      cpu: 4,
      parallel: 4,
      // Scales on busy plus queued requests (KEDA): CPU reads near 100 % as soon as one request generates.
      autoscaling: { minReplicas: 2, maxReplicas: 4, signal: 'queue' },
      // EFS: shared by every replica; reads slower than a local gp3 volume, so the startup window grows.
      modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'efs-sc', accessMode: 'ReadWriteMany' },
      // cert-manager issues the certificate into chat-llm-internal-tls from the cluster's internal CA.
      exposure: {
        kind: 'ingress',
        host: 'chat.llm.internal',
        className: 'nginx',
        tlsSecretName: 'chat-llm-internal-tls',
        annotations: { 'cert-manager.io/cluster-issuer': 'internal-ca' },
      },
      allowedClientNamespaces: ['apps'],
    },
    'chat-gpu': {
      model: qwen25_7bInstructQ4KM,
      image: inferenceImageCuda,
      cpu: 4,
      parallel: 4,
      contextSize: 8192,
      gpu: { count: 1, memoryGiB: 24 },
      modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3', accessMode: 'ReadWriteOnce' },
      exposure: { kind: 'load-balancer', provider: 'aws-nlb', internal: true },
      apiKeySecret: { name: 'chat-gpu-api-key', key: 'api-key' },
      allowedClientNamespaces: ['apps'],
    },
  },
  // The namespace's budget: room for chat at its autoscaler maximum plus its surge pod (5 x 4 CPU) and one
  // chat-gpu pod, with headroom for a debug pod; checked by namespace-quota-fits, under the cluster's own quota.
  quota: { cpu: 28, memoryGiB: 32, gpus: 2, ephemeralStorageGiB: 12, pods: 10, storageGiB: 20, persistentVolumeClaims: 4 },
  // No CPU bound per container: Kubernetes would make it the inference server's CPU limit (limit-range-admits).
  // The defaults give a container that states nothing (kubectl run) what the quota needs it to state.
  limitRange: {
    maxPerContainer: { memoryMiB: 16 * 1024, ephemeralStorageMiB: 8 * 1024 },
    defaultRequest: { cpu: 0.25, memoryMiB: 256, ephemeralStorageMiB: 256 },
    defaultLimit: { memoryMiB: 256, ephemeralStorageMiB: 256 },
  },
};
