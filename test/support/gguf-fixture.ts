/**
 * Small, valid GGUF files for cache tests: a real header (written by tools/test-model's GGUF writer) and
 * one F32 tensor of random values, so node-llama-cpp's header reader and the tensor-extent check see
 * exactly what they would in a real model, without a model's size.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GgmlType, gv, writeGguf } from '../../tools/test-model/gguf.js';

/** A GGUF file of `tensorBytes` (a multiple of 4) of random F32 data plus its header. */
export async function makeGguf(tensorBytes: number, name = 'fixture'): Promise<Buffer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gguf-fixture-'));
  try {
    const file = path.join(dir, 'f.gguf');
    const values = new Float32Array(randomBytes(tensorBytes).buffer.slice(0));
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) values[i] = 0;
    await writeGguf(file, {
      metadata: new Map([
        ['general.architecture', gv.str('llama')],
        ['general.name', gv.str(name)],
      ]),
      tensors: [{ name: 'weights', dims: [tensorBytes / 4], type: GgmlType.F32, data: values }],
    });
    return await readFile(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
