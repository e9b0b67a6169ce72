/**
 * The batch an embedding service evaluates with, against llama.cpp's real behaviour on the random-weight
 * BERT model (tools/test-model/bert.ts): an encoder input longer than the batch is embedded from its last
 * batch of tokens alone (node-llama-cpp splits the evaluation into batchSize chunks and a non-causal model
 * keeps no memory between them), so the service's embedding batch must hold CONTEXT_SIZE tokens, a
 * BATCH_SIZE below it is refused at start, and REQUEST_TIMEOUT_MS bounds an embedding request.
 */
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, effectiveBatchSize, engineKindOptions, loadConfig } from '../../service/config.js';
import { embeddingBatchSize, endpoints, envVars } from '../../service/contract.js';
import { BERT_TINY, ensureBertTestModel } from '../../tools/test-model/bert.js';
import { postJson, startTestApp, type TestApp } from './helpers.js';

/** Two texts of the same token count (252 with [CLS]/[SEP]) that differ in their first 100 words and share the rest. */
const tail = Array.from({ length: 80 }, (_, i) => `word${i % 37}`).join(' ');
const first = `${'the quick brown fox jumps over the lazy dog '.repeat(10)}${tail}`;
const second = `${'a completely different opening sentence about rivers and hills '.repeat(10)}${tail}`;

describe('embedding batch: llama.cpp embeds an input longer than the batch from its last chunk only', () => {
  let llama: Llama;
  let model: LlamaModel;
  let file: string;
  beforeAll(async () => {
    file = await ensureBertTestModel();
    llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
    model = await llama.loadModel({ modelPath: file });
  });
  afterAll(async () => {
    await model?.dispose();
    await llama?.dispose();
  });

  async function vectors(batchSize: number): Promise<{ a: readonly number[]; b: readonly number[]; tokens: number }> {
    const ctx = await model.createEmbeddingContext({ contextSize: BERT_TINY.nCtx, batchSize, threads: 1 });
    try {
      const a = (await ctx.getEmbeddingFor(first)).vector;
      const b = (await ctx.getEmbeddingFor(second)).vector;
      // Equal lengths: both are cut into batches at the same token offsets, so equal tails mean equal last batches.
      expect(ctx.calculateInputLength(first)).toBe(ctx.calculateInputLength(second));
      return { a, b, tokens: ctx.calculateInputLength(first) };
    } finally {
      await ctx.dispose();
    }
  }

  it('control: with a batch shorter than the inputs, texts that share only their tail get the same vector', async () => {
    const small = 128;
    const v = await vectors(small);
    expect(v.tokens).toBeGreaterThan(small);
    expect(v.a).toEqual(v.b);
  });

  it("with the service's embedding batch (CONTEXT_SIZE) every token shapes the vector", async () => {
    const v = await vectors(embeddingBatchSize(BERT_TINY.nCtx));
    expect(v.tokens).toBeLessThan(BERT_TINY.nCtx);
    expect(v.a).not.toEqual(v.b);
  });

  it('the service gives an embedding engine that batch, and refuses a smaller BATCH_SIZE at start', () => {
    const env = { [envVars.serviceKind]: 'embedding', [envVars.contextSize]: '2048' };
    const config = loadConfig(env);
    expect(effectiveBatchSize(config)).toBe(2048);
    expect(engineKindOptions(config)).toEqual({ kind: 'embedding', batchSize: 2048 });
    expect(() => loadConfig({ ...env, [envVars.batchSize]: '512' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, [envVars.batchSize]: '512' })).toThrow(/BATCH_SIZE=512 is invalid for SERVICE_KIND=embedding.*at least 2048/);
    // A chat service without BATCH_SIZE keeps node-llama-cpp's default; with it, the engine gets it.
    expect(engineKindOptions(loadConfig({ [envVars.contextSize]: '2048' }))).toEqual({});
    expect(engineKindOptions(loadConfig({ [envVars.contextSize]: '2048', [envVars.batchSize]: '256' }))).toEqual({ batchSize: 256 });
  });
});

describe('embedding service end to end: whole inputs, and REQUEST_TIMEOUT_MS', () => {
  let t: TestApp;
  beforeAll(async () => {
    const file = await ensureBertTestModel();
    // CONTEXT_SIZE alone: the batch follows it (no BATCH_SIZE); a short timeout for the 504 below.
    t = await startTestApp({ MODEL: file, SERVICE_KIND: 'embedding', CONTEXT_SIZE: String(BERT_TINY.nCtx), REQUEST_TIMEOUT_MS: '400', MAX_QUEUE: '4' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('texts that differ only in their head get different vectors', async () => {
    const res = await t.client.embeddings.create({ model: t.app.llm.engine.modelId, input: [first, second], encoding_format: 'float' });
    expect(res.data[0]?.embedding).not.toEqual(res.data[1]?.embedding);
  });

  it('a request that outlasts REQUEST_TIMEOUT_MS is stopped with a 504 that says why', async () => {
    // The most inputs a request may carry (2048), one after another, inside the body limit of a 512-token context.
    const inputs = Array.from({ length: 2048 }, (_, i) => `embed this text ${i}`);
    const started = Date.now();
    const res = await postJson(t.base, endpoints.embeddings, { input: inputs, encoding_format: 'float' });
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    expect(res.status).toBe(504);
    expect(body.error?.code).toBe('timeout');
    expect(body.error?.message).toMatch(/timed out after 400 ms/);
    // Stopped between inputs, not after all of them.
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
