/**
 * The model catalogue: facts about real GGUF files that the manifests are sized from.
 *
 * Every figure here comes from the file's published GGUF metadata (the `<arch>.*` keys)
 * and its Hugging Face file listing (size and sha256 from the Git LFS pointer). Memory, disk and probe budgets are derived from
 * these fields in `charts/sizing/`, never typed in by hand per environment.
 */

/** llama.cpp quantization types that the catalogue uses, with their average bits per weight. */
export type Quantization = 'Q4_K_M' | 'Q5_K_M' | 'Q8_0' | 'F16';

/** A GGUF model file and the shape facts that sizing needs. */
export interface ModelSpec {
  /** Short id, used in labels and the `model` field of API answers. */
  readonly id: string;
  /** What the service loads: `hf:<user>/<repo>/<file>.gguf` or an `https://` URL. */
  readonly source: string;
  /** sha256 of the file; when set, the init container refuses a file that does not match. */
  readonly sha256?: string;
  /** Exact file size in bytes (the weights that are mapped into memory). */
  readonly fileBytes: number;
  /** `general.architecture` */
  readonly architecture: string;
  readonly quantization: Quantization;
  /** `<arch>.block_count`: transformer layers, each with its own KV cache. */
  readonly layers: number;
  /** `<arch>.embedding_length` */
  readonly embeddingLength: number;
  /** `<arch>.attention.head_count_kv`: KV heads (grouped-query attention shrinks the KV cache). */
  readonly kvHeads: number;
  /** Per-head key/value width (`<arch>.attention.key_length`, else embedding_length / head_count). */
  readonly headDim: number;
  /** `<arch>.context_length`: the context the model was trained for; a larger CONTEXT_SIZE is refused. */
  readonly trainedContext: number;
  /** Tokenizer vocabulary size: sizes the logits buffer. */
  readonly vocabSize: number;
  /** Where the numbers come from, for the reviewer. */
  readonly reference: string;
}

/**
 * Qwen2.5-3B-Instruct, Q4_K_M, from Qwen's own GGUF repository: the service's default model.
 * Shape from the model's config (36 layers, hidden 2048, 16 query heads, 2 KV heads, head dim 128,
 * 32768 trained context, vocabulary 151936).
 */
export const qwen25_3bInstructQ4KM: ModelSpec = {
  id: 'qwen2.5-3b-instruct-q4_k_m',
  source: 'hf:Qwen/Qwen2.5-3B-Instruct-GGUF/qwen2.5-3b-instruct-q4_k_m.gguf',
  sha256: '626b4a6678b86442240e33df819e00132d3ba7dddfe1cdc4fbb18e0a9615c62d',
  fileBytes: 2_104_932_768,
  architecture: 'qwen2',
  quantization: 'Q4_K_M',
  layers: 36,
  embeddingLength: 2048,
  kvHeads: 2,
  headDim: 128,
  trainedContext: 32_768,
  vocabSize: 151_936,
  reference: 'https://huggingface.co/Qwen/Qwen2.5-3B-Instruct-GGUF',
};

/**
 * Qwen2.5-7B-Instruct, Q4_K_M, single file: the 7B-class model of the GPU services.
 * Shape: 28 layers, hidden 3584, 28 query heads, 4 KV heads, head dim 128, 32768 trained context,
 * vocabulary 152064.
 */
export const qwen25_7bInstructQ4KM: ModelSpec = {
  id: 'qwen2.5-7b-instruct-q4_k_m',
  source: 'hf:bartowski/Qwen2.5-7B-Instruct-GGUF/Qwen2.5-7B-Instruct-Q4_K_M.gguf',
  sha256: '65b8fcd92af6b4fefa935c625d1ac27ea29dcb6ee14589c55a8f115ceaaa1423',
  fileBytes: 4_683_074_240,
  architecture: 'qwen2',
  quantization: 'Q4_K_M',
  layers: 28,
  embeddingLength: 3584,
  kvHeads: 4,
  headDim: 128,
  trainedContext: 32_768,
  vocabSize: 152_064,
  reference: 'https://huggingface.co/bartowski/Qwen2.5-7B-Instruct-GGUF',
};

/** Every model the environments may use, by id. */
export const modelCatalogue = {
  [qwen25_3bInstructQ4KM.id]: qwen25_3bInstructQ4KM,
  [qwen25_7bInstructQ4KM.id]: qwen25_7bInstructQ4KM,
} as const satisfies Record<string, ModelSpec>;
