/**
 * The sizing facts of a GGUF model, read from its own header (node-llama-cpp's `readGgufFileInfo`,
 * which reads only the header, locally or over HTTP range requests, and splices the tensor lists of
 * every part of a split file). The onboarding command writes these facts into a catalogue entry and the
 * service uses them at load to refuse what its memory limit cannot hold: one extraction for both.
 */
import { GgmlType, GgufFileType, type GgufFileInfo } from 'node-llama-cpp';
import { ggmlTensorBytes } from './ggml-types.js';
import type { AttentionShape } from './kv-cache.js';

/**
 * Architectures for which llama.cpp creates no KV cache (`llama_model::create_memory` in
 * `src/llama-model.cpp` returns none for the encoder-only BERT family and diffusion models).
 */
export const cachelessArchitectures: ReadonlySet<string> = new Set([
  'bert',
  'jina-bert-v2',
  'jina-bert-v3',
  'nomic-bert',
  'nomic-bert-moe',
  'neo-bert',
  'modern-bert',
  'wavtokenizer-dec',
  'dream',
  'llada',
  'llada-moe',
]);

/**
 * Default sliding-window layer pattern per architecture when the file has no
 * `<arch>.attention.sliding_window_pattern` (llama.cpp's `hparams.set_swa_pattern` calls in
 * `llama_model::load_hparams`, as node-llama-cpp 3.21 mirrors them in `getSwaPatternForArchitecture`).
 * `[n, denseFirst]`: with n > 0, layer i uses the window unless it is the last (or, dense-first, the
 * first) of each group of n; n = 1 means every layer.
 */
const swaPatterns: Readonly<Record<string, readonly [number, boolean]>> = {
  llama4: [4, false],
  afmoe: [4, false],
  'modern-bert': [3, true],
  phi3: [1, false],
  plamo3: [8, false],
  gemma2: [2, false],
  gemma3: [6, false],
  gemma3n: [5, false],
  'gemma-embedding': [6, false],
  cohere2: [4, false],
  olmo2: [4, false],
  exaone4: [4, false],
  'exaone-moe': [4, false],
  'gpt-oss': [2, false],
  smallthinker: [4, true],
};

/** Pooling types (`<arch>.pooling_type`, llama.cpp's `llama_pooling_type`). */
const poolingNames: Readonly<Record<number, string>> = { 0: 'none', 1: 'mean', 2: 'cls', 3: 'last', 4: 'rank' };

export interface TensorTypeTotal {
  readonly elements: number;
  readonly bytes: number;
}

export interface GgufFacts extends AttentionShape {
  readonly architecture: string;
  readonly name: string | undefined;
  /** llama.cpp's quantization name (`general.file_type`, e.g. Q4_K_M), else the dominant tensor type. */
  readonly quantization: string;
  readonly embeddingLength: number;
  readonly headCount: number;
  readonly trainedContext: number;
  readonly vocabSize: number;
  /** Parameters (tensor elements) of every tensor of every part. */
  readonly parameters: number;
  /** Bytes of tensor data of every part. */
  readonly tensorBytes: number;
  /** Elements and bytes per ggml tensor type. */
  readonly tensorTypes: Readonly<Record<string, TensorTypeTotal>>;
  /** The token-embedding table (`token_embd.weight`): stays in host memory when layers are offloaded. */
  readonly tokenEmbedding: { readonly type: string; readonly bytes: number } | undefined;
  /** Mixture of experts: experts per layer, experts used per token, and the parameters one token touches. */
  readonly experts: { readonly count: number; readonly used: number; readonly activeParameters: number } | undefined;
  /** Set for embedding models: how token vectors are pooled into one. */
  readonly pooling: string | undefined;
  /** `split.count` of the first part, 1 for a single file. */
  readonly splitCount: number;
}

export class GgufFactsError extends Error {
  override name = 'GgufFactsError';
}

function num(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  return undefined;
}

function countSwaLayers(architecture: string, layers: number, pattern: unknown): number {
  if (Array.isArray(pattern)) return pattern.slice(0, layers).filter((v) => Boolean(v)).length;
  const [fallback, denseFirst] = swaPatterns[architecture] ?? [1, false];
  const n = typeof pattern === 'number' ? Math.max(0, Math.floor(pattern)) : fallback;
  if (n === 0) return layers;
  let count = 0;
  for (let i = 0; i < layers; i++) if (denseFirst ? i % n !== 0 : i % n < n - 1) count++;
  // n = 1 and not dense-first: `i % 1 < 0` is never true, yet llama.cpp's pattern 1 means every layer.
  return n === 1 ? layers : count;
}

/** Names of expert tensors in llama.cpp's layout (`blk.N.ffn_{gate,up,down}_exps.weight`). */
const expertTensor = /_exps\.weight$/;

