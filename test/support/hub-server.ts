/**
 * A local stand-in for the Hugging Face hub, on 127.0.0.1: `/<user>/<repo>/resolve/<revision>/<file>`
 * answers like the hub does for a Git LFS file (a 302 to a CDN URL carrying `X-Linked-Size`,
 * `X-Linked-Etag` = the sha256, and `X-Repo-Commit`, as huggingface_hub's `get_hf_file_metadata`
 * reads them), and `/cdn/<file>` serves the bytes with Range support. Plain `/files/<file>` serves a
 * mirror without any hub metadata. `failWith` makes every request answer that status.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export class HubServer {
  private server: Server | undefined;
  private readonly files = new Map<string, { file: string; bytes: number; sha256: string; onDisk: number }>();
  readonly requests: { method: string; path: string; range?: string }[] = [];
  port = 0;
  /** When set, every request answers this status. */
  failWith: number | undefined;
  /** Publish X-Linked-Size / X-Linked-Etag on hub paths (off: a hub that gives neither). */
  linkedMetadata = true;
  readonly commit = 'a'.repeat(40);

  /** Serves a file under its base name. */
  async add(file: string): Promise<{ name: string; bytes: number; sha256: string }> {
    const name = path.basename(file);
    const bytes = (await stat(file)).size;
    const sha256 = createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
    this.files.set(name, { file, bytes, sha256, onDisk: bytes });
    return { name, bytes, sha256 };
  }

  /**
   * Serves a header-only file (tools/test-model/shaped.ts) as the whole model it stands for: `bytes` and
   * `sha256` are what the hub publishes for it, and bytes past the header read as zeros.
   */
  async addDeclared(file: string, published: { bytes: number; sha256: string }): Promise<void> {
    const onDisk = (await stat(file)).size;
    if (onDisk > published.bytes) throw new Error(`${file} has ${onDisk} bytes, more than the ${published.bytes} declared`);
    this.files.set(path.basename(file), { file, ...published, onDisk });
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', this.base);
      const range = req.headers.range;
      this.requests.push({ method: req.method ?? 'GET', path: url.pathname, ...(range ? { range } : {}) });
      if (this.failWith !== undefined) {
        res.writeHead(this.failWith, { 'content-type': 'text/plain' }).end('failing on purpose');
        return;
      }
      const hub = /^\/[^/]+\/[^/]+\/resolve\/[^/]+\/(.+)$/.exec(url.pathname);
      const direct = /^\/(cdn|files)\/(.+)$/.exec(url.pathname);
      const name = decodeURIComponent(hub?.[1] ?? direct?.[2] ?? '');
      // A file in a repository folder (`resolve/main/<folder>/<file>`) is served by its base name.
      const entry = this.files.get(name) ?? this.files.get(path.basename(name));
      if (!entry) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Entry not found');
        return;
      }
      if (hub) {
        res.writeHead(302, {
          location: `/cdn/${encodeURIComponent(name)}`,
          'x-repo-commit': this.commit,
          ...(this.linkedMetadata ? { 'x-linked-size': String(entry.bytes), 'x-linked-etag': `"${entry.sha256}"` } : {}),
        });
        res.end();
        return;
      }
      const m = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
      const start = m ? Number(m[1]) : 0;
      const end = m && m[2] !== '' ? Math.min(Number(m[2]), entry.bytes - 1) : entry.bytes - 1;
      if (start >= entry.bytes) {
        res.writeHead(416, { 'content-range': `bytes */${entry.bytes}` }).end();
        return;
      }
      res.writeHead(m ? 206 : 200, {
        'content-type': 'application/octet-stream',
        'accept-ranges': 'bytes',
        'content-length': String(end - start + 1),
        ...(m ? { 'content-range': `bytes ${start}-${end}/${entry.bytes}` } : {}),
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      // Bytes past the file on disk (a declared header-only file) are zeros.
      const zeros = end + 1 - Math.max(start, entry.onDisk);
      const fill = (): void => {
        for (let left = zeros; left > 0; left -= 1 << 20) res.write(Buffer.alloc(Math.min(left, 1 << 20)));
        res.end();
      };
      if (start >= entry.onDisk) fill();
      else if (zeros <= 0) createReadStream(entry.file, { start, end }).pipe(res);
      else
        createReadStream(entry.file, { start, end: entry.onDisk - 1 })
          .on('end', fill)
          .pipe(res, { end: false });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
