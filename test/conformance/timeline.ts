/**
 * A scenario's timeline: what the kubelet saw and did, with times relative to the scenario start,
 * e.g. `t=+1.25s startup 503 (1/12)`. Printed by the tests and kept in every assertion message.
 */
import { performance } from 'node:perf_hooks';

export type EventKind = 'probe' | 'kubelet' | 'container' | 'client' | 'note' | 'log' | 'server';

export interface TimelineEvent {
  /** ms since the timeline started. */
  at: number;
  kind: EventKind;
  text: string;
  /** For probe events: which probe, whether it succeeded, and whether runs of it may be folded (successes always may). */
  probe?: { name: string; ok: boolean; fold?: boolean };
}

export class Timeline {
  readonly events: TimelineEvent[] = [];
  readonly t0 = performance.now();

  constructor(readonly title: string) {}

  now(): number {
    return performance.now() - this.t0;
  }

  add(kind: EventKind, text: string, probe?: TimelineEvent['probe']): TimelineEvent {
    const e: TimelineEvent = probe ? { at: this.now(), kind, text, probe } : { at: this.now(), kind, text };
    this.events.push(e);
    return e;
  }

  note(text: string): void {
    this.add('note', text);
  }

  /** Events of one kind (and, for probes, one probe name). */
  select(kind: EventKind, probeName?: string): TimelineEvent[] {
    return this.events.filter((e) => e.kind === kind && (probeName === undefined || e.probe?.name === probeName));
  }

  /**
   * The printable timeline. Runs of consecutive identical successful (or foldable) results of the same
   * probe, with nothing but other such probe lines in between, are folded into one line (`×12 until t=+6.00s`).
   */
  format(opts: { fold?: boolean; notes?: boolean } = {}): string {
    const fold = opts.fold ?? true;
    const notes = opts.notes ?? true;
    const lines: string[] = [];
    const open = new Map<string, { index: number; first: TimelineEvent; last: TimelineEvent; count: number }>();
    const rendered: (string | undefined)[] = [];
    const closeAll = (): void => {
      for (const g of open.values()) {
        rendered[g.index] = g.count === 1 ? line(g.first) : `${line(g.first)}  ×${g.count} until t=+${secs(g.last.at)}`;
      }
      open.clear();
    };
    for (const e of this.events) {
      if (!notes && e.kind === 'note') continue;
      if (fold && e.kind === 'probe' && (e.probe?.ok || e.probe?.fold)) {
        const g = open.get(e.probe.name);
        if (g && sameResult(g.first.text, e.text)) {
          g.count++;
          g.last = e;
          continue;
        }
        if (g) {
          rendered[g.index] = g.count === 1 ? line(g.first) : `${line(g.first)}  ×${g.count} until t=+${secs(g.last.at)}`;
        }
        rendered.push(undefined);
        open.set(e.probe.name, { index: rendered.length - 1, first: e, last: e, count: 1 });
        continue;
      }
      closeAll();
      rendered.push(line(e));
    }
    closeAll();
    for (const r of rendered) if (r !== undefined) lines.push(r);
    return [`── timeline: ${this.title}`, ...lines.map((l) => `  ${l}`)].join('\n');
  }
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(2);
}

/** Two lines fold together when they differ only in latency, e.g. `liveness 200 [4 ms]`. */
function sameResult(a: string, b: string): boolean {
  const strip = (s: string): string => s.replace(/\s*\[\d+ ms\]/, '');
  return strip(a) === strip(b);
}

function line(e: TimelineEvent): string {
  const tag = e.kind === 'probe' ? '' : e.kind === 'note' ? 'note: ' : `${e.kind}: `;
  return `t=+${secs(e.at)}s ${tag}${e.text}`;
}
