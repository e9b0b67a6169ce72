/**
 * One policy for request fields, and it cannot drift: the README's field table, the request schemas
 * (service/http/schemas.ts) and the policy in service/http/openai/fields.ts name the same fields with the
 * same policy, and the server does what the policy says (every `null` form accepted, every ignored
 * example answered, every refused example a 400 naming the field).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints } from '../../service/contract.js';
import { chatFieldPolicy, completionFieldPolicy, embeddingFieldPolicy, type FieldPolicy } from '../../service/http/openai/fields.js';
import { ChatCompletionBody, CompletionBody, EmbeddingBody } from '../../service/http/schemas.js';
import { postJson, repoRoot, startTestApp, type TestApp } from './helpers.js';

const endpointsOf = {
  chat: { policy: chatFieldPolicy as Record<string, FieldPolicy>, schema: ChatCompletionBody, path: endpoints.chatCompletions },
  completions: { policy: completionFieldPolicy as Record<string, FieldPolicy>, schema: CompletionBody, path: endpoints.completions },
} as const;
type EndpointName = keyof typeof endpointsOf | 'embeddings';
/** Embeddings run on an embedding service (test/service/openai-embeddings.test.ts); here only the table is checked. */
const tables = { ...endpointsOf, embeddings: { policy: embeddingFieldPolicy as Record<string, FieldPolicy>, schema: EmbeddingBody, path: endpoints.embeddings } };

async function readmeTable(): Promise<Map<EndpointName, Map<string, string>>> {
  const text = await readFile(path.join(repoRoot, 'docs/openai-api.md'), 'utf8');
  const start = text.indexOf('<!-- openai-fields:start -->');
  const end = text.indexOf('<!-- openai-fields:end -->');
  expect(start, 'docs/openai-api.md field table markers').toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  const out = new Map<EndpointName, Map<string, string>>([
    ['chat', new Map()],
    ['completions', new Map()],
    ['embeddings', new Map()],
  ]);
  for (const line of text.slice(start, end).split('\n')) {
    const m = /^\| `([a-z_]+)` \| ([a-z, ]+) \| (implemented|ignored|refused) \|/.exec(line);
    if (!m) continue;
    for (const e of (m[2] as string).split(',').map((s) => s.trim())) {
      expect(Object.keys(tables), `README endpoint '${e}' of ${m[1]}`).toContain(e);
      const rows = out.get(e as EndpointName) as Map<string, string>;
      expect(rows.has(m[1] as string), `README lists ${m[1]} twice for ${e}`).toBe(false);
      rows.set(m[1] as string, m[3] as string);
    }
  }
  return out;
}

describe('request field policy: README table = schema = mapper', () => {
  it('every schema field has one README row with its policy, and nothing else is listed', async () => {
    const table = await readmeTable();
    for (const [name, e] of Object.entries(tables)) {
      const schemaFields = Object.keys(e.schema.properties).sort();
      expect(Object.keys(e.policy).sort(), `${name}: policy vs schema`).toEqual(schemaFields);
      const rows = table.get(name as EndpointName) as Map<string, string>;
      expect([...rows.keys()].sort(), `${name}: README vs schema`).toEqual(schemaFields);
      for (const [field, policy] of Object.entries(e.policy)) expect(rows.get(field), `${name}.${field}`).toBe(policy.policy);
    }
  });
});

describe('request field policy: the server does what it says', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ PARALLEL: '2', CONTEXT_SIZE: '512' });
  });
  afterAll(async () => {
    await t?.close();
  });

  const base = {
    chat: () => ({ messages: [{ role: 'user', content: 'Fields' }], max_tokens: 1 }),
    completions: () => ({ prompt: 'Fields', max_tokens: 1 }),
  };
  const required = new Set(['messages', 'prompt']);

  for (const name of Object.keys(endpointsOf) as Array<keyof typeof endpointsOf>) {
    it(`${name}: the null form of every optional field is accepted`, async () => {
      const e = endpointsOf[name];
      const nullable = Object.entries(e.schema.properties)
        .filter(([field]) => !required.has(field))
        .filter(([, schema]) => JSON.stringify(schema).includes('"type":"null"'))
        .map(([field]) => field);
      // Everything except model and the required fields allows null (OpenAI's types allow it too).
      expect(nullable.sort()).toEqual(Object.keys(e.schema.properties).filter((f) => !required.has(f) && f !== 'model').sort());
      const body: Record<string, unknown> = { ...base[name]() };
      for (const field of nullable) if (!(field in body)) body[field] = null;
      const res = await postJson(t.base, e.path, body);
      expect(res.status, await res.clone().text()).toBe(200);
    });

    it(`${name}: every ignored field is answered normally, every refused one is a 400 naming it`, async () => {
      const e = endpointsOf[name];
      for (const [field, p] of Object.entries(e.policy)) {
        if (p.policy === 'implemented') continue;
        const res = await postJson(t.base, e.path, { ...base[name](), [field]: p.example });
        const text = await res.text();
        if (p.policy === 'ignored') {
          expect(res.status, `${field}: ${text}`).toBe(200);
        } else {
          expect(res.status, `${field}: ${text}`).toBe(400);
          const err = (JSON.parse(text) as { error: { param: string; code: string; message: string } }).error;
          expect(err.param).toBe(field);
          expect(err.code).toBe('unsupported_parameter');
          expect(err.message).toContain('not supported');
          expect(p.neutral(p.example)).toBe(false);
        }
      }
    });
  }

  it('fields OpenAI does not define are refused as unrecognized', async () => {
    for (const name of Object.keys(endpointsOf) as Array<keyof typeof endpointsOf>) {
      for (const field of ['top_k', 'min_p', 'repeat_penalty', 'mirostat']) {
        const res = await postJson(t.base, endpointsOf[name].path, { ...base[name](), [field]: 1 });
        expect(res.status).toBe(400);
        const err = ((await res.json()) as { error: { param: string; code: string; message: string } }).error;
        expect(err).toMatchObject({ param: field, code: 'unknown_parameter' });
        expect(err.message).toBe(`Unrecognized request argument supplied: ${field}`);
      }
    }
  });

  it('the fields current SDKs and frameworks send are accepted', async () => {
    const r = await t.client.chat.completions.create({
      model: t.app.llm.engine.modelId,
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 2,
      store: false,
      metadata: { app: 'x' },
      parallel_tool_calls: true,
      reasoning_effort: 'low',
      service_tier: 'auto',
      modalities: ['text'],
      verbosity: 'low',
      prompt_cache_key: 'k',
      safety_identifier: 's',
      stream_options: null,
      tools: null as never,
      tool_choice: null as never,
      logit_bias: null,
      top_logprobs: null,
      response_format: null as never,
      functions: null as never,
      function_call: null as never,
      prediction: null,
      audio: null,
      web_search_options: null as never,
    });
    expect(r.choices[0]?.message.content).toBeTypeOf('string');
    const s = await t.client.chat.completions.create({
      model: t.app.llm.engine.modelId,
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 2,
      stream: true,
      stream_options: { include_usage: true, include_obfuscation: true },
    });
    let usage: unknown;
    for await (const c of s) usage = c.usage ?? usage;
    expect(usage).toMatchObject({ completion_tokens: 2 });
  });
});
