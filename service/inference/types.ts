/**
 * Public types of the inference engine (re-exported by `engine.ts`, import them from there).
 */
import type { GgufFileInfo } from 'node-llama-cpp';
import type { Logger } from 'pino';

export type EngineState = 'idle' | 'loading' | 'ready' | 'failed' | 'draining' | 'closed';

export interface EngineOptions {
  /** Local path of the GGUF file (with `resolveModelPath`: the path it will have, which names the model). */
  modelPath: string;
  /**
   * Called at the start of `load()` to make the file available (e.g. a download into the cache) and
   * return its local path. Acquisition then counts as loading: health endpoints already answer 503
   * `{state: 'loading'}` instead of refusing connections, and an error rejects `load()` unchanged.
   */
  resolveModelPath?: (signal: AbortSignal) => Promise<string>;
  /** CPU threads for llama.cpp (from service/runtime/threads.ts). Never left to node-llama-cpp's default. */
  threads: number;
  /**
   * Context size PER SEQUENCE, in tokens (prompt + completion of one request).
   * node-llama-cpp 3.22 gives every sequence its own `contextSize` cells: the KV cache holds
   * `contextSize * parallel` tokens in total (it is not split across sequences).
   */
  contextSize: number;
  /** Sequences of the one context that decode concurrently (PARALLEL). */
  parallel: number;
  /** Requests allowed to wait for a free sequence; one more throws QueueFullError. 0 = no waiting. */
  maxQueue: number;
  /** Layers to offload to a GPU; 0 = CPU only (the GPU backend is not even probed). */
  gpuLayers: number | 'auto' | 'max';
  /** llama.cpp batch size; default min(contextSize * parallel, 512). */
  batchSize?: number;
  /**
   * Runs once the weights are mapped and before the context (KV cache, compute buffers) is allocated, with
   * the header node-llama-cpp read (the server's memory check, service/inference/memory-fit.ts); a
   * ModelLoadError it throws fails the load with its message unchanged.
   */
  checkBeforeContext?: (modelPath: string, fileInfo: GgufFileInfo) => Promise<void>;
  log: Logger;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export type GenerationInput = { kind: 'chat'; messages: ChatMessage[] } | { kind: 'completion'; prompt: string };

export interface SamplingOptions {
  /** Clamped to the room left in the sequence's context; values below 1 count as 1. */
  maxTokens: number;
  /** Undefined or 0 = greedy (node-llama-cpp's default, not OpenAI's 1.0: the caller applies API defaults). */
  temperature?: number;
  topP?: number;
  seed?: number;
  stop?: string[];
}

export type FinishReason = 'stop' | 'length' | 'abort' | 'timeout';

export type GenerationEvent =
  | { type: 'queued'; position: number }
  | { type: 'started'; promptTokens: number; queuedMs: number }
  | { type: 'text'; text: string; tokens: number }
  | {
      type: 'done';
      finishReason: FinishReason;
      promptTokens: number;
      completionTokens: number;
      text: string;
    };

export interface EngineStats {
  parallel: number;
  busySequences: number;
  queueDepth: number;
  maxQueue: number;
}
