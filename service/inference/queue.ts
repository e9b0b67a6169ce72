/**
 * The two small data structures between node-llama-cpp and the HTTP layer:
 *
 * - `SlotPool`: the free context sequences plus a bounded FIFO of requests waiting for one.
 * - `EventChannel`: a single-consumer async queue from node-llama-cpp's synchronous token callbacks
 *   to an async iterator. Text chunks the consumer has not pulled yet are merged into one event, so a
 *   slow consumer costs one string concatenation per token and never blocks the decode loop.
 */
import type { GenerationEvent, TokenLogprob } from './types.js';

interface Waiter<T> {
  resolve: (item: T) => void;
  reject: (reason: unknown) => void;
}

export interface QueueTicket<T> {
  /** Settles with the item when this waiter reaches the head of the queue and an item frees up. */
  readonly promise: Promise<T>;
  /** 1-based position in the queue at the time of enqueueing. */
  readonly position: number;
  /** Leave the queue (rejects `promise` with `reason`); false when the item was already handed over. */
  cancel(reason: unknown): boolean;
}

export class SlotPool<T> {
  private readonly free: T[];
  /** Insertion-ordered: the first entry is the oldest waiter; deleting one on abort is O(1). */
  private readonly waiters = new Set<Waiter<T>>();

  constructor(
    private readonly items: readonly T[],
    readonly maxQueue: number,
  ) {
    this.free = items.slice();
    this.total = items.length;
  }

  readonly total: number;

  get busy(): number {
    return this.total - this.free.length;
  }

  get queueDepth(): number {
    return this.waiters.size;
  }

  get queueFull(): boolean {
    return this.waiters.size >= this.maxQueue;
  }

  /**
   * A free item, or undefined when all are busy (waiters always go first: FIFO). `pick` chooses among the
   * free items (it returns an index into the array it is given); without it, the most recently freed one.
   * A waiter is never offered a choice: it waits only while nothing is free, so the item released next is
   * the only candidate.
   */
  tryAcquire(pick?: (free: readonly T[]) => number): T | undefined {
    if (this.waiters.size > 0 || this.free.length === 0) return undefined;
    if (pick === undefined) return this.free.pop();
    const index = pick(this.free);
    const at = Number.isInteger(index) && index >= 0 && index < this.free.length ? index : this.free.length - 1;
    return this.free.splice(at, 1)[0];
  }

  /** The items not in use (a copy). */
  idleItems(): T[] {
    return this.free.slice();
  }

  /** The items in use (a copy, in construction order). */
  busyItems(): T[] {
    return this.items.filter((item) => !this.free.includes(item));
  }

  /** Join the queue; the caller checks `queueFull` first. */
  enqueue(): QueueTicket<T> {
    let waiter!: Waiter<T>;
    const promise = new Promise<T>((resolve, reject) => {
      waiter = { resolve, reject };
    });
    this.waiters.add(waiter);
    const position = this.waiters.size;
    return {
      promise,
      position,
      cancel: (reason: unknown) => {
        if (!this.waiters.delete(waiter)) return false;
        waiter.reject(reason);
        return true;
      },
    };
  }

  /** Give an item back: the oldest waiter gets it, else it becomes free. */
  release(item: T): void {
    for (const waiter of this.waiters) {
      this.waiters.delete(waiter);
      waiter.resolve(item);
      return;
    }
    this.free.push(item);
  }

  /** Reject every waiter (engine closing). */
  rejectAll(reason: unknown): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) waiter.reject(reason);
  }
}

type TextEvent = Extract<GenerationEvent, { type: 'text' }>;

export class EventChannel implements AsyncIterable<GenerationEvent> {
  private buf: GenerationEvent[] = [];
  private head = 0;
  private ended = false;
  private failed = false;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private iterated = false;

  /** `onCancel` runs when the consumer stops iterating before the channel ended (break, return, throw). */
  constructor(private readonly onCancel: () => void) {}

  get isEnded(): boolean {
    return this.ended;
  }

  push(event: GenerationEvent): void {
    if (this.ended) return;
    this.buf.push(event);
    this.notify();
  }

  /** Hot path: called once per released token chunk. */
  pushText(text: string, tokens: number, logprobs?: TokenLogprob[]): void {
    if (this.ended) return;
    const buf = this.buf;
    const last = buf.length > this.head ? buf[buf.length - 1] : undefined;
    if (last !== undefined && last.type === 'text') {
      (last as TextEvent).text += text;
      (last as TextEvent).tokens += tokens;
      if (logprobs !== undefined) ((last as TextEvent).logprobs ??= []).push(...logprobs);
    } else {
      buf.push(logprobs !== undefined ? { type: 'text', text, tokens, logprobs } : { type: 'text', text, tokens });
      this.notify();
    }
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  fail(error: unknown): void {
    if (this.ended) return;
    this.failed = true;
    this.failure = error;
    this.end();
  }

  private notify(): void {
    const wake = this.wake;
    if (wake !== undefined) {
      this.wake = undefined;
      wake();
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<GenerationEvent, void, undefined> {
    if (this.iterated) throw new Error('A generation can be iterated only once');
    this.iterated = true;
    let finished = false;
    try {
      for (;;) {
        if (this.head < this.buf.length) {
          const event = this.buf[this.head] as GenerationEvent;
          this.head++;
          if (this.head === this.buf.length) {
            this.buf = [];
            this.head = 0;
          }
          yield event;
          continue;
        }
        if (this.ended) {
          finished = true;
          if (this.failed) throw this.failure;
          return;
        }
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      if (!finished && !this.ended) this.onCancel();
    }
  }
}
