import { qwen25_3bInstructQ4KM } from '../models/catalogue.js';
import { onpremCluster } from '../clusters/onprem.js';
import { inferenceImage } from './image.js';
import type { Environment } from './types.js';

/**
 * On-prem: a CPU-only chat service on the vSphere cluster, one pod on a ReadWriteOnce vSAN cache
 * (so Recreate), reached through ingress-nginx; the cluster has no cloud load balancer and no GPUs.
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
  },
};
