import { readFileSync } from 'node:fs';

/**
 * The inference image built from this repository's Dockerfile. Its tag is the package version,
 * so a release shows up in the manifest diff as an image change, and nothing ever runs `latest`.
 */
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
export const inferenceImage = `ghcr.io/gguf-on-k8s/inference:${pkg.version}`;
