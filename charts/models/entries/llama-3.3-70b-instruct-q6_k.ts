import type { ModelSpec } from '../types.js';

const folder = 'Llama-3.3-70B-Instruct-Q6_K';
const parts = [
  { fileName: `${folder}-00001-of-00002.gguf`, sha256: '77ebb031649ac7a16b89b4078feb197d56a61941b703a980233069a2670c811b' },
  { fileName: `${folder}-00002-of-00002.gguf`, sha256: 'f50428a8c9912e949f5273174e66c9febdc7cd21617595de2dc0e5c9df536434' },
];

/**
 * Meta Llama-3.3-70B-Instruct, Q6_K (unsloth's GGUF, two parts in the repository's `Llama-3.3-70B-Instruct-Q6_K/`
 * folder): the fleet's primary model. Q6_K is a pure quantization (llama.cpp's `llama_tensor_get_type` leaves
 * every matrix of a Q6_K file at Q6_K for a dense Llama), so its tensor bytes follow from the shape exactly;
 * the file is above the hub's 50 GB single-file limit, hence the split. Chat format: node-llama-cpp 3.21.1
 * finds its `Llama3_1ChatWrapper` (tool calls included) equivalent to the checkpoint's template.
 *
 * The shape and tensor list are what `npm run model:add` reads from a header of this shape
 * (test/charts/fleet-models.test.ts). Unverified in one respect: the parts' byte counts could not be read from
 * here, so `fileBytes` is the tensor bytes plus the catalogue's header allowance per part (an upper bound);
 * each part's sha256 is the hub's, as a public mirror pins it.
 */
export const llama33_70bInstructQ6K: ModelSpec = {
  id: 'llama-3.3-70b-instruct-q6_k',
  source: `hf:unsloth/Llama-3.3-70B-Instruct-GGUF/${folder}/${parts[0]!.fileName}`,
  sha256: parts.map((p) => p.sha256).join(','),
  fileBytes: 58_014_499_072,
  architecture: 'llama',
  quantization: 'Q6_K',
  layers: 80,
  embeddingLength: 8192,
  headCount: 64,
  kvHeads: 8,
  headDim: 128,
  trainedContext: 131_072,
  vocabSize: 128_256,
  parameters: 70_553_706_560,
  tensorTypes: {
    Q6_K: {
      elements: 70_552_387_584,
      bytes: 57_875_005_440,
    },
    F32: {
      elements: 1_318_976,
      bytes: 5_275_904,
    },
  },
  tokenEmbedding: {
    type: 'Q6_K',
    bytes: 861_880_320,
  },
  parts,
  header: {
    architecture: 'llama',
    quantization: 'Q6_K',
    layers: 80,
    embeddingLength: 8192,
    headCount: 64,
    kvHeads: 8,
    headDim: 128,
    valueLength: 128,
    trainedContext: 131_072,
    vocabSize: 128_256,
    parameters: 70_553_706_560,
  },
  integrity: {
    status: 'unverified',
    reason: "the parts' byte counts were not readable here: fileBytes is the tensor bytes plus the 64 MiB header allowance per part (an upper bound)",
  },
  provenance: {
    'layers, embeddingLength, headCount, kvHeads, trainedContext, vocabSize': 'Llama 3.3 70B config as oumi-ai configs/recipes/llama3_3/README.md tables it (vocab 128256, hidden 8192, MLP 28672, 80 layers, 64 heads, 8 KV heads, untied embeddings, 131072 context)',
    headDim: 'hidden 8192 / 64 heads (llama.rope.dimension_count 128)',
    'architecture, quantization, tensorTypes, tokenEmbedding, parameters':
      "read by model:add from a header of this shape (tools/test-model/shaped.ts follows llama.cpp's src/models/llama.cpp tensor list: every matrix Q6_K, norms and the 64 rope_freqs factors of Llama 3.1+ F32)",
    'tensor bytes cross-check': 'bartowski/Llama-3.3-70B-Instruct-GGUF lists its Q6_K split at ~57.9 GB in public model tables: the 57,880,281,344 tensor bytes here',
    'sha256, parts[k].sha256':
      'knownBlobs of a public Go blob server (Google LLC, 2025) for https://huggingface.co/unsloth/Llama-3.3-70B-Instruct-GGUF/resolve/main/Llama-3.3-70B-Instruct-Q6_K/<part>, noted there as the x-linked-etag of a HEAD request',
    fileBytes: 'tensor bytes 57,880,281,344 + 2 x 67,108,864 (headerAllowanceBytes per part)',
  },
  reference: 'https://huggingface.co/unsloth/Llama-3.3-70B-Instruct-GGUF',
};
