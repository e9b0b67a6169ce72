/**
 * Loading a GGUF model into llama.cpp: the file check, the llama instance, the weights, then either a chat
 * context of `parallel` sequences or an embedding context, and a load error that says why in one line.
 * The engine (engine.ts) owns the state machine around it; this module only builds and disposes the native
 * objects.
 */
import { open } from 'node:fs/promises';
import {
  InsufficientMemoryError,
  LlamaLogLevel,
  resolveChatWrapper,
  type ChatWrapper,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
} from 'node-llama-cpp';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { EmbeddingRunner } from './embedding.js';
import { ModelLoadError } from './errors.js';
import { acquireLlama, type LlamaLease } from './llama.js';
import type { EngineOptions } from './types.js';

/** The native objects of a loaded model: a chat context with its sequences, or an embedding runner. */
export interface LoadedModel {
  lease: LlamaLease;
  model: LlamaModel;
  chat?: { context: LlamaContext; chatWrapper: ChatWrapper; sequences: LlamaContextSequence[] };
  embedder?: EmbeddingRunner;
}

/** Keep the last native (llama.cpp) warnings/errors of a load attempt to explain a failure. */
const maxLoadLogLines = 8;

/**
 * llama.cpp and node-llama-cpp log lines (warn and above, as configured) go to pino; while a load runs, the
 * last warnings and errors are kept so that a failure can quote them.
 */
export class NativeLog {
  private lines: string[] = [];
  private capturing = false;

  constructor(private readonly log: Logger) {}

  startCapture(): void {
    this.lines = [];
    this.capturing = true;
  }

  stopCapture(): void {
    this.capturing = false;
  }

  /** The distinct lines kept during the last load, joined. */
  captured(): string {
    return [...new Set(this.lines)].join(' | ');
  }

  readonly onLog = (level: LlamaLogLevel, message: string): void => {
    const text = message.trim();
    if (text === '') return;
    if (this.capturing && (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal || level === LlamaLogLevel.warn)) {
      this.lines.push(text);
      if (this.lines.length > maxLoadLogLines) this.lines.shift();
    }
    if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) this.log.error({ source: 'llama.cpp' }, text);
    else if (level === LlamaLogLevel.warn) this.log.warn({ source: 'llama.cpp' }, text);
    else this.log.debug({ source: 'llama.cpp' }, text);
  };
}

export interface LoadRequest {
  opts: EngineOptions;
  modelPath: string;
  signal: AbortSignal;
  nativeLog: NativeLog;
  /** Weights progress, 0..1 (node-llama-cpp's `onLoadProgress`). */
  onProgress: (progress: number) => void;
  /** The model id for log lines. */
  modelId: string;
  /** Receives each native object as soon as it exists, so a failed or aborted load can dispose it. */
  onPartial: (loaded: Partial<LoadedModel>) => void;
}

const aborted = () => new ModelLoadError('Model load aborted: the engine is closing');

/** Loads the model and its context; throws on failure (the caller turns it into a ModelLoadError with `loadError`). */
export async function loadModel(req: LoadRequest): Promise<LoadedModel> {
  const { opts, modelPath, signal, nativeLog, modelId } = req;
  const { threads, contextSize, parallel, gpuLayers, batchSize } = opts;
  const t0 = performance.now();
  await checkGgufFile(modelPath);
  const lease = await acquireLlama({ gpu: gpuLayers === 0 ? false : 'auto', maxThreads: threads, onLog: nativeLog.onLog });
  req.onPartial({ lease });
  const llama = lease.llama;
  // GPU_LAYERS=max (or a count) on a node where no GPU backend loads (CPU image, missing driver,
  // a device plugin that exposes nothing) would otherwise serve from a few CPU threads in a pod
  // sized for GPU-resident weights, with every probe green. Refuse instead; 'auto' may fall back.
  if (gpuLayers !== 'auto' && gpuLayers !== 0 && llama.gpu === false) {
    throw new ModelLoadError(
      `GPU_LAYERS=${gpuLayers} but no GPU backend is available (node-llama-cpp found none: wrong image, no driver, or no GPU assigned to the container). Use the -cuda image on a GPU node, or set GPU_LAYERS=0 (or auto) to run on the CPU`,
    );
  }
  const model = await llama.loadModel({
    modelPath,
    gpuLayers,
    loadSignal: signal,
    onLoadProgress: req.onProgress,
  });
  req.onPartial({ lease, model });
  if (signal.aborted) throw aborted();
  await opts.checkBeforeContext?.(modelPath, model.fileInfo);
  if (opts.kind === 'embedding') {
    const embeddingContext = await model.createEmbeddingContext({
      contextSize,
      threads,
      ...(batchSize !== undefined ? { batchSize } : {}),
      createSignal: signal,
    });
    const embedder = new EmbeddingRunner(embeddingContext, model, contextSize, opts.maxQueue);
    req.onPartial({ lease, model, embedder });
    if (signal.aborted) throw aborted();
    opts.log.info(
      {
        model: modelId,
        kind: 'embedding',
        architecture: model.fileInfo.metadata?.general?.architecture,
        sizeBytes: model.size,
        dimensions: embedder.dimensions,
        contextSize,
        threads,
        loadMs: Math.round(performance.now() - t0),
      },
      'model loaded',
    );
    return { lease, model, embedder };
  }
  const context = await model.createContext({
    contextSize,
    sequences: parallel,
    threads,
    ...(batchSize !== undefined ? { batchSize } : {}),
    // Fail clearly instead of silently retrying with a smaller context.
    failedCreationRemedy: false,
    createSignal: signal,
  });
  const chatWrapper = resolveChatWrapper(model);
  const sequences: LlamaContextSequence[] = [];
  for (let i = 0; i < parallel; i++) sequences.push(context.getSequence());
  const loaded: LoadedModel = { lease, model, chat: { context, chatWrapper, sequences } };
  req.onPartial(loaded);
  if (signal.aborted) throw aborted();
  opts.log.info(
    {
      model: modelId,
      architecture: model.fileInfo.metadata?.general?.architecture,
      sizeBytes: model.size,
      trainedContextSize: model.trainContextSize,
      sequenceContextSize: context.contextSize,
      parallel,
      threads,
      batchSize: context.batchSize,
      gpu: llama.gpu,
      gpuLayers: model.gpuLayers,
      chatWrapper: chatWrapper.wrapperName,
      loadMs: Math.round(performance.now() - t0),
    },
    'model loaded',
  );
  return loaded;
}

