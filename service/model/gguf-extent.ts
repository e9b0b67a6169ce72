/**
 * "Is this GGUF file complete?" from its own header: the tensor data must extend no further than the file.
 *
 * A GGUF file is a header followed by the aligned tensor data (GGUF spec, ggml `docs/gguf.md`):
 *
 * ```
 * u32 magic "GGUF", u32 version (2 or 3), u64 tensor_count, u64 metadata_kv_count
 * kv[]   { string key; u32 value_type; value }          string = u64 length + bytes
 * info[] { string name; u32 n_dims; u64 ne[n_dims]; u32 ggml_type; u64 offset }
 * pad to general.alignment (default 32); tensor data; each tensor at data_start + offset
 * ```
 *
 * The byte size of a tensor is `elements / blockSize * typeSize`, with the per-type block and type sizes
 * of llama.cpp's gguf-py (`gguf-py/gguf/constants.py`, GGML_QUANT_SIZES). A download cut short, or a
 * server that sent half the file with a matching Content-Length, ends before the last tensor's data does:
 * that is caught here in milliseconds, reading only the header. The parser is our own and bounded (every
 * read is checked against the file size) because node-llama-cpp's `readGgufFileInfo` waits forever on a
 * file that ends inside its header.
 */
import type { FileHandle } from 'node:fs/promises';
import { openNoFollow } from './files.js';

/** [elements per block, bytes per block] by ggml type number (gguf-py GGML_QUANT_SIZES, QK_K = 256). */
const blockLayout: Readonly<Record<number, readonly [number, number]>> = {
  0: [1, 4], // F32
  1: [1, 2], // F16
  2: [32, 18], // Q4_0
  3: [32, 20], // Q4_1
  6: [32, 22], // Q5_0
  7: [32, 24], // Q5_1
  8: [32, 34], // Q8_0
  9: [32, 40], // Q8_1
  10: [256, 84], // Q2_K
  11: [256, 110], // Q3_K
  12: [256, 144], // Q4_K
  13: [256, 176], // Q5_K
  14: [256, 210], // Q6_K
  15: [256, 292], // Q8_K
  16: [256, 66], // IQ2_XXS
  17: [256, 74], // IQ2_XS
  18: [256, 98], // IQ3_XXS
  19: [256, 50], // IQ1_S
  20: [32, 18], // IQ4_NL
  21: [256, 110], // IQ3_S
  22: [256, 82], // IQ2_S
  23: [256, 136], // IQ4_XS
  24: [1, 1], // I8
  25: [1, 2], // I16
  26: [1, 4], // I32
  27: [1, 8], // I64
  28: [1, 8], // F64
  29: [256, 56], // IQ1_M
  30: [1, 2], // BF16
  34: [256, 54], // TQ1_0
  35: [256, 66], // TQ2_0
  39: [32, 17], // MXFP4
  40: [64, 36], // NVFP4
  41: [128, 18], // Q1_0
  42: [64, 18], // Q2_0
};

/** Bytes of a tensor's data, or undefined for a ggml type this table does not know. */
export function tensorDataBytes(tensor: { dimensions: readonly (number | bigint)[]; ggmlType: number }): number | undefined {
  const layout = blockLayout[tensor.ggmlType];
  if (layout === undefined) return undefined;
  const elements = tensor.dimensions.reduce<number>((n, d) => n * Number(d), 1);
  return Math.ceil(elements / layout[0]) * layout[1];
}

class HeaderTruncated extends Error {}
class NeedMoreBytes extends Error {}

/** Little-endian reads over the first bytes of a file; past the buffer: NeedMoreBytes, past the file: HeaderTruncated. */
class HeaderReader {
  pos = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly fileSize: number,
  ) {}

  private take(n: number): number {
    const at = this.pos;
    if (at + n > this.fileSize) throw new HeaderTruncated();
    if (at + n > this.buf.length) throw new NeedMoreBytes();
    this.pos += n;
    return at;
  }

  u32(): number {
    return this.buf.readUInt32LE(this.take(4));
  }

  u64(): number {
    const v = this.buf.readBigUInt64LE(this.take(8));
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('a 64-bit size in the header is implausibly large');
    return Number(v);
  }

  skip(n: number): void {
    if (this.pos + n > this.fileSize) throw new HeaderTruncated();
    this.pos += n;
  }

  string(): string {
    const n = this.u64();
    const at = this.take(n);
    return this.buf.toString('utf8', at, at + n);
  }
}

