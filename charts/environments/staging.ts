import { nomicEmbedTextV15Q4KM, qwen25_3bInstructQ4KM, qwen25_7bInstructQ4KM } from '../models/catalogue.js';
import { stagingCluster } from '../clusters/staging.js';
import { inferenceImage, inferenceImageCuda } from './image.js';
import type { Environment } from './types.js';

/** Staging: one pod per model, ReadWriteOnce gp3 caches (so Recreate), in-cluster access only. */
export const staging: Environment = {
  name: 'staging',
  definedIn: 'charts/environments/staging.ts',
  namespace: 'llm-staging',
  clusterName: 'staging',
  cluster: stagingCluster,
  image: inferenceImage,
  services: {
    chat: {
      model: qwen25_3bInstructQ4KM,
      cpu: 2,
      parallel: 2,
      modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3', accessMode: 'ReadWriteOnce' },
      allowedClientNamespaces: ['apps-staging'],
    },
    'chat-gpu': {
      model: qwen25_7bInstructQ4KM,
      image: inferenceImageCuda,
      cpu: 2,
      parallel: 4,
      contextSize: 8192,
      gpu: { count: 1, memoryGiB: 24 },
      modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3', accessMode: 'ReadWriteOnce' },
      allowedClientNamespaces: ['apps-staging'],
    },
    // An embedding service: the model's catalogue entry has an `embedding` block, so it serves /v1/embeddings
    // (SERVICE_KIND=embedding), sized without generation KV and with a batch that holds a whole input.
    embed: {
      model: nomicEmbedTextV15Q4KM,
      cpu: 1,
      modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3', accessMode: 'ReadWriteOnce' },
      allowedClientNamespaces: ['apps-staging'],
      waivers: {
        'model-integrity-verified':
          'size and sha256 agree across several revision-pinned public manifests but were not read from the hub here; MODEL_SHA256 is set, so the init container refuses any other file',
      },
    },
  },
};
