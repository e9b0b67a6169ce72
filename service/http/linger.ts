/**
 * Lingering close for answers sent before the request body was read (413 too large, 401 without a key, 404
 * with a body, a refused content type): the client is still uploading when the answer goes out. Closing the
 * socket at once makes the kernel answer the client's next segment with a reset, which can discard the answer
 * before the client reads it: the client sees a connection error instead of its 413, and SDKs retry the whole
 * upload (`openai` twice). HTTP servers avoid this by reading and discarding the rest for a while ("lingering
 * close", RFC 9112 section 9.6; nginx `lingering_close`, `lingering_time`, `lingering_timeout`).
 *
 * Here: such an answer keeps its `Connection: close` (the client must not reuse a connection whose upload it
 * may have stopped halfway), and when Node's http server would close the socket after it (`socket.destroySoon()`
 * in lib/_http_server.js `resOnFinish`, which first starts discarding the unread body with `req._dump()`), this
 * guard half-closes it instead: the answer and a FIN go out, and the rest of the upload is read and discarded
 * until the client closes its side or a bound is reached: more than `maxBytes` after the answer, `maxMs`, or
 * `idleMs` without data; then the socket is destroyed. The flood protections stay: a huge or endless upload
 * costs at most `maxBytes` of reading (never buffered) and `maxMs` of a connection.
 */
import type { FastifyInstance } from 'fastify';
import { Socket } from 'node:net';

export const lingerLimits = {
  /** Bytes read and discarded after the answer before the connection is cut (32 x the 128 KiB default body limit). */
  maxBytes: 4 * 1024 * 1024,
  /** Longest time the rest of the upload is read (nginx lingering_time: 30 s; a client that reads its answer needs far less). */
  maxMs: 10_000,
  /** Longest pause in the upload (nginx lingering_timeout: 5 s). */
  idleMs: 5_000,
} as const;

export function installLingeringClose(app: FastifyInstance, limits: typeof lingerLimits = lingerLimits): void {
  // Sockets still discarding an upload: closing the server cuts them (they are not idle, so Node would wait).
  const lingering = new Set<Socket>();
  app.addHook('preClose', async () => {
    for (const socket of lingering) socket.destroy();
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const req = request.raw;
    const socket = req.socket;
    // Only a real connection with an unread body (`app.inject()` requests have no socket to linger on).
    if (req.complete || !(socket instanceof Socket)) return payload;
    reply.header('connection', 'close');
    // Node calls destroySoon() once the answer is written (lib/_http_server.js resOnFinish, for a last response).
    socket.destroySoon = () => {
      if (socket.destroyed) return;
      socket.end();
      socket.resume();
      const start = socket.bytesRead;
      const cut = () => {
        cleanup();
        socket.destroy();
      };
      const deadline = setTimeout(cut, limits.maxMs);
      const idle = setTimeout(cut, limits.idleMs);
      const onData = () => {
        if (socket.bytesRead - start > limits.maxBytes) cut();
        else idle.refresh();
      };
      const cleanup = () => {
        clearTimeout(deadline);
        clearTimeout(idle);
        socket.off('data', onData);
        socket.off('end', cut);
        socket.off('close', cleanup);
        lingering.delete(socket);
      };
      lingering.add(socket);
      socket.on('data', onData);
      // The client closed its side: nothing more to read.
      socket.once('end', cut);
      socket.once('close', cleanup);
    };
    return payload;
  });
}
