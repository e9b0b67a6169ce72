/**
 * Parsing of the MODEL reference: a local path, `hf:<user>/<repo>/<file>.gguf` or an http(s) URL.
 * Pure and synchronous, so config validation can reject a bad value before anything starts.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelRefError } from './errors.js';

export type ModelSource = { kind: 'local'; path: string } | { kind: 'remote'; url: string; fileName: string };

const example = 'hf:Qwen/Qwen2.5-3B-Instruct-GGUF/qwen2.5-3b-instruct-q4_k_m.gguf';
const forms = `a local path, hf:<user>/<repo>/<file>.gguf (e.g. ${example}) or an https:// URL to a .gguf file`;

/**
 * The cache file name must be a single plain path segment: it is joined to the cache directory, and a
 * name like `../x` or `.partial` tricks would write outside it or collide with our own temp files.
 */
function checkFileName(fileName: string, ref: string): string {
  if (!/\.gguf$/i.test(fileName)) {
    throw new ModelRefError(`MODEL "${ref}" names "${fileName || '(nothing)'}", not a .gguf file: use ${forms}`);
  }
  if (fileName.startsWith('.') || /[/\\\0]/.test(fileName) || Buffer.byteLength(fileName) > 200) {
    throw new ModelRefError(`MODEL "${ref}" has an unusable file name "${fileName}": use a plain name like model.gguf`);
  }
  return fileName;
}

function hfEndpointBase(explicit: string | undefined): string {
  const raw = explicit ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co';
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ModelRefError(`HF_ENDPOINT "${raw}" is not a URL: set it to e.g. https://huggingface.co or unset it`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new ModelRefError(`HF_ENDPOINT "${raw}" must be an http(s) URL`);
  }
  return raw.replace(/\/+$/, '');
}

function parseHf(ref: string, body: string, hfEndpoint: string | undefined): ModelSource {
  // Accept hf:user/repo/file.gguf, hf://user/repo/file.gguf and an optional #revision (branch, tag or commit).
  const [spec = '', revision = 'main', ...extra] = body.replace(/^\/+/, '').split('#');
  const parts = spec.split('/');
  const [user, repo, ...fileParts] = parts;
  if (extra.length > 0 || !user || !repo || fileParts.length === 0 || parts.some((p) => p === '')) {
    throw new ModelRefError(`MODEL "${ref}" is not a valid hf: reference: expected hf:<user>/<repo>/<file>.gguf (e.g. ${example})`);
  }
  if (parts.some((p) => p === '.' || p === '..') || revision === '') {
    throw new ModelRefError(`MODEL "${ref}" contains an invalid path segment: expected hf:<user>/<repo>/<file>.gguf`);
  }
  const fileName = checkFileName(fileParts[fileParts.length - 1] ?? '', ref);
  const enc = encodeURIComponent;
  const url = `${hfEndpointBase(hfEndpoint)}/${enc(user)}/${enc(repo)}/resolve/${enc(revision)}/${fileParts.map(enc).join('/')}`;
  return { kind: 'remote', url, fileName };
}

function parseUrl(ref: string): ModelSource {
  let u: URL;
  try {
    u = new URL(ref);
  } catch {
    throw new ModelRefError(`MODEL "${redactModelRef(ref)}" is not a valid URL: use ${forms}`);
  }
  const last = u.pathname.split('/').pop() ?? '';
  let fileName: string;
  try {
    fileName = decodeURIComponent(last);
  } catch {
    throw new ModelRefError(`MODEL "${redactModelRef(ref)}" has a malformed file name in its path`);
  }
  return { kind: 'remote', url: u.href, fileName: checkFileName(fileName, redactModelRef(ref)) };
}

/**
 * Parses a MODEL value. Throws ModelRefError (code 'REF') with a message that says what is accepted.
 *
 * - `hf:<user>/<repo>/<path/to/file>.gguf[#revision]` maps to
 *   `${hfEndpoint ?? $HF_ENDPOINT ?? 'https://huggingface.co'}/<user>/<repo>/resolve/<revision|main>/<path>`;
 * - `https://…/<file>.gguf` and `http://…/<file>.gguf` (plain http is allowed for in-cluster mirrors;
 *   acquireModel warns about it);
 * - `file:///abs/path` or any other value without a URL scheme is a local path (resolved against the cwd).
 */
export function parseModelRef(ref: string, opts: { hfEndpoint?: string } = {}): ModelSource {
  const trimmed = ref.trim();
  if (trimmed === '') throw new ModelRefError(`MODEL is empty: set it to ${forms}`);

  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === 'hf') return parseHf(trimmed, trimmed.slice(3), opts.hfEndpoint);
  if (scheme === 'https' || scheme === 'http') return parseUrl(trimmed);
  if (scheme === 'file') {
    try {
      return { kind: 'local', path: fileURLToPath(trimmed) };
    } catch {
      throw new ModelRefError(`MODEL "${trimmed}" is not a valid file: URL: use file:///absolute/path/model.gguf`);
    }
  }
  if (scheme !== undefined) {
    throw new ModelRefError(
      `MODEL "${redactModelRef(trimmed)}" uses the unsupported scheme "${scheme}:": use ${forms} (prefix a local path containing ":" with ./)`,
    );
  }
  return { kind: 'local', path: path.resolve(trimmed) };
}

/**
 * A URL safe to log: no credentials, no query string (signed CDN URLs such as S3's `X-Amz-Signature`
 * carry their token there) and no fragment. What was removed is marked, so a reader knows it existed.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const auth = u.username !== '' || u.password !== '' ? '<credentials>@' : '';
    const query = u.search !== '' ? '?<redacted>' : '';
    return `${u.protocol}//${auth}${u.host}${u.pathname}${query}`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * A MODEL value safe to log or echo in an error: URLs go through redactUrl, other forms (local paths,
 * `hf:` references, which carry no secrets: the token is HF_TOKEN) are returned as they are.
 */
export function redactModelRef(ref: string): string {
  const trimmed = ref.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) || /^(hf|file):/i.test(trimmed)) return trimmed;
  const parsed = redactUrl(trimmed);
  if (parsed !== '(invalid URL)') return parsed;
  // Not parseable as a URL: still cut anything that looks like credentials or a query.
  return trimmed.replace(/^([^:]+:\/\/)[^/?#]*@/, '$1<credentials>@').replace(/[?#].*$/, '?<redacted>');
}
