/**
 * A small GGUF v3 reader and streaming writer.
 *
 * Layout, as described by the GGUF specification (ggml repository, `docs/gguf.md`):
 *
 * ```
 * u32    magic            "GGUF" (0x46554747 read little-endian)
 * u32    version          3
 * u64    tensor_count
 * u64    metadata_kv_count
 * kv[]   metadata         { gguf_string key; u32 value_type; value }
 * info[] tensor infos     { gguf_string name; u32 n_dims; u64 ne[n_dims]; u32 ggml_type; u64 offset }
 * pad    to `general.alignment` (default 32), counted from the start of the file
 * data   tensor data; every tensor starts at a multiple of the alignment, relative to the data start
 * ```
 *
 * A `gguf_string` is a u64 byte length followed by UTF-8 bytes (no terminator). Arrays are
 * `u32 item_type; u64 count; items...` and may nest. All integers are little-endian.
 * Tensor dimensions (`ne`) are listed innermost (fastest-varying) first, as ggml does: a
 * `[rows, cols]` row-major matrix is stored as `ne = [cols, rows]`.
 *
 * Only the tensor types needed by the test-model generator are encodable (F32, F16, Q8_0);
 * the reader understands the header of any GGUF v2/v3 file and decodes F32, F16 and Q8_0 data.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { closeSync, openSync, readSync } from 'node:fs';
import { ggmlBlocks } from '../../service/model/ggml-types.js';

/** Magic number, the bytes "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
/** The version this module writes. The reader also accepts version 2 (same layout). */
export const GGUF_VERSION = 3;
/** Alignment used when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (`gguf_metadata_value_type` in the spec). */
export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** Tensor element types (`ggml_type`); numeric values are fixed by the file format. */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
  NVFP4 = 40,
  Q1_0 = 41,
  Q2_0 = 42,
}

/** Q8_0 block: an f16 scale `d` followed by 32 signed bytes; value = d * q. Sizes from the one ggml table (service/model/ggml-types.ts). */
export const Q8_0_BLOCK_ELEMENTS = ggmlBlocks.Q8_0!.elements;
export const Q8_0_BLOCK_BYTES = ggmlBlocks.Q8_0!.bytes;

/** Number of bytes a tensor of `type` with `nElements` elements occupies (without padding), from ggml's block sizes. */
export function ggmlTensorBytes(type: GgmlType, nElements: number): number {
  const name = GgmlType[type];
  const block = name === undefined ? undefined : ggmlBlocks[name];
  if (block === undefined) throw new Error(`unknown ggml type ${String(type)}`);
  if (nElements % block.elements !== 0) {
    throw new Error(`${name} needs a multiple of ${block.elements} elements, got ${nElements}`);
  }
  return (nElements / block.elements) * block.bytes;
}

/** Product of the dimensions. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------------------------------------
// Metadata values
// ---------------------------------------------------------------------------------------------

/** Value types whose JS representation is `number`. */
export type GgufNumberType =
  | GgufValueType.UINT8
  | GgufValueType.INT8
  | GgufValueType.UINT16
  | GgufValueType.INT16
  | GgufValueType.UINT32
  | GgufValueType.INT32
  | GgufValueType.FLOAT32
  | GgufValueType.FLOAT64;
/** Value types whose JS representation is `bigint` (64-bit integers are kept exact). */
export type GgufBigIntType = GgufValueType.UINT64 | GgufValueType.INT64;

/** The items of a metadata array, typed by the array's item type. Arrays may nest. */
export type GgufArray =
  | { itemType: GgufNumberType; items: number[] }
  | { itemType: GgufBigIntType; items: bigint[] }
  | { itemType: GgufValueType.BOOL; items: boolean[] }
  | { itemType: GgufValueType.STRING; items: string[] }
  | { itemType: GgufValueType.ARRAY; items: GgufArray[] };

