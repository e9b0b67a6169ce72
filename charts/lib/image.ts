/** A parsed container image reference: `registry/repository[:tag][@sha256:digest]`. */
export interface ImageReference {
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

export function parseImage(image: string): ImageReference {
  const [namePart = '', digest] = image.split('@', 2);
  const slash = namePart.lastIndexOf('/');
  const colon = namePart.lastIndexOf(':');
  const hasTag = colon > slash;
  return {
    repository: hasTag ? namePart.slice(0, colon) : namePart,
    tag: hasTag ? namePart.slice(colon + 1) : undefined,
    digest,
  };
}

/**
 * Why an image reference is mutable, or undefined when it is pinned.
 * A digest pins the content; a version tag pins it by convention; `latest` or no tag pins nothing,
 * so two pods of one ReplicaSet can run different code.
 */
export function mutableImageReason(image: string): string | undefined {
  const ref = parseImage(image);
  if (ref.repository === '' || /\s/.test(image)) return 'is not an image reference';
  if (ref.digest !== undefined) {
    return /^sha256:[a-f0-9]{64}$/.test(ref.digest) ? undefined : `has a malformed digest "${ref.digest}"`;
  }
  if (ref.tag === undefined) return 'has no tag (it means latest)';
  if (ref.tag === 'latest') return 'uses the mutable tag latest';
  if (!/^[\w][\w.-]{0,127}$/.test(ref.tag)) return `has an invalid tag "${ref.tag}"`;
  return undefined;
}

/** The pull policies a container may have (Kubernetes core/v1 Container.imagePullPolicy). */
export type PullPolicy = 'Always' | 'IfNotPresent';

/**
 * The pull policy for a reference. A digest names exactly one image, so a copy already on the node is the right
 * one: `IfNotPresent` (a restart does not depend on the registry). A tag can be pushed again; with `IfNotPresent`
 * every node keeps running whatever it pulled first, so pods of one ReplicaSet run different code: `Always` makes
 * the kubelet resolve the tag at every container start (it pulls only layers it lacks), the Kubernetes default for
 * a mutable reference (kubernetes/kubernetes pkg/apis/core/v1/defaults.go, SetDefaults_Container: `Always` for
 * `:latest` or no tag).
 */
export function pullPolicyFor(image: string): PullPolicy {
  const digest = parseImage(image).digest;
  return digest !== undefined && /^sha256:[a-f0-9]{64}$/.test(digest) ? 'IfNotPresent' : 'Always';
}
