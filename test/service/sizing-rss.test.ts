import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { estimateMemory, runtimeOverheadBytes } from '../../charts/sizing/memory.js';
import type { ModelSpec } from '../../charts/models/types.js';
import { buildEntry } from '../../tools/model-add/entry.js';
import { inspectModel } from '../../tools/model-add/inspect.js';
import { ensureTestModel, type TestModelShape } from '../../tools/test-model/make-test-model.js';
import { repoRoot } from './helpers.js';

/**
 * Measured resident memory of generated models of several shapes and contexts, loaded by node-llama-cpp
 * on the CPU in a child process, against our estimate (charts/sizing/memory.ts) term by term:
 *
 * - weights: loading adds at least the whole file (llama.cpp maps and touches every page) plus a term our
 *   formula leaves to the 512 MiB runtime share: llama.cpp's vocabulary and node-llama-cpp's tokenizer
 *   structures for the 152k-token Qwen2 vocabulary (~130-150 MB here, whatever the model's size);
 * - KV cache: creating the context and evaluating adds the KV cache within 10 % (+16 MiB for the compute
 *   buffers llama.cpp reserves);
 * - logits: llama.cpp reserves vocab x batch x 4 bytes, but generation writes only the rows of the tokens
 *   it samples, so few of those pages become resident: the term is a reserve, not a measurement;
 * - and the whole pod request (weights + KV + logits + runtime) holds the measured RSS of the process.
 */
const execFileAsync = promisify(execFile);
const tsx = path.join(repoRoot, 'node_modules', '.bin', 'tsx');
const probe = path.join(repoRoot, 'test', 'support', 'rss-probe.ts');

interface Probe {
  baseline: number;
  afterLoad: number;
  afterContext: number;
  afterEval: number;
  theirsModel: number;
  theirsContext: number;
}

const shapes: Array<{ shape: TestModelShape; contextSize: number; parallel: number }> = [
  { shape: 'tiny', contextSize: 1024, parallel: 1 },
  { shape: 'kv-heavy', contextSize: 4096, parallel: 2 },
  { shape: 'kv-heavy', contextSize: 16_384, parallel: 2 },
];
const batchSize = 512;
const MiB = 2 ** 20;
const mb = (b: number): string => `${(b / 1e6).toFixed(0)} MB`;

/** The catalogue entry model:add writes for a generated model (its own inspection of the local file). */
async function specOf(file: string): Promise<ModelSpec> {
  return buildEntry(await inspectModel({ ref: file }), { id: 'generated', source: `hf:test/repo/${path.basename(file)}`, reference: file });
}

describe('measured RSS after load against the estimate', () => {
  const rows: string[] = [];
  for (const s of shapes) {
    it(`${s.shape} at ${s.contextSize} x ${s.parallel}`, async () => {
      const file = await ensureTestModel({ shape: s.shape });
      const spec = await specOf(file);
      const est = estimateMemory({ model: spec, contextSize: s.contextSize, parallel: s.parallel, batchSize, gpuOffload: false });
      const { stdout } = await execFileAsync(tsx, ['--expose-gc', probe, file, String(s.contextSize), String(s.parallel), String(batchSize)], {
        cwd: repoRoot,
        timeout: 120_000,
        env: { ...process.env, UV_THREADPOOL_SIZE: '1', MALLOC_ARENA_MAX: '2' },
      });
      const m = JSON.parse(stdout.trim().split('\n').pop()!) as Probe;
      const loaded = m.afterLoad - m.baseline;
      const context = m.afterEval - m.afterLoad;
      rows.push(
        `${s.shape} ${s.contextSize}x${s.parallel}: ours weights ${mb(est.weightsBytes)} + KV ${mb(est.kvCacheBytes)} + logits ${mb(est.logitsBytes)} (request ${mb(est.requestBytes)}) | node-llama-cpp model ${mb(m.theirsModel)} + context ${mb(m.theirsContext)} | measured load +${mb(loaded)}, context+eval +${mb(context)}, process RSS ${mb(m.afterEval)}`,
      );
      expect(loaded).toBeGreaterThanOrEqual(est.weightsBytes);
      expect(loaded - est.weightsBytes, 'vocabulary/tokenizer term beyond the file').toBeLessThan(256 * MiB);
      expect(Math.abs(context - est.kvCacheBytes), `KV ${est.kvCacheBytes} vs measured ${context}`).toBeLessThanOrEqual(0.1 * est.kvCacheBytes + 16 * MiB);
      expect(m.afterEval).toBeLessThanOrEqual(est.requestBytes);
      expect(est.runtimeBytes).toBe(runtimeOverheadBytes);
    }, 180_000);
  }
  it('prints the comparison (for the record)', () => {
    process.stdout.write(`${rows.join('\n')}\n`);
    expect(rows.length).toBe(shapes.length);
  });
});
