/**
 * Reads everything a catalogue entry needs from the model itself: the header of every part (node-llama-cpp's
 * `readGgufFileInfo`, locally or over HTTP range requests, which splices split files), each part's exact size,
 * and each part's sha256 (hashed locally; for a remote file, from the hub's file metadata or `--sha256`).
 *
 * The hub's file metadata is what `huggingface_hub`'s `get_hf_file_metadata` reads (huggingface_hub,
 * `src/huggingface_hub/file_download.py`): a HEAD of `<endpoint>/<repo>/resolve/<revision>/<file>` without
 * following the redirect answers `X-Linked-Size` (bytes) and `X-Linked-Etag` (the Git LFS object id: the
 * file's sha256) for an LFS file, and `X-Repo-Commit` (the commit the revision resolved to).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { GgufInsights, readGgufFileInfo, type GgufFileInfo } from 'node-llama-cpp';
import { sha256File } from '../../service/model/files.js';
import { ggufFacts, GgufFactsError, truncationReason, type GgufFacts } from '../../service/model/gguf-facts.js';
import { parseModelRef } from '../../service/model/ref.js';
import { allPartNames } from '../../service/model/split-name.js';

/** A failure with a one-line reason: the command prints it and exits 1. */
export class OnboardError extends Error {
  override name = 'OnboardError';
}

export interface InspectedPart {
  readonly fileName: string;
  readonly bytes: number;
  readonly sha256: string | undefined;
  /** Where bytes and sha256 came from. */
  readonly bytesFrom: string;
  readonly sha256From: string | undefined;
}

export interface InspectedModel {
  readonly facts: GgufFacts;
  readonly parts: readonly InspectedPart[];
  /** Where the header was read from (a path or a URL without query). */
  readonly headerFrom: string;
  /** The commit an hf: revision resolved to, when the hub said. */
  readonly repoCommit: string | undefined;
  readonly remote: boolean;
}

export interface InspectOptions {
  /** A local path, `hf:<user>/<repo>/<file>.gguf[#revision]` or an http(s) URL. */
  readonly ref: string;
  /** sha256 per part, in order (remote files whose hub gives none). */
  readonly sha256?: readonly string[];
  /** Base URL for hf: references; default $HF_ENDPOINT, else https://huggingface.co. */
  readonly hfEndpoint?: string;
  /** Bearer token for hf: references; default $HF_TOKEN. */
  readonly hfToken?: string;
  readonly signal?: AbortSignal;
}

function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

function causeText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, i = 0; e && i < 4; i++, e = e instanceof Error ? e.cause : undefined) {
    const code = (e as { code?: unknown }).code;
    const text = `${oneLine(e)}${typeof code === 'string' && !oneLine(e).includes(code) ? ` (${code})` : ''}`;
    if (!parts.includes(text)) parts.push(text);
  }
  return parts.join(': ');
}

/** Replaces the last path segment of a URL, keeping the query (signed mirrors put tokens there). */
function siblingUrl(url: string, fileName: string): string {
  const u = new URL(url);
  const dir = u.pathname.slice(0, u.pathname.lastIndexOf('/') + 1);
  u.pathname = dir + encodeURIComponent(fileName);
  return u.href;
}

const redact = (url: string): string => {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
};