/** A typed metadata value. The type is kept so that values can be copied between files unchanged. */
export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigIntType; value: bigint }
  | { type: GgufValueType.BOOL; value: boolean }
  | { type: GgufValueType.STRING; value: string }
  | { type: GgufValueType.ARRAY; value: GgufArray };

/** Ordered key/value metadata (insertion order is the order written to disk). */
export type GgufMetadata = Map<string, GgufValue>;

/** Constructors for typed metadata values. */
export const gv = {
  u8: (value: number): GgufValue => ({ type: GgufValueType.UINT8, value }),
  i8: (value: number): GgufValue => ({ type: GgufValueType.INT8, value }),
  u16: (value: number): GgufValue => ({ type: GgufValueType.UINT16, value }),
  i16: (value: number): GgufValue => ({ type: GgufValueType.INT16, value }),
  u32: (value: number): GgufValue => ({ type: GgufValueType.UINT32, value }),
  i32: (value: number): GgufValue => ({ type: GgufValueType.INT32, value }),
  f32: (value: number): GgufValue => ({ type: GgufValueType.FLOAT32, value }),
  f64: (value: number): GgufValue => ({ type: GgufValueType.FLOAT64, value }),
  u64: (value: bigint | number): GgufValue => ({ type: GgufValueType.UINT64, value: BigInt(value) }),
  i64: (value: bigint | number): GgufValue => ({ type: GgufValueType.INT64, value: BigInt(value) }),
  bool: (value: boolean): GgufValue => ({ type: GgufValueType.BOOL, value }),
  str: (value: string): GgufValue => ({ type: GgufValueType.STRING, value }),
  arr: (value: GgufArray): GgufValue => ({ type: GgufValueType.ARRAY, value }),
} as const;

/** Returns an array metadata value. */
export function metaArray(meta: GgufMetadata, key: string): GgufArray | undefined {
  const v = meta.get(key);
  if (!v) return undefined;
  if (v.type !== GgufValueType.ARRAY) throw new Error(`${key} is a ${GgufValueType[v.type]}, not an array`);
  return v.value;
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

/** One entry of the tensor-info table. */
export interface GgufTensorInfo {
  name: string;
  /** ggml `ne`, innermost dimension first. */
  dims: number[];
  type: GgmlType;
  /** Offset relative to {@link GgufFile.dataOffset}. */
  offset: number;
  /** Size of the tensor data in bytes (without alignment padding). */
  byteLength: number;
}

/** The parsed header of a GGUF file. */
export interface GgufFile {
  version: number;
  metadata: GgufMetadata;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute file offset of the tensor data section. */
  dataOffset: number;
}

/** Reads bytes at absolute positions; returns fewer bytes only at end of input. */
type ReadAt = (position: number, length: number) => Uint8Array;

const utf8 = new TextDecoder('utf-8');

/** Sequential little-endian cursor over a windowed byte source. */
class Cursor {
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  pos = 0;

  constructor(
    private readonly readAt: ReadAt,
    private readonly windowSize: number,
  ) {}

  /**
   * Makes `n` bytes at `pos` available and returns their index in `buf`. May replace `buf` and
   * `view`, so callers must call it before touching either.
   */
  private need(n: number): number {
    let rel = this.pos - this.bufStart;
    if (rel < 0 || rel + n > this.buf.length) {
      const chunk = this.readAt(this.pos, Math.max(n, this.windowSize));
      if (chunk.length < n) throw new Error(`GGUF: unexpected end of file at byte ${this.pos} (wanted ${n})`);
      this.buf = chunk;
      this.view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      this.bufStart = this.pos;
      rel = 0;
    }
    this.pos += n;
    return rel;
  }

  u8(): number {
    const at = this.need(1);
    return this.view.getUint8(at);
  }
  i8(): number {
    const at = this.need(1);
    return this.view.getInt8(at);
  }
  u16(): number {
    const at = this.need(2);
    return this.view.getUint16(at, true);
  }
  i16(): number {
    const at = this.need(2);
    return this.view.getInt16(at, true);
  }
  u32(): number {
    const at = this.need(4);
    return this.view.getUint32(at, true);
  }
  i32(): number {
    const at = this.need(4);
    return this.view.getInt32(at, true);
  }
  f32(): number {
    const at = this.need(4);
    return this.view.getFloat32(at, true);
  }
  f64(): number {
    const at = this.need(8);
    return this.view.getFloat64(at, true);
  }
  u64(): bigint {
    const at = this.need(8);
    return this.view.getBigUint64(at, true);
  }
  i64(): bigint {
    const at = this.need(8);
    return this.view.getBigInt64(at, true);
  }

  /** A u64 that must fit a JS number (lengths, counts, offsets). */
  size(what: string): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`GGUF: ${what} ${v} is too large`);
    return Number(v);
  }

  string(): string {
    const len = this.size('string length');
    const at = this.need(len);
    return utf8.decode(this.buf.subarray(at, at + len));
  }
}

