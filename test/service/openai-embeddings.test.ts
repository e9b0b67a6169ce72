/**
 * POST /v1/embeddings through the official `openai` client on the random-weight BERT model
 * (tools/test-model/bert.ts): the model's dimension, unit vectors, base64 = float, token-array inputs,
 * usage tokens, and the refusals (dimensions, empty input, too long, the other service kind's endpoints).
 */
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints } from '../../service/contract.js';
import { readGguf } from '../../tools/test-model/gguf.js';
import { ensureBertTestModel } from '../../tools/test-model/bert.js';
import { postJson, startTestApp, type TestApp } from './helpers.js';

describe('embeddings (SERVICE_KIND=embedding, BERT-shaped random-weight model)', () => {
  let t: TestApp;
  let model: string;
  let dimension: number;
  beforeAll(async () => {
    const file = await ensureBertTestModel();
    // The dimension is the model's own (GGUF bert.embedding_length), not a number this test picks.
    const meta = readGguf(file).metadata.get('bert.embedding_length');
    dimension = Number(meta?.value);
    t = await startTestApp({ MODEL: file, SERVICE_KIND: 'embedding', CONTEXT_SIZE: '512', MAX_QUEUE: '4' });
    model = t.app.llm.engine.modelId;
  });
  afterAll(async () => {
    await t?.close();
  });

  const floats = (client: OpenAI, input: OpenAI.Embeddings.EmbeddingCreateParams['input']) =>
    client.embeddings.create({ model, input, encoding_format: 'float' });

  it('string and array inputs: one unit vector of the model dimension per input, in order, with usage', async () => {
    const one = await floats(t.client, 'hello world');
    expect(one.object).toBe('list');
    expect(one.model).toBe(model);
    expect(one.data).toHaveLength(1);
    expect(one.data[0]?.embedding).toHaveLength(dimension);
    expect(Math.hypot(...(one.data[0]?.embedding ?? []))).toBeCloseTo(1, 5);
    const many = await floats(t.client, ['hello world', 'a different text', 'hello world']);
    expect(many.data.map((d) => d.index)).toEqual([0, 1, 2]);
    expect(many.data[0]?.embedding).toEqual(one.data[0]?.embedding);
    expect(many.data[2]?.embedding).toEqual(one.data[0]?.embedding);
    expect(many.data[1]?.embedding).not.toEqual(one.data[0]?.embedding);
    // BERT inputs are wrapped in [CLS] ... [SEP]: usage counts what was evaluated.
    expect(one.usage.prompt_tokens).toBeGreaterThanOrEqual(4);
    expect(one.usage.total_tokens).toBe(one.usage.prompt_tokens);
    expect(many.usage.prompt_tokens).toBeGreaterThan(2 * one.usage.prompt_tokens);
  });

  it('base64 decodes to the float vector (raw response and the SDK default)', async () => {
    const f = await floats(t.client, 'encode me');
    const res = await postJson(t.base, endpoints.embeddings, { input: 'encode me', encoding_format: 'base64' });
    const body = (await res.json()) as { data: Array<{ embedding: string }> };
    const bytes = Buffer.from(body.data[0]?.embedding ?? '', 'base64');
    const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
    expect(decoded).toEqual(f.data[0]?.embedding);
    // The SDK asks for base64 when no format is given and decodes it itself.
    const sdk = await t.client.embeddings.create({ model, input: 'encode me' });
    expect(sdk.data[0]?.embedding).toEqual(f.data[0]?.embedding);
  });

  it('token-array inputs embed like their text', async () => {
    // 7592, 2088: "hello world" in the bge WordPiece vocabulary.
    const byTokens = await floats(t.client, [7592, 2088]);
    const byText = await floats(t.client, 'hello world');
    expect(byTokens.data[0]?.embedding).toEqual(byText.data[0]?.embedding);
    const two = await floats(t.client, [[7592, 2088], [2088]]);
    expect(two.data).toHaveLength(2);
  });

  it('dimensions other than the model dimension, empty inputs, too-long inputs and bad token ids are 400s', async () => {
    expect((await t.client.embeddings.create({ model, input: 'x', dimensions: dimension, encoding_format: 'float' })).data[0]?.embedding).toHaveLength(
      dimension,
    );
    await expect(t.client.embeddings.create({ model, input: 'x', dimensions: dimension - 1 })).rejects.toMatchObject({ status: 400, param: 'dimensions' });
    await expect(t.client.embeddings.create({ model, input: ['ok', ''] })).rejects.toMatchObject({ status: 400, param: 'input[1]' });
    await expect(t.client.embeddings.create({ model, input: 'word '.repeat(600) })).rejects.toMatchObject({ status: 400, param: 'input[0]' });
    await expect(t.client.embeddings.create({ model, input: [1, 2, 99_999_999] })).rejects.toMatchObject({ status: 400, param: 'input[0]' });
    await expect(t.client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' })).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
  });

  it('an embedding service refuses generation with a 404 that says what it serves', async () => {
    for (const p of [endpoints.chatCompletions, endpoints.completions]) {
      const res = await postJson(t.base, p, p === endpoints.completions ? { prompt: 'x' } : { messages: [{ role: 'user', content: 'x' }] });
      expect(res.status).toBe(404);
      const e = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(e.code).toBe('unsupported_endpoint');
      expect(e.message).toContain('embeddings');
    }
    expect((await fetch(`${t.base}${endpoints.ready}`)).status).toBe(200);
  });
});

describe('a chat service refuses embeddings', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ CONTEXT_SIZE: '256' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('404 unsupported_endpoint naming SERVICE_KIND', async () => {
    await expect(t.client.embeddings.create({ model: t.app.llm.engine.modelId, input: 'x' })).rejects.toMatchObject({
      status: 404,
      code: 'unsupported_endpoint',
    });
  });
});
