import { GgmlType, getLlama, LlamaLogLevel, readGgufFileInfo, type Llama, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ggufFacts } from '../../service/model/gguf-facts.js';
import { kvBytesPerCellPerLayer, kvCacheBytes, kvCells, kvCellPad } from '../../service/model/kv-cache.js';
import { ensureTinyGptOss, tinyGptOss } from '../../tools/test-model/gpt-oss.js';

/**
 * What llama.cpp really allocates for a sliding-window model, against service/model/kv-cache.ts: a tiny gpt-oss
 * model is loaded by node-llama-cpp 3.21.1 and llama.cpp's own log lines of its two KV caches
 * (`llama_kv_cache: size = … (N cells, L layers, S/S seqs)`, src/llama-kv-cache.cpp, one per layer kind from
 * src/llama-kv-cache-iswa.cpp) are compared with the formula, cell for cell.
 */
interface LoggedCache {
  readonly cellsPerSequence: number;
  readonly layers: number;
  readonly sequences: number;
}

let llama: Llama;
let model: LlamaModel;
let modelPath: string;
const log: string[] = [];

beforeAll(async () => {
  modelPath = await ensureTinyGptOss();
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.info, logger: (_level, message) => log.push(message) });
  model = await llama.loadModel({ modelPath });
}, 300_000);
afterAll(async () => {
  await model?.dispose();
  await llama?.dispose();
});

/** Creates a context, evaluates a few tokens on one sequence, and returns the non-SWA and SWA caches llama.cpp logged. */
async function allocate(contextSize: number, sequences: number, batchSize: number): Promise<{ full: LoggedCache; swa: LoggedCache }> {
  log.length = 0;
  const context = await model.createContext({ contextSize, sequences, batchSize });
  try {
    const sequence = context.getSequence();
    await sequence.evaluateWithoutGeneratingNewTokens(model.tokenize('The window slides.'));
    let kind: 'full' | 'swa' | undefined;
    const found: Partial<Record<'full' | 'swa', LoggedCache>> = {};
    for (const line of log) {
      if (/creating non-SWA KV cache/.test(line)) kind = 'full';
      else if (/creating\s+SWA KV cache/.test(line)) kind = 'swa';
      const m = /llama_kv_cache: size =.*\(\s*(\d+) cells,\s*(\d+) layers,\s*(\d+)\/\d+ seqs\)/.exec(line);
      if (m && kind) {
        found[kind] = { cellsPerSequence: Number(m[1]), layers: Number(m[2]), sequences: Number(m[3]) };
      }
    }
    if (!found.full || !found.swa) throw new Error(`llama.cpp logged no pair of KV caches:\n${log.join('')}`);
    return { full: found.full, swa: found.swa };
  } finally {
    await context.dispose();
  }
}

describe('the tiny gpt-oss model', () => {
  it('holds MXFP4 experts, and llama.cpp runs them: four tokens generated', async () => {
    const info = await readGgufFileInfo(modelPath, { logWarnings: false });
    const experts = (info.fullTensorInfo ?? []).filter((t) => t.name.endsWith('_exps.weight'));
    expect(experts).toHaveLength(3 * tinyGptOss.layers);
    expect(new Set(experts.map((t) => GgmlType[t.ggmlType]))).toEqual(new Set(['MXFP4']));
    const context = await model.createContext({ contextSize: 256, sequences: 1, batchSize: 64 });
    try {
      const generated: number[] = [];
      for await (const token of context.getSequence().evaluate(model.tokenize('Experts in four bits'), { temperature: 0 })) {
        generated.push(token);
        if (generated.length === 4) break;
      }
      expect(generated).toHaveLength(4);
    } finally {
      await context.dispose();
    }
  }, 120_000);
});

describe('sliding-window KV cache: service/model/kv-cache.ts against llama.cpp', () => {
  const cases = [
    { contextSize: 1024, sequences: 3, batchSize: 128 },
    { contextSize: 2048, sequences: 2, batchSize: 512 },
    { contextSize: 512, sequences: 1, batchSize: 512 },
  ];
  for (const c of cases) {
    it(`${c.contextSize} x ${c.sequences}, batch ${c.batchSize}: every layer kind's cells as llama.cpp allocates them`, async () => {
      const facts = ggufFacts(await readGgufFileInfo(modelPath, { logWarnings: false }));
      expect(facts.slidingWindow).toEqual({ size: tinyGptOss.slidingWindow, layers: tinyGptOss.layers / 2 });
      const inputs = { contextSize: c.contextSize, parallel: c.sequences, batchSize: c.batchSize };
      const ours = kvCells(facts, inputs);
      const logged = await allocate(c.contextSize, c.sequences, c.batchSize);

      // One stream per sequence (node-llama-cpp leaves kv_unified off), each window layer at
      // pad256(min(context, window + batch + 1)) cells.
      expect(logged.full).toEqual({ cellsPerSequence: ours.full / c.sequences, layers: tinyGptOss.layers / 2, sequences: c.sequences });
      expect(logged.swa).toEqual({ cellsPerSequence: ours.swa / c.sequences, layers: tinyGptOss.layers / 2, sequences: c.sequences });
      const perCellLayer = kvBytesPerCellPerLayer(facts);
      const allocated =
        perCellLayer *
        (logged.full.cellsPerSequence * logged.full.sequences * logged.full.layers + logged.swa.cellsPerSequence * logged.swa.sequences * logged.swa.layers);
      expect(kvCacheBytes(facts, inputs)).toBe(allocated);
    }, 120_000);
  }

  it("negative control: a window sized once for all sequences (node-llama-cpp's estimate) undercounts llama.cpp's cells", async () => {
    const c = { contextSize: 1024, sequences: 3, batchSize: 128 };
    const logged = await allocate(c.contextSize, c.sequences, c.batchSize);
    const unified = Math.ceil((c.sequences * tinyGptOss.slidingWindow + c.batchSize + 1) / kvCellPad) * kvCellPad;
    expect(unified).toBe(256);
    expect(logged.swa.cellsPerSequence * logged.swa.sequences).toBe(768);
  }, 120_000);
});
