import type { ModelSpec } from '../types.js';

/**
 * Mistral-7B-Instruct-v0.2, Q4_K_M (TheBloke's GGUF). Its GGUF architecture is `llama`; v0.2 has a 32k
 * context and no sliding-window attention (unlike v0.1).
 * Unverified: the exact byte count and sha256 could not be read from a source available here.
 */
export const mistral7bInstructV02Q4KM: ModelSpec = {
  id: 'mistral-7b-instruct-v0.2-q4_k_m',
  source: 'hf:TheBloke/Mistral-7B-Instruct-v0.2-GGUF/mistral-7b-instruct-v0.2.Q4_K_M.gguf',
  fileBytes: 4_370_000_000,
  architecture: 'llama',
  quantization: 'Q4_K_M',
  layers: 32,
  embeddingLength: 4096,
  headCount: 32,
  kvHeads: 8,
  headDim: 128,
  trainedContext: 32_768,
  vocabSize: 32_000,
  parameters: 7_241_732_096,
  integrity: { status: 'unverified', reason: "exact size and sha256 not available offline; fileBytes is the README's rounded 4.37 GB" },
  provenance: {
    fileBytes: "TheBloke/Mistral-7B-Instruct-v0.2-GGUF README, provided-files table (Q4_K_M 4.37 GB), rounded to 10 MB",
    'layers, embeddingLength, headCount, kvHeads, headDim, vocabSize': 'edadaltocg/mistral-src-finetune finetune/config.py ("Mistral-7B-v0.2-Instruct": dim 4096, n_layers 32, head_dim 128, n_heads 32, n_kv_heads 8, vocab_size 32000)',
    trainedContext: 'Azure/azureml-assets assets/models/system/Mistral-7B-Instruct-v0-2/description.md ("32k context window", "No Sliding-Window Attention")',
    parameters: 'computed from the shape: 2 x 32000 x 4096 embeddings + 32 x (2 x 4096^2 + 2 x 4096 x 1024 + 3 x 4096 x 14336 + 2 x 4096) + 4096',
  },
  reference: 'https://huggingface.co/TheBloke/Mistral-7B-Instruct-v0.2-GGUF',
};
