/**
 * The load-time check: once llama.cpp has mapped the weights and before it allocates the context (the KV
 * cache and compute buffers, anonymous memory the kernel cannot reclaim), compare what this model needs with
 * what the container was given, and refuse with one line giving both figures and the fix, instead of an OOM kill
 * in the middle of the load that restarts into the same kill (a crash loop that looks like a flaky pod).
 *
 *   need = weights + KV cache
 *   weights = every part of the file on CPU (llama.cpp maps and touches every page, and the page cache of
 *             a mapped file counts against the cgroup); only the token-embedding table with GPU layers
 *   KV cache = service/model/kv-cache.ts for CONTEXT_SIZE x PARALLEL (the charts size memory with the same
 *              formula, plus output buffers and a runtime share, so a pod sized by them always passes)
 *
 * Facts come from the file's own header as node-llama-cpp read it to load the model (`LlamaModel.fileInfo`,
 * so the check adds no second read of the header), through service/model/gguf-facts.ts; the limit comes from
 * the cgroup (service/runtime/memory-limit.ts). A CONTEXT_SIZE above the trained context is refused too.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { GgufFileInfo } from 'node-llama-cpp';
import type { Logger } from 'pino';
import { envVars } from '../contract.js';
import { ggufFacts, truncationReason } from '../model/gguf-facts.js';
import { kvCacheBytes } from '../model/kv-cache.js';
import { allPartNames } from '../model/split-name.js';
import { readMemoryLimit, type MemoryLimit } from '../runtime/memory-limit.js';
import { ModelLoadError } from './errors.js';

export interface MemoryFitInputs {
  /** The GGUF file (the first part of a split model). */
  readonly modelPath: string;
  /** Its header, as node-llama-cpp read it (every part spliced). */
  readonly fileInfo: GgufFileInfo;
  readonly contextSize: number;
  readonly parallel: number;
  /** llama.cpp batch size; sizes the sliding-window cache. */
  readonly batchSize: number;
  readonly gpuLayers: number | 'auto' | 'max';
  readonly log: Logger;
  /** Default: the cgroup limit of this process. Tests pass a fake cgroup tree. */
  readonly readLimit?: () => Promise<MemoryLimit>;
}

export interface MemoryFit {
  readonly weightsBytes: number;
  readonly kvCacheBytes: number;
  readonly needBytes: number;
  readonly limitBytes: number | undefined;
  readonly trainedContext: number;
}

/** The model does not fit the container (or the context exceeds the trained one). */
export class MemoryFitError extends ModelLoadError {
  override name = 'MemoryFitError';
}

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
/** The smallest memory limit a fix can name: need, rounded up to 128 MiB like the charts round requests. */
const suggest = (bytes: number): string => `${Math.ceil(bytes / 2 ** 27) * 128}Mi`;

/**
 * Returns the figures when the model fits (undefined when the header lacks what the check needs); throws
 * MemoryFitError with one line when it cannot fit.
 */
export async function checkMemoryFit(inputs: MemoryFitInputs): Promise<MemoryFit | undefined> {
  const { modelPath, contextSize, parallel, batchSize, gpuLayers, log } = inputs;
  const info = inputs.fileInfo;
  const partPaths = allPartNames(path.basename(modelPath)).map((n) => path.join(path.dirname(modelPath), n));
  let partBytes: number[];
  try {
    partBytes = await Promise.all(partPaths.map(async (p) => (await stat(p)).size));
  } catch (err) {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'cannot stat every part of the model for the memory check');
    return undefined;
  }
  // A truncated file is llama.cpp's to report (with its own words); its sizes would mislead here.
  if (truncationReason(info, partBytes) !== undefined) return undefined;
  let facts;
  try {
    facts = ggufFacts(info);
  } catch {
    return undefined;
  }

  if (contextSize > facts.trainedContext) {
    throw new MemoryFitError(
      `${envVars.contextSize}=${contextSize} exceeds the ${facts.trainedContext}-token context ${path.basename(modelPath)} was trained for: beyond it the model degrades into nonsense; set ${envVars.contextSize} to at most ${facts.trainedContext}`,
    );
  }

  const onGpu = gpuLayers !== 0;
  const fileBytes = partBytes.reduce((a, b) => a + b, 0);
  const weightsBytes = onGpu ? (facts.tokenEmbedding?.bytes ?? 0) : fileBytes;
  const kv = onGpu ? 0 : kvCacheBytes(facts, { contextSize, parallel, batchSize });
  const needBytes = weightsBytes + kv;
  const limit = await (inputs.readLimit ?? (() => readMemoryLimit()))();
  const fit: MemoryFit = { weightsBytes, kvCacheBytes: kv, needBytes, limitBytes: limit.bytes, trainedContext: facts.trainedContext };
  if (limit.bytes === undefined) {
    log.info({ needBytes, weightsBytes, kvCacheBytes: kv }, 'no container memory limit found: the memory check is skipped');
    return fit;
  }
  if (needBytes > limit.bytes) {
    const what = onGpu
      ? `host-resident token embeddings ${gib(weightsBytes)} (the rest is offloaded)`
      : `weights ${gib(weightsBytes)}${partPaths.length > 1 ? ` in ${partPaths.length} parts` : ''} + KV cache ${gib(kv)} for ${envVars.contextSize} ${contextSize} x ${envVars.parallel} ${parallel}`;
    throw new MemoryFitError(
      `${path.basename(modelPath)} needs ${gib(needBytes)} (${what}) but the container memory limit is ${gib(limit.bytes)} (${limit.file ?? limit.source}): it would be OOM-killed while loading. Raise the memory limit to at least ${suggest(needBytes)} plus runtime headroom (the charts size it from the catalogue entry), or lower ${envVars.contextSize} / ${envVars.parallel}`,
    );
  }
  log.info(
    { needBytes, weightsBytes, kvCacheBytes: kv, limitBytes: limit.bytes, headroomBytes: limit.bytes - needBytes },
    `memory check passed: the model needs ${gib(needBytes)} of the ${gib(limit.bytes)} limit`,
  );
  return fit;
}
