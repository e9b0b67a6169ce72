import type { GitOpsSettings } from '../gitops/argocd.js';
import { site } from '../site.js';
import { fleet } from './fleet.js';
import { onprem } from './onprem.js';
import { production } from './production.js';
import { research } from './research.js';
import { staging } from './staging.js';
import type { Environment } from './types.js';

/** Every environment `npm run synth` writes to dist/<name>/. */
export const environments: readonly Environment[] = [staging, production, onprem, fleet, research];

/** Where Argo CD finds this repository: set in charts/site.ts. */
export const gitops: GitOpsSettings = {
  repoURL: site.repoURL,
  targetRevision: site.targetRevision,
  environmentRevisions: site.environmentRevisions,
  argocdNamespace: site.argocdNamespace,
  project: site.project,
};
