/**
 * llama-server's tokenizer endpoints (tools/server/server.cpp `handle_tokenize` / `handle_detokenize`), which
 * clients use to count and trim context:
 *
 * - `POST /tokenize` `{content, add_special?, parse_special?, with_pieces?}` -> `{tokens: [id, ...]}`, or with
 *   `with_pieces` `{tokens: [{id, piece}, ...]}`. Defaults as llama-server: add_special false (no BOS/EOS),
 *   parse_special true (`<|im_start|>` is one token). A piece is the token's text; llama-server gives a piece
 *   that is not valid UTF-8 as its bytes, node-llama-cpp only decodes text, so such a piece holds U+FFFD here.
 * - `POST /tokenize` `{messages}` (this service's addition): `{count, max_prompt_tokens, context_size}`, the
 *   prompt tokens of that conversation after the model's chat template, exactly what a chat completion would
 *   evaluate (`usage.prompt_tokens`), and the most a prompt may have (CONTEXT_SIZE - 2: room for one generated
 *   token). A client trims the oldest turns until `count + max_tokens <= context_size`.
 * - `POST /detokenize` `{tokens}` -> `{content}` (special tokens as their text).
 *
 * Behind API_KEY like the OpenAI routes (llama-server does the same); 503 before the model is loaded.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { endpoints } from '../../contract.js';
import { InvalidInputError, NotAcceptingError, type EnginePort } from '../engine-port.js';
import { badRequest } from '../errors.js';
import { DetokenizeBody, TokenizeBody } from '../schemas.js';
import { chatMessages } from './fields.js';
import { unavailable } from './generation.js';

export function tokenizeRoutes(app: FastifyInstance, engine: EnginePort, contextSize: number): void {
  const notLoaded = () => unavailable(`The model is not ready (state: ${engine.state}).`, 'model_not_ready');
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();

  typed.post(endpoints.tokenize, { schema: { body: TokenizeBody } }, async (request) => {
    const body = request.body;
    if ((body.content === undefined) === (body.messages === undefined)) {
      throw badRequest(
        'Send either content (a text to tokenize) or messages (a conversation to count), not both and not neither.',
        body.content === undefined ? 'content' : 'messages',
        'invalid_value',
      );
    }
    if (body.messages !== undefined) {
      for (const field of ['add_special', 'parse_special', 'with_pieces'] as const) {
        if (body[field] !== undefined)
          throw badRequest(`${field} applies to content; messages are counted as the chat template renders them.`, field, 'invalid_value');
      }
      if (engine.countTokens === undefined || engine.kind === 'embedding') {
        throw badRequest(
          'messages can be counted only on a chat service (SERVICE_KIND=chat): an embedding model has no chat template.',
          'messages',
          'unsupported_value',
        );
      }
      const messages = chatMessages(body.messages);
      let count: number;
      try {
        count = engine.countTokens({ kind: 'chat', messages });
      } catch (err) {
        if (err instanceof NotAcceptingError) throw notLoaded();
        throw err;
      }
      return { count, max_prompt_tokens: contextSize - 2, context_size: contextSize };
    }
    const tokens = engine.tokenize?.(body.content ?? '', { addSpecial: body.add_special ?? false, parseSpecial: body.parse_special ?? true });
    if (tokens === undefined) throw notLoaded();
    if (body.with_pieces !== true) return { tokens };
    const detokenize = engine.detokenize?.bind(engine);
    if (detokenize === undefined) throw notLoaded();
    return { tokens: tokens.map((id) => ({ id, piece: detokenize([id]) ?? '' })) };
  });

  typed.post(endpoints.detokenize, { schema: { body: DetokenizeBody } }, async (request) => {
    let content: string | undefined;
    try {
      content = engine.detokenize?.(request.body.tokens);
    } catch (err) {
      if (err instanceof InvalidInputError) throw badRequest(err.message, err.param, 'invalid_value');
      throw err;
    }
    if (content === undefined) throw notLoaded();
    return { content };
  });
}
