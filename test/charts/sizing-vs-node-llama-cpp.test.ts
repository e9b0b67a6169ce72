import { GgmlType, GgufInsights, getLlama, type GgufFileInfo, type Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogueEntries } from '../../charts/models/catalogue.js';
import type { ModelSpec } from '../../charts/models/types.js';
import { attentionShape, estimateMemory } from '../../charts/sizing/memory.js';
import { headerAllowanceBytes } from '../../charts/models/validate.js';
import { ggmlBlocks } from '../../service/model/ggml-types.js';
import { kvBytesPerCellPerLayer, kvCacheBytes, kvCells, kvCellPad, type AttentionShape, type KvCacheInputs } from '../../service/model/kv-cache.js';
import { embeddingBatchSize } from '../../service/contract.js';
import { ggmlTensorBytes as writerTensorBytes, GgmlType as WriterGgmlType } from '../../tools/test-model/gguf.js';

/**
 * Our memory estimate against node-llama-cpp's own (GgufInsights, which models llama.cpp's allocations),
 * for every catalogue entry and for shape variants the catalogue must handle (separate key/value widths,
 * sliding window, mixture of experts, an encoder-only embedding model).
 *
 * node-llama-cpp needs a GGUF header; for an entry we build the header the entry describes (its metadata
 * keys, and one tensor per ggml type holding that type's element total: node-llama-cpp's tensor size is
 * linear in elements, so the sum is the same as over the real tensor list).
 *
 * Tolerances and why:
 * - KV cache: exact. Both implement llama.cpp's cell count, padding and per-layer widths.
 * - Context total (KV + output buffers) vs node-llama-cpp's context estimate without its graph heuristic:
 *   within 64 MiB + 2 %. The difference is llama.cpp's graph node metadata (ggml tensor overhead x nodes),
 *   a few MiB that our fixed 512 MiB runtime share covers.
 * - Weights: our figure is the whole file; node-llama-cpp counts tensor bytes. Ours is larger by the header
 *   (metadata, tokenizer) and never smaller.
 * - Sliding-window layers: node-llama-cpp's estimate gives them `pad256(parallel x window + batch + 1)` cells in
 *   all (a unified cache's size), but llama.cpp, with node-llama-cpp's non-unified cache, allocates
 *   `pad256(min(context, window + batch + 1))` per sequence (`src/llama-kv-cache-iswa.cpp` multiplies the window
 *   by the sequence count only when unified); the test checks that the whole difference is exactly those cells.
 * - Encoder-only embedding models (nomic-bert, bert): the one term that differs on purpose. node-llama-cpp's
 *   heuristic allocates an f16 KV cache for them, but llama.cpp creates none (`llama_model::create_memory`
 *   in src/llama-model.cpp returns no memory for the BERT family), so ours is 0; the test checks that the
 *   whole difference is exactly that KV term.
 */
/** node-llama-cpp counts a KV cache for every architecture; for a cacheless one, the KV it would have. */
const theirKvShape = (model: ModelSpec) => ({ ...attentionShape(model), kvCache: true });
const isCacheless = (model: ModelSpec): boolean => model.embedding?.kvCache === false;
/**
 * KV bytes our sliding-window cells add over node-llama-cpp's estimate of them: (ours - theirs) cells on each
 * sliding-window layer. Theirs is `min(all cells, pad256(parallel x window + batch + 1))` (GgufInsights.js,
 * `swaKvSize`), used only when the window is below the context.
 */
function windowCellsBeyondTheirs(shape: AttentionShape, inputs: KvCacheInputs): number {
  const window = shape.slidingWindow;
  if (window === undefined || window.layers === 0 || window.size >= inputs.contextSize) return 0;
  const { full, swa } = kvCells(shape, inputs);
  const theirs = Math.min(full, Math.ceil((inputs.parallel * window.size + inputs.batchSize + 1) / kvCellPad) * kvCellPad);
  return window.layers * kvBytesPerCellPerLayer(shape) * (swa - theirs);
}
let llama: Llama;
beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
}, 60_000);
afterAll(async () => {
  await llama.dispose();
});

