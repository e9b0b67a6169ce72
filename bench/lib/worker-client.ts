/** Talks to bench/direct-worker.ts over stdin/stdout (one JSON line each way, replies prefixed `@@`). */
import type { Managed } from './proc.js';

export class WorkerClient {
  private buf = '';
  private waiting: { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];

  constructor(private readonly proc: Managed) {
    proc.child.stdout?.on('data', (chunk: Buffer) => {
      this.buf += chunk.toString();
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (!line.startsWith('@@')) continue;
        const w = this.waiting.shift();
        if (!w) continue;
        try {
          w.resolve(JSON.parse(line.slice(2)) as Record<string, unknown>);
        } catch (err) {
          w.reject(err as Error);
        }
      }
    });
    void proc.exited.then((code) => {
      for (const w of this.waiting.splice(0)) {
        w.reject(new Error(`${proc.name} exited (${code}); output:\n${proc.output().slice(-2000)}`));
      }
    });
  }

  /** Sends one command; rejects on an error reply, on exit, or after `timeoutMs`. */
  send<T = Record<string, unknown>>(command: Record<string, unknown>, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.proc.name}: ${String(command.cmd)} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push({
        resolve: (v) => {
          clearTimeout(timer);
          if (v.ok === true) resolve(v as T);
          else reject(new Error(`${this.proc.name}: ${String(command.cmd)} failed: ${String(v.error)}`));
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.child.stdin?.write(`${JSON.stringify(command)}\n`);
    });
  }
}
