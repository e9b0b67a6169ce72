/**
 * `npm run synth`: writes dist/<environment>/ and argocd/ from the typed environments.
 * The only entry point that writes files; tests import charts/synth.ts instead.
 */
import { fileURLToPath } from 'node:url';
import { ChartConfigError } from './lib/config-error.js';
import { RuleViolationError } from './rules/engine.js';
import { printSummary } from './summary.js';
import { synthesizeAll, writeOutput } from './synth.js';

const root = fileURLToPath(new URL('..', import.meta.url));

try {
  const output = synthesizeAll();
  writeOutput(root, output);
  printSummary(output);
} catch (error) {
  if (error instanceof ChartConfigError || error instanceof RuleViolationError) {
    process.stderr.write(`synth failed: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
