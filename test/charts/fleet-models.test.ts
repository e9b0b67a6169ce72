import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GgmlType as LlamaCppGgmlType, HarmonyChatWrapper, Llama3_1ChatWrapper, readGgufFileInfo, resolveChatWrapper } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogueEntries } from '../../charts/models/catalogue.js';
import type { ModelSpec } from '../../charts/models/types.js';
import { headerAllowanceBytes, modelParts, validateModelSpec } from '../../charts/models/validate.js';
import { attentionShape, estimateMemory } from '../../charts/sizing/memory.js';
import { ggmlBlocks } from '../../service/model/ggml-types.js';
import { kvCacheBytes } from '../../service/model/kv-cache.js';
import { decodeTensor, GgmlType, gv, readGguf, readTensorBytes, writeGguf } from '../../tools/test-model/gguf.js';
import {
  bundledChatTemplate,
  gptOssModel,
  llamaModel,
  withChatTemplate,
  writeShapedGguf,
  type GptOssShape,
  type ShapedModel,
} from '../../tools/test-model/shaped.js';
import { modelAdd, parseArgs } from '../../tools/model-add/main.js';
import { HubServer } from '../support/hub-server.js';

/**
 * The catalogue entries of the models the fleet names (Llama 3.3 70B, gpt-oss-20b and -120b): each one is what
 * `npm run model:add` reads from a GGUF header of the checkpoint's published shape, and the figures that size
 * them are checked against values computed by hand from llama.cpp's source (node-llama-cpp 3.21.1's bundle).
 */
const repoRoot = resolve(import.meta.dirname, '..', '..');
const work = join(repoRoot, '.cache', `fleet-models-test-${process.pid}`);
const MiB = 2 ** 20;

/** openai/gpt-oss-{20b,120b} config.json widths (the same for both sizes). */
const gptOssWidths: Omit<GptOssShape, 'name' | 'layers' | 'experts'> = {
  expertsUsed: 4,
  embedding: 2880,
  expertWidth: 2880,
  heads: 64,
  kvHeads: 8,
  headDim: 64,
  slidingWindow: 128,
  context: 131_072,
  vocab: 201_088,
  denseType: GgmlType.Q8_0,
};

/** Each fleet entry and the header its published checkpoint has (shape from config.json, types from the quantization). */
const checkpoints: ReadonlyArray<{ readonly id: string; readonly header: ShapedModel }> = [
  { id: 'gpt-oss-20b-mxfp4', header: gptOssModel({ ...gptOssWidths, name: 'Gpt Oss 20b', layers: 24, experts: 32 }) },
  { id: 'gpt-oss-120b-mxfp4', header: gptOssModel({ ...gptOssWidths, name: 'Gpt Oss 120b', layers: 36, experts: 128 }) },
  {
    id: 'llama-3.3-70b-instruct-q6_k',
    header: llamaModel({
      name: 'Llama 3.3 70B Instruct',
      layers: 80,
      embedding: 8192,
      feedForward: 28_672,
      heads: 64,
      kvHeads: 8,
      context: 131_072,
      vocab: 128_256,
      weightType: GgmlType.Q6_K,
      fileType: 18, // LLAMA_FTYPE_MOSTLY_Q6_K
    }),
  },
];

function entry(id: string): ModelSpec {
  const found = catalogueEntries.find((e) => e.model.id === id)?.model;
  if (!found) throw new Error(`no catalogue entry ${id}`);
  return found;
}

const hub = new HubServer();
let savedEndpoint: string | undefined;
beforeAll(async () => {
  mkdirSync(work, { recursive: true });
  await hub.start();
  savedEndpoint = process.env.HF_ENDPOINT;
  process.env.HF_ENDPOINT = hub.base;
});
afterAll(async () => {
  if (savedEndpoint === undefined) delete process.env.HF_ENDPOINT;
  else process.env.HF_ENDPOINT = savedEndpoint;
  await hub.close();
  rmSync(work, { recursive: true, force: true });
});