async function readHeader(source: string, remote: boolean, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<GgufFileInfo> {
  try {
    return await readGgufFileInfo(source, {
      sourceType: remote ? 'network' : 'filesystem',
      logWarnings: false,
      fetchHeaders: headers,
      // A failing server should fail the command in seconds, not after node-llama-cpp's default back-off.
      fetchRetryOptions: { retries: 2, minTimeout: 200, maxTimeout: 1000 },
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    const text = causeText(err);
    const where = remote ? redact(source) : source;
    if (/magic|not a valid gguf|invalid gguf/i.test(text)) throw new OnboardError(`${where} is not a GGUF file (${text})`);
    if (/out of range|exceeds|end of|EOF|offset|bounds|Unexpected|too short/i.test(text))
      throw new OnboardError(`${where}: the GGUF header is truncated or corrupt (${text})`);
    if (remote) throw new OnboardError(`cannot read the GGUF header from ${where}: ${text}`);
    throw new OnboardError(`cannot read ${where}: ${text}`);
  }
}

interface HubMetadata {
  bytes: number | undefined;
  sha256: string | undefined;
  commit: string | undefined;
  status: number;
}

async function headMetadata(url: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<HubMetadata> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'HEAD', redirect: 'manual', headers: { 'accept-encoding': 'identity', ...headers }, signal: signal ?? null });
  } catch (err) {
    throw new OnboardError(`cannot reach ${redact(url)}: ${causeText(err)}`);
  }
  if (res.status >= 400) {
    const hint =
      res.status === 401 || res.status === 403 ? ' (gated or private: set HF_TOKEN)' : res.status === 404 ? ' (no such file: names are case-sensitive)' : '';
    throw new OnboardError(`HTTP ${res.status} from ${redact(url)}${hint}`);
  }
  const linkedSize = res.headers.get('x-linked-size');
  const linkedEtag = res.headers.get('x-linked-etag')?.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
  let bytes = linkedSize !== null && /^\d+$/.test(linkedSize) ? Number(linkedSize) : undefined;
  if (bytes === undefined && res.status >= 200 && res.status < 300) {
    const len = res.headers.get('content-length');
    if (len !== null && /^\d+$/.test(len)) bytes = Number(len);
  }
  if (bytes === undefined && res.status >= 300 && res.status < 400) {
    // A plain redirect (a mirror, a CDN) without the hub's headers: ask the target for the length.
    const location = res.headers.get('location');
    if (location) return { ...(await headMetadata(new URL(location, url).href, {}, signal)), commit: res.headers.get('x-repo-commit') ?? undefined };
  }
  return {
    bytes,
    sha256: linkedEtag !== undefined && /^[0-9a-f]{64}$/.test(linkedEtag) ? linkedEtag : undefined,
    commit: res.headers.get('x-repo-commit') ?? undefined,
    status: res.status,
  };
}

function checkSha(list: readonly string[] | undefined, parts: number): (string | undefined)[] {
  if (list === undefined) return Array.from({ length: parts }, () => undefined);
  const norm = list.map((s) =>
    s
      .trim()
      .toLowerCase()
      .replace(/^sha256:/, ''),
  );
  if (norm.length !== parts)
    throw new OnboardError(`--sha256 lists ${norm.length} hash(es) for a model of ${parts} part(s): give one per part, comma-separated, in part order`);
  const bad = norm.find((s) => !/^[0-9a-f]{64}$/.test(s));
  if (bad !== undefined) throw new OnboardError(`--sha256 "${bad}" is not 64 hexadecimal digits`);
  return norm;
}

