/**
 * The one place where the service configuration becomes the inference engine's options. Every entry point
 * (service/app.ts for tests and in-process apps, service/server.ts for production) builds its engine from
 * here, so a setting that reaches one reaches all: production once served without PROMPT_CACHE because
 * only one of two hand-written copies passed it.
 */
import type { Logger } from 'pino';
import { engineKindOptions, type Config } from './config.js';
import type { EngineOptions } from './inference/types.js';

/** What the configuration does not say: the thread choice, the logger, and how the model file is obtained. */
export interface EngineRuntime {
  /** Inference threads (service/runtime/threads.ts chooseThreads). */
  threads: number;
  /** The engine's logger (a child of the service logger). */
  log: Logger;
  /** Where the model file is or will be; default `config.model` (a local path). */
  modelPath?: string;
  /** Makes the file available at load time (acquisition); default none: `modelPath` must exist. */
  resolveModelPath?: EngineOptions['resolveModelPath'];
  /** The memory check before the context is allocated; default none. */
  checkBeforeContext?: EngineOptions['checkBeforeContext'];
}

export function engineOptions(config: Config, runtime: EngineRuntime): EngineOptions {
  return {
    modelPath: runtime.modelPath ?? config.model,
    ...(runtime.resolveModelPath !== undefined ? { resolveModelPath: runtime.resolveModelPath } : {}),
    ...(runtime.checkBeforeContext !== undefined ? { checkBeforeContext: runtime.checkBeforeContext } : {}),
    threads: runtime.threads,
    contextSize: config.contextSize,
    parallel: config.parallel,
    maxQueue: config.maxQueue,
    gpuLayers: config.gpuLayers,
    // SERVICE_KIND and BATCH_SIZE: an embedding service gets an embedding context whose batch holds a whole
    // input (config.effectiveBatchSize).
    ...engineKindOptions(config),
    promptReuse: config.promptCache !== 'off',
    log: runtime.log,
  };
}
