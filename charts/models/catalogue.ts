/**
 * The model catalogue: facts about real GGUF files that the manifests are sized from.
 *
 * One entry per file under `charts/models/entries/`, written by `npm run model:add` from the file's
 * own header (or by hand, with each figure's source in `provenance`), registered in
 * `entries/index.ts`. Memory, disk and probe budgets are derived from these fields in
 * `charts/sizing/`, never typed in by hand per environment; `checkCatalogue()` refuses an entry with
 * an impossible figure before anything is synthesized.
 */
import { ChartConfigError } from '../lib/config-error.js';
import { catalogueEntries } from './entries/index.js';
import { validateModelSpec } from './validate.js';

export type { ModelPart, ModelSpec, TensorTypeTotal } from './types.js';
export { qwen25_3bInstructQ4KM } from './entries/qwen2.5-3b-instruct-q4_k_m.js';
export { qwen25_7bInstructQ4KM } from './entries/qwen2.5-7b-instruct-q4_k_m.js';
export { nomicEmbedTextV15Q4KM } from './entries/nomic-embed-text-v1.5-q4_k_m.js';
export { catalogueEntries } from './entries/index.js';

/** Every model the environments may use, by id. */
export const modelCatalogue: Readonly<Record<string, (typeof catalogueEntries)[number]['model']>> = Object.fromEntries(
  catalogueEntries.map((e) => [e.model.id, e.model]),
);

/** The file that defines an entry (for synth errors), when it is registered. */
export function catalogueFileOf(model: { readonly id: string }): string | undefined {
  return catalogueEntries.find((e) => e.model.id === model.id)?.file;
}

/** Throws ChartConfigError listing every problem of every entry (and duplicate ids). */
export function checkCatalogue(entries: typeof catalogueEntries = catalogueEntries): void {
  const problems = entries.flatMap((e) => validateModelSpec(e.model, e.file));
  const seen = new Map<string, string>();
  for (const e of entries) {
    const other = seen.get(e.model.id);
    if (other !== undefined) problems.push({ file: e.file, object: `model ${e.model.id}`, field: 'id', problem: `is also the id of the entry in ${other}`, fix: 'give every entry its own id' });
    seen.set(e.model.id, e.file);
  }
  if (problems.length > 0) throw new ChartConfigError(problems);
}
