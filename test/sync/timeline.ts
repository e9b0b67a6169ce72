/**
 * A sync scenario's timeline on the simulated clock: `t=+312s argocd: wave 0 applied ...`. Printed by the
 * tests and kept in every assertion message, like test/conformance/timeline.ts but in simulated seconds.
 */
export type SyncEventKind = 'argocd' | 'cluster' | 'health' | 'user' | 'note';

export interface SyncEvent {
  /** Simulated seconds since the scenario started. */
  at: number;
  kind: SyncEventKind;
  text: string;
}

export class SyncTimeline {
  readonly events: SyncEvent[] = [];
  /** The simulated clock, in seconds; the simulation advances it. */
  now = 0;

  constructor(readonly title: string) {}

  add(kind: SyncEventKind, text: string): void {
    this.events.push({ at: this.now, kind, text });
  }

  note(text: string): void {
    this.add('note', text);
  }

  format(opts: { notes?: boolean } = {}): string {
    const notes = opts.notes ?? true;
    const lines = this.events
      .filter((e) => notes || e.kind !== 'note')
      .map((e) => `  t=+${String(e.at).padStart(4)}s ${e.kind === 'note' ? 'note' : e.kind}: ${e.text}`);
    return [`── timeline: ${this.title}`, ...lines].join('\n');
  }
}

export interface SyncCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export class SyncChecks {
  readonly list: SyncCheck[] = [];
  must(name: string, ok: boolean, detail: string): boolean {
    this.list.push({ name, ok, detail });
    return ok;
  }
  get failed(): SyncCheck[] {
    return this.list.filter((c) => !c.ok);
  }
}

export interface SyncScenarioResult {
  scenario: string;
  application: string;
  timeline: SyncTimeline;
  checks: SyncCheck[];
  facts: Record<string, string | number | boolean>;
}

/** Timeline, then the checks (✓ passed, ✗ failed), then facts. */
export function formatSyncResult(r: SyncScenarioResult, opts: { notes?: boolean } = {}): string {
  const checks = r.checks.map((c) => `  ${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}`);
  const facts = Object.entries(r.facts).map(([k, v]) => `${k}=${String(v)}`);
  return [r.timeline.format(opts), '── checks', ...checks, ...(facts.length ? [`── facts: ${facts.join(', ')}`] : [])].join('\n');
}
