/**
 * Storage size of every ggml tensor type that llama.cpp writes into GGUF files.
 *
 * Facts from ggml's `type_traits` table (`ggml/src/ggml.c`: `blck_size` and `type_size` per type,
 * the block structs in `ggml/src/ggml-common.h`). Names are node-llama-cpp's `GgmlType` enum names, which
 * follow ggml's `GGML_TYPE_*` names. The test suite checks this table against the tensor offsets of
 * generated GGUF files and against the test-model writer's own table.
 */

/** Elements per block and bytes per block. */
export interface GgmlBlock {
  readonly elements: number;
  readonly bytes: number;
}

const QK_K = 256;

/** ggml tensor type name -> block size. The removed Q4_2/Q4_3 and the repacked *_4_4 types are absent: no current file holds them. */
export const ggmlBlocks: Readonly<Record<string, GgmlBlock>> = {
  F32: { elements: 1, bytes: 4 },
  F16: { elements: 1, bytes: 2 },
  BF16: { elements: 1, bytes: 2 },
  F64: { elements: 1, bytes: 8 },
  I8: { elements: 1, bytes: 1 },
  I16: { elements: 1, bytes: 2 },
  I32: { elements: 1, bytes: 4 },
  I64: { elements: 1, bytes: 8 },
  Q4_0: { elements: 32, bytes: 2 + 16 },
  Q4_1: { elements: 32, bytes: 2 + 2 + 16 },
  Q5_0: { elements: 32, bytes: 2 + 4 + 16 },
  Q5_1: { elements: 32, bytes: 2 + 2 + 4 + 16 },
  Q8_0: { elements: 32, bytes: 2 + 32 },
  Q8_1: { elements: 32, bytes: 2 + 2 + 32 },
  Q2_K: { elements: QK_K, bytes: 2 + 2 + QK_K / 16 + QK_K / 4 },
  Q3_K: { elements: QK_K, bytes: 2 + QK_K / 4 + QK_K / 8 + 12 },
  Q4_K: { elements: QK_K, bytes: 2 + 2 + QK_K / 2 + 12 },
  Q5_K: { elements: QK_K, bytes: 2 + 2 + QK_K / 2 + QK_K / 8 + 12 },
  Q6_K: { elements: QK_K, bytes: 2 + QK_K / 2 + QK_K / 4 + QK_K / 16 },
  Q8_K: { elements: QK_K, bytes: 4 + QK_K + QK_K / 8 },
  IQ2_XXS: { elements: QK_K, bytes: 2 + QK_K / 4 },
  IQ2_XS: { elements: QK_K, bytes: 2 + QK_K / 4 + QK_K / 32 },
  IQ2_S: { elements: QK_K, bytes: 2 + QK_K / 4 + QK_K / 16 },
  IQ3_XXS: { elements: QK_K, bytes: 2 + QK_K / 4 + QK_K / 8 },
  IQ3_S: { elements: QK_K, bytes: 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4 },
  IQ1_S: { elements: QK_K, bytes: 2 + QK_K / 8 + QK_K / 16 },
  IQ1_M: { elements: QK_K, bytes: QK_K / 8 + QK_K / 16 + QK_K / 32 },
  IQ4_NL: { elements: 32, bytes: 2 + 16 },
  IQ4_XS: { elements: QK_K, bytes: 2 + 2 + QK_K / 2 + QK_K / 64 },
  TQ1_0: { elements: QK_K, bytes: 2 + 4 * 13 },
  TQ2_0: { elements: QK_K, bytes: 2 + 64 },
  MXFP4: { elements: 32, bytes: 1 + 16 },
  // Four E4M3 scales (one per 16 elements) and 64 packed 4-bit values: block_nvfp4, QK_NVFP4 64.
  NVFP4: { elements: 64, bytes: 4 + 32 },
  Q1_0: { elements: 128, bytes: 2 + 128 / 8 },
  Q2_0: { elements: 64, bytes: 2 + 64 / 4 },
};

/** Bytes a tensor of `type` with `elements` elements occupies; undefined for an unknown type or a partial block. */
export function ggmlTensorBytes(type: string, elements: number): number | undefined {
  const block = ggmlBlocks[type];
  if (block === undefined || elements % block.elements !== 0) return undefined;
  return (elements / block.elements) * block.bytes;
}

/** Bits per weight of one ggml type (e.g. Q4_K: 4.5). */
export function ggmlBitsPerWeight(type: string): number | undefined {
  const block = ggmlBlocks[type];
  return block === undefined ? undefined : (block.bytes * 8) / block.elements;
}
