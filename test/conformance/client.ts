/**
 * A streaming OpenAI client for the scenarios: one `POST /v1/chat/completions` with `stream: true`
 * over its own connection, recording arrival times, chunks, the finish reason, usage and `[DONE]`.
 */
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { endpoints } from '../../service/contract.js';

export interface StreamResult {
  id: number;
  status: number | undefined;
  /** Timeline ms. */
  sentAt: number;
  firstTokenAt?: number;
  endedAt?: number;
  /** Content chunks received. */
  chunks: number;
  finishReason?: string;
  completionTokens?: number;
  sawDone: boolean;
  /** Transport or HTTP error text. */
  error?: string;
  /** Non-2xx body. */
  body?: string;
}

export interface StreamHandle {
  result: StreamResult;
  done: Promise<StreamResult>;
  /** Closes the connection (a client disconnect). */
  abort(): void;
}

let nextId = 1;

export function streamChat(
  baseUrl: string,
  opts: { maxTokens: number; now: () => number; prompt?: string; apiKey?: string; onChunk?: (r: StreamResult) => void },
): StreamHandle {
  const url = new URL(endpoints.chatCompletions, baseUrl);
  const body = JSON.stringify({
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: opts.maxTokens,
    temperature: 1,
    messages: [{ role: 'user', content: opts.prompt ?? 'Write a very long story about a lighthouse keeper.' }],
  });
  const result: StreamResult = { id: nextId++, status: undefined, sentAt: opts.now(), chunks: 0, sawDone: false };
  let abort: () => void = () => undefined;
  const done = new Promise<StreamResult>((resolve) => {
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      result.endedAt = opts.now();
      resolve(result);
    };
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          connection: 'close',
          ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
        },
      },
      (res) => {
        result.status = res.statusCode;
        res.setEncoding('utf8');
        if ((res.statusCode ?? 0) >= 300) {
          let text = '';
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            result.body = text.slice(0, 300);
            finish();
          });
          return;
        }
        let buf = '';
        res.on('data', (d: string) => {
          buf += d;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            for (const line of block.split('\n')) {
              if (!line.startsWith('data: ')) continue;
              const data = line.slice(6);
              if (data === '[DONE]') {
                result.sawDone = true;
                continue;
              }
              try {
                const json = JSON.parse(data) as {
                  choices?: { delta?: { content?: string }; finish_reason?: string | null }[];
                  usage?: { completion_tokens?: number } | null;
                  error?: { message?: string };
                };
                const choice = json.choices?.[0];
                if (choice?.delta?.content) {
                  result.chunks++;
                  result.firstTokenAt ??= opts.now();
                  opts.onChunk?.(result);
                }
                if (choice?.finish_reason) result.finishReason = choice.finish_reason;
                if (json.usage?.completion_tokens !== undefined) result.completionTokens = json.usage.completion_tokens;
                if (json.error) result.error = `stream error: ${json.error.message ?? 'unknown'}`;
              } catch {
                result.error = `unparsable SSE data: ${data.slice(0, 80)}`;
              }
            }
          }
        });
        res.on('end', finish);
        res.on('error', (err) => {
          result.error ??= err.message;
          finish();
        });
        res.on('close', () => {
          if (!res.complete) result.error ??= 'connection closed before the response completed';
          finish();
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      result.error ??= err.code ?? err.message;
      finish();
    });
    abort = () => {
      result.error ??= 'aborted by the client';
      req.destroy();
      finish();
    };
    req.end(body);
  });
  return { result, done, abort: () => abort() };
}

/**
 * Steady-state streaming speed with `n` parallel streams: waits for every stream's first token, counts
 * tokens over `windowMs`, then closes the streams. Returns the slowest stream's tokens/s.
 */
export async function measureTokensPerSecond(baseUrl: string, n: number, windowMs: number, opts: { maxTokens: number; apiKey?: string }): Promise<number> {
  const now = (): number => performance.now();
  const handles = Array.from({ length: n }, () => streamChat(baseUrl, { now, ...opts }));
  const deadline = now() + 20_000;
  while (now() < deadline && !handles.every((h) => h.result.chunks > 0 || h.result.endedAt !== undefined)) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const before = handles.map((h) => h.result.chunks);
  const t0 = now();
  await new Promise((r) => setTimeout(r, windowMs));
  const secs = (now() - t0) / 1000;
  const rates = handles.map((h, i) => (h.result.chunks - (before[i] ?? 0)) / secs);
  for (const h of handles) h.abort();
  await Promise.all(handles.map((h) => h.done));
  return Math.min(...rates);
}