/** Reads the model's header, parts, sizes and hashes; throws OnboardError with a one-line reason. */
export async function inspectModel(opts: InspectOptions): Promise<InspectedModel> {
  let source;
  try {
    source = parseModelRef(opts.ref, opts.hfEndpoint === undefined ? {} : { hfEndpoint: opts.hfEndpoint });
  } catch (err) {
    throw new OnboardError(oneLine(err));
  }
  const remote = source.kind === 'remote';
  const firstName = source.kind === 'remote' ? source.fileName : path.basename(source.path);
  const names = allPartNames(firstName);
  if (names[0] !== firstName) throw new OnboardError(`${firstName} is not the first part of its split model: name ${names[0]} instead`);
  const given = checkSha(opts.sha256, names.length);
  const isHf = /^hf:/i.test(opts.ref.trim());
  const token = opts.hfToken ?? process.env.HF_TOKEN;
  const headers: Record<string, string> = isHf && token ? { authorization: `Bearer ${token}` } : {};

  const parts: InspectedPart[] = [];
  let repoCommit: string | undefined;
  let headerFrom: string;
  let info: GgufFileInfo;
  if (source.kind === 'local') {
    const dir = path.dirname(source.path);
    for (const [i, name] of names.entries()) {
      const file = path.join(dir, name);
      let bytes: number;
      try {
        const st = await stat(file);
        if (!st.isFile()) throw new OnboardError(`${file} is not a regular file`);
        bytes = st.size;
      } catch (err) {
        if (err instanceof OnboardError) throw err;
        throw new OnboardError(
          names.length > 1 ? `part ${i + 1} of ${names.length} (${file}) is missing: every part must sit in the same folder` : `${file} does not exist`,
        );
      }
      // Provenance is committed: it names the file, never this machine's path to it.
      parts.push({ fileName: name, bytes, sha256: undefined, bytesFrom: `size of the local file ${name}`, sha256From: undefined });
    }
    info = await readHeader(source.path, false, headers, opts.signal);
    headerFrom = `the local file ${path.basename(source.path)}`;
    const cut = truncationReason(
      info,
      parts.map((p) => p.bytes),
    );
    if (cut !== undefined) throw new OnboardError(`${source.path} is truncated or corrupt: ${cut}`);
    // Hash only once the header is known to be a model: a wrong file fails in milliseconds.
    for (const [i, p] of parts.entries()) {
      const file = path.join(dir, p.fileName);
      const actual = await sha256File(file, opts.signal);
      if (given[i] !== undefined && given[i] !== actual) throw new OnboardError(`${file} has sha256 ${actual}, not the ${given[i]} given with --sha256`);
      parts[i] = { ...p, sha256: actual, sha256From: `sha256 of the local file ${p.fileName}` };
    }
  } else {
    const urls = names.map((n) => siblingUrl(source.url, n));
    for (const [i, url] of urls.entries()) {
      const meta = await headMetadata(url, headers, opts.signal);
      repoCommit ??= meta.commit;
      if (meta.bytes === undefined) throw new OnboardError(`${redact(url)} gave no size (no X-Linked-Size or Content-Length): cannot size the cache volume`);
      const fromHub = meta.sha256 !== undefined;
      if (given[i] !== undefined && fromHub && given[i] !== meta.sha256) {
        throw new OnboardError(`the hub says ${names[i]} has sha256 ${meta.sha256}, not the ${given[i]} given with --sha256`);
      }
      parts.push({
        fileName: names[i]!,
        bytes: meta.bytes,
        sha256: meta.sha256 ?? given[i],
        bytesFrom: `${fromHub ? 'X-Linked-Size' : 'Content-Length'} of HEAD ${redact(url)}`,
        sha256From: fromHub ? `X-Linked-Etag (Git LFS oid) of HEAD ${redact(url)}` : given[i] !== undefined ? '--sha256' : undefined,
      });
    }
    info = await readHeader(source.url, true, headers, opts.signal);
    headerFrom = redact(source.url);
  }

  const truncated = truncationReason(
    info,
    parts.map((p) => p.bytes),
  );
  if (truncated !== undefined) throw new OnboardError(`${headerFrom} is truncated or corrupt: ${truncated}`);
  let facts: GgufFacts;
  try {
    facts = ggufFacts(info);
  } catch (err) {
    if (err instanceof GgufFactsError) throw new OnboardError(`${headerFrom}: ${err.message}`);
    throw err;
  }
  if (facts.splitCount !== names.length) {
    throw new OnboardError(`${headerFrom} says split.count ${facts.splitCount}, but its name says ${names.length} part(s)`);
  }
  const insights = await GgufInsights.from(info);
  if (!insights.isSupportedByLlamaCpp) {
    throw new OnboardError(`${headerFrom}: architecture "${facts.architecture}" is unknown to this build of llama.cpp (node-llama-cpp) and cannot be served`);
  }
  return { facts, parts, headerFrom, repoCommit, remote };
}
