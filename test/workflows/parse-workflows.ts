/**
 * `tsx test/workflows/parse-workflows.ts FILE...`: every problem GitHub's workflow parser (@actions/workflow-parser,
 * from actions/languageservices: the schema and expression parser of the Actions VS Code extension) reports per
 * file, as JSON `{ file: [message, ...] }` on stdout. Unknown keys, wrong value types, broken `${{ }}` expressions
 * and `needs` on a missing job are caught; the actions' own inputs are not (that would need the network).
 *
 * A separate process run by tsx: the package imports its schema JSON without `with { type: 'json' }`, which
 * Node's ESM loader (and so vitest's) refuses; tsx loads it.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser';

async function errorsOf(path: string): Promise<string[]> {
  const name = basename(path);
  const parsed = parseWorkflow({ name, content: readFileSync(path, 'utf8') }, new NoOperationTraceWriter());
  const errors = parsed.context.errors.getErrors().map((e) => e.message);
  if (parsed.value === undefined) return errors.length > 0 ? errors : [`${name}: not a workflow`];
  const template = await convertWorkflowTemplate(parsed.context, parsed.value);
  return [...new Set([...errors, ...(template.errors ?? []).map((e) => e.Message)])];
}

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: tsx test/workflows/parse-workflows.ts FILE...\n');
  process.exit(1);
}
const out: Record<string, string[]> = {};
for (const file of files) out[file] = await errorsOf(file);
process.stdout.write(`${JSON.stringify(out)}\n`);
