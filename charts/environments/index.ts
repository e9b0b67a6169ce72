import { production } from './production.js';
import { staging } from './staging.js';
import type { Environment } from './types.js';

/** Every environment `npm run synth` writes to dist/<name>/. */
export const environments: readonly Environment[] = [staging, production];

/** Where Argo CD finds this repository. Change it to your fork's clone URL. */
export const gitops = {
  repoURL: 'https://github.com/gguf-on-k8s/gguf-on-k8s.git',
  targetRevision: 'main',
  argocdNamespace: 'argocd',
  project: 'llm-inference',
} as const;
