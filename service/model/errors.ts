/** Error types of model acquisition; `code` lets callers (and the init container's log) branch without parsing text. */

export type ModelAcquireErrorCode =
  | 'NOT_FOUND'
  | 'NOT_GGUF'
  | 'CHECKSUM_MISMATCH'
  | 'NO_SPACE'
  | 'HTTP'
  | 'NETWORK'
  | 'REF'
  /** The cache directory cannot be created or written (read-only volume, wrong owner, a file in the way). */
  | 'CACHE_UNWRITABLE'
  /** A symlink or a non-regular file where the cache keeps its own files: refused, never followed. */
  | 'UNSAFE_CACHE'
  /** The file is shorter than its GGUF header says (tensor data extends past the end). */
  | 'TRUNCATED'
  /** Another process took over this file's download lock (after judging this one stale). */
  | 'LOCK_LOST';

export class ModelAcquireError extends Error {
  override name = 'ModelAcquireError';
  code: ModelAcquireErrorCode;
  /** HTTP status code when `code` is 'HTTP'. */
  status?: number;
  /** True when trying again (resuming the download) may succeed: network cuts, 5xx, 429. */
  retryable: boolean;

  constructor(code: ModelAcquireErrorCode, message: string, options: { cause?: unknown; status?: number; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    if (options.status !== undefined) this.status = options.status;
  }
}

/** A MODEL value that is neither a local path, an `hf:` reference nor an http(s) URL to a .gguf file. */
export class ModelRefError extends ModelAcquireError {
  override name = 'ModelRefError';

  constructor(message: string) {
    super('REF', message);
  }
}
