/**
 * A local HTTP server standing in for Hugging Face / a model mirror: serves files with Range support,
 * an optional throttle (bytes per second) and an optional cut (close the socket after N body bytes),
 * and logs every request so scenarios can check what the init container and the server fetched.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface ServedFile {
  /** Absolute path on disk. */
  file: string;
  /** Bytes per second; undefined = as fast as possible. */
  bytesPerSecond?: number;
  /**
   * Close the connection after this many body bytes, for the first `cutTimes` responses
   * (default 1): simulates a network cut mid-download.
   */
  cutAfterBytes?: number;
  cutTimes?: number;
}

export interface RequestRecord {
  at: number;
  method: string;
  path: string;
  range?: string;
  status: number;
  /** Body bytes actually written before the response ended or was cut. */
  bytesSent: number;
  cut: boolean;
  /** ms at which the response finished (or was cut); undefined while in progress. */
  endedAt?: number;
}

export class ModelServer {
  readonly requests: RequestRecord[] = [];
  private readonly files = new Map<string, ServedFile & { cutsDone: number }>();
  private server: Server | undefined;
  private readonly t0 = performance.now();

  /** `now`: the clock request times are recorded in (a scenario passes its timeline's). */
  constructor(private readonly now: () => number = () => performance.now() - this.t0) {}
  port = 0;
  /** Called once per response when it ended, was cut or failed. */
  onEnd: ((r: RequestRecord) => void) | undefined;

  /** Serves `file` at URL path `urlPath` (e.g. `/Qwen/Qwen2.5-3B-Instruct-GGUF/resolve/main/x.gguf`). */
  serve(urlPath: string, file: ServedFile): string {
    this.files.set(urlPath, { ...file, cutsDone: 0 });
    return this.url(urlPath);
  }

  url(urlPath: string): string {
    return `http://127.0.0.1:${this.port}${urlPath}`;
  }

  /** Requests for one path (all paths when omitted). */
  requestsFor(urlPath?: string): RequestRecord[] {
    return urlPath === undefined ? this.requests : this.requests.filter((r) => r.path === urlPath);
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    this.server = undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const rec: RequestRecord = {
      at: this.now(),
      method: req.method ?? 'GET',
      path: url.pathname,
      status: 0,
      bytesSent: 0,
      cut: false,
    };
    if (typeof req.headers.range === 'string') rec.range = req.headers.range;
    this.requests.push(rec);
    let reported = false;
    const ended = (): void => {
      rec.endedAt ??= this.now();
      if (!reported) {
        reported = true;
        this.onEnd?.(rec);
      }
    };
    const served = this.files.get(url.pathname);
    const finish = (status: number, body?: string): void => {
      rec.status = status;
      res.statusCode = status;
      res.end(body);
      ended();
    };
    if (!served) return finish(404, 'Entry not found');
    if (req.method !== 'GET' && req.method !== 'HEAD') return finish(405);
    const size = (await stat(served.file)).size;
    let start = 0;
    let end = size - 1;
    if (rec.range !== undefined) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(rec.range);
      if (!m) return finish(416);
      start = Number(m[1]);
      if (m[2] !== '' && m[2] !== undefined) end = Math.min(Number(m[2]), size - 1);
      if (start >= size) {
        res.setHeader('content-range', `bytes */${size}`);
        return finish(416);
      }
      res.statusCode = 206;
      res.setHeader('content-range', `bytes ${start}-${end}/${size}`);
    } else {
      res.statusCode = 200;
    }
    rec.status = res.statusCode;
    res.setHeader('accept-ranges', 'bytes');
    res.setHeader('content-length', String(end - start + 1));
    res.setHeader('content-type', 'application/octet-stream');
    if (req.method === 'HEAD') {
      res.end();
      return ended();
    }

    const cut = served.cutAfterBytes !== undefined && served.cutsDone < (served.cutTimes ?? 1);
    if (cut) served.cutsDone++;
    const cutAt = cut ? (served.cutAfterBytes as number) : Infinity;
    const rate = served.bytesPerSecond;
    const began = performance.now();
    const stream = createReadStream(served.file, { start, end, highWaterMark: 64 * 1024 });
    res.on('close', () => {
      stream.destroy();
      ended();
    });
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        let buf = chunk;
        if (rec.bytesSent + buf.length >= cutAt) {
          buf = buf.subarray(0, Math.max(0, cutAt - rec.bytesSent));
          if (buf.length > 0) await write(res, buf);
          rec.bytesSent += buf.length;
          rec.cut = true;
          ended();
          // An abrupt cut, as a dropped connection looks to the client.
          res.socket?.destroy();
          return;
        }
        if (rate !== undefined) {
          // Pace to `rate`: wait until the bytes sent so far are due.
          const dueMs = ((rec.bytesSent + buf.length) / rate) * 1000;
          const wait = dueMs - (performance.now() - began);
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        if (res.destroyed) return;
        await write(res, buf);
        rec.bytesSent += buf.length;
      }
      res.end();
      ended();
    } catch {
      res.destroy();
      ended();
    }
  }
}

function write(res: ServerResponse, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    res.write(buf, (err) => (err ? reject(err) : resolve()));
  });
}
