import type { ModelSpec } from '../types.js';

/**
 * Qwen2.5-3B-Instruct, Q4_K_M, from Qwen's own GGUF repository: the service's default model.
 * Shape from the model's config (36 layers, hidden 2048, 16 query heads, 2 KV heads, head dim 128,
 * 32768 trained context, vocabulary 151936); 3.09 B parameters from the model card.
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
  headCount: 16,
  kvHeads: 2,
  headDim: 128,
  trainedContext: 32_768,
  vocabSize: 151_936,
  parameters: 3_090_000_000,
  provenance: {
    'sha256, fileBytes': 'Hugging Face file listing (Git LFS pointer) of Qwen/Qwen2.5-3B-Instruct-GGUF',
    'layers, embeddingLength, headCount, kvHeads, headDim, trainedContext, vocabSize': 'config.json of Qwen/Qwen2.5-3B-Instruct',
    parameters: 'model card of Qwen/Qwen2.5-3B-Instruct ("Number of Parameters: 3.09B"), rounded',
  },
  reference: 'https://huggingface.co/Qwen/Qwen2.5-3B-Instruct-GGUF',
};
