/**
 * The Anthropic field policy cannot drift: docs/anthropic-api.md's table, the request schemas
 * (service/http/anthropic/schemas.ts) and the policy in service/http/anthropic/fields.ts name the same fields
 * with the same policy, and the server does what the policy says (every ignored example answered, every refused
 * example a 400 in Anthropic's shape naming the field). Fake engine: no inference is needed.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTokensFieldPolicy, messagesFieldPolicy } from '../../service/http/anthropic/fields.js';
import { CountTokensBody, MessagesBody } from '../../service/http/anthropic/schemas.js';
import { endpoints } from '../../service/contract.js';
import { startFakeApp, type FakeApp } from './fake-engine.js';
import { repoRoot } from './helpers.js';

type Row = { endpoints: string[]; policy: string };

async function docTable(): Promise<Map<string, Row>> {
  const text = await readFile(path.join(repoRoot, 'docs/anthropic-api.md'), 'utf8');
  const start = text.indexOf('<!-- anthropic-fields:start -->');
  const end = text.indexOf('<!-- anthropic-fields:end -->');
  expect(start, 'docs/anthropic-api.md field table markers').toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  const rows = new Map<string, Row>();
  for (const line of text.slice(start, end).split('\n')) {
    const m = /^\| `([a-z_]+)` \| ([a-z_, ]+) \| (implemented|ignored|refused) \|/.exec(line);
    if (!m) continue;
    expect(rows.has(m[1] as string), `${m[1]} listed twice`).toBe(false);
    rows.set(m[1] as string, { endpoints: (m[2] as string).split(',').map((s) => s.trim()), policy: m[3] as string });
  }
  return rows;
}

describe('Anthropic field policy: docs table = schema = mapper', () => {
  it('every schema field has one row with its policy and endpoints, and nothing else is listed', async () => {
    const rows = await docTable();
    const messageFields = Object.keys(MessagesBody.properties).sort();
    expect(Object.keys(messagesFieldPolicy).sort(), 'policy vs schema').toEqual(messageFields);
    expect([...rows.keys()].sort(), 'docs vs schema').toEqual(messageFields);
    const countFields = Object.keys(CountTokensBody.properties).sort();
    expect(Object.keys(countTokensFieldPolicy).sort()).toEqual(countFields);
    for (const [field, row] of rows) {
      expect(row.policy, field).toBe(messagesFieldPolicy[field as keyof typeof messagesFieldPolicy].policy);
      expect(row.endpoints, field).toEqual(countFields.includes(field) ? ['messages', 'count_tokens'] : ['messages']);
    }
  });
});

describe('Anthropic field policy: the server does what it says', () => {
  let f: FakeApp;
  beforeAll(async () => {
    f = await startFakeApp();
  });
  afterAll(async () => {
    await f?.close();
  });
  const base = { model: 'fake-model', max_tokens: 2048, messages: [{ role: 'user', content: 'x' }] };
  const post = (body: unknown) => f.app.inject({ method: 'POST', url: endpoints.messages, payload: body as Record<string, unknown> });

  it('ignored examples are answered; refused ones are 400 invalid_request_error naming the field', async () => {
    let checked = 0;
    for (const [field, p] of Object.entries(messagesFieldPolicy)) {
      if (p.policy === 'implemented') continue;
      const res = await post({ ...base, [field]: p.example });
      checked++;
      if (p.policy === 'ignored') {
        expect(res.statusCode, `${field}: ${res.body}`).toBe(200);
        expect(res.json()).toMatchObject({ type: 'message', role: 'assistant' });
      } else {
        expect(res.statusCode, field).toBe(400);
        expect(res.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining(field) } });
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('a field Anthropic does not define is refused by name (negative control of the table)', async () => {
    const res = await post({ ...base, n: 2 });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toBe('Unrecognized request argument supplied: n');
  });
});