/** Writes the checkpoint's header as the entry's files, serves them as the hub would, and runs model:add on the entry's source. */
async function modelAddFromHeader(model: ModelSpec, header: ShapedModel): Promise<ModelSpec> {
  const parts = modelParts(model);
  const first = parts[0]!.fileName;
  const dir = join(work, model.id);
  const written = await writeShapedGguf(dir, parts.length > 1 ? first.replace(/-00001-of-\d{5}\.gguf$/, '.gguf') : first, header, parts.length);
  expect(written.map((w) => w.path.split('/').pop())).toEqual(parts.map((p) => p.fileName));
  for (const [i, w] of written.entries()) await hub.addDeclared(w.path, { bytes: w.bytes, sha256: parts[i]!.sha256! });
  const catalogueDir = join(dir, 'catalogue');
  mkdirSync(catalogueDir, { recursive: true });
  const result = await modelAdd(parseArgs([model.source, '--id', model.id, '--catalogue-dir', catalogueDir]));
  return result.entry;
}

describe('model:add reads each fleet entry from a header of its published shape', () => {
  for (const c of checkpoints) {
    it(`${c.id}: shape, tensor types, experts, window and hashes as the header gives them`, async () => {
      const model = entry(c.id);
      const read = await modelAddFromHeader(model, c.header);
      const sizing = (m: ModelSpec) => ({
        source: m.source,
        sha256: m.sha256,
        architecture: m.architecture,
        quantization: m.quantization,
        layers: m.layers,
        embeddingLength: m.embeddingLength,
        headCount: m.headCount,
        kvHeads: m.kvHeads,
        headDim: m.headDim,
        valueLength: m.valueLength,
        trainedContext: m.trainedContext,
        vocabSize: m.vocabSize,
        parameters: m.parameters,
        tensorTypes: m.tensorTypes,
        tokenEmbedding: m.tokenEmbedding,
        slidingWindow: m.slidingWindow,
        experts: m.experts,
      });
      expect(sizing(model)).toEqual(sizing(read));
      const { fileBytes: _readFileBytes, ...readHeader } = read.header ?? {};
      expect(model.header).toEqual(readHeader);
      // The entry's fileBytes is the stated upper bound: the tensor bytes plus the header allowance per part.
      const tensorBytes = Object.values(read.tensorTypes ?? {}).reduce((a, t) => a + t.bytes, 0);
      expect(model.fileBytes).toBe(tensorBytes + headerAllowanceBytes * modelParts(model).length);
      expect(read.fileBytes).toBeGreaterThan(tensorBytes);
      expect(read.fileBytes).toBeLessThanOrEqual(model.fileBytes);
      expect(validateModelSpec(model, `charts/models/entries/${model.id}.ts`)).toEqual([]);
    });
  }

  it('a header that differs from the entry (dense matrices in F16 instead of Q8_0) reads as different tensor types', async () => {
    const model = entry('gpt-oss-20b-mxfp4');
    const f16 = gptOssModel({ ...gptOssWidths, name: 'Gpt Oss 20b', layers: 24, experts: 32, denseType: GgmlType.F16 });
    const read = await modelAddFromHeader({ ...model, id: 'gpt-oss-20b-f16-dense' }, f16);
    expect(read.tensorTypes).not.toEqual(model.tensorTypes);
    expect(read.tensorTypes?.F16?.elements).toBe(model.tensorTypes?.Q8_0?.elements);
  });
});

