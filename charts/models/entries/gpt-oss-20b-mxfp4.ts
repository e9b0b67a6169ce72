import type { ModelSpec } from '../types.js';

/**
 * OpenAI gpt-oss-20b, ggml-org's MXFP4 GGUF (one file): a mixture of experts (32 per layer, 4 per token, so
 * 4.2B of its 20.9B parameters run per token while every expert stays mapped), MXFP4 experts and Q8_0 for the
 * other matrices, a 128-token sliding window on every other layer (its KV cache stays small at any context)
 * and the Harmony chat format, which node-llama-cpp 3.21.1 renders with tool calls (`HarmonyChatWrapper`,
 * chosen by the model name and template).
 *
 * The shape and tensor list are what `npm run model:add` reads from a header of this shape
 * (test/charts/fleet-models.test.ts writes it with tools/test-model/shaped.ts from the published config and
 * compares). Unverified in one respect: the hub's byte count could not be read from here, so `fileBytes` is the
 * tensor bytes plus the catalogue's header allowance (an upper bound); the sha256 is the hub's Git LFS id as a
 * public Nix model set pins it (the init container refuses any other file).
 */
export const gptOss20bMxfp4: ModelSpec = {
  id: 'gpt-oss-20b-mxfp4',
  source: 'hf:ggml-org/gpt-oss-20b-GGUF/gpt-oss-20b-mxfp4.gguf',
  sha256: 'be37a636aca0fc1aae0d32325f82f6b4d21495f06823b5fbc1898ae0303e9935',
  fileBytes: 12_163_667_200,
  architecture: 'gpt-oss',
  quantization: 'MXFP4_MOE',
  layers: 24,
  embeddingLength: 2880,
  headCount: 64,
  kvHeads: 8,
  headDim: 64,
  trainedContext: 131_072,
  vocabSize: 201_088,
  parameters: 20_914_757_184,
  tensorTypes: {
    Q8_0: {
      elements: 1_795_276_800,
      bytes: 1_907_481_600,
    },
    F32: {
      elements: 9_182_784,
      bytes: 36_731_136,
    },
    MXFP4: {
      elements: 19_110_297_600,
      bytes: 10_152_345_600,
    },
  },
  tokenEmbedding: {
    type: 'Q8_0',
    bytes: 615_329_280,
  },
  slidingWindow: {
    size: 128,
    layers: 12,
  },
  experts: {
    count: 32,
    used: 4,
    activeParameters: 4_193_246_784,
  },
  parts: [{ fileName: 'gpt-oss-20b-mxfp4.gguf', sha256: 'be37a636aca0fc1aae0d32325f82f6b4d21495f06823b5fbc1898ae0303e9935' }],
  header: {
    architecture: 'gpt-oss',
    quantization: 'MXFP4_MOE',
    layers: 24,
    embeddingLength: 2880,
    headCount: 64,
    kvHeads: 8,
    headDim: 64,
    valueLength: 64,
    trainedContext: 131_072,
    vocabSize: 201_088,
    parameters: 20_914_757_184,
  },
  integrity: {
    status: 'unverified',
    reason: "the hub's byte count was not readable here: fileBytes is the tensor bytes plus the 64 MiB header allowance (an upper bound)",
  },
  provenance: {
    'layers, embeddingLength, headCount, kvHeads, headDim, trainedContext, experts': 'openai/gpt-oss-20b config.json as public model inspectors quote it (24 layers, hidden 2880, 64 heads, 8 KV heads, head_dim 64, 32 local experts, 4 per token, sliding_window 128, max_position_embeddings 131072)',
    vocabSize: 'o200k_harmony padded to 201088 tokens (the token_embd and output rows of the GGUF)',
    'architecture, quantization, tensorTypes, tokenEmbedding, parameters, slidingWindow, experts.activeParameters':
      "read by model:add from a header of this shape (tools/test-model/shaped.ts follows llama.cpp's src/models/openai-moe.cpp tensor list; MXFP4 experts, Q8_0 matrices, F32 norms, biases, sinks and router as ggml-org's MXFP4 files hold them); sliding-window layers per llama.cpp's default gpt-oss pattern 2 (every even layer)",
    'tensor bytes cross-check':
      'the same layout for the 120b (36 layers, 128 experts) gives 63,374,323,968 bytes (60,438.47 MiB), within 0.03 MiB of the CPU, CUDA_Host and CUDA0 buffers llama.cpp logs for ggml-org/gpt-oss-120b-GGUF (ikawrakow/ik_llama.cpp issue by sayap, 2025-09-28); lmstudio-community/gpt-oss-20b-GGUF lists its gpt-oss-20b-MXFP4.gguf at 12,109,565,632 bytes (an Rllama CLI model table), 13.0 MB above these tensor bytes',
    'sha256, parts[0].sha256':
      'fetchurl hash of https://huggingface.co/ggml-org/gpt-oss-20b-GGUF/resolve/main/gpt-oss-20b-mxfp4.gguf in a public Nix model set (sha256-vjemNqyg/BquDTIyX4L2tNIUlfBoI7X7wYmK4DA+mTU= in hex)',
    fileBytes: 'tensor bytes 12,096,558,336 + 67,108,864 (headerAllowanceBytes, one part)',
  },
  reference: 'https://huggingface.co/ggml-org/gpt-oss-20b-GGUF',
};