/** The GGUF header a catalogue entry describes, as readGgufFileInfo would return it. */
function headerOf(model: ModelSpec): GgufFileInfo {
  const arch = model.architecture;
  const swaLayers = model.slidingWindow?.layers ?? 0;
  const archMeta = {
    block_count: model.layers,
    embedding_length: model.embeddingLength,
    context_length: model.trainedContext,
    vocab_size: model.vocabSize,
    feed_forward_length: 4 * model.embeddingLength,
    ...(model.experts ? { expert_count: model.experts.count, expert_used_count: model.experts.used } : {}),
    attention: {
      head_count: model.headCount,
      head_count_kv: model.kvHeads,
      key_length: model.headDim,
      value_length: model.valueLength ?? model.headDim,
      ...(model.slidingWindow
        ? { sliding_window: model.slidingWindow.size, sliding_window_pattern: Array.from({ length: model.layers }, (_, i) => i < swaLayers) }
        : {}),
    },
  };
  const tensors = model.tensorTypes
    ? Object.entries(model.tensorTypes).map(([type, t], i) => ({
        name: `synthetic.${type}.weight`,
        dimensions: [t.elements],
        ggmlType: GgmlType[type as keyof typeof GgmlType],
        offset: 0,
        fileOffset: 0,
        filePart: i + 1,
      }))
    : [];
  return {
    version: 3,
    tensorCount: tensors.length,
    metadata: { general: { architecture: arch }, [arch]: archMeta, tokenizer: { ggml: { model: 'gpt2' } } } as never,
    metadataSize: 0,
    architectureMetadata: archMeta as never,
    tensorInfo: tensors,
    fullTensorInfo: tensors,
    splicedParts: 1,
    totalTensorCount: tensors.length,
    totalMetadataSize: 0,
    sourceData: [],
  };
}

/** Shape variants the catalogue supports, built on a real entry. */
function variants(): Array<{ name: string; model: ModelSpec }> {
  const base = catalogueEntries[0]!.model;
  return [
    { name: 'separate key/value widths', model: { ...base, id: 'kv-widths', headDim: 192, valueLength: 128 } },
    { name: 'sliding window on 30 of 36 layers', model: { ...base, id: 'swa', architecture: 'gemma3', slidingWindow: { size: 1024, layers: 30 } } },
    { name: 'mixture of experts', model: { ...base, id: 'moe', architecture: 'qwen3moe', experts: { count: 64, used: 8 } } },
  ];
}

const cases = [
  ...catalogueEntries.map((e) => ({ name: `catalogue ${e.model.id}`, model: e.model })),
  ...variants().map((v) => ({ name: `variant: ${v.name}`, model: v.model })),
];
const contexts = [
  { contextSize: 4096, parallel: 2, batchSize: 512 },
  { contextSize: 16_384, parallel: 4, batchSize: 512 },
];

