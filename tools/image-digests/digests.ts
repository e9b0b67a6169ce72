/**
 * What the publishing workflow asks of the repository, as functions the CLI (main.ts) and the tests share:
 * the build plan for a Git ref (channel, tags, Dockerfile targets, platforms) and recording a pushed digest in
 * charts/images.json. Every figure comes from charts/environments/published-images.ts and charts/site.ts.
 */
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  ImageDigestsError,
  digestProblem,
  parseImageDigests,
  pinnedReference,
  serializeImageDigests,
  tagPattern,
  type ImageDigests,
} from '../../charts/lib/image-digests.js';
import {
  devTag,
  imageRepository,
  isPublishedImageId,
  packageVersion,
  publishedImageIds,
  publishedImages,
  releaseTag,
  type PublishedImageId,
} from '../../charts/environments/published-images.js';

/** A mistake in what the tool was given: one line, exit code 1, nothing written. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `release` for a `v<version>` tag (recorded in charts/images.json), `dev` for a push to main (pushed and signed only). */
export type Channel = 'release' | 'dev';

export interface ImagePlan {
  readonly id: PublishedImageId;
  readonly target: string;
  readonly platforms: readonly string[];
  readonly tag: string;
  /** `repository:tag`, what `docker buildx build --tag` gets. */
  readonly reference: string;
}

export interface BuildPlan {
  readonly channel: Channel;
  readonly repository: string;
  /** Registry host, for `docker login`. */
  readonly registry: string;
  readonly images: readonly ImagePlan[];
}

/** The branch whose pushes build the dev channel. */
export const devBranch = 'main';

/**
 * What to build for a push of `ref` at commit `sha`. A release tag must be `v` + the package.json version, so a
 * release's images are tagged with the version its manifests were written for.
 */
export function buildPlan(ref: string, sha: string, version: string = packageVersion): BuildPlan {
  if (!/^[a-f0-9]{40}$/.test(sha)) throw new UsageError(`--sha "${sha}" is not a 40-character lower-case commit hash (GITHUB_SHA)`);
  let channel: Channel;
  if (ref === `refs/heads/${devBranch}`) channel = 'dev';
  else if (ref.startsWith('refs/tags/v')) {
    const tagged = ref.slice('refs/tags/v'.length);
    if (tagged !== version)
      throw new UsageError(
        `tag v${tagged} does not match package.json version ${version}: bump "version" in package.json, commit, and tag that commit v<version>`,
      );
    channel = 'release';
  } else throw new UsageError(`--ref "${ref}" is neither refs/heads/${devBranch} (dev channel) nor refs/tags/v<version> (release)`);
  const images = publishedImageIds.map((id): ImagePlan => {
    const tag = channel === 'release' ? releaseTag(id, version) : devTag(id, sha);
    return { id, target: publishedImages[id].target, platforms: publishedImages[id].platforms, tag, reference: `${imageRepository}:${tag}` };
  });
  const first = imageRepository.split('/')[0]!;
  // Docker's rule (distribution/reference normalize.go): the first component is a registry host only if it has a dot or a port, or is localhost.
  const registry = first.includes('.') || first.includes(':') || first === 'localhost' ? first : 'docker.io';
  return { channel, repository: imageRepository, registry, images };
}

/** The key an image's plan values get in $GITHUB_OUTPUT (`inference-cuda` -> `inference_cuda_target`). */
export function outputKey(id: PublishedImageId, field: 'target' | 'platforms' | 'tag' | 'reference'): string {
  return `${id.replace(/-/g, '_')}_${field}`;
}

/** The plan as `key=value` lines for $GITHUB_OUTPUT. */
export function planOutputs(plan: BuildPlan): string[] {
  return [
    `channel=${plan.channel}`,
    `repository=${plan.repository}`,
    `registry=${plan.registry}`,
    ...plan.images.flatMap((i) => [
      `${outputKey(i.id, 'target')}=${i.target}`,
      `${outputKey(i.id, 'platforms')}=${i.platforms.join(',')}`,
      `${outputKey(i.id, 'tag')}=${i.tag}`,
      `${outputKey(i.id, 'reference')}=${i.reference}`,
    ]),
  ];
}

/** Read a digests file; a missing file is `{}` only when `allowMissing`. */
export function readDigests(file: string, allowMissing = false): ImageDigests {
  if (!existsSync(file)) {
    if (allowMissing) return {};
    throw new UsageError(`${file} does not exist (the committed file is charts/images.json; \`{}\` before the first publish)`);
  }
  try {
    return parseImageDigests(readFileSync(file, 'utf8'), file, publishedImageIds);
  } catch (error) {
    if (error instanceof ImageDigestsError) throw new UsageError(error.message);
    throw error;
  }
}

export interface DigestEntry {
  readonly image: string;
  readonly tag: string;
  readonly digest: string;
  /** @default charts/site.ts imageRepository; anything else is refused (the charts would refuse it too) */
  readonly repository?: string;
}

/** Validate one entry against the catalogue, or throw a UsageError saying what is wrong and the fix. */
export function checkEntry(entry: DigestEntry): { id: PublishedImageId; repository: string; tag: string; digest: string } {
  if (!isPublishedImageId(entry.image))
    throw new UsageError(`unknown image "${entry.image}": the published images are ${publishedImageIds.join(', ')} (charts/environments/published-images.ts)`);
  const repository = entry.repository ?? imageRepository;
  if (repository !== imageRepository)
    throw new UsageError(
      `--repository ${repository} is not charts/site.ts imageRepository ${imageRepository}: the charts pull from there; change site.ts first if the registry moved`,
    );
  if (!tagPattern.test(entry.tag)) throw new UsageError(`--tag "${entry.tag}" is not a valid image tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})`);
  const problem = digestProblem(entry.digest);
  if (problem !== undefined) throw new UsageError(`--digest ${problem}; pass the digest the push printed (build-push-action output "digest")`);
  return { id: entry.image, repository, tag: entry.tag, digest: entry.digest };
}

/** The digests with one entry set (the others kept as they are). */
export function withEntry(digests: ImageDigests, entry: DigestEntry): ImageDigests {
  const { id, repository, tag, digest } = checkEntry(entry);
  return { ...digests, [id]: { repository, tag, digest } };
}

/** Write the file through a temporary file in the same directory and a rename: a failure leaves the old file. */
export function writeDigests(file: string, digests: ImageDigests): void {
  const text = serializeImageDigests(digests);
  // Parse what is about to be written: the charts must be able to read it back.
  parseImageDigests(text, file, publishedImageIds);
  const dir = mkdtempSync(join(dirname(file), '.image-digests-'));
  try {
    const tmp = join(dir, 'images.json');
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One line per published image: its pinned reference, or that it has no digest yet. */
export function describeDigests(digests: ImageDigests): string[] {
  return publishedImageIds.map((id) => {
    const record = digests[id];
    return record !== undefined
      ? `${id}\t${pinnedReference(record)}`
      : `${id}\tnot published yet (${imageRepository}:${releaseTag(id)} until a release records a digest)`;
  });
}
