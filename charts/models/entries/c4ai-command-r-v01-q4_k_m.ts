import type { ModelSpec } from '../types.js';

/**
 * Cohere C4AI Command-R v01 (35B), Q4_K_M, single file: the 35B-class GPU model. No grouped-query attention
 * (64 KV heads for 64 query heads), so its KV cache is eight times a GQA model's of the same width.
 * Unverified: the size is a published figure rounded to 1 GB (the larger of the ones found is kept) and no
 * sha256 could be read from a source available here. Shape from transformers' CohereConfig, whose defaults are
 * this checkpoint's.
 */
export const c4aiCommandRV01Q4KM: ModelSpec = {
  id: 'c4ai-command-r-v01-q4_k_m',
  source: 'hf:bartowski/c4ai-command-r-v01-GGUF/c4ai-command-r-v01-Q4_K_M.gguf',
  fileBytes: 22_000_000_000,
  architecture: 'command-r',
  quantization: 'Q4_K_M',
  layers: 40,
  embeddingLength: 8192,
  headCount: 64,
  kvHeads: 64,
  headDim: 128,
  trainedContext: 8192,
  vocabSize: 256_000,
  parameters: 34_980_831_232,
  integrity: { status: 'unverified', reason: 'size is a published figure rounded to 1 GB, no sha256 available offline' },
  provenance: {
    fileBytes: 'public model tables list bartowski/c4ai-command-r-v01-GGUF c4ai-command-r-v01-Q4_K_M.gguf at 21 GB and 22000 MB: the larger is kept',
    architecture: "llama.cpp's LLM_ARCH_COMMAND_R name (src/llama-arch.cpp in node-llama-cpp's bundled source)",
    'layers, embeddingLength, headCount, kvHeads, trainedContext, vocabSize': 'huggingface/transformers src/transformers/models/cohere/configuration_cohere.py, CohereConfig defaults documented for checkpoint CohereForAI/c4ai-command-r-v01 (vocab 256000, hidden 8192, intermediate 22528, 40 layers, 64 heads, num_key_value_heads defaulting to the head count, max_position_embeddings 8192, tied embeddings)',
    headDim: 'hidden_size / num_attention_heads = 8192 / 64',
    parameters: 'computed from the shape: 256000 x 8192 (tied) + 40 x (4 x 8192^2 + 3 x 8192 x 22528 + one 8192 layer norm) + 8192; the model card says 35B',
  },
  reference: 'https://huggingface.co/bartowski/c4ai-command-r-v01-GGUF',
};
