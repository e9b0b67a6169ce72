/** The request schemas and field policies per OpenAI endpoint, for the field-policy tests. */
import { endpoints } from '../../service/contract.js';
import { chatFieldPolicy, completionFieldPolicy, embeddingFieldPolicy, type FieldPolicy } from '../../service/http/openai/fields.js';
import { ChatCompletionBody, CompletionBody, EmbeddingBody } from '../../service/http/schemas.js';

export const endpointsOf = {
  chat: { policy: chatFieldPolicy as Record<string, FieldPolicy>, schema: ChatCompletionBody, path: endpoints.chatCompletions },
  completions: { policy: completionFieldPolicy as Record<string, FieldPolicy>, schema: CompletionBody, path: endpoints.completions },
} as const;
export type EndpointName = keyof typeof endpointsOf | 'embeddings';
/** Embeddings run on an embedding service (test/service/openai-embeddings.test.ts); here only the table is checked. */
export const tables = {
  ...endpointsOf,
  embeddings: { policy: embeddingFieldPolicy as Record<string, FieldPolicy>, schema: EmbeddingBody, path: endpoints.embeddings },
};
