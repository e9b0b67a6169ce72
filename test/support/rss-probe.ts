/**
 * Child process of the sizing test: loads one model with node-llama-cpp on the CPU, creates a context,
 * evaluates a few tokens, and prints resident memory (VmRSS, /proc/self/status) at each step with
 * node-llama-cpp's own estimates, as one JSON line. Usage: rss-probe.ts <model> <contextSize> <parallel> <batchSize>
 */
import { readFileSync } from 'node:fs';
import { getLlama, LlamaLogLevel, readGgufFileInfo, GgufInsights } from 'node-llama-cpp';

function rss(): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const [modelPath, ctxArg, parArg, batchArg] = process.argv.slice(2);
const contextSize = Number(ctxArg);
const parallel = Number(parArg);
const batchSize = Number(batchArg);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: 1 });
const insights = await GgufInsights.from(await readGgufFileInfo(modelPath!, { logWarnings: false }), llama);
const theirsModel = await insights.estimateModelResourceRequirementsV2({ gpuLayers: 0 });
const theirsContext = await insights.estimateContextResourceRequirementsV2({
  contextSize,
  sequences: parallel,
  batchSize,
  modelGpuLayers: 0,
  flashAttention: false,
});
global.gc?.();
const baseline = rss();
const model = await llama.loadModel({ modelPath: modelPath!, gpuLayers: 0 });
const afterLoad = rss();
const context = await model.createContext({ contextSize, sequences: parallel, batchSize, threads: 1, flashAttention: false });
const afterContext = rss();
const seq = context.getSequence();
await seq.evaluateWithoutGeneratingNewTokens(model.tokenize('The quick brown fox jumps over the lazy dog. '.repeat(4)));
const afterEval = rss();
process.stdout.write(
  `${JSON.stringify({ baseline, afterLoad, afterContext, afterEval, theirsModel: theirsModel.cpuRam, theirsContext: theirsContext.cpuRam, contextSize: context.contextSize })}\n`,
);
await context.dispose();
await model.dispose();
await llama.dispose();