/** Extracts the sizing facts; throws GgufFactsError naming the first missing or impossible key. */
export function ggufFacts(info: GgufFileInfo): GgufFacts {
  const general = info.metadata.general;
  const architecture = general?.architecture as string | undefined;
  if (!architecture) throw new GgufFactsError('the header has no general.architecture');
  const arch = info.architectureMetadata as Record<string, unknown> & { attention?: Record<string, unknown> };
  const attention = arch.attention ?? {};
  const key = (k: string): string => `${architecture}.${k}`;

  const layers = num(arch.block_count);
  const embeddingLength = num(arch.embedding_length);
  const trainedContext = num(arch.context_length);
  if (layers === undefined || layers < 1) throw new GgufFactsError(`the header has no ${key('block_count')}`);
  if (embeddingLength === undefined || embeddingLength < 1) throw new GgufFactsError(`the header has no ${key('embedding_length')}`);
  if (trainedContext === undefined || trainedContext < 1) throw new GgufFactsError(`the header has no ${key('context_length')}`);
  const headCount = num(attention.head_count) ?? 0;
  const rawKv = attention.head_count_kv;
  const kvHeads = Array.isArray(rawKv) ? Math.max(0, ...rawKv.map((v) => num(v) ?? 0)) : (num(rawKv) ?? headCount);
  const defaultHead = headCount > 0 ? embeddingLength / headCount : 0;
  const keyLength = num(attention.key_length) ?? defaultHead;
  const valueLength = num(attention.value_length) ?? defaultHead;
  const kvCache = !cachelessArchitectures.has(architecture) && headCount > 0;
  if (kvCache && (!Number.isInteger(keyLength) || keyLength < 1)) {
    throw new GgufFactsError(
      `${key('embedding_length')} ${embeddingLength} / ${key('attention.head_count')} ${headCount} is no head width, and ${key('attention.key_length')} is missing`,
    );
  }

  // llama.cpp applies a window only where the architecture's loader reads one (the archs of swaPatterns)
  // or the file states its layer pattern; a stray sliding_window key on e.g. qwen2 changes nothing.
  const window = num(attention.sliding_window);
  const usesWindow = architecture in swaPatterns || attention.sliding_window_pattern !== undefined;
  const slidingWindow =
    usesWindow && window !== undefined && window > 0 && window < trainedContext
      ? { size: window, layers: countSwaLayers(architecture, layers, attention.sliding_window_pattern) }
      : undefined;

  const tensors = info.fullTensorInfo ?? info.tensorInfo;
  if (!tensors || tensors.length === 0) throw new GgufFactsError('the header lists no tensors');
  const tensorTypes: Record<string, { elements: number; bytes: number }> = {};
  let parameters = 0;
  let tensorBytes = 0;
  let expertParameters = 0;
  let tokenEmbedding: GgufFacts['tokenEmbedding'];
  for (const t of tensors) {
    const type = GgmlType[t.ggmlType] as string | undefined;
    const elements = t.dimensions.reduce<number>((a, d) => a * Number(d), 1);
    const bytes = type === undefined ? undefined : ggmlTensorBytes(type, elements);
    if (type === undefined || bytes === undefined) {
      throw new GgufFactsError(`tensor ${t.name} has ggml type ${type ?? t.ggmlType}, which has no known storage size`);
    }
    const total = (tensorTypes[type] ??= { elements: 0, bytes: 0 });
    total.elements += elements;
    total.bytes += bytes;
    parameters += elements;
    tensorBytes += bytes;
    if (expertTensor.test(t.name)) expertParameters += elements;
    if (t.name === 'token_embd.weight') tokenEmbedding = { type, bytes };
  }

  const expertCount = num(arch.expert_count) ?? 0;
  const expertsUsed = num(arch.expert_used_count) ?? 0;
  const experts =
    expertCount > 0
      ? {
          count: expertCount,
          used: expertsUsed,
          activeParameters: Math.round(parameters - expertParameters + (expertParameters * expertsUsed) / expertCount),
        }
      : undefined;

  const fileType = num(general?.file_type);
  const fileTypeName = fileType === undefined ? undefined : (GgufFileType[fileType] as string | undefined);
  const dominant = Object.entries(tensorTypes).sort((a, b) => b[1].elements - a[1].elements)[0]?.[0] ?? 'unknown';
  const quantization = fileTypeName?.replace(/^(MOSTLY|ALL)_/, '') ?? dominant;

  const tokens = info.metadata.tokenizer?.ggml?.tokens;
  const vocabSize = num(arch.vocab_size) ?? (Array.isArray(tokens) ? tokens.length : 0);
  const pooling = num(arch.pooling_type);
  const split = (info.metadata as unknown as Record<string, unknown>).split as { count?: unknown } | undefined;

  return {
    architecture,
    name: typeof general?.name === 'string' ? general.name : undefined,
    quantization,
    layers,
    embeddingLength,
    headCount,
    kvHeads,
    keyLength,
    valueLength,
    slidingWindow,
    kvCache,
    trainedContext,
    vocabSize,
    parameters,
    tensorBytes,
    tensorTypes,
    tokenEmbedding,
    experts,
    pooling: pooling !== undefined && pooling > 0 ? (poolingNames[pooling] ?? String(pooling)) : undefined,
    splitCount: num(split?.count) ?? 1,
  };
}

/**
 * Checks that every tensor the header lists lies inside its part: a truncated file (an interrupted copy, a
 * header-only download) parses without error but cannot hold its own tensors. `partBytes[i]` is the size of
 * part i + 1. Returns a one-line reason, or undefined when the file is whole.
 */
export function truncationReason(info: GgufFileInfo, partBytes: readonly number[]): string | undefined {
  const tensors = info.fullTensorInfo ?? info.tensorInfo ?? [];
  const declared = Number(info.totalTensorCount);
  if (tensors.length !== declared) return `the header declares ${declared} tensors but only ${tensors.length} could be read`;
  for (const t of tensors) {
    const type = GgmlType[t.ggmlType] as string | undefined;
    const bytes =
      type === undefined
        ? undefined
        : ggmlTensorBytes(
            type,
            t.dimensions.reduce<number>((a, d) => a * Number(d), 1),
          );
    const size = partBytes[(t.filePart ?? 1) - 1];
    if (bytes === undefined || size === undefined) continue;
    const end = Number(t.fileOffset) + bytes;
    if (end > size) return `tensor ${t.name} ends at byte ${end} but part ${t.filePart ?? 1} has ${size} bytes`;
  }
  return undefined;
}
