/**
 * KV cache size of a llama.cpp context: one formula for the manifests (charts/sizing/memory.ts) and
 * the service's load-time check (service/inference/memory-fit.ts), so both size the same thing.
 *
 * Modelled on llama.cpp's KV cache allocation as node-llama-cpp 3.21 estimates it
 * (`GgufInsights._estimateContextCacheMemorySplitInBytes` and `estimateContextResourceRequirements`
 * in node_modules/node-llama-cpp/dist/gguf/insights/GgufInsights.js, citing `llama_kv_cache_init` and
 * `llama_context::llama_context`):
 *
 *   cells      = pad256(contextSize) x parallel             every sequence gets its own contextSize cells
 *   swaCells   = min(cells, pad256(parallel x window + batchSize + 1))   on sliding-window layers, when the
 *                                                                       window is smaller than the context
 *   bytes      = sum over layers of kvHeads x (keyLength + valueLength) x 2 bytes (f16) x cells-of-that-layer
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

/** KV cells of a full-attention layer and of a sliding-window layer. */
export function kvCells(shape: AttentionShape, inputs: KvCacheInputs): { full: number; swa: number } {
  const full = pad(inputs.contextSize, kvCellPad) * inputs.parallel;
  const window = shape.slidingWindow;
  if (window === undefined || window.layers === 0 || window.size >= inputs.contextSize) return { full, swa: full };
  return { full, swa: Math.min(full, pad(inputs.parallel * window.size + inputs.batchSize + 1, kvCellPad)) };
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