function readNumber(c: Cursor, type: GgufNumberType): number {
  switch (type) {
    case GgufValueType.UINT8:
      return c.u8();
    case GgufValueType.INT8:
      return c.i8();
    case GgufValueType.UINT16:
      return c.u16();
    case GgufValueType.INT16:
      return c.i16();
    case GgufValueType.UINT32:
      return c.u32();
    case GgufValueType.INT32:
      return c.i32();
    case GgufValueType.FLOAT32:
      return c.f32();
    case GgufValueType.FLOAT64:
      return c.f64();
  }
}

function isNumberType(t: GgufValueType): t is GgufNumberType {
  return t <= GgufValueType.FLOAT32 || t === GgufValueType.FLOAT64;
}

function checkValueType(t: number): GgufValueType {
  if (!Number.isInteger(t) || t < 0 || t > GgufValueType.FLOAT64) throw new Error(`GGUF: unknown value type ${t}`);
  return t as GgufValueType;
}

function readArray(c: Cursor): GgufArray {
  const itemType = checkValueType(c.u32());
  const count = c.size('array length');
  if (isNumberType(itemType)) {
    const items = new Array<number>(count);
    for (let i = 0; i < count; i++) items[i] = readNumber(c, itemType);
    return { itemType, items };
  }
  switch (itemType) {
    case GgufValueType.UINT64:
    case GgufValueType.INT64: {
      const items = new Array<bigint>(count);
      for (let i = 0; i < count; i++) items[i] = itemType === GgufValueType.UINT64 ? c.u64() : c.i64();
      return { itemType, items };
    }
    case GgufValueType.BOOL: {
      const items = new Array<boolean>(count);
      for (let i = 0; i < count; i++) items[i] = c.u8() !== 0;
      return { itemType, items };
    }
    case GgufValueType.STRING: {
      const items = new Array<string>(count);
      for (let i = 0; i < count; i++) items[i] = c.string();
      return { itemType, items };
    }
    case GgufValueType.ARRAY: {
      const items = new Array<GgufArray>(count);
      for (let i = 0; i < count; i++) items[i] = readArray(c);
      return { itemType, items };
    }
    default:
      throw new Error(`GGUF: unknown array item type ${String(itemType)}`);
  }
}

