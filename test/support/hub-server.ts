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
  private readonly files = new Map<string, { file: string; bytes: number; sha256: string }>();
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
    this.files.set(name, { file, bytes, sha256 });
    return { name, bytes, sha256 };
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
      const entry = this.files.get(name);
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
      createReadStream(entry.file, { start, end }).pipe(res);
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
