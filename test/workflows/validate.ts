/** Runs test/workflows/parse-workflows.ts (GitHub's workflow parser) on files and returns its errors per file. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./parse-workflows.ts', import.meta.url));

export function workflowErrors(paths: readonly string[]): Record<string, string[]> {
  const run = spawnSync(process.execPath, ['--import', 'tsx', script, ...paths], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`parse-workflows exited ${run.status}: ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, string[]>;
}
