/**
 * Times node-llama-cpp's batch calls from JS: every `initBatch` (tokens in the batch), `addToBatch` (which
 * sequences, in which order), `decodeBatch` and `sampleToken` of one context, with performance.now() at the call and when its promise settled. Used by the
 * decode profiler (bench/scenarios/decode-worker.ts) and by the batching test (test/service/batching.test.ts).
 *
 * node-llama-cpp 3.21.1 keeps the native context in the plain field `LlamaContext._ctx`
 * (dist/evaluator/LlamaContext/LlamaContext.js) and calls `this._ctx.initBatch/addToBatch/decodeBatch/
 * sampleToken` on it for every batch (`dispatchPendingBatch`, `LlamaContextSequence._evaluate`). The addon's
 * methods are read-only, so the field is replaced by a proxy that hands out bound natives and wrappers
 * for those four calls; the cost is two performance.now() calls per native call.
 */
import { performance } from 'node:perf_hooks';
import type { LlamaContext } from 'node-llama-cpp';

export interface NativeCall {
  kind: 'decode' | 'sample';
  calledAt: number;
  settledAt: number;
  /** decode: tokens in the batch (`initBatch`'s argument); sample: 1. */
  tokens: number;
  /** decode: the sequence id of every `addToBatch` call of the batch, in the order they were added. */
  sequences?: number[];
}

interface AddonContextLike {
  initBatch(n: number): void;
  addToBatch(sequenceId: number, ...rest: unknown[]): unknown;
  decodeBatch(): Promise<void>;
  sampleToken(...args: unknown[]): Promise<unknown>;
}

/** Starts tracing `context`; returns the call log, appended to as calls settle (clear it with `length = 0`). */
export function traceBatches(context: LlamaContext): NativeCall[] {
  const calls: NativeCall[] = [];
  const holder = context as unknown as { _ctx: AddonContextLike };
  const addon = holder._ctx;
  if (addon === undefined || typeof addon.decodeBatch !== 'function') {
    throw new Error('traceBatches: this node-llama-cpp has no LlamaContext._ctx.decodeBatch (the tracer models 3.21.1)');
  }
  let batchTokens = 0;
  let batchSequences: number[] = [];
  const initBatch = addon.initBatch.bind(addon);
  const addToBatch = addon.addToBatch.bind(addon);
  const decodeBatch = addon.decodeBatch.bind(addon);
  const sampleToken = addon.sampleToken.bind(addon);
  const wrapped: Record<string, unknown> = {
    initBatch: (n: number) => {
      batchTokens = n;
      batchSequences = [];
      initBatch(n);
    },
    addToBatch: (sequenceId: number, ...rest: unknown[]) => {
      batchSequences.push(sequenceId);
      return addToBatch(sequenceId, ...rest);
    },
    decodeBatch: async () => {
      const call: NativeCall = { kind: 'decode', calledAt: performance.now(), settledAt: 0, tokens: batchTokens, sequences: batchSequences };
      try {
        await decodeBatch();
      } finally {
        call.settledAt = performance.now();
        calls.push(call);
      }
    },
    sampleToken: async (...args: unknown[]) => {
      const call: NativeCall = { kind: 'sample', calledAt: performance.now(), settledAt: 0, tokens: 1 };
      try {
        return await sampleToken(...args);
      } finally {
        call.settledAt = performance.now();
        calls.push(call);
      }
    },
  };
  const bound = new Map<PropertyKey, unknown>();
  holder._ctx = new Proxy(addon, {
    get(target, key) {
      if (typeof key === 'string' && key in wrapped) return wrapped[key];
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      let fn = bound.get(key);
      if (fn === undefined) {
        fn = (value as (...a: unknown[]) => unknown).bind(target);
        bound.set(key, fn);
      }
      return fn;
    },
  });
  return calls;
}

/** Tokens per decode call, as a histogram (`{"4": 120, "232": 1}`), prefill included. */
export function batchSizeHistogram(calls: readonly NativeCall[]): Record<string, number> {
  const h: Record<string, number> = {};
  for (const c of calls) if (c.kind === 'decode') h[String(c.tokens)] = (h[String(c.tokens)] ?? 0) + 1;
  return h;
}