describe('MXFP4 and mixture-of-experts sizes, computed as llama.cpp computes them', () => {
  it('MXFP4 is ggml type 39 with 32 elements in 17 bytes (an E8M0 scale byte and 16 bytes of 4-bit values)', () => {
    // ggml/include/ggml.h GGML_TYPE_MXFP4 = 39; ggml/src/ggml-common.h block_mxfp4 { uint8_t e; uint8_t qs[QK_MXFP4/2]; }
    // with QK_MXFP4 32; ggml/src/ggml.c type_traits[GGML_TYPE_MXFP4] blck_size QK_MXFP4, type_size sizeof(block_mxfp4).
    expect(LlamaCppGgmlType.MXFP4).toBe(39);
    expect(GgmlType.MXFP4).toBe(39);
    expect(ggmlBlocks.MXFP4).toEqual({ elements: 32, bytes: 1 + 32 / 2 });
  });

  it("the test-model writer encodes MXFP4 as ggml's reference quantizer does", async () => {
    // max |x| = 6 gives e = floor(log2 6) - 2 + 127 = 127 and a half-scale d = 2^(127 - 128) = 0.5, so every
    // doubled E2M1 value times 0.5 (0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives) is exact; 0.6 rounds to 0.5.
    const values = Float32Array.from({ length: 32 }, (_, i) => [6, -3, 0.5, 1.5, -0.6, 2, 4, 0][i % 8]!);
    const file = join(work, 'mxfp4.gguf');
    await writeGguf(file, {
      metadata: new Map([['general.architecture', gv.str('llama')]]),
      tensors: [{ name: 'w', dims: [32], type: GgmlType.MXFP4, data: values }],
    });
    const gguf = readGguf(file);
    const bytes = await readTensorBytes(file, gguf, gguf.tensors[0]!);
    expect(bytes.length).toBe(17);
    expect(bytes[0]).toBe(127);
    // 6 = kvalues[7] (12) x 0.5: code 7 for element 0 in the low nibble and for element 16 in the high nibble.
    expect(bytes[1]).toBe(0x77);
    const expected = Float32Array.from({ length: 32 }, (_, i) => [6, -3, 0.5, 1.5, -0.5, 2, 4, 0][i % 8]!);
    expect(decodeTensor(GgmlType.MXFP4, bytes)).toEqual(expected);
  });

  it('gpt-oss-120b: one expert tensor, the experts of the whole model and every tensor as llama.cpp loads them', () => {
    const model = entry('gpt-oss-120b-mxfp4');
    // blk.N.ffn_gate_exps.weight is {n_embd, n_ff_exp, n_expert} = 2880 x 2880 x 128 (src/models/openai-moe.cpp).
    const oneExpertTensor = 2880 * 2880 * 128;
    expect(oneExpertTensor).toBe(1_061_683_200);
    expect((oneExpertTensor / 32) * 17).toBe(564_019_200);
    // gate, up and down of every one of the 36 layers are MXFP4.
    expect(model.tensorTypes?.MXFP4).toEqual({ elements: 3 * 36 * 1_061_683_200, bytes: 3 * 36 * 564_019_200 });
    // llama.cpp's load log for this file: CPU 42065.16 + CUDA_Host 586.82 + CUDA0 17786.52 MiB of tensor buffers
    // (ikawrakow/ik_llama.cpp issue by sayap, 2025-09-28). The buffers hold every tensor at its backend's
    // allocation size and each figure is rounded to 0.01 MiB, so they may exceed the tensor bytes by a few KiB,
    // never by a tensor: a 2880 x 201088 matrix in a wrong type would move the total by hundreds of MiB.
    const tensorBytes = Object.values(model.tensorTypes ?? {}).reduce((a, t) => a + t.bytes, 0);
    expect(tensorBytes).toBe(63_374_323_968);
    const loggedBytes = (42_065.16 + 586.82 + 17_786.52) * MiB;
    expect(loggedBytes - tensorBytes).toBeGreaterThanOrEqual(0);
    expect(loggedBytes - tensorBytes).toBeLessThan(0.05 * MiB);
    // One token runs 4 of 128 experts: the non-expert parameters plus 4/128 of the expert ones.
    const expertParameters = 3 * 36 * oneExpertTensor;
    expect(model.experts).toEqual({
      count: 128,
      used: 4,
      activeParameters: model.parameters! - expertParameters + (expertParameters * 4) / 128,
    });
  });

  it('a mixture-of-experts model is sized from every expert: memory maps the whole file, not the active share', () => {
    const model = entry('gpt-oss-120b-mxfp4');
    const cpu = estimateMemory({ model, contextSize: 4096, parallel: 1, batchSize: 512, gpuOffload: false });
    expect(cpu.weightsBytes).toBe(model.fileBytes);
    const gpu = estimateMemory({ model, contextSize: 4096, parallel: 1, batchSize: 512, gpuOffload: true });
    expect(gpu.gpuBytes).toBe(model.fileBytes + gpu.kvCacheBytes);
  });
});

