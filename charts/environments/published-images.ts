import { readFileSync } from 'node:fs';
import { site } from '../site.js';

/**
 * The images this repository publishes from its Dockerfile: the one home of their Dockerfile targets, platforms
 * and tags. The publishing workflow (.github/workflows/image.yml) gets its build parameters from here through
 * `npm run image:digests -- plan`, and test/workflows/ checks that it builds exactly these. No file IO beyond
 * package.json, so the digests tool can load it even when charts/images.json is broken.
 */
export interface PublishedImageSpec {
  /** Dockerfile stage (`docker buildx build --target`). */
  readonly target: string;
  /** Platforms of its multi-platform manifest (`--platform`). */
  readonly platforms: readonly string[];
  /** Appended to the version (or dev tag) so the CPU and CUDA images share a repository without sharing a tag. */
  readonly tagSuffix: string;
}

export const publishedImages = {
  /** CPU image: node-llama-cpp's prebuilt CPU binaries for its architecture; runs on any node. */
  inference: { target: 'runtime', platforms: ['linux/amd64', 'linux/arm64'], tagSuffix: '' },
  /** CUDA image: the CUDA runtime base and node-llama-cpp's CUDA binaries; NVIDIA publishes them for amd64 only here. */
  'inference-cuda': { target: 'runtime-cuda', platforms: ['linux/amd64'], tagSuffix: '-cuda' },
} as const satisfies Record<string, PublishedImageSpec>;

export type PublishedImageId = keyof typeof publishedImages;

export const publishedImageIds = Object.keys(publishedImages) as PublishedImageId[];

export function isPublishedImageId(id: string): id is PublishedImageId {
  return Object.hasOwn(publishedImages, id);
}

/** The package version: release tags are `v<version>`, images `<version><suffix>`. */
export const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Where every published image is pushed (charts/site.ts). */
export const imageRepository = site.imageRepository;

/** The tag an image gets in a release of `version`. */
export function releaseTag(id: PublishedImageId, version: string = packageVersion): string {
  return `${version}${publishedImages[id].tagSuffix}`;
}

/** The tag an image gets on the dev channel for commit `sha`: one tag per commit, never moved. */
export function devTag(id: PublishedImageId, sha: string): string {
  return `main-${sha.slice(0, 12)}${publishedImages[id].tagSuffix}`;
}
