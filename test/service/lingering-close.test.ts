/**
 * Early error answers reach the client: a request refused before its body was read (413 too large, 401
 * without a key) is answered, then the server reads and discards the rest of the upload for a bounded time
 * and amount (lingering close, RFC 9112 section 9.6) instead of resetting the connection under the client.
 * Real sockets (the point is TCP), fake engine (no inference is involved).
 */
import { connect, type Socket } from 'node:net';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { endpoints } from '../../service/contract.js';
import { lingerLimits } from '../../service/http/linger.js';
import { startFakeApp, type FakeApp } from './fake-engine.js';

let t: FakeApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** A fetch that uploads the request body slowly: `chunkBytes` every `everyMs` (a slow client or link). */
function slowUploadFetch(chunkBytes: number, everyMs: number): typeof fetch {
  return async (input, init) => {
    const body = typeof init?.body === 'string' ? Buffer.from(init.body) : undefined;
    if (body === undefined) return fetch(input, init);
    let offset = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (offset >= body.length) {
          controller.close();
          return;
        }
        await new Promise((r) => setTimeout(r, everyMs));
        controller.enqueue(body.subarray(offset, offset + chunkBytes));
        offset += chunkBytes;
      },
    });
    // The SDK sends a Content-Length (a string body); keep it, so the server can refuse before reading.
    const headers = new Headers(init?.headers);
    headers.set('content-length', String(body.length));
    return fetch(input, { ...init, headers, body: stream, duplex: 'half' } as RequestInit);
  };
}

/** The app on a socket, and the number of requests it answered (every route and status: `llm_requests_total`). */
async function countingApp(env: Record<string, string> = {}): Promise<{ base: string; requests: () => Promise<number> }> {
  t = await startFakeApp(env);
  const app = t.app;
  const requests = async () => {
    const text = (await app.inject({ url: endpoints.metrics })).body;
    return text
      .split('\n')
      .filter((line) => line.startsWith('llm_requests_total{') && !line.includes(`route="${endpoints.metrics}"`))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  };
  return { base: await t.listen(), requests };
}

const twoMegabytes = 'x'.repeat(2 * 1024 * 1024);

describe('lingering close on early error answers', () => {
  it('a slow 2 MB upload gets APIError 413 through the openai client, with no retry', async () => {
    const { base, requests } = await countingApp();
    // maxRetries 2 (the SDK default): a connection error would be retried, a 413 is not.
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'x', maxRetries: 2, timeout: 30_000, fetch: slowUploadFetch(64 * 1024, 10) });
    const error = await client.chat.completions.create({ model: 'fake-model', messages: [{ role: 'user', content: twoMegabytes }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error).not.toBeInstanceOf(OpenAI.APIConnectionError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('request_too_large');
    expect(await requests()).toBe(1);
  });

  it('a 401 sent before the body was read reaches the client the same way', async () => {
    const { base, requests } = await countingApp({ API_KEY: 'right' });
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'wrong', maxRetries: 2, timeout: 30_000, fetch: slowUploadFetch(64 * 1024, 10) });
    const error = await client.chat.completions.create({ model: 'fake-model', messages: [{ role: 'user', content: twoMegabytes }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(await requests()).toBe(1);
  });

  /**
   * A raw client: headers announcing `contentLength` bytes, then `send` writes the body its own way. Half-open
   * (`allowHalfOpen`): it keeps uploading after the server's FIN, as a client busy sending does.
   */
  async function rawUpload(
    base: string,
    contentLength: number,
    send: (socket: Socket) => void,
  ): Promise<{ head: string; closedAfterMs: number; bytesWritten: number }> {
    const { hostname, port } = new URL(base);
    const socket = connect({ port: Number(port), host: hostname, allowHalfOpen: true });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST ${endpoints.chatCompletions} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: ${contentLength}\r\n\r\n`,
    );
    let head = '';
    let answeredAt = 0;
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      answeredAt ||= performance.now();
    });
    socket.on('error', () => undefined);
    send(socket);
    await new Promise((resolve) => socket.once('close', resolve));
    return { head, closedAfterMs: performance.now() - answeredAt, bytesWritten: socket.bytesWritten };
  }

  it('bounded: an upload that trickles on is cut within the time bound, one that floods within the byte bound', async () => {
    const { base } = await countingApp();
    // 1 KiB every 200 ms of a 1 GiB body: never idle long enough, never big enough; the time bound ends it.
    let trickle: NodeJS.Timeout | undefined;
    const slow = await rawUpload(base, 2 ** 30, (socket) => {
      trickle = setInterval(() => socket.writable && socket.write(Buffer.alloc(1024, 0x20)), 200);
    });
    clearInterval(trickle);
    expect(slow.head).toMatch(/^HTTP\/1\.1 413 /);
    expect(slow.head).toMatch(/\r\nconnection: close\r\n/i);
    expect(slow.closedAfterMs).toBeGreaterThan(lingerLimits.maxMs - 1_000);
    expect(slow.closedAfterMs).toBeLessThan(lingerLimits.maxMs + 3_000);
    // As fast as the socket takes it: cut once maxBytes were discarded (plus what the kernel buffers held).
    const flood = await rawUpload(base, 2 ** 30, (socket) => {
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      const pump = () => {
        while (socket.writable && socket.write(chunk));
        if (socket.writable) socket.once('drain', pump);
      };
      pump();
    });
    expect(flood.head).toMatch(/^HTTP\/1\.1 413 /);
    expect(flood.closedAfterMs).toBeLessThan(lingerLimits.maxMs);
    expect(flood.bytesWritten).toBeLessThan(lingerLimits.maxBytes + 32 * 1024 * 1024);
  }, 30_000);
});