describe('the KV cache of alternating sliding-window attention', () => {
  // gpt-oss: 8 KV heads x (64 + 64) x 2 bytes (f16) = 2048 bytes per cell and layer; llama.cpp's default gpt-oss
  // pattern 2 puts the 128-token window on every even layer (src/models/openai-moe.cpp, set_swa_pattern in
  // src/llama-hparams.cpp). Per sequence a window layer holds pad256(min(pad256(context), 128 + batch + 1)) cells
  // (src/llama-kv-cache-iswa.cpp, non-unified as node-llama-cpp leaves it; +1: node-llama-cpp's extra batch token).
  it('gpt-oss-120b at 8192 x 2: 18 full layers of 16384 cells and 18 window layers of 2 x 768', () => {
    const model = entry('gpt-oss-120b-mxfp4');
    expect(model.slidingWindow).toEqual({ size: 128, layers: 18 });
    const bytes = kvCacheBytes(attentionShape(model), { contextSize: 8192, parallel: 2, batchSize: 512 });
    expect(bytes).toBe(2048 * (18 * 2 * 8192 + 18 * 2 * 768));
    expect(bytes).toBe(660_602_880);
    // Negative control: the same model without its window would need every layer at full length.
    const dense = kvCacheBytes({ ...attentionShape(model), slidingWindow: undefined }, { contextSize: 8192, parallel: 2, batchSize: 512 });
    expect(dense).toBe(2048 * 36 * 2 * 8192);
  });

  it('gpt-oss-20b at its full 131072-token context: the window layers stay at 768 cells', () => {
    const model = entry('gpt-oss-20b-mxfp4');
    expect(model.slidingWindow).toEqual({ size: 128, layers: 12 });
    expect(kvCacheBytes(attentionShape(model), { contextSize: 131_072, parallel: 1, batchSize: 512 })).toBe(2048 * (12 * 131_072 + 12 * 768));
  });

  it('a window wider than the context is bounded by the context', () => {
    const model = entry('gpt-oss-20b-mxfp4');
    const shape = { ...attentionShape(model), slidingWindow: { size: 4096, layers: 12 } };
    expect(kvCacheBytes(shape, { contextSize: 1000, parallel: 3, batchSize: 512 })).toBe(2048 * 24 * 3 * 1024);
  });
});

describe('the chat format node-llama-cpp 3.21.1 serves each fleet model with', () => {
  // The service resolves its chat wrapper with node-llama-cpp's resolveChatWrapper (service/inference/loading.ts):
  // a specialized wrapper when it renders the file's own template identically, else a Jinja wrapper. The headers
  // here carry the checkpoints' own templates, as llama.cpp keeps them in models/templates/ of the bundled source.
  const weather = { get_weather: { description: 'Current weather', params: { type: 'object' as const, properties: { city: { type: 'string' as const } } } } };
  const history = [
    { type: 'system' as const, text: 'Answer briefly.' },
    { type: 'user' as const, text: 'Weather in Oslo?' },
    { type: 'model' as const, response: [] },
  ];
  async function wrapperFor(name: string, header: ShapedModel, template: string) {
    const [file] = await writeShapedGguf(join(work, 'chat'), `${name}.gguf`, withChatTemplate(header, template));
    const fileInfo = await readGgufFileInfo(file!.path, { logWarnings: false });
    return resolveChatWrapper({ fileInfo, warningLogs: false });
  }

  it('gpt-oss: its template resolves to the Harmony wrapper, which renders tools and calls on the commentary channel', async () => {
    const wrapper = await wrapperFor('gpt-oss', checkpoints[0]!.header, await bundledChatTemplate('openai-gpt-oss-120b.jinja'));
    expect(wrapper).toBeInstanceOf(HarmonyChatWrapper);
    const text = wrapper!.generateContextState({ chatHistory: history, availableFunctions: weather }).contextText.toString();
    expect(text).toContain('namespace functions {');
    expect(text).toContain('type get_weather = (_: {city: string}) => any;');
    expect(text).toContain("Calls to these tools must go to the commentary channel: 'functions'.");
    const call = wrapper!.generateFunctionCall('get_weather', { city: 'Oslo' }).toString();
    expect(call).toBe('<|start|>assistant<|channel|>commentary to=functions.get_weather<|constrain|>json<|message|>{"city": "Oslo"}<|call|>');
  }, 60_000);

  it('Llama 3.3: its template resolves to the Llama 3.1 wrapper (tools included), not to Harmony', async () => {
    const wrapper = await wrapperFor('llama-3.3', checkpoints[2]!.header, await bundledChatTemplate('meta-llama-Llama-3.3-70B-Instruct.jinja'));
    expect(wrapper).toBeInstanceOf(Llama3_1ChatWrapper);
    const text = wrapper!.generateContextState({ chatHistory: history, availableFunctions: weather }).contextText.toString();
    expect(text).toContain('get_weather');
  }, 60_000);
});