describe('our memory estimate against node-llama-cpp (GgufInsights)', () => {
  it('covers every catalogue entry', () => {
    expect(cases.length).toBeGreaterThanOrEqual(catalogueEntries.length + 3);
  });

  for (const c of cases) {
    for (const ctx of contexts) {
      const contextSize = Math.min(ctx.contextSize, c.model.trainedContext);
      it(`${c.name}: KV + output buffers close to node-llama-cpp's context estimate at ${contextSize} x ${ctx.parallel}`, async () => {
        const insights = await GgufInsights.from(headerOf(c.model), llama);
        const theirs = insights.estimateContextResourceRequirements({
          contextSize,
          sequences: ctx.parallel,
          batchSize: ctx.batchSize,
          modelGpuLayers: 0,
          includeGraphOverhead: false,
          isEmbeddingContext: c.model.embedding !== undefined,
        });
        const ours = estimateMemory({ model: c.model, contextSize, parallel: ctx.parallel, batchSize: ctx.batchSize, gpuOffload: false });
        // For a cacheless model, add back the KV node-llama-cpp counts and llama.cpp never allocates.
        const phantomKv = isCacheless(c.model) ? kvCacheBytes(theirKvShape(c.model), { contextSize, parallel: ctx.parallel, batchSize: ctx.batchSize }) : 0;
        const windowExtra = windowCellsBeyondTheirs(attentionShape(c.model), { contextSize, parallel: ctx.parallel, batchSize: ctx.batchSize });
        const oursContext = ours.kvCacheBytes + ours.logitsBytes + phantomKv - windowExtra;
        const tolerance = 64 * 2 ** 20 + 0.02 * theirs.cpuRam;
        expect(Math.abs(oursContext - theirs.cpuRam), `ours ${oursContext} vs node-llama-cpp ${theirs.cpuRam}`).toBeLessThanOrEqual(tolerance);
        // Our total request also holds the weights and the runtime share, so it is never below theirs.
        expect(ours.requestBytes).toBeGreaterThan(theirs.cpuRam);
      });
    }
    if (c.model.tensorTypes) {
      it(`${c.name}: weights = the file, at least node-llama-cpp's tensor bytes`, async () => {
        const insights = await GgufInsights.from(headerOf(c.model), llama);
        const theirs = insights.estimateModelResourceRequirements({ gpuLayers: 0, useMmap: false });
        const ours = estimateMemory({ model: c.model, contextSize: 1024, parallel: 1, batchSize: 512, gpuOffload: false });
        expect(ours.weightsBytes).toBeGreaterThanOrEqual(theirs.cpuRam);
        // At most the header allowance per part (inclusive, as charts/models/validate.ts bounds fileBytes: an entry
        // whose hub size is unknown states exactly that upper bound).
        expect(ours.weightsBytes - theirs.cpuRam).toBeLessThanOrEqual(headerAllowanceBytes * (c.model.parts?.length ?? 1));
      });
    }
  }

  it("the KV cache term equals node-llama-cpp's exactly (context estimate difference at two sizes)", async () => {
    // Doubling the context doubles only the KV (and nothing else of the context estimate without graph
    // overhead): the difference of two estimates isolates node-llama-cpp's KV term.
    for (const c of cases) {
      const insights = await GgufInsights.from(headerOf(c.model), llama);
      const at = (contextSize: number): number =>
        insights.estimateContextResourceRequirements({ contextSize, sequences: 2, batchSize: 512, modelGpuLayers: 0, includeGraphOverhead: false }).cpuRam;
      const small = Math.min(2048, c.model.trainedContext / 2);
      const theirs = at(2 * small) - at(small);
      const shape = attentionShape(c.model);
      const ours =
        kvCacheBytes(shape, { contextSize: 2 * small, parallel: 2, batchSize: 512 }) - kvCacheBytes(shape, { contextSize: small, parallel: 2, batchSize: 512 });
      if (isCacheless(c.model)) {
        // Ours is none; theirs is exactly the f16 KV a cached model of this shape would take.
        expect(ours).toBe(0);
        const phantom =
          kvCacheBytes(theirKvShape(c.model), { contextSize: 2 * small, parallel: 2, batchSize: 512 }) -
          kvCacheBytes(theirKvShape(c.model), { contextSize: small, parallel: 2, batchSize: 512 });
        expect({ model: c.name, kv: phantom }).toEqual({ model: c.name, kv: theirs });
      } else {
        const extra =
          windowCellsBeyondTheirs(shape, { contextSize: 2 * small, parallel: 2, batchSize: 512 }) -
          windowCellsBeyondTheirs(shape, { contextSize: small, parallel: 2, batchSize: 512 });
        expect({ model: c.name, kv: ours - extra }).toEqual({ model: c.name, kv: theirs });
      }
    }
  });
});