function readValue(c: Cursor, type: GgufValueType): GgufValue {
  if (isNumberType(type)) return { type, value: readNumber(c, type) };
  switch (type) {
    case GgufValueType.UINT64:
      return { type, value: c.u64() };
    case GgufValueType.INT64:
      return { type, value: c.i64() };
    case GgufValueType.BOOL:
      return { type, value: c.u8() !== 0 };
    case GgufValueType.STRING:
      return { type, value: c.string() };
    case GgufValueType.ARRAY:
      return { type, value: readArray(c) };
    default:
      throw new Error(`GGUF: unknown value type ${String(type)}`);
  }
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

function parse(readAt: ReadAt, windowSize: number): GgufFile {
  const c = new Cursor(readAt, windowSize);
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) throw new Error(`not a GGUF file (magic 0x${magic.toString(16)})`);
  const version = c.u32();
  if (version !== 2 && version !== 3) throw new Error(`unsupported GGUF version ${version}`);
  const tensorCount = c.size('tensor count');
  const kvCount = c.size('metadata count');

  const metadata: GgufMetadata = new Map();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string();
    const value = readValue(c, checkValueType(c.u32()));
    if (metadata.has(key)) throw new Error(`GGUF: duplicate metadata key ${key}`);
    metadata.set(key, value);
  }

  const alignmentValue = metadata.get('general.alignment');
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignmentValue) {
    if (alignmentValue.type !== GgufValueType.UINT32) throw new Error('GGUF: general.alignment must be a UINT32');
    alignment = alignmentValue.value;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) throw new Error(`GGUF: alignment ${alignment} is not a power of two`);
  }

  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string();
    const nDims = c.u32();
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.size(`dimension of ${name}`));
    const type = c.u32() as GgmlType;
    const offset = c.size(`offset of ${name}`);
    if (offset % alignment !== 0) throw new Error(`GGUF: tensor ${name} offset ${offset} is not aligned to ${alignment}`);
    tensors.push({ name, dims, type, offset, byteLength: ggmlTensorBytes(type, elementCount(dims)) });
  }

  return { version, metadata, tensors, alignment, dataOffset: alignUp(c.pos, alignment) };
}

/**
 * Parses the header (metadata and tensor infos) of a GGUF file or buffer. For a path, only
 * the header bytes are read, in windows of 1 MiB, so this is cheap even for very large files.
 */
export function readGguf(source: string | Uint8Array): GgufFile {
  if (typeof source !== 'string') {
    return parse((pos, len) => source.subarray(pos, pos + len), Number.MAX_SAFE_INTEGER);
  }
  const fd = openSync(source, 'r');
  try {
    return parse((pos, len) => {
      const buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const n = readSync(fd, buf, got, len - got, pos + got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    }, 1 << 20);
  } finally {
    closeSync(fd);
  }
}

/** Reads one tensor's raw bytes from a GGUF file whose header was parsed with {@link readGguf}. */
export async function readTensorBytes(path: string, file: GgufFile, tensor: GgufTensorInfo): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(tensor.byteLength);
    const { bytesRead } = await fh.read(buf, 0, buf.length, file.dataOffset + tensor.offset);
    if (bytesRead !== buf.length) throw new Error(`GGUF: tensor ${tensor.name} is truncated`);
    return buf;
  } finally {
    await fh.close();
  }
}

/** Decodes F32, F16 or Q8_0 tensor bytes to float32 values. */
export function decodeTensor(type: GgmlType, bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case GgmlType.F32: {
      const out = new Float32Array(bytes.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case GgmlType.F16: {
      const out = new Float32Array(bytes.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = f16BitsToF32(view.getUint16(i * 2, true));
      return out;
    }
    case GgmlType.Q8_0: {
      const blocks = bytes.byteLength / Q8_0_BLOCK_BYTES;
      const out = new Float32Array(blocks * Q8_0_BLOCK_ELEMENTS);
      for (let b = 0; b < blocks; b++) {
        const o = b * Q8_0_BLOCK_BYTES;
        const d = f16BitsToF32(view.getUint16(o, true));
        for (let j = 0; j < Q8_0_BLOCK_ELEMENTS; j++) out[b * Q8_0_BLOCK_ELEMENTS + j] = d * view.getInt8(o + 2 + j);
      }
      return out;
    }
    case GgmlType.MXFP4: {
      const blocks = bytes.byteLength / MXFP4_BLOCK_BYTES;
      const out = new Float32Array(blocks * 32);
      for (let b = 0; b < blocks; b++) {
        const o = b * MXFP4_BLOCK_BYTES;
        const d = e8m0ToFp32Half(bytes[o]!);
        for (let j = 0; j < 16; j++) {
          out[b * 32 + j] = MXFP4_VALUES[bytes[o + 1 + j]! & 0xf]! * d;
          out[b * 32 + 16 + j] = MXFP4_VALUES[bytes[o + 1 + j]! >>> 4]! * d;
        }
      }
      return out;
    }
    default:
      throw new Error(`decodeTensor: ${GgmlType[type] ?? type} is not supported`);
  }
}

// ---------------------------------------------------------------------------------------------
// Half precision
// ---------------------------------------------------------------------------------------------

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE-754 binary32 -> binary16 bits, round to nearest even, with subnormals, inf and NaN. */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    let half = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) !== 0)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half++;
  return sign | half;
}

