import type { ModelSpec } from '../types.js';

const parts = Array.from({ length: 12 }, (_, i) => ({ fileName: `qwen2.5-72b-instruct-q4_k_m-${String(i + 1).padStart(5, '0')}-of-00012.gguf` }));

/**
 * Qwen2.5-72B-Instruct, Q4_K_M, from Qwen's own GGUF repository: a split model of 12 parts, the
 * 70B-class entry. The service downloads every part and loads the first; memory, the cache volume and
 * the startup window are sized from the total.
 * Unverified: the parts' exact sizes and sha256 could not be read from a source available here; the
 * total is a published figure rounded to 1 GB.
 */
export const qwen25_72bInstructQ4KM: ModelSpec = {
  id: 'qwen2.5-72b-instruct-q4_k_m',
  source: `hf:Qwen/Qwen2.5-72B-Instruct-GGUF/${parts[0]!.fileName}`,
  fileBytes: 47_000_000_000,
  architecture: 'qwen2',
  quantization: 'Q4_K_M',
  layers: 80,
  embeddingLength: 8192,
  headCount: 64,
  kvHeads: 8,
  headDim: 128,
  trainedContext: 32_768,
  vocabSize: 152_064,
  parameters: 72_706_203_648,
  parts,
  integrity: { status: 'unverified', reason: 'per-part sizes and sha256 not available offline; total rounded to 1 GB' },
  provenance: {
    'parts (12)': 'file names qwen2.5-72b-instruct-q4_k_m-00001-of-00012.gguf ... as used in public download scripts for Qwen/Qwen2.5-72B-Instruct-GGUF (code search)',
    fileBytes: 'a public table of Qwen GGUF downloads lists qwen2.5-72b-instruct-q4_k_m-00001-of-00012.gguf at 47 GB total; another script says "12 shards, ~44GB total": the larger is kept',
    'layers, embeddingLength, headCount, kvHeads, trainedContext': 'Qwen2.5-72B config (hidden_size 8192, intermediate_size 29568, 80 layers, 64 Q / 8 KV heads, max_position_embeddings 32768) as quoted in public repositories',
    vocabSize: 'Qwen2.5 7B and larger use vocab_size 152064 (as the 7B entry)',
    parameters: 'computed from the shape: 2 x 152064 x 8192 (untied) + 80 x (2 x 8192^2 + 2 x 8192 x 1024 + q/k/v biases 10240 + 3 x 8192 x 29568 + 2 x 8192) + 8192',
  },
  reference: 'https://huggingface.co/Qwen/Qwen2.5-72B-Instruct-GGUF',
};
