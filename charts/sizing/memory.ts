import type { ModelSpec } from '../models/catalogue.js';
import { GiB, MiB, roundUpBytes } from './units.js';

/**
 * Memory sizing for one inference pod.
 *
 *   request = weights + kvCache + logits + runtime            (memory limit = request)
 *
 *   weights  = model file size on CPU (llama.cpp maps the whole file and touches every page);
 *              on a GPU with every layer offloaded, only the token-embedding table stays in host
 *              memory (vocab x embedding x bits-per-weight / 8) plus a 1 GiB staging margin for
 *              the upload
 *   kvCache  = 2 (K and V) x layers x kvHeads x headDim x 2 bytes (f16) x contextSize x parallel
 *              (in GPU memory instead when every layer is offloaded)
 *   logits   = vocab x batchSize x 4 bytes (f32 output buffer of one batch)
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

/** Average bits per weight of each quantization (llama.cpp's quantize tool reports these). */
export const bitsPerWeight: Record<ModelSpec['quantization'], number> = {
  Q4_K_M: 4.85,
  Q5_K_M: 5.69,
  Q8_0: 8.5,
  F16: 16,
};

/** KV cache bytes per token of context: K and V, every layer, f16. */
export function kvBytesPerToken(model: ModelSpec): number {
  return 2 * model.layers * model.kvHeads * model.headDim * 2;
}

export function estimateMemory(inputs: MemoryInputs): MemoryEstimate {
  const { model, contextSize, parallel, batchSize, gpuOffload } = inputs;
  const kvCacheBytes = kvBytesPerToken(model) * contextSize * parallel;
  const embeddingBytes = Math.ceil((model.vocabSize * model.embeddingLength * bitsPerWeight[model.quantization]) / 8);
  const weightsBytes = gpuOffload ? embeddingBytes + gpuUploadStagingBytes : model.fileBytes;
  const logitsBytes = model.vocabSize * batchSize * 4;
  // Offloaded layers keep their KV cache in GPU memory, not in the container's.
  const hostKvBytes = gpuOffload ? 0 : kvCacheBytes;
  const total = weightsBytes + hostKvBytes + logitsBytes + runtimeOverheadBytes;
  return {
    weightsBytes,
    kvCacheBytes,
    logitsBytes,
    runtimeBytes: runtimeOverheadBytes,
    requestBytes: roundUpBytes(total, 128 * MiB),
    gpuBytes: gpuOffload ? model.fileBytes + kvCacheBytes : 0,
  };
}
