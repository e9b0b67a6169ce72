import { readFileSync } from 'node:fs';
import { site } from '../site.js';

/**
 * The inference images built from this repository's Dockerfile, in the registry set in
 * charts/site.ts. Their tag is the package version, so a release shows up in the manifest diff as an
 * image change, and nothing ever runs `latest`. The CUDA variant keeps node-llama-cpp's CUDA binaries
 * (`--build-arg KEEP_GPU_BINARIES=true` on a CUDA runtime base image); the CPU image drops them to stay small.
 */
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
export const inferenceImage = `${site.imageRepository}:${pkg.version}`;
export const inferenceImageCuda = `${site.imageRepository}:${pkg.version}-cuda`;
