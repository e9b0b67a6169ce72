/**
 * KV cache size of a llama.cpp context: one formula for the manifests (charts/sizing/memory.ts) and
 * the service's load-time check (service/inference/memory-fit.ts), so both size the same thing.
 *
 * Modelled on llama.cpp's KV cache allocation as node-llama-cpp 3.21.1 drives it (the llama.cpp source it ships,
 * `node_modules/node-llama-cpp/llama/gitRelease.bundle`):
 *
 * - node-llama-cpp asks for `contextSize x sequences` cells, sets `n_ubatch = n_batch` and adds one to the
 *   batch when the model has a sliding window (`dist/evaluator/LlamaContext/LlamaContext.js`,
 *   `llama/addon/AddonContext.cpp`); it never sets `kv_unified`, whose default is false
 *   (`llama_context_default_params` in `src/llama-context.cpp`), so every sequence gets its own stream of
 *   `n_ctx_seq = pad256(n_ctx / n_seq_max)` cells (`llama_context::llama_context`, `llama_kv_cache` with
 *   `n_stream = n_seq_max` in `src/llama-kv-cache.cpp`);
 * - with a sliding window and `swa_full` off (node-llama-cpp's default), the sliding-window layers get
 *   `pad256(min(n_ctx_seq, n_swa + n_ubatch))` cells per stream (`src/llama-kv-cache-iswa.cpp`; the window
 *   is multiplied by the sequence count only for a unified cache).
 *
 *   cells      = pad256(contextSize) x parallel                                    full-attention layers
 *   swaCells   = pad256(min(pad256(contextSize), window + batchSize + 1)) x parallel  sliding-window layers
 *   bytes      = sum over layers of kvHeads x (keyLength + valueLength) x 2 bytes (f16) x cells-of-that-layer
 *
 * node-llama-cpp's own estimate (`GgufInsights.estimateContextResourceRequirements`) sizes the window of a
 * unified cache (`pad256(parallel x window + batch)` in total), which is smaller than what llama.cpp
 * allocates for two or more sequences; test/charts/sizing-vs-node-llama-cpp.test.ts states the difference, and
 * test/service/swa-kv-cache.test.ts checks this formula cell for cell against llama.cpp's own log of the caches
 * it creates for a gpt-oss model (tools/test-model/gpt-oss.ts).
 *
 * Encoder-only embedding models (BERT family) get no KV cache at all (llama.cpp's
 * `llama_model::create_memory` returns none for them), so their term is 0.
 */

/** The attention facts of a model that decide its KV cache. */
export interface AttentionShape {
  /** Transformer blocks (`<arch>.block_count`). */
  readonly layers: number;
  /** KV heads per layer (`<arch>.attention.head_count_kv`; the largest when it varies per layer). */
  readonly kvHeads: number;
  /** Width of one key head (`<arch>.attention.key_length`, else embedding_length / head_count). */
  readonly keyLength: number;
  /** Width of one value head (`<arch>.attention.value_length`, else embedding_length / head_count). */
  readonly valueLength: number;
  /** Sliding-window attention: the window and how many of the layers use it. */
  readonly slidingWindow?: { readonly size: number; readonly layers: number } | undefined;
  /** False when llama.cpp creates no KV cache (encoder-only embedding models). */
  readonly kvCache: boolean;
}

export interface KvCacheInputs {
  readonly contextSize: number;
  readonly parallel: number;
  readonly batchSize: number;
}

/** llama.cpp pads context sizes to a multiple of 256 cells (`GGML_PAD` in `llama_context`). */
export const kvCellPad = 256;
/** f16 keys and values (llama.cpp's default `type_k` / `type_v`). */
export const kvBytesPerElement = 2;

const pad = (n: number, to: number): number => Math.ceil(n / to) * to;

/** KV cells of a full-attention layer and of a sliding-window layer (every sequence's stream together). */
export function kvCells(shape: AttentionShape, inputs: KvCacheInputs): { full: number; swa: number } {
  const perSequence = pad(inputs.contextSize, kvCellPad);
  const full = perSequence * inputs.parallel;
  const window = shape.slidingWindow;
  if (window === undefined || window.layers === 0) return { full, swa: full };
  // n_ubatch: node-llama-cpp's batch plus the one token it adds for a sliding-window model.
  const microBatch = inputs.batchSize + 1;
  return { full, swa: pad(Math.min(perSequence, window.size + microBatch), kvCellPad) * inputs.parallel };
}

/** Bytes of KV cache one cell takes on one layer (K and V, f16). */
export function kvBytesPerCellPerLayer(shape: AttentionShape): number {
  return shape.kvHeads * (shape.keyLength + shape.valueLength) * kvBytesPerElement;
}

/** KV cache bytes for `contextSize` tokens x `parallel` sequences. */
export function kvCacheBytes(shape: AttentionShape, inputs: KvCacheInputs): number {
  if (!shape.kvCache) return 0;
  const { full, swa } = kvCells(shape, inputs);
  const swaLayers = Math.min(shape.layers, shape.slidingWindow?.layers ?? 0);
  return kvBytesPerCellPerLayer(shape) * ((shape.layers - swaLayers) * full + swaLayers * swa);
}
