import { envVars } from '../../service/contract.js';
import { isUnverified } from '../models/validate.js';
import { envValue } from './lib.js';
import type { Rule } from './types.js';

/** Rules on the model a service serves: its catalogue entry, its trained context and its kind. */
export const modelRules: readonly Rule[] = [
  {
    id: 'context-within-trained',
    severity: 'error',
    checks: "CONTEXT_SIZE <= the model's trained context.",
    why: 'Beyond the trained context a model degrades into nonsense while spending memory on KV cache.',
    fix: "Lower contextSize to the model's trained context or less.",
    check: (svc) => {
      const ctx = Number(envValue(svc.server, envVars.contextSize));
      const trained = svc.plan.props.model.trainedContext;
      return ctx > trained ? [{ message: `CONTEXT_SIZE ${ctx} > trained context ${trained} of ${svc.plan.props.model.id}` }] : [];
    },
  },
  {
    id: 'model-integrity-verified',
    severity: 'warning',
    checks: "The model's catalogue entry has a byte count and sha256 for every part, read from the file or the hub's file metadata.",
    why: 'Without a sha256 the init container cannot tell a truncated or swapped file from the real one, and sizes typed from secondary sources have been wrong by a digit.',
    fix: 'Run `npm run model:add` on the model (or pass --sha256 per part), or add the sizes and hashes from the Hugging Face file listing.',
    check: (svc) => {
      const model = svc.plan.props.model;
      if (!isUnverified(model)) return [];
      const reason = model.integrity?.status === 'unverified' ? model.integrity.reason : 'no sha256 for every part';
      return [{ message: `catalogue entry ${model.id} is unverified: ${reason}` }];
    },
  },
  {
    id: 'service-kind-matches-model',
    severity: 'error',
    checks:
      "SERVICE_KIND is what the model can serve: `embedding` for a catalogue entry with an `embedding` block, `chat` for every other (the server's default when unset).",
    why: 'An embedding model served as chat answers every completion with noise from a model that was never trained to generate, and is sized for a KV cache it does not have; a chat model served as embeddings returns vectors from a decoder that was never trained to pool, and every chat client gets 404.',
    fix: 'Remove serviceKind (it is derived from the model), or serve a model of that kind: an embedding entry (`embedding` block, from `npm run model:add`) for embeddings, a generative one for chat.',
    check: (svc) => {
      const kind = envValue(svc.server, envVars.serviceKind) ?? 'chat';
      const model = svc.plan.props.model;
      const modelKind = model.embedding ? 'embedding' : 'chat';
      if (kind === modelKind) return [];
      const what = model.embedding
        ? `an embedding model (${model.architecture}, ${model.embedding.pooling} pooling)`
        : `a generative model (${model.architecture}), not an embedding model`;
      return [{ message: `serviceKind / ${envVars.serviceKind} is '${kind}', but ${model.id} is ${what}: it serves '${modelKind}'` }];
    },
  },
  {
    id: 'embedding-batch-holds-input',
    severity: 'error',
    checks: 'An embedding service evaluates a whole input in one batch: BATCH_SIZE >= CONTEXT_SIZE (an input may have CONTEXT_SIZE - 1 tokens).',
    why: 'llama.cpp evaluates an encoder input in one ubatch and node-llama-cpp splits a longer one into BATCH_SIZE chunks, so an input longer than the batch is embedded from its last chunk alone: two documents that differ only before their last BATCH_SIZE tokens got the same vector, with no error.',
    fix: 'Remove batchSize (an embedding service derives it from contextSize), or lower contextSize to the batch.',
    check: (svc) => {
      if ((envValue(svc.server, envVars.serviceKind) ?? 'chat') !== 'embedding') return [];
      const context = Number(envValue(svc.server, envVars.contextSize));
      const batch = Number(envValue(svc.server, envVars.batchSize) ?? svc.plan.batchSize);
      return batch >= context
        ? []
        : [
            {
              message: `${envVars.batchSize} ${batch} < ${envVars.contextSize} ${context}: inputs of ${batch + 1} to ${context - 1} tokens are embedded from their last ${batch} tokens only`,
            },
          ];
    },
  },
];