/** IEEE-754 binary16 bits -> number. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

/** Tensor types the writer can encode from float32 input. */
export type GgufWritableType = GgmlType.F32 | GgmlType.F16 | GgmlType.Q8_0 | GgmlType.MXFP4;

/**
 * Tensor contents: a whole array, or a function returning consecutive float32 chunks (of any
 * length) that together hold exactly the tensor's elements, innermost dimension fastest.
 * Chunks are encoded and written as they arrive, so huge tensors never sit in memory at once.
 */
export type GgufTensorData = Float32Array | (() => Iterable<Float32Array> | AsyncIterable<Float32Array>);

export interface GgufTensorToWrite {
  name: string;
  /** ggml `ne`, innermost dimension first. */
  dims: readonly number[];
  type: GgufWritableType;
  data: GgufTensorData;
}

export interface GgufToWrite {
  metadata: GgufMetadata;
  tensors: readonly GgufTensorToWrite[];
}

/** Growable little-endian byte buffer for the header. */
class ByteWriter {
  private buf = Buffer.allocUnsafe(1 << 16);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf.writeUInt8(v, this.length);
    this.length += 1;
  }
  i8(v: number): void {
    this.reserve(1);
    this.buf.writeInt8(v, this.length);
    this.length += 1;
  }
  u16(v: number): void {
    this.reserve(2);
    this.buf.writeUInt16LE(v, this.length);
    this.length += 2;
  }
  i16(v: number): void {
    this.reserve(2);
    this.buf.writeInt16LE(v, this.length);
    this.length += 2;
  }
  u32(v: number): void {
    this.reserve(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }
  i32(v: number): void {
    this.reserve(4);
    this.buf.writeInt32LE(v, this.length);
    this.length += 4;
  }
  f32(v: number): void {
    this.reserve(4);
    this.buf.writeFloatLE(v, this.length);
    this.length += 4;
  }
  f64(v: number): void {
    this.reserve(8);
    this.buf.writeDoubleLE(v, this.length);
    this.length += 8;
  }
  u64(v: bigint | number): void {
    this.reserve(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.length);
    this.length += 8;
  }
  i64(v: bigint): void {
    this.reserve(8);
    this.buf.writeBigInt64LE(v, this.length);
    this.length += 8;
  }

  string(s: string): void {
    const len = Buffer.byteLength(s, 'utf8');
    this.u64(len);
    this.reserve(len);
    this.buf.write(s, this.length, 'utf8');
    this.length += len;
  }

  zeros(n: number): void {
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeNumber(w: ByteWriter, type: GgufNumberType, v: number): void {
  switch (type) {
    case GgufValueType.UINT8:
      return w.u8(v);
    case GgufValueType.INT8:
      return w.i8(v);
    case GgufValueType.UINT16:
      return w.u16(v);
    case GgufValueType.INT16:
      return w.i16(v);
    case GgufValueType.UINT32:
      return w.u32(v);
    case GgufValueType.INT32:
      return w.i32(v);
    case GgufValueType.FLOAT32:
      return w.f32(v);
    case GgufValueType.FLOAT64:
      return w.f64(v);
  }
}

function writeArray(w: ByteWriter, a: GgufArray): void {
  w.u32(a.itemType);
  w.u64(a.items.length);
  switch (a.itemType) {
    case GgufValueType.UINT64:
      for (const v of a.items) w.u64(v);
      return;
    case GgufValueType.INT64:
      for (const v of a.items) w.i64(v);
      return;
    case GgufValueType.BOOL:
      for (const v of a.items) w.u8(v ? 1 : 0);
      return;
    case GgufValueType.STRING:
      for (const v of a.items) w.string(v);
      return;
    case GgufValueType.ARRAY:
      for (const v of a.items) writeArray(w, v);
      return;
    default:
      for (const v of a.items) writeNumber(w, a.itemType, v);
      return;
  }
}

function writeValue(w: ByteWriter, v: GgufValue): void {
  w.u32(v.type);
  switch (v.type) {
    case GgufValueType.UINT64:
      return w.u64(v.value);
    case GgufValueType.INT64:
      return w.i64(v.value);
    case GgufValueType.BOOL:
      return w.u8(v.value ? 1 : 0);
    case GgufValueType.STRING:
      return w.string(v.value);
    case GgufValueType.ARRAY:
      return writeArray(w, v.value);
    default:
      return writeNumber(w, v.type, v.value);
  }
}

/**
 * Encodes float32 values into a tensor type, keeping a partial block (Q8_0, MXFP4: 32 elements) between chunks.
 * Q8_0 follows ggml's reference quantizer: d = max|x| / 127, q = round(x / d) (half away from zero), d stored
 * as f16. MXFP4 follows ggml's `quantize_row_mxfp4_ref` (see quantizeBlockMxfp4).
 */
class TensorEncoder {
  private readonly carry = new Float32Array(Q8_0_BLOCK_ELEMENTS);
  private carryLen = 0;
  written = 0;

  constructor(private readonly type: GgufWritableType) {}

  /** Encodes `src` and returns the bytes (a view into a fresh buffer). */
  encode(src: Float32Array): Uint8Array {
    this.written += src.length;
    switch (this.type) {
      case GgmlType.F32: {
        const out = new Uint8Array(src.length * 4);
        const view = new DataView(out.buffer);
        for (let i = 0; i < src.length; i++) view.setFloat32(i * 4, src[i]!, true);
        return out;
      }
      case GgmlType.F16: {
        const out = new Uint8Array(src.length * 2);
        const view = new DataView(out.buffer);
        for (let i = 0; i < src.length; i++) view.setUint16(i * 2, f32ToF16Bits(src[i]!), true);
        return out;
      }
      case GgmlType.Q8_0:
        return this.encodeBlocks(src, Q8_0_BLOCK_BYTES, quantizeBlockQ8);
      case GgmlType.MXFP4:
        return this.encodeBlocks(src, MXFP4_BLOCK_BYTES, quantizeBlockMxfp4);
    }
  }

  /** Blocks of 32 elements, `blockBytes` each, carrying a partial block over to the next chunk. */
  private encodeBlocks(src: Float32Array, blockBytes: number, quantize: (src: Float32Array, s: number, out: Uint8Array, o: number) => void): Uint8Array {
    let s = 0;
    const total = this.carryLen + src.length;
    const blocks = Math.floor(total / Q8_0_BLOCK_ELEMENTS);
    const out = new Uint8Array(blocks * blockBytes);
    let o = 0;
    if (this.carryLen > 0) {
      const take = Math.min(Q8_0_BLOCK_ELEMENTS - this.carryLen, src.length);
      this.carry.set(src.subarray(0, take), this.carryLen);
      this.carryLen += take;
      s = take;
      if (this.carryLen < Q8_0_BLOCK_ELEMENTS) return out;
      quantize(this.carry, 0, out, 0);
      o = blockBytes;
      this.carryLen = 0;
    }
    for (; s + Q8_0_BLOCK_ELEMENTS <= src.length; s += Q8_0_BLOCK_ELEMENTS, o += blockBytes) {
      quantize(src, s, out, o);
    }
    if (s < src.length) {
      this.carry.set(src.subarray(s), 0);
      this.carryLen = src.length - s;
    }
    return out;
  }

  finish(): void {
    if (this.carryLen !== 0) throw new Error(`${GgmlType[this.type]} tensor length is not a multiple of 32`);
  }
}

/** MXFP4 block: one E8M0 scale byte, then 16 bytes of 4-bit E2M1 codes (from the one ggml table). */
const MXFP4_BLOCK_BYTES = ggmlBlocks.MXFP4!.bytes;
/** ggml's `kvalues_mxfp4` (`kvalues_fp4` in ggml/src/ggml-common.h): E2M1 values doubled. */
const MXFP4_VALUES = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12] as const;

/** ggml's `GGML_E8M0_TO_FP32_HALF`: 2^(e - 128), denormal for e < 2 (ggml/src/ggml-impl.h). */
export function e8m0ToFp32Half(e: number): number {
  return 2 ** (e - 128);
}

/**
 * ggml's `quantize_row_mxfp4_ref` (ggml/src/ggml-quants.c) for one block: e = floor(log2(max|x|)) - 2 + 127 (0 for
 * an all-zero block), d = e8m0ToFp32Half(e), each x the nearest of d x kvalues (first index on a tie); element j
 * in the low nibble of byte j and element j + 16 in its high nibble.
 */
function quantizeBlockMxfp4(src: Float32Array, s: number, out: Uint8Array, o: number): void {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[s + j]!));
  const e = amax > 0 ? Math.floor(Math.log2(amax)) - 2 + 127 : 0;
  const d = e8m0ToFp32Half(e);
  const nearest = (x: number): number => {
    let best = 0;
    let bestErr = Math.abs(MXFP4_VALUES[0] * d - x);
    for (let i = 1; i < 16; i++) {
      const err = Math.abs(MXFP4_VALUES[i]! * d - x);
      if (err < bestErr) {
        best = i;
        bestErr = err;
      }
    }
    return best;
  };
  out[o] = e;
  for (let j = 0; j < 16; j++) out[o + 1 + j] = nearest(src[s + j]!) | (nearest(src[s + 16 + j]!) << 4);
}

