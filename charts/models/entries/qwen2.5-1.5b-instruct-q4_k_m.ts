import type { ModelSpec } from '../types.js';

/**
 * Qwen2.5-1.5B-Instruct, Q4_K_M, from Qwen's own GGUF repository: the small chat model.
 * Unverified: the exact byte count and sha256 of the file could not be read from a source available
 * here; fileBytes is a published figure rounded to 100 MB. Run `npm run model:add --
 * hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf` where the hub is reachable
 * to replace this entry with one read from the file.
 */
export const qwen25_1_5bInstructQ4KM: ModelSpec = {
  id: 'qwen2.5-1.5b-instruct-q4_k_m',
  source: 'hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf',
  fileBytes: 1_100_000_000,
  architecture: 'qwen2',
  quantization: 'Q4_K_M',
  layers: 28,
  embeddingLength: 1536,
  headCount: 12,
  kvHeads: 2,
  headDim: 128,
  trainedContext: 32_768,
  vocabSize: 151_936,
  parameters: 1_540_000_000,
  integrity: { status: 'unverified', reason: 'exact size and sha256 not published in any source available offline; fileBytes rounded to 100 MB' },
  provenance: {
    fileBytes: 'Qwen/Qwen2.5-1.5B-Instruct-GGUF listed at "size": 1_100_000_000 in a public model list (code search: qwen2.5-1.5b-instruct-q4_k_m.gguf), rounded',
    'layers, headCount, kvHeads, parameters': 'Qwen2.5 model card as mirrored in ZHUI/paddlenlp_model_readme Qwen/Qwen2.5-Coder-1.5B/index.md (same architecture: 28 layers, 12 Q / 2 KV heads, 1.54B parameters)',
    'embeddingLength, vocabSize, trainedContext': 'Qwen2.5-1.5B config (hidden_size 1536, vocab_size 151936, max_position_embeddings 32768) as quoted in public repositories',
    headDim: 'hidden_size 1536 / 12 heads',
  },
  reference: 'https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF',
};
