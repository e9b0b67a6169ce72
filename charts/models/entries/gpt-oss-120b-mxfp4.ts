import type { ModelSpec } from '../types.js';

const parts = [
  { fileName: 'gpt-oss-120b-mxfp4-00001-of-00003.gguf', sha256: 'e2865eb6c1df7b2ffbebf305cd5d9074d5ccc0fe3b862f98d343a46dad1606f9' },
  { fileName: 'gpt-oss-120b-mxfp4-00002-of-00003.gguf', sha256: '346492f65891fb27cac5c74a8c07626cbfeb4211cd391ec4de37dbbe3109a93b' },
  { fileName: 'gpt-oss-120b-mxfp4-00003-of-00003.gguf', sha256: '66dca81040933f5a49177e82c479c51319cefb83bd22dad9f06dad45e25f1463' },
];

/**
 * OpenAI gpt-oss-120b, ggml-org's MXFP4 GGUF in three parts: 128 experts per layer, 4 per token (5.8B of
 * 116.8B parameters run per token; every expert is mapped, so memory is the whole 59 GiB), MXFP4 experts, Q8_0
 * for the other matrices, a 128-token sliding window on every other layer and the Harmony chat format
 * (node-llama-cpp 3.21.1 `HarmonyChatWrapper`, tool calls included).
 *
 * The shape and tensor list are what `npm run model:add` reads from a header of this shape
 * (test/charts/fleet-models.test.ts); the tensor bytes agree within 0.03 MiB with the buffers llama.cpp logs
 * when it loads this file. Unverified in one respect: the parts' byte counts could not be read from here, so `fileBytes` is the
 * tensor bytes plus the catalogue's header allowance per part (an upper bound); each part's sha256 is the
 * hub's, as two independent public listings agree on it.
 */
export const gptOss120bMxfp4: ModelSpec = {
  id: 'gpt-oss-120b-mxfp4',
  source: `hf:ggml-org/gpt-oss-120b-GGUF/${parts[0]!.fileName}`,
  sha256: parts.map((p) => p.sha256).join(','),
  fileBytes: 63_575_650_560,
  architecture: 'gpt-oss',
  quantization: 'MXFP4_MOE',
  layers: 36,
  embeddingLength: 2880,
  headCount: 64,
  kvHeads: 8,
  headDim: 64,
  trainedContext: 131_072,
  vocabSize: 201_088,
  parameters: 116_829_156_672,
  tensorTypes: {
    Q8_0: {
      elements: 2_113_781_760,
      bytes: 2_245_893_120,
    },
    F32: {
      elements: 53_589_312,
      bytes: 214_357_248,
    },
    MXFP4: {
      elements: 114_661_785_600,
      bytes: 60_914_073_600,
    },
  },
  tokenEmbedding: {
    type: 'Q8_0',
    bytes: 615_329_280,
  },
  slidingWindow: {
    size: 128,
    layers: 18,
  },
  experts: {
    count: 128,
    used: 4,
    activeParameters: 5_750_551_872,
  },
  parts,
  header: {
    architecture: 'gpt-oss',
    quantization: 'MXFP4_MOE',
    layers: 36,
    embeddingLength: 2880,
    headCount: 64,
    kvHeads: 8,
    headDim: 64,
    valueLength: 64,
    trainedContext: 131_072,
    vocabSize: 201_088,
    parameters: 116_829_156_672,
  },
  integrity: {
    status: 'unverified',
    reason: "the parts' byte counts were not readable here: fileBytes is the tensor bytes plus the 64 MiB header allowance per part (an upper bound)",
  },
  provenance: {
    'layers, embeddingLength, headCount, kvHeads, headDim, trainedContext, experts': 'openai/gpt-oss-120b config.json (36 layers, 128 local experts, 4 per token; hidden 2880, 64 heads, 8 KV heads, head_dim 64, sliding_window 128, max_position_embeddings 131072), the same widths as the 20b',
    vocabSize: 'o200k_harmony padded to 201088 tokens (the token_embd and output rows of the GGUF)',
    'architecture, quantization, tensorTypes, tokenEmbedding, parameters, slidingWindow, experts.activeParameters':
      "read by model:add from a header of this shape (tools/test-model/shaped.ts follows llama.cpp's src/models/openai-moe.cpp tensor list); sliding-window layers per llama.cpp's default gpt-oss pattern 2 (every even layer)",
    'tensor bytes cross-check':
      '63,374,323,968 bytes (60,438.47 MiB), within 0.03 MiB of the CPU (42,065.16), CUDA_Host (586.82) and CUDA0 (17,786.52 MiB) buffers llama.cpp logs loading gpt-oss-120b-mxfp4-00001-of-00003.gguf (ikawrakow/ik_llama.cpp issue by sayap, 2025-09-28)',
    'sha256, parts[k].sha256':
      'per-shard sha256 listed in a public Strix Halo model-stack README, and the same three hashes (base64) as fetchurl hashes of https://huggingface.co/ggml-org/gpt-oss-120b-GGUF/resolve/main/<part> in a public Nix model set',
    'parts (3)': 'file names as public download scripts list them for ggml-org/gpt-oss-120b-GGUF',
    fileBytes: 'tensor bytes 63,374,323,968 + 3 x 67,108,864 (headerAllowanceBytes per part)',
  },
  reference: 'https://huggingface.co/ggml-org/gpt-oss-120b-GGUF',
};
