import { kvBytesPerCellPerLayer, kvCacheBytes, type AttentionShape } from '../../service/model/kv-cache.js';
import type { ModelSpec } from '../models/types.js';
import { averageBitsPerWeight } from '../models/validate.js';
import { GiB, MiB, roundUpBytes } from './units.js';

/**
 * Memory sizing for one inference pod.
 *
 *   request = weights + kvCache + outputs + scratch + runtime  (memory limit = request)
 *
 *   weights  = model size on CPU, every part of a split model (llama.cpp maps the whole file and
 *              touches every page; a mixture-of-experts model maps every expert, not just the active ones);
 *              on a GPU with every layer offloaded, only the token-embedding table stays in host
 *              memory (its bytes from the header, else vocab x embedding x the file's average bits per
 *              weight / 8) plus a 1 GiB staging margin for the upload
 *   kvCache  = per layer: kvHeads x (keyLength + valueLength) x 2 bytes (f16) x cells, where cells =
 *              pad256(contextSize) x parallel, bounded by the window on sliding-window layers, and 0 for
 *              encoder-only embedding models (service/model/kv-cache.ts, shared with the service's
 *              load-time check); in GPU memory instead when every layer is offloaded
 *   outputs  = vocab x batchSize x 4 bytes (f32 logits of one batch), or embeddingLength x batchSize x 4
 *              for an embedding model
 *   scratch  = embedding models only: headCount x batchSize^2 x 4 bytes, the f32 attention scores of one
 *              non-causal batch (llama.cpp builds KQ = [batch, batch, heads] per layer without flash
 *              attention, which node-llama-cpp leaves off by default; ggml's allocator reuses it across
 *              layers). A chat batch attends to its KV cells and stays inside the runtime share; an
 *              embedding batch holds a whole input (batch = context), so this term grows with its square
 *   runtime  = 512 MiB: Node.js, V8 heap, Fastify, llama.cpp scratch buffers
 *
 * Rounded up to a multiple of 128 MiB so small catalogue edits do not churn the manifests.
 * The limit equals the request: memory above the request is only borrowed, and a node under
 * pressure evicts or OOM-kills the pods that borrowed first: never the right time for an LLM.
 */
export interface MemoryInputs {
  readonly model: ModelSpec;
  /** Tokens of context per sequence (CONTEXT_SIZE). */
  readonly contextSize: number;
  /** Sequences decoded in parallel (PARALLEL). */
  readonly parallel: number;
  /** Tokens evaluated per batch; sizes the logits buffer. */
  readonly batchSize: number;
  /** True when every layer is offloaded to a GPU. */
  readonly gpuOffload: boolean;
}

export interface MemoryEstimate {
  readonly weightsBytes: number;
  readonly kvCacheBytes: number;
  readonly logitsBytes: number;
  /** Attention scores of one non-causal batch (embedding models), else 0. */
  readonly attentionScratchBytes: number;
  readonly runtimeBytes: number;
  /** Sum, rounded up to 128 MiB: the container's memory request and limit. */
  readonly requestBytes: number;
  /** Bytes that must fit in GPU memory (weights + KV cache) when offloaded, else 0. */
  readonly gpuBytes: number;
}

/** Fixed runtime share: Node.js, V8 heap, Fastify and llama.cpp scratch buffers. */
export const runtimeOverheadBytes = 512 * MiB;
/** Host staging margin while a GPU pod uploads its weights. */
export const gpuUploadStagingBytes = 1 * GiB;

/** The attention facts of a catalogue entry, as the shared KV formula takes them. */
export function attentionShape(model: ModelSpec): AttentionShape {
  return {
    layers: model.layers,
    kvHeads: model.kvHeads,
    keyLength: model.headDim,
    valueLength: model.valueLength ?? model.headDim,
    slidingWindow: model.slidingWindow,
    kvCache: model.embedding?.kvCache ?? true,
  };
}

/** KV cache bytes per token of context on a full-attention model: K and V, every layer, f16. */
export function kvBytesPerToken(model: ModelSpec): number {
  return model.layers * kvBytesPerCellPerLayer(attentionShape(model));
}

/** Bytes of the token-embedding table: from the header, else estimated from the file's average bits per weight. */
export function tokenEmbeddingBytes(model: ModelSpec): number {
  if (model.tokenEmbedding) return model.tokenEmbedding.bytes;
  const bpw = averageBitsPerWeight(model);
  if (bpw === undefined) throw new Error(`model ${model.id}: no parameters or tensorTypes to size its token embeddings from`);
  return Math.ceil((model.vocabSize * model.embeddingLength * bpw) / 8);
}

/** f32 attention scores of one batch of an embedding model: heads x batch x batch x 4 bytes (see above). */
export function embeddingAttentionScratchBytes(model: ModelSpec, batchSize: number): number {
  return model.embedding ? model.headCount * batchSize * batchSize * 4 : 0;
}

export function estimateMemory(inputs: MemoryInputs): MemoryEstimate {
  const { model, contextSize, parallel, batchSize, gpuOffload } = inputs;
  const kvCache = kvCacheBytes(attentionShape(model), { contextSize, parallel, batchSize });
  const weightsBytes = gpuOffload ? tokenEmbeddingBytes(model) + gpuUploadStagingBytes : model.fileBytes;
  const logitsBytes = (model.embedding ? model.embeddingLength : model.vocabSize) * batchSize * 4;
  // Offloaded layers keep their KV cache in GPU memory, not in the container's.
  const hostKvBytes = gpuOffload ? 0 : kvCache;
  const attentionScratchBytes = embeddingAttentionScratchBytes(model, batchSize);
  const total = weightsBytes + hostKvBytes + logitsBytes + attentionScratchBytes + runtimeOverheadBytes;
  return {
    weightsBytes,
    kvCacheBytes: kvCache,
    logitsBytes,
    attentionScratchBytes,
    runtimeBytes: runtimeOverheadBytes,
    requestBytes: roundUpBytes(total, 128 * MiB),
    gpuBytes: gpuOffload ? model.fileBytes + kvCache : 0,
  };
}