function quantizeBlockQ8(src: Float32Array, s: number, out: Uint8Array, o: number): void {
  let amax = 0;
  for (let j = 0; j < Q8_0_BLOCK_ELEMENTS; j++) {
    const a = Math.abs(src[s + j]!);
    if (a > amax) amax = a;
  }
  const d = amax / 127;
  const id = d !== 0 ? 1 / d : 0;
  const h = f32ToF16Bits(d);
  out[o] = h & 0xff;
  out[o + 1] = h >>> 8;
  for (let j = 0; j < Q8_0_BLOCK_ELEMENTS; j++) {
    const x = src[s + j]! * id;
    // Uint8Array stores modulo 256, i.e. the two's complement byte of the int8.
    out[o + 2 + j] = x < 0 ? -Math.round(-x) : Math.round(x);
  }
}

/** Buffers small writes into large sequential ones. */
class BufferedFile {
  private readonly buf: Buffer;
  private used = 0;
  position = 0;

  constructor(
    private readonly fh: FileHandle,
    size = 8 << 20,
  ) {
    this.buf = Buffer.allocUnsafe(size);
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.length >= this.buf.length) {
      await this.flush();
      await this.writeFully(bytes);
      return;
    }
    if (this.used + bytes.length > this.buf.length) await this.flush();
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
    this.position += bytes.length;
  }

  async zeros(n: number): Promise<void> {
    if (n > 0) await this.write(new Uint8Array(n));
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    const pending = this.buf.subarray(0, this.used);
    this.used = 0;
    await this.writeAll(pending);
  }

  private async writeFully(bytes: Uint8Array): Promise<void> {
    await this.writeAll(bytes);
    this.position += bytes.length;
  }

  private async writeAll(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      const { bytesWritten } = await this.fh.write(bytes, off, bytes.length - off);
      off += bytesWritten;
    }
  }
}

