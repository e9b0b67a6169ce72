/**
 * Server-sent events on a hijacked Fastify reply, in the framing OpenAI streams use:
 * `data: <json>\n\n` per chunk, `data: [DONE]\n\n` at the end; or in Anthropic's, where every event is named
 * (`event: message_start\ndata: <json>\n\n`, `event()`) and the stream ends after `message_stop` without [DONE]
 * (the `@anthropic-ai/sdk` stream reader skips events without a name).
 *
 * Keep-alive: whenever nothing was written for `keepAliveMs` (a request waiting in the queue,
 * a long prompt prefill) an SSE comment `: keep-alive\n\n` goes out, so proxies and load
 * balancers with an idle timeout (commonly 60 s) do not cut the stream. Clients ignore comments.
 */
import type { ServerResponse } from 'node:http';

export class SseWriter {
  #timer: NodeJS.Timeout | undefined;
  #ended = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly keepAliveMs: number,
  ) {}

  get ended(): boolean {
    return this.#ended || this.res.destroyed || this.res.writableEnded;
  }

  /** Sends the status line and headers now, so the client sees the stream start at once. */
  open(extraHeaders: Record<string, string>): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx (ingress-nginx) would otherwise buffer the stream.
      'x-accel-buffering': 'no',
      ...extraHeaders,
    });
    this.res.flushHeaders();
    this.res.socket?.setNoDelay(true);
    this.#arm();
  }

  data(payload: unknown): void {
    this.#write(`data: ${JSON.stringify(payload)}\n\n`);
  }

  /** A named event (`event: <name>`), as Anthropic's Messages API streams them. */
  event(name: string, payload: unknown): void {
    this.#write(`event: ${name.replace(/[\r\n]+/g, ' ')}\ndata: ${JSON.stringify(payload)}\n\n`);
  }

  comment(text: string): void {
    this.#write(`: ${text.replace(/[\r\n]+/g, ' ')}\n\n`);
  }

  /** Writes `data: [DONE]` and ends the response. */
  done(): void {
    this.#write('data: [DONE]\n\n');
    this.end();
  }

  end(): void {
    this.#disarm();
    if (this.ended) return;
    this.#ended = true;
    this.res.end();
  }

  #write(text: string): void {
    if (this.ended) return;
    this.res.write(text);
    this.#arm();
  }

  #arm(): void {
    this.#disarm();
    if (this.ended) return;
    this.#timer = setTimeout(() => this.comment('keep-alive'), this.keepAliveMs);
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
