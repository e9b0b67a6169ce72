import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ChartConfigError } from '../lib/config-error.js';
import { ImageDigestsError, parseImageDigests, pinnedReference, type ImageDigests } from '../lib/image-digests.js';
import { imageRepository, publishedImageIds, releaseTag, type PublishedImageId } from './published-images.js';

/**
 * The inference image references the environments use. Once the publishing workflow has recorded an image's
 * digest in charts/images.json, its reference is `repository:tag@sha256:<digest>`: every node runs the same
 * bytes, whatever the tag points at later. Before the first publish the file is `{}` and the reference is the
 * release tag of the package version (`:0.1.0`, `:0.1.0-cuda`); synth then warns once per image
 * (rule `image-pinned`) and the pods pull it with `Always` (charts/lib/image.ts pullPolicyFor).
 */

/** Repository-relative path of the digests file: written by tools/image-digests/, read here only. */
export const imageDigestsFile = 'charts/images.json';

/**
 * Environment variable naming another digests file to read instead of charts/images.json. For tests that write a
 * digest into a temporary copy and synthesize in memory; the charts read it once, when this module loads.
 */
export const imageDigestsFileEnv = 'IMAGE_DIGESTS_FILE';

function loadImageDigests(): { readonly file: string; readonly digests: ImageDigests } {
  const override = process.env[imageDigestsFileEnv];
  const path = override !== undefined && override !== '' ? override : fileURLToPath(new URL(`../../${imageDigestsFile}`, import.meta.url));
  const file = override !== undefined && override !== '' ? override : imageDigestsFile;
  const fix = 'publish the image with .github/workflows/image.yml (it records the digest), or `npm run image:digests -- set ...`';
  try {
    const digests = parseImageDigests(readFileSync(path, 'utf8'), file, publishedImageIds);
    const problems = Object.entries(digests)
      .filter(([, record]) => record.repository !== imageRepository)
      .map(([id, record]) => ({
        file,
        object: id,
        field: 'repository',
        problem: `records ${record.repository}, but charts/site.ts imageRepository is ${imageRepository}`,
        fix: `${fix}, to ${imageRepository}; or delete the entry`,
      }));
    if (problems.length > 0) throw new ChartConfigError(problems);
    return { file, digests };
  } catch (error) {
    if (error instanceof ImageDigestsError)
      throw new ChartConfigError([
        { file: error.file, object: error.image || '(file)', field: error.field || '(whole file)', problem: error.problem, fix: error.fix },
      ]);
    if (error instanceof ChartConfigError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new ChartConfigError([
      {
        file,
        object: '(file)',
        field: '(whole file)',
        problem: `cannot be read (${message})`,
        fix: 'restore it from git; `{}` is the file before the first publish',
      },
    ]);
  }
}

const loaded = loadImageDigests();

/** The digests file synth read (charts/images.json unless IMAGE_DIGESTS_FILE names another). */
export const imageDigestsSource: string = loaded.file;

/** What charts/images.json records, by image id. */
export const imageDigests: ImageDigests = loaded.digests;

/** The reference of a published image: pinned by digest once recorded, else its release tag. */
export function publishedImageReference(id: PublishedImageId): string {
  const record = imageDigests[id];
  return record !== undefined ? pinnedReference(record) : `${imageRepository}:${releaseTag(id)}`;
}

/**
 * The published image a container reference names while it has no recorded digest (the reference is exactly its
 * release-tag fallback), or undefined. Rule `image-pinned` reports these once per image rather than per service.
 */
export function awaitingFirstPublish(image: string): PublishedImageId | undefined {
  return publishedImageIds.find((id) => imageDigests[id] === undefined && image === `${imageRepository}:${releaseTag(id)}`);
}

/** The CPU image (linux/amd64 and linux/arm64), Dockerfile target `runtime`. */
export const inferenceImage = publishedImageReference('inference');
/** The CUDA image (linux/amd64), Dockerfile target `runtime-cuda`: keeps node-llama-cpp's CUDA binaries on a CUDA runtime base. */
export const inferenceImageCuda = publishedImageReference('inference-cuda');