/** Validates tensors and returns each one's byte length and aligned data offset. */
function layoutTensors(tensors: readonly GgufTensorToWrite[], alignment: number): { byteLength: number; offset: number }[] {
  const names = new Set<string>();
  let offset = 0;
  return tensors.map((t) => {
    if (names.has(t.name)) throw new Error(`duplicate tensor name ${t.name}`);
    names.add(t.name);
    if (t.dims.length === 0 || t.dims.length > 4) throw new Error(`${t.name}: ggml tensors have 1 to 4 dimensions`);
    if (!t.dims.every((d) => Number.isSafeInteger(d) && d > 0)) throw new Error(`${t.name}: bad dims ${t.dims.join('x')}`);
    if ((t.type === GgmlType.Q8_0 || t.type === GgmlType.MXFP4) && t.dims[0]! % Q8_0_BLOCK_ELEMENTS !== 0) {
      throw new Error(`${t.name}: ${GgmlType[t.type]} rows (ne[0] = ${t.dims[0]}) must be a multiple of 32`);
    }
    const byteLength = ggmlTensorBytes(t.type, elementCount(t.dims));
    const entry = { byteLength, offset };
    offset = alignUp(offset + byteLength, alignment);
    return entry;
  });
}

/**
 * Writes a GGUF v3 file. The header is built in memory (metadata can be several MB, e.g. a
 * tokenizer); tensor data is streamed chunk by chunk. Each tensor is padded with zeros up to
 * the alignment, including the last one, as ggml's own writer does.
 */
