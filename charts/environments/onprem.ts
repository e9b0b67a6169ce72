import { mistral7bInstructV02Q4KM, qwen25_3bInstructQ4KM } from '../models/catalogue.js';
import { onpremCluster } from '../clusters/onprem.js';
import { inferenceImage } from './image.js';
import type { Environment } from './types.js';

/**
 * On-prem: the Tanzu system. A vSphere with Tanzu cluster on Kubernetes 1.23 with no GPUs, PodSecurityPolicy
 * admission on (so each service gets a PodSecurityPolicy read off its pods, with the RBAC to use it) and NSX
 * Advanced Load Balancer (AKO) for `type: LoadBalancer` Services. Two CPU services, each one pod on a
 * ReadWriteOnce vSAN cache (so Recreate): the Mistral-7B app the platform team exposes on a VIP from the
 * `llm-vip` AviInfraSetting, and a small chat model reached through ingress-nginx.
 */
export const onprem: Environment = {
  name: 'onprem',
  definedIn: 'charts/environments/onprem.ts',
  namespace: 'llm-onprem',
  clusterName: 'onprem',
  cluster: onpremCluster,
  image: inferenceImage,
  services: {
    chat: {
      model: qwen25_3bInstructQ4KM,
      cpu: 8,
      parallel: 4,
      modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'vsphere-gold', accessMode: 'ReadWriteOnce' },
      exposure: { kind: 'ingress', host: 'chat.llm.corp.example', className: 'nginx', tlsSecretName: 'chat-llm-corp-tls' },
      allowedClientNamespaces: ['apps'],
    },
    mistral: {
      model: mistral7bInstructV02Q4KM,
      cpu: 8,
      parallel: 2,
      modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'vsphere-gold', accessMode: 'ReadWriteOnce' },
      exposure: { kind: 'load-balancer', provider: 'avi', addressPool: 'llm-vip' },
    },
  },
};
