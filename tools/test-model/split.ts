/**
 * Splits a GGUF file into `<prefix>-0000k-of-0000N.gguf` parts the way llama.cpp's `gguf-split`
 * (`tools/gguf-split/gguf-split.cpp`, `--split-max-tensors`) does, so tests can exercise split models offline:
 *
 * - every part is a complete GGUF file holding a run of consecutive tensors, their offsets relative to
 *   that part's own data section;
 * - every part carries `split.no` (u16, 0-based), `split.count` (u16) and `split.tensors.count` (i32, the
 *   tensors of the whole model); the first part also carries all of the model's metadata;
 * - llama.cpp loads the first part and opens the others by name from the same folder
 *   (`llama_split_path`: `%s-%05d-of-%05d.gguf`).
 *
 * Tensor data is copied byte for byte, so the split model computes exactly what the original does.
 *
 * CLI: `npx tsx tools/test-model/split.ts <model.gguf> <parts> [<out-dir>]` prints the part paths.
 */
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeGgufHeader, gv, readGguf, type GgufMetadata } from './gguf.js';

export interface SplitOptions {
  /** Number of parts (2 or more, at most the tensor count). */
  parts: number;
  /** Folder for the parts; default the source's folder. */
  outDir?: string;
  /** Name prefix; default the source's name without `.gguf`. */
  prefix?: string;
}

const partName = (prefix: string, part: number, parts: number): string =>
  `${prefix}-${String(part).padStart(5, '0')}-of-${String(parts).padStart(5, '0')}.gguf`;

async function copyRange(src: string, start: number, length: number, out: (chunk: Buffer) => Promise<void>): Promise<void> {
  if (length === 0) return;
  const stream = createReadStream(src, { start, end: start + length - 1, highWaterMark: 1 << 20 });
  for await (const chunk of stream) await out(chunk as Buffer);
}

/**
 * Writes the parts (each under a temporary name, renamed when complete) and returns their paths in
 * order. Tensors are dealt out in file order, as evenly as possible by count.
 */
export async function splitGguf(source: string, opts: SplitOptions): Promise<string[]> {
  const file = readGguf(source);
  const n = opts.parts;
  if (!Number.isInteger(n) || n < 2 || n > file.tensors.length) {
    throw new Error(`parts must be an integer from 2 to ${file.tensors.length} (the tensor count), got ${n}`);
  }
  const outDir = resolve(opts.outDir ?? dirname(source));
  const prefix = opts.prefix ?? basename(source).replace(/\.gguf$/i, '');
  await mkdir(outDir, { recursive: true });

  const perPart = Math.ceil(file.tensors.length / n);
  const groups = Array.from({ length: n }, (_, i) => file.tensors.slice(i * perPart, (i + 1) * perPart));
  if (groups.some((g) => g.length === 0)) throw new Error(`${file.tensors.length} tensors cannot fill ${n} parts of ${perPart}`);

  const paths: string[] = [];
  for (const [i, group] of groups.entries()) {
    const splitKeys: GgufMetadata = new Map([
      ['split.no', gv.u16(i)],
      ['split.count', gv.u16(n)],
      ['split.tensors.count', gv.i32(file.tensors.length)],
    ]);
    // Later parts carry only the split keys (and the alignment when it is not GGUF's default 32).
    const rest: GgufMetadata = new Map([...splitKeys, ...(file.alignment === 32 ? [] : ([['general.alignment', gv.u32(file.alignment)]] as const))]);
    const metadata: GgufMetadata = i === 0 ? new Map([...file.metadata, ...splitKeys]) : rest;
    let offset = 0;
    const layout = group.map((t) => {
      const entry = { name: t.name, dims: t.dims, type: t.type, offset };
      offset = Math.ceil((offset + t.byteLength) / file.alignment) * file.alignment;
      return entry;
    });
    const header = encodeGgufHeader(metadata, layout, file.alignment);
    const target = join(outDir, partName(prefix, i + 1, n));
    const tmp = `${target}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      let written = 0;
      const write = async (chunk: Buffer): Promise<void> => {
        await fh.write(chunk, 0, chunk.length, written);
        written += chunk.length;
      };
      await write(header);
      const dataStart = written;
      for (const [k, t] of group.entries()) {
        const want = dataStart + layout[k]!.offset;
        if (written < want) await write(Buffer.alloc(want - written));
        await copyRange(source, file.dataOffset + t.offset, t.byteLength, write);
      }
      const end = dataStart + offset;
      if (written < end) await write(Buffer.alloc(end - written));
      await fh.sync();
    } catch (err) {
      await fh.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    await rename(tmp, target);
    paths.push(target);
  }
  return paths;
}

/** Splits once and reuses the parts when they already exist (tests share one split per source and count). */
export async function ensureSplitGguf(source: string, opts: SplitOptions): Promise<string[]> {
  const outDir = resolve(opts.outDir ?? dirname(source));
  const prefix = opts.prefix ?? basename(source).replace(/\.gguf$/i, '');
  const expected = Array.from({ length: opts.parts }, (_, i) => join(outDir, partName(prefix, i + 1, opts.parts)));
  if (expected.every((p) => existsSync(p))) return expected;
  return splitGguf(source, opts);
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const [src, parts, outDir] = process.argv.slice(2);
  try {
    if (!src || !parts) throw new Error('usage: split.ts <model.gguf> <parts> [<out-dir>]');
    const paths = await splitGguf(src, { parts: Number(parts), ...(outDir ? { outDir } : {}) });
    process.stdout.write(`${paths.join('\n')}\n`);
  } catch (err) {
    process.stderr.write(`split: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
