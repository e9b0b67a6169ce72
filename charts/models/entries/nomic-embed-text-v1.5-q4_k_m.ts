import type { ModelSpec } from '../types.js';

/**
 * nomic-embed-text-v1.5, Q4_K_M: an embedding model for the embeddings endpoint. Encoder-only
 * (`nomic-bert`): llama.cpp keeps no KV cache for it; its output is one 768-wide vector per input.
 * Size and sha256 come from a third-party manifest that pins the hub revision, not from the hub
 * itself, so the entry stays unverified (the init container still checks the sha256 on download).
 */
export const nomicEmbedTextV15Q4KM: ModelSpec = {
  id: 'nomic-embed-text-v1.5-q4_k_m',
  source: 'hf:nomic-ai/nomic-embed-text-v1.5-GGUF/nomic-embed-text-v1.5.Q4_K_M.gguf#0188c9bf409793f810680a5a431e7b899c46104c',
  sha256: 'd4e388894e09cf3816e8b0896d81d265b55e7a9fff9ab03fe8bf4ef5e11295ac',
  fileBytes: 84_106_624,
  architecture: 'nomic-bert',
  quantization: 'Q4_K_M',
  layers: 12,
  embeddingLength: 768,
  headCount: 12,
  kvHeads: 12,
  headDim: 64,
  trainedContext: 2048,
  vocabSize: 30_522,
  parameters: 137_000_000,
  embedding: { pooling: 'mean', kvCache: false },
  integrity: { status: 'unverified', reason: 'size and sha256 from a third-party manifest (revision-pinned), not read from the hub here' },
  provenance: {
    'sha256, fileBytes, revision': 'robertbackhaus-a11y/KI-Stack tools/models-workflows/current/Manifests/models.manifest.json (sizeBytes 84106624, sha256 d4e3...95ac, source pinned to revision 0188c9bf...)',
    'architecture, layers, embeddingLength, trainedContext, pooling': 'GGUF metadata as reported by Ollama for nomic-embed-text (nomic-bert.block_count 12, embedding_length 768, context_length 2048, pooling_type 1 = mean), quoted in public repositories',
    'headCount, headDim': 'nomic-bert: 12 heads of 768 / 12 = 64',
    vocabSize: 'the BERT uncased WordPiece vocabulary size, not read from the file here; it sizes nothing for an embedding model (its output buffer is embeddingLength wide)',
    parameters: 'the model card\'s 137M, as listed with the file in public catalogues (Parameters: 137_000_000)',
    embedding: 'llama.cpp create_memory: no KV cache for LLM_ARCH_NOMIC_BERT',
  },
  reference: 'https://huggingface.co/nomic-ai/nomic-embed-text-v1.5-GGUF',
};