/** Disposes whatever part of a load exists (embedder, context, model, then the llama lease), logging failures. */
export async function disposeLoaded(loaded: Partial<LoadedModel> | undefined, log: Logger): Promise<void> {
  if (loaded === undefined) return;
  const { embedder, chat, model, lease } = loaded;
  for (const dispose of [() => embedder?.dispose(), () => chat?.context.dispose(), () => model?.dispose(), () => lease?.release()]) {
    try {
      await dispose();
    } catch (err) {
      log.warn({ err }, 'error while disposing llama.cpp resources');
    }
  }
}

/** One clear ModelLoadError for a failed load: what went wrong with `file`, quoting llama.cpp's own lines. */
export function loadError(err: unknown, file: string, native: string, sizes: { contextSize: number; parallel: number }): ModelLoadError {
  if (err instanceof ModelLoadError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  const all = `${detail} ${native}`;
  const suffix = native !== '' && !detail.includes(native) ? ` (llama.cpp: ${native})` : '';
  let message: string;
  if (err instanceof InsufficientMemoryError || /out of memory|failed to allocate|insufficient memory|too large for the available/i.test(all)) {
    message = `Not enough memory to load ${file} with a context of ${sizes.contextSize} tokens x ${sizes.parallel} sequences: ${detail}`;
  } else if (/unknown model architecture|unsupported model architecture|unknown architecture/i.test(all)) {
    message = `Unsupported model architecture in ${file} (this llama.cpp build cannot run it): ${detail}`;
  } else if (/not within the file bounds|unexpected end|truncat|out of range|offset|EOF|corrupt|parse GGUF|read key-value/i.test(all)) {
    message = `${file} is truncated or corrupt: ${detail}`;
  } else if (/magic|not a gguf|invalid gguf/i.test(all)) {
    message = `${file} is not a GGUF file: ${detail}`;
  } else {
    message = `Failed to load ${file}: ${detail}`;
  }
  return new ModelLoadError(message + suffix, { cause: err });
}

/** Fail fast with a clear message before handing the file to llama.cpp. */
async function checkGgufFile(file: string): Promise<void> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ModelLoadError(`Model file not found: ${file}`, { cause: err });
    if (code === 'EACCES') throw new ModelLoadError(`Model file is not readable (permissions): ${file}`, { cause: err });
    throw new ModelLoadError(`Cannot open model file ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new ModelLoadError(`Model path is not a regular file: ${file}`);
    const magic = Buffer.alloc(4);
    const { bytesRead } = await handle.read(magic, 0, 4, 0);
    if (bytesRead < 4 || magic.toString('latin1') !== 'GGUF') {
      throw new ModelLoadError(
        `${file} is not a GGUF file (it starts with ${JSON.stringify(magic.subarray(0, bytesRead).toString('latin1'))}, ` +
          `expected "GGUF"; ${stat.size} bytes)`,
      );
    }
  } finally {
    await handle.close();
  }
}
