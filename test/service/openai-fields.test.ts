/**
 * One policy for request fields, and it cannot drift: the README's field table, the request schemas
 * (service/http/schemas.ts) and the policy in service/http/openai/fields.ts name the same fields with the
 * same policy, and the server does what the policy says (every `null` form accepted, every ignored
 * example answered, every refused example a 400 naming the field).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers.js';
import { tables, type EndpointName } from './field-tables.js';

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
