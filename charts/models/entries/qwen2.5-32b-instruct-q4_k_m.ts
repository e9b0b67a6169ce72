import type { ModelSpec } from '../types.js';

/**
 * Qwen2.5-32B-Instruct, Q4_K_M, single file: the 32B-class GPU model.
 * Unverified: the byte count comes from a public download table, not from the hub's file metadata, and no
 * sha256 could be read from a source available here. Shape from the model's config.json.
 */
export const qwen25_32bInstructQ4KM: ModelSpec = {
  id: 'qwen2.5-32b-instruct-q4_k_m',
  source: 'hf:bartowski/Qwen2.5-32B-Instruct-GGUF/Qwen2.5-32B-Instruct-Q4_K_M.gguf',
  fileBytes: 19_851_351_776,
  architecture: 'qwen2',
  quantization: 'Q4_K_M',
  layers: 64,
  embeddingLength: 5120,
  headCount: 40,
  kvHeads: 8,
  headDim: 128,
  trainedContext: 32_768,
  vocabSize: 152_064,
  parameters: 32_763_876_352,
  integrity: { status: 'unverified', reason: 'byte count from a public download table, no sha256 available offline' },
  provenance: {
    fileBytes: 'a public model table lists Qwen2.5-32B-Instruct-Q4_K_M.gguf from bartowski/Qwen2.5-32B-Instruct-GGUF at bytes 19851351776 (code search)',
    'layers, embeddingLength, headCount, kvHeads, trainedContext, vocabSize': 'config.json of Qwen/Qwen2.5-32B-Instruct as quoted in public repositories (hidden_size 5120, intermediate_size 27648, 64 layers, 40 Q / 8 KV heads, max_position_embeddings 32768, vocab_size 152064, untied embeddings)',
    headDim: 'hidden_size / num_attention_heads = 5120 / 40',
    parameters: 'computed from the shape: 2 x 152064 x 5120 (untied) + 64 x (2 x 5120^2 + 2 x 5120 x 1024 + q/k/v biases 7168 + 3 x 5120 x 27648 + 2 x 5120) + 5120; a public test asserts the same 32763876352',
  },
  reference: 'https://huggingface.co/bartowski/Qwen2.5-32B-Instruct-GGUF',
};