describe('an embedding service at its own batch (BATCH_SIZE = CONTEXT_SIZE)', () => {
  // The batch the plan gives an embedding service holds a whole input, so llama.cpp's compute graph holds the
  // attention scores of a full batch; node-llama-cpp's estimate with its graph term (flash attention off, its
  // default for a context the service creates) is what the memory request must cover beside the weights.
  const embeddingModels = catalogueEntries.map((e) => e.model).filter((m) => m.embedding !== undefined);
  it('the catalogue has an embedding model to check', () => {
    expect(embeddingModels.length).toBeGreaterThan(0);
  });
  for (const model of embeddingModels) {
    it(`${model.id}: outputs + attention scratch close to node-llama-cpp's context estimate with its graph`, async () => {
      const insights = await GgufInsights.from(headerOf(model), llama);
      const contextSize = Math.min(4096, model.trainedContext);
      const batchSize = embeddingBatchSize(contextSize);
      const theirs = insights.estimateContextResourceRequirements({
        contextSize,
        sequences: 1,
        batchSize,
        modelGpuLayers: 0,
        includeGraphOverhead: true,
        isEmbeddingContext: true,
        flashAttention: false,
      });
      const ours = estimateMemory({ model, contextSize, parallel: 1, batchSize, gpuOffload: false });
      const phantomKv = isCacheless(model) ? kvCacheBytes(theirKvShape(model), { contextSize, parallel: 1, batchSize }) : 0;
      const oursContext = ours.kvCacheBytes + ours.logitsBytes + ours.attentionScratchBytes + phantomKv;
      expect(ours.attentionScratchBytes).toBeGreaterThan(0);
      expect(Math.abs(oursContext - theirs.cpuRam), `ours ${oursContext} vs node-llama-cpp ${theirs.cpuRam}`).toBeLessThanOrEqual(
        64 * 2 ** 20 + 0.02 * theirs.cpuRam,
      );
    });
  }
});

describe('ggml storage sizes', () => {
  it("match llama.cpp's own type and block sizes for every type in the table", () => {
    const bindings = (
      llama as unknown as { _bindings: { getTypeSizeForGgmlType(t: number): number | undefined; getBlockSizeForGgmlType(t: number): number | undefined } }
    )._bindings;
    for (const [name, block] of Object.entries(ggmlBlocks)) {
      const type = GgmlType[name as keyof typeof GgmlType];
      expect(type, name).toBeTypeOf('number');
      expect({ name, bytes: bindings.getTypeSizeForGgmlType(type), elements: bindings.getBlockSizeForGgmlType(type) }).toEqual({
        name,
        bytes: block.bytes,
        elements: block.elements,
      });
    }
  });

  it('has every type node-llama-cpp 3.21.1 knows except those ggml removed from GGUF files', () => {
    // ggml/include/ggml.h: Q4_2 and Q4_3 "support has been removed", the Q4_0_x_y and IQ4_NL_x_y repacked types
    // "support has been removed from gguf files" (they exist only in memory).
    const removed = new Set(['Q4_2', 'Q4_3', 'Q4_0_4_4', 'Q4_0_4_8', 'Q4_0_8_8', 'IQ4_NL_4_4', 'IQ4_NL_4_8', 'IQ4_NL_8_8']);
    const known = Object.keys(GgmlType).filter((k) => Number.isNaN(Number(k)));
    expect(known.filter((name) => !removed.has(name) && !(name in ggmlBlocks))).toEqual([]);
    expect(Object.keys(ggmlBlocks).filter((name) => !known.includes(name))).toEqual([]);
  });

  it('the test-model writer numbers every type as llama.cpp does, and sizes it from this table', () => {
    // The writer keeps its own GgmlType enum (it writes these ids into files) but no block sizes of its own.
    for (const name of Object.keys(WriterGgmlType).filter((k) => Number.isNaN(Number(k)))) {
      const writerId = WriterGgmlType[name as keyof typeof WriterGgmlType];
      expect({ name, id: writerId }).toEqual({ name, id: GgmlType[name as keyof typeof GgmlType] });
      const block = ggmlBlocks[name];
      expect(block, `${name}: no block size in service/model/ggml-types.ts`).toBeDefined();
      expect({ name, bytes: writerTensorBytes(writerId, block!.elements * 4) }).toEqual({ name, bytes: block!.bytes * 4 });
    }
    expect(() => writerTensorBytes(WriterGgmlType.Q8_0, 33)).toThrow(/multiple of 32/);
  });
});