export async function writeGguf(path: string, file: GgufToWrite): Promise<void> {
  const alignValue = file.metadata.get('general.alignment');
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignValue) {
    if (alignValue.type !== GgufValueType.UINT32) throw new Error('general.alignment must be a UINT32');
    alignment = alignValue.value;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) throw new Error(`alignment ${alignment} is not a power of two`);
  }
  const layout = layoutTensors(file.tensors, alignment);

  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(file.tensors.length);
  w.u64(file.metadata.size);
  for (const [key, value] of file.metadata) {
    w.string(key);
    writeValue(w, value);
  }
  file.tensors.forEach((t, i) => {
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(layout[i]!.offset);
  });
  w.zeros(alignUp(w.length, alignment) - w.length);

  const fh = await open(path, 'w');
  try {
    const out = new BufferedFile(fh);
    await out.write(w.bytes());
    const dataStart = out.position;
    for (const [i, t] of file.tensors.entries()) {
      const { offset, byteLength } = layout[i]!;
      if (out.position - dataStart !== offset) throw new Error(`internal: ${t.name} at ${out.position - dataStart}, expected ${offset}`);
      const enc = new TensorEncoder(t.type);
      let bytes = 0;
      const chunks = t.data instanceof Float32Array ? [t.data] : t.data();
      for await (const chunk of chunks) {
        const encoded = enc.encode(chunk);
        bytes += encoded.length;
        await out.write(encoded);
      }
      enc.finish();
      const expected = elementCount(t.dims);
      if (enc.written !== expected || bytes !== byteLength) {
        throw new Error(`${t.name}: got ${enc.written} elements, expected ${expected}`);
      }
      await out.zeros(alignUp(byteLength, alignment) - byteLength);
    }
    await out.flush();
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Encodes a GGUF v3 header (magic, counts, metadata, tensor infos, padding to `alignment`) for tensors
 * whose data the caller writes itself at the given offsets (relative to the data section), e.g. raw
 * bytes copied from another file.
 */
export function encodeGgufHeader(
  metadata: GgufMetadata,
  tensors: readonly { name: string; dims: readonly number[]; type: GgmlType; offset: number }[],
  alignment: number,
): Buffer {
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(metadata.size);
  for (const [key, value] of metadata) {
    w.string(key);
    writeValue(w, value);
  }
  for (const t of tensors) {
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(t.offset);
  }
  w.zeros(alignUp(w.length, alignment) - w.length);
  return Buffer.from(w.bytes());
}