/** Byte width of the fixed-size metadata value types (GGUF spec `gguf_metadata_value_type`). */
const scalarBytes: Readonly<Record<number, number>> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

function skipValue(r: HeaderReader, type: number, depth = 0): void {
  const width = scalarBytes[type];
  if (width !== undefined) return r.skip(width);
  if (type === STRING) return r.skip(r.u64());
  if (type === ARRAY && depth < 4) {
    const itemType = r.u32();
    const count = r.u64();
    const itemWidth = scalarBytes[itemType];
    if (itemWidth !== undefined) return r.skip(count * itemWidth);
    for (let i = 0; i < count; i++) skipValue(r, itemType, depth + 1);
    return;
  }
  throw new Error(`unknown metadata value type ${type}`);
}

interface HeaderTensor {
  dimensions: number[];
  ggmlType: number;
  offset: number;
}

/** Parses the header: tensor infos, alignment and where the data section starts. */
function readHeader(r: HeaderReader): { tensors: HeaderTensor[]; dataStart: number } {
  if (r.u32() !== 0x46554747) throw new Error('no GGUF magic');
  const version = r.u32();
  if (version !== 2 && version !== 3) throw new Error(`unsupported GGUF version ${version}`);
  const tensorCount = r.u64();
  const kvCount = r.u64();
  let alignment = 32;
  for (let i = 0; i < kvCount; i++) {
    const key = r.string();
    const type = r.u32();
    if (key === 'general.alignment' && type === 4) {
      alignment = r.u32();
      if (alignment === 0) throw new Error('general.alignment is 0');
    } else {
      skipValue(r, type);
    }
  }
  const tensors: HeaderTensor[] = [];
  for (let i = 0; i < tensorCount; i++) {
    r.string();
    const nDims = r.u32();
    if (nDims > 8) throw new Error(`a tensor with ${nDims} dimensions`);
    const dimensions: number[] = [];
    for (let d = 0; d < nDims; d++) dimensions.push(r.u64());
    const ggmlType = r.u32();
    const offset = r.u64();
    tensors.push({ dimensions, ggmlType, offset });
  }
  const dataStart = Math.ceil(r.pos / alignment) * alignment;
  return { tensors, dataStart };
}

/** Reads the header from the start of the file, with a window of 8 MiB grown 4x while it is too small. */
async function readHeaderOf(fh: FileHandle, size: number, signal?: AbortSignal): Promise<{ tensors: HeaderTensor[]; dataStart: number }> {
  for (let window = 8 << 20; ; window *= 4) {
    signal?.throwIfAborted();
    const length = Math.min(window, size);
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, 0);
    try {
      return readHeader(new HeaderReader(buf.subarray(0, bytesRead), size));
    } catch (err) {
      if (!(err instanceof NeedMoreBytes) || length >= size || window >= 1 << 30) throw err;
    }
  }
}

export type GgufCompleteness = { ok: true; size: number; dataEnd: number; tensors: number } | { ok: false; size: number; reason: string; dataEnd?: number };

/**
 * Checks that `file` holds all the tensor data its header announces. Tensors of unknown type count with
 * their start offset only (a lower bound), so an unknown type can never make a complete file look short.
 * Reads only the header (tokenizer arrays are skipped over, not decoded). `signal` is checked between reads.
 */
export async function checkGgufComplete(file: string, signal?: AbortSignal): Promise<GgufCompleteness> {
  const fh = await openNoFollow(file);
  try {
    const size = (await fh.stat()).size;
    let header: { tensors: HeaderTensor[]; dataStart: number };
    try {
      header = await readHeaderOf(fh, size, signal);
    } catch (err) {
      signal?.throwIfAborted();
      if (err instanceof HeaderTruncated || err instanceof NeedMoreBytes)
        return { ok: false, size, reason: `the file (${size} bytes) ends inside its GGUF header` };
      return { ok: false, size, reason: `its GGUF header is invalid (${err instanceof Error ? err.message : String(err)})` };
    }
    let dataEnd = header.dataStart;
    for (const t of header.tensors) {
      const end = header.dataStart + t.offset + (tensorDataBytes(t) ?? 0);
      if (end > dataEnd) dataEnd = end;
    }
    if (dataEnd > size) {
      return {
        ok: false,
        size,
        dataEnd,
        reason: `its header places tensor data up to byte ${dataEnd} but the file has ${size} bytes (${dataEnd - size} missing)`,
      };
    }
    return { ok: true, size, dataEnd, tensors: header.tensors.length };
  } finally {
    await fh.close();
  }
}
