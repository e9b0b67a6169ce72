import type { ModelSpec } from '../types.js';

/**
 * Meta-Llama-3.1-8B-Instruct, Q4_K_M (bartowski's GGUF): 128k trained context, so CONTEXT_SIZE is a
 * real choice here. Unverified: the exact byte count and sha256 could not be read from a source
 * available here. (The repository is not gated; Meta's own is: set hfToken on the service for those.)
 */
export const llama31_8bInstructQ4KM: ModelSpec = {
  id: 'llama-3.1-8b-instruct-q4_k_m',
  source: 'hf:bartowski/Meta-Llama-3.1-8B-Instruct-GGUF/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf',
  fileBytes: 4_900_000_000,
  architecture: 'llama',
  quantization: 'Q4_K_M',
  layers: 32,
  embeddingLength: 4096,
  headCount: 32,
  kvHeads: 8,
  headDim: 128,
  trainedContext: 131_072,
  vocabSize: 128_256,
  parameters: 8_030_261_248,
  integrity: { status: 'unverified', reason: 'exact size and sha256 not available offline; fileBytes rounded to 100 MB' },
  provenance: {
    fileBytes: 'bartowski/Meta-Llama-3.1-8B-Instruct-GGUF listed at "size": 4_900_000_000 in a public model list (code search: Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf), rounded',
    'architecture, layers, embeddingLength, headCount, kvHeads, trainedContext, vocabSize': 'GGUF metadata of the Q4_K_M file as dumped by Ollama (llama.block_count 32, embedding_length 4096, head_count 32, head_count_kv 8, context_length 131072, vocab_size 128256, rope.dimension_count 128), and vulkomilev/oumi configs/recipes/llama3_1/README.md',
    headDim: 'llama.rope.dimension_count 128 (= 4096 / 32)',
    parameters: 'computed from the shape: 2 x 128256 x 4096 embeddings (untied) + 32 x (2 x 4096^2 + 2 x 4096 x 1024 + 3 x 4096 x 14336 + 2 x 4096) + 4096',
  },
  reference: 'https://huggingface.co/bartowski/Meta-Llama-3.1-8B-Instruct-GGUF',
};
