import type { ModelSpec } from '../types.js';

/**
 * Qwen2.5-7B-Instruct, Q4_K_M, single file: the 7B-class model of the GPU services.
 * Shape: 28 layers, hidden 3584, 28 query heads, 4 KV heads, head dim 128, 32768 trained context,
 * vocabulary 152064; 7.61 B parameters from the model card.
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
  headCount: 28,
  kvHeads: 4,
  headDim: 128,
  trainedContext: 32_768,
  vocabSize: 152_064,
  parameters: 7_610_000_000,
  provenance: {
    'sha256, fileBytes': 'Hugging Face file listing (Git LFS pointer) of bartowski/Qwen2.5-7B-Instruct-GGUF',
    'layers, embeddingLength, headCount, kvHeads, headDim, trainedContext, vocabSize': 'config.json of Qwen/Qwen2.5-7B-Instruct',
    parameters: 'model card of Qwen/Qwen2.5-7B-Instruct ("Number of Parameters: 7.61B"), rounded',
  },
  reference: 'https://huggingface.co/bartowski/Qwen2.5-7B-Instruct-GGUF',
};
