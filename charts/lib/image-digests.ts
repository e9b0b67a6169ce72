/**
 * The format of the image digests file (charts/images.json): what the publishing workflow pushed, by image
 * id. JSON rather than TypeScript because a workflow writes it (tools/image-digests/), and a JSON object with
 * one entry per image diffs as one changed line per field; the charts read it through `parseImageDigests`, so a
 * hand edit that breaks it fails synth with the file, the image and the field instead of a wrong manifest.
 */

/** A registry manifest digest as OCI writes it (image-spec descriptor.md: algorithm sha256, 64 lowercase hex). */
export const digestPattern = /^sha256:[a-f0-9]{64}$/;

/** A tag as the distribution spec allows it (distribution-spec spec.md, "tag": `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`). */
export const tagPattern = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** What one push produced: the repository and tag it was pushed to and the digest the registry returned. */
export interface PublishedImageRecord {
  readonly repository: string;
  readonly tag: string;
  readonly digest: string;
}

/** Image id (`inference`, `inference-cuda`: charts/environments/image.ts) -> what was last published for it. */
export type ImageDigests = Readonly<Record<string, PublishedImageRecord>>;

/** A digests file that cannot be used, with the file, the image id and the field at fault. */
export class ImageDigestsError extends Error {
  constructor(
    readonly file: string,
    readonly image: string,
    readonly field: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${file}: ${image === '' ? '' : `${image}: `}${field === '' ? '' : `${field}: `}${problem}. Fix: ${fix}`);
    this.name = 'ImageDigestsError';
  }
}

const recordFields = ['repository', 'tag', 'digest'] as const;

/** Why `digest` is not a sha256 manifest digest, or undefined when it is one. */
export function digestProblem(digest: string): string | undefined {
  if (digestPattern.test(digest)) return undefined;
  if (/^sha256:[a-fA-F0-9]{64}$/.test(digest)) return `"${digest}" has upper-case hex; registries write digests in lower case`;
  if (/^[a-f0-9]{64}$/.test(digest)) return `"${digest}" lacks the "sha256:" algorithm prefix`;
  return `"${digest}" is not a sha256 digest (sha256: followed by 64 lower-case hex characters)`;
}

/** Check one record; `image` and `file` only name it in the error. */
export function validateRecord(file: string, image: string, value: unknown): PublishedImageRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ImageDigestsError(
      file,
      image,
      '',
      `is ${JSON.stringify(value)}, not an object with ${recordFields.join(', ')}`,
      'write the entry with `npm run image:digests -- set`',
    );
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(recordFields as readonly string[]).includes(key))
      throw new ImageDigestsError(file, image, key, 'unknown field', `keep only ${recordFields.join(', ')}`);
  }
  for (const field of recordFields) {
    if (typeof record[field] !== 'string' || record[field] === '')
      throw new ImageDigestsError(file, image, field, 'missing or not a string', 'write the entry with `npm run image:digests -- set`');
  }
  const { repository, tag, digest } = record as { repository: string; tag: string; digest: string };
  // Lower case, no tag or digest: a port may follow the registry host, never the last path component.
  if (/[A-Z\s@]/.test(repository) || repository.slice(repository.lastIndexOf('/') + 1).includes(':')) {
    throw new ImageDigestsError(
      file,
      image,
      'repository',
      `"${repository}" is not a repository (registry/path, no tag or digest)`,
      'give the repository without :tag or @digest',
    );
  }
  if (!tagPattern.test(tag)) throw new ImageDigestsError(file, image, 'tag', `"${tag}" is not a valid tag`, 'use the tag the image was pushed with');
  const problem = digestProblem(digest);
  if (problem !== undefined)
    throw new ImageDigestsError(
      file,
      image,
      'digest',
      problem,
      'use the digest `docker buildx build --push` printed (or `docker buildx imagetools inspect <ref>`)',
    );
  return { repository, tag, digest };
}

/**
 * Parse the digests file; every image id must be one of `knownImages`. Throws ImageDigestsError naming the
 * file, the image and the field at fault.
 */
export function parseImageDigests(text: string, file: string, knownImages: readonly string[]): ImageDigests {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ImageDigestsError(
      file,
      '',
      '',
      `is not JSON (${error instanceof Error ? error.message : String(error)})`,
      'restore it from git; `{}` is the file before the first publish',
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ImageDigestsError(
      file,
      '',
      '',
      'is not a JSON object of image id -> { repository, tag, digest }',
      'restore it from git; `{}` is the file before the first publish',
    );
  const out: Record<string, PublishedImageRecord> = {};
  for (const [image, record] of Object.entries(value)) {
    if (!knownImages.includes(image))
      throw new ImageDigestsError(
        file,
        image,
        '',
        `unknown image id (known: ${knownImages.join(', ')})`,
        'use an id from charts/environments/image.ts publishedImages',
      );
    out[image] = validateRecord(file, image, record);
  }
  return out;
}

/** The file's text: image ids sorted, fields in a fixed order, two-space indent, a final newline (a stable diff). */
export function serializeImageDigests(digests: ImageDigests): string {
  const sorted = Object.fromEntries(
    Object.keys(digests)
      .sort()
      .map((id) => {
        const r = digests[id]!;
        return [id, { repository: r.repository, tag: r.tag, digest: r.digest }];
      }),
  );
  return `${JSON.stringify(sorted, null, 2)}\n`;
}

/** `repository:tag@sha256:...`: the reference every manifest uses once an image has a recorded digest. */
export function pinnedReference(record: PublishedImageRecord): string {
  return `${record.repository}:${record.tag}@${record.digest}`;
}
