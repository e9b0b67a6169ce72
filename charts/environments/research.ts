import { stagingCluster } from '../clusters/staging.js';
import { ref } from '../companions/references.js';
import { nomicEmbedTextV15Q4KM, qwen25_7bInstructQ4KM } from '../models/catalogue.js';
import { inferenceImage } from './image.js';
import type { Environment } from './types.js';

/** The Secret (created by the operator, docs/prerequisites.md) whose key both model services require as a Bearer token. */
const apiKeySecret = { name: 'research-llm-api-key', key: 'api-key' } as const;

const reason = ref.service('reason');
const embed = ref.service('embed');

/**
 * The research stack, whole: a reasoning model and an embedding model served here, Qdrant from its published Helm
 * chart, the team's agent service and Open WebUI from their images (plain manifests under companions/research/),
 * on the staging EKS cluster in a namespace of its own. Qdrant syncs before the models (the agent and the UI expect
 * it), the agent and the UI after them. The model URLs, model ids and the API key reach the companions as typed
 * references only (docs/companions.md).
 *
 * The catalogue has no dedicated reasoning model yet; Qwen2.5-7B-Instruct stands in for it on CPU.
 */
export const research: Environment = {
  name: 'research',
  definedIn: 'charts/environments/research.ts',
  namespace: 'llm-research',
  clusterName: 'staging',
  cluster: stagingCluster,
  image: inferenceImage,
  services: {
    reason: {
      model: qwen25_7bInstructQ4KM,
      cpu: 2,
      parallel: 2,
      contextSize: 8192,
      modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3', accessMode: 'ReadWriteOnce' },
      apiKeySecret,
    },
    embed: {
      model: nomicEmbedTextV15Q4KM,
      cpu: 1,
      modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3', accessMode: 'ReadWriteOnce' },
      apiKeySecret,
      waivers: {
        'model-integrity-verified':
          'size and sha256 agree across several revision-pinned public manifests but were not read from the hub here; MODEL_SHA256 is set, so the init container refuses any other file',
      },
    },
  },
  companions: {
    // Chart 1.15.1 (Qdrant v1.15.1): qdrant/qdrant-helm charts/qdrant/Chart.yaml at commit 2353e4f84b reads
    // `version: 1.15.1`. The kinds below are what its templates (statefulset, service, service-headless,
    // configmap, serviceaccount) render with these values; secret, pdb, ingress and servicemonitor are off.
    // Not verified here: `helm template` of the published 1.15.1 archive (no network to the chart repository).
    qdrant: {
      order: 'before-models',
      source: {
        kind: 'helm',
        repoURL: 'https://qdrant.github.io/qdrant-helm',
        chart: 'qdrant',
        version: '1.15.1',
        values: {
          replicaCount: 1,
          persistence: { storageClassName: 'gp3', accessModes: ['ReadWriteOnce'], size: '20Gi' },
          resources: { requests: { cpu: '500m', memory: '2Gi' }, limits: { memory: '2Gi' } },
          // The namespace enforces Pod Security `restricted`: the chart's chown init container runs as root, and
          // its default container context lacks the seccomp profile and the dropped capabilities.
          updateVolumeFsOwnership: false,
          podSecurityContext: { fsGroup: 3000, fsGroupChangePolicy: 'OnRootMismatch', runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
          containerSecurityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 2000,
            allowPrivilegeEscalation: false,
            privileged: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
        },
        renders: [
          { group: 'apps', kind: 'StatefulSet' },
          { group: '', kind: 'Service' },
          { group: '', kind: 'ConfigMap' },
          { group: '', kind: 'ServiceAccount' },
        ],
      },
    },
    agent: {
      order: 'after-models',
      waivers: {
        'image-pinned':
          'the digest cannot be read here (no registry access from this repository); research is not production; pin it with `docker buildx imagetools inspect` before users depend on it',
      },

      source: {
        kind: 'manifests',
        path: 'companions/research/agent',
        env: {
          agent: {
            OPENAI_BASE_URL: reason.openaiBaseUrl,
            OPENAI_API_KEY: reason.apiKey,
            OPENAI_MODEL: reason.modelId,
            EMBEDDING_BASE_URL: embed.openaiBaseUrl,
            EMBEDDING_API_KEY: embed.apiKey,
            EMBEDDING_MODEL: embed.modelId,
          },
        },
      },
    },
    'web-ui': {
      order: 'after-models',
      waivers: {
        'image-pinned':
          'the digest cannot be read here (no registry access from this repository); research is not production; pin it with `docker buildx imagetools inspect` before users depend on it',
      },

      source: {
        kind: 'manifests',
        path: 'companions/research/web-ui',
        env: {
          'open-webui': {
            OPENAI_API_BASE_URL: reason.openaiBaseUrl,
            OPENAI_API_KEY: reason.apiKey,
            RAG_OPENAI_API_BASE_URL: embed.openaiBaseUrl,
            RAG_OPENAI_API_KEY: embed.apiKey,
            RAG_EMBEDDING_MODEL: embed.modelId,
          },
        },
      },
    },
  },
};
