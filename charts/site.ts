/**
 * The settings that differ per fork of this repository, in one place: change them here and run
 * `npm run synth`; every manifest and Argo CD object that names them follows.
 */
export const site = {
  /** Git clone URL Argo CD pulls `dist/` and `argocd/` from: your fork. */
  repoURL: 'https://github.com/gguf-on-k8s/gguf-on-k8s.git',
  /** Branch (or tag) Argo CD syncs: argocd/ itself (the root Application) and every environment not named below. */
  targetRevision: 'main',
  /**
   * The revision each environment's Application tracks, when it is not `targetRevision`: promotion is moving
   * that branch (README: promoting a change). Keys are environment names (charts/environments/); synth refuses
   * a key that names none. A commit SHA here pins an environment (README: rolling back).
   */
  environmentRevisions: { production: 'release', fleet: 'release' } as Readonly<Record<string, string>>,
  /**
   * Registry and repository of the inference image built from `Dockerfile`; tagged with the
   * package.json version (and `-cuda` for the GPU build), so nothing ever runs `latest`.
   */
  imageRepository: 'ghcr.io/gguf-on-k8s/inference',
  /** Namespace Argo CD runs in (where its Applications and AppProjects live). */
  argocdNamespace: 'argocd',
  /** AppProject of the inference environments. */
  project: 'llm-inference',
} as const;
