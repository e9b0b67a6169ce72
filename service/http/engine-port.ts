/**
 * What the HTTP layer needs from the inference engine (`service/inference/engine.ts`).
 *
 * Kept structural so the routes depend on behaviour, not on a class: `InferenceEngine`
 * satisfies it, and the compiler checks that in `service/app.ts`.
 */
import type { EmbeddingInput, EmbeddingResult, EngineState, EngineStats, GenerationEvent, GenerationInput, SamplingOptions } from '../inference/engine.js';

export type {
  ChatMessage,
  EmbeddingInput,
  EmbeddingResult,
  EngineState,
  EngineStats,
  FinishReason,
  GenerationEvent,
  GenerationInput,
  LogitBias,
  OutputGrammar,
  SamplingOptions,
  ToolCallRecord,
  ToolsOption,
  TokenLogprob,
} from '../inference/engine.js';
export { InvalidInputError, maxSeed, NotAcceptingError, PromptTooLongError, QueueFullError } from '../inference/engine.js';

export interface EnginePort {
  readonly state: EngineState;
  readonly loadProgress: number;
  readonly modelId: string;
  load(): Promise<void>;
  stats(): EngineStats;
  /** May throw QueueFullError, PromptTooLongError or NotAcceptingError synchronously. */
  generate(input: GenerationInput, sampling: SamplingOptions, signal: AbortSignal): AsyncIterable<GenerationEvent>;
  drain(): unknown;
  close(): unknown;
  /** What the engine serves; absent means chat. */
  readonly kind?: 'chat' | 'embedding';
  /** Length of the embedding vectors, once an embedding engine is loaded. */
  readonly embeddingDimensions?: number | undefined;
  /** llama-server /tokenize: tokens of a text; undefined before load. */
  tokenize?(text: string, opts: { addSpecial: boolean; parseSpecial: boolean }): number[] | undefined;
  /** llama-server /detokenize: text of token ids (InvalidInputError for a bad id); undefined before load. */
  detokenize?(tokens: readonly number[]): string | undefined;
  /** Prompt tokens of a generation input after the chat template (NotAcceptingError before load). */
  countTokens?(input: GenerationInput): number;
  /** Embedding engines: may reject with NotAcceptingError, InvalidInputError or QueueFullError before running. */
  embed?(inputs: readonly EmbeddingInput[], signal: AbortSignal): Promise<EmbeddingResult>;
}
