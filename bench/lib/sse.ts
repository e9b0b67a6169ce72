/**
 * A minimal streaming client for OpenAI-style SSE (`data: <json>\n\n`, `data: [DONE]`), timing every
 * content chunk with performance.now(). Used for both this service and llama-server, so both are
 * measured by the same code path.
 */
import http from 'node:http';

export interface StreamSample {
  /** ms from sending the request to the response headers. */
  headersMs: number;
  /** ms from sending the request to the first chunk carrying non-empty content (TTFT). */
  ttftMs: number;
  /** Absolute performance.now() of the first and last content chunk. */
  firstAt: number;
  lastAt: number;
  /** Absolute performance.now() when the request was sent. */
  sentAt: number;
  /** ms from sending to the end of the response. */
  totalMs: number;
  contentChunks: number;
  /** usage.completion_tokens (or timings.predicted_n when usage is absent). */
  completionTokens: number;
  promptTokens: number;
  /** usage.prompt_tokens_details.cached_tokens (or llama-server's timings.cache_n); NaN when neither is sent. */
  cachedTokens: number;
  finishReason: string | null;
  /** llama-server's own `timings` object, when it sends one. */
  serverTimings?: Record<string, number>;
  text: string;
  status: number;
  error?: string;
}

interface ChunkJson {
  choices?: { delta?: { content?: string | null }; text?: string; finish_reason?: string | null }[];
  usage?: { completion_tokens?: number; prompt_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } } | null;
  timings?: Record<string, number>;
  error?: unknown;
}

/** POSTs `body` to `url` and reads the SSE stream to its end (bounded by `timeoutMs`). */
export function streamRequest(url: string, body: unknown, timeoutMs: number): Promise<StreamSample> {
  return new Promise((resolve) => {
    const payload = Buffer.from(JSON.stringify(body));
    const s: StreamSample = {
      headersMs: Number.NaN,
      ttftMs: Number.NaN,
      firstAt: Number.NaN,
      lastAt: Number.NaN,
      sentAt: performance.now(),
      totalMs: Number.NaN,
      contentChunks: 0,
      completionTokens: Number.NaN,
      promptTokens: Number.NaN,
      cachedTokens: Number.NaN,
      finishReason: null,
      text: '',
      status: 0,
    };
    let settled = false;
    const done = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.totalMs = performance.now() - s.sentAt;
      if (error !== undefined) s.error = error;
      resolve(s);
    };
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': payload.length, accept: 'text/event-stream' },
      },
      (res) => {
        s.status = res.statusCode ?? 0;
        s.headersMs = performance.now() - s.sentAt;
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const now = performance.now();
          buf += chunk;
          let idx: number;
          while ((idx = buf.search(/\r?\n\r?\n/)) >= 0) {
            const event = buf.slice(0, idx);
            buf = buf.slice(idx).replace(/^\r?\n\r?\n/, '');
            for (const line of event.split(/\r?\n/)) {
              if (!line.startsWith('data:')) continue;
              const data = line.slice(5).trim();
              if (data === '[DONE]' || data === '') continue;
              let json: ChunkJson;
              try {
                json = JSON.parse(data) as ChunkJson;
              } catch {
                continue;
              }
              if (json.error !== undefined) s.error = JSON.stringify(json.error).slice(0, 500);
              const choice = json.choices?.[0];
              const piece = choice?.delta?.content ?? choice?.text ?? '';
              if (piece) {
                if (s.contentChunks === 0) {
                  s.firstAt = now;
                  s.ttftMs = now - s.sentAt;
                }
                s.lastAt = now;
                s.contentChunks++;
                s.text += piece;
              }
              if (choice?.finish_reason) s.finishReason = choice.finish_reason;
              if (json.usage) {
                if (json.usage.completion_tokens !== undefined) s.completionTokens = json.usage.completion_tokens;
                if (json.usage.prompt_tokens !== undefined) s.promptTokens = json.usage.prompt_tokens;
                if (json.usage.prompt_tokens_details?.cached_tokens !== undefined) s.cachedTokens = json.usage.prompt_tokens_details.cached_tokens;
              }
              if (json.timings) s.serverTimings = json.timings;
            }
          }
        });
        res.on('end', () => {
          if (!Number.isFinite(s.completionTokens) && s.serverTimings?.predicted_n !== undefined) {
            s.completionTokens = s.serverTimings.predicted_n;
          }
          if (!Number.isFinite(s.promptTokens) && s.serverTimings?.prompt_n !== undefined) {
            s.promptTokens = s.serverTimings.prompt_n;
          }
          if (!Number.isFinite(s.cachedTokens) && s.serverTimings?.cache_n !== undefined) s.cachedTokens = s.serverTimings.cache_n;
          done(s.status === 200 ? undefined : `HTTP ${s.status}: ${buf.slice(0, 300)}`);
        });
        res.on('error', (err) => done(err.message));
        res.on('close', () => done('connection closed before the end of the stream'));
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => done(err.message));
    s.sentAt = performance.now();
    req.end(payload);
  });
}
