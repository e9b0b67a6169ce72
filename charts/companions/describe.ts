import { applicationWaves } from '../gitops/argocd.js';
import type { ResolvedCompanion } from './resolve.js';

/** One line of the synth summary per companion: where it comes from, when it syncs, which model services it calls. */
export function describeCompanion(c: ResolvedCompanion): string {
  const source = c.declaration.source;
  const from = source.kind === 'helm' ? `chart ${source.chart} ${source.version} from ${source.repoURL}` : `manifests ${source.path} -> ${c.outputDir}/`;
  const wave = c.declaration.order === 'before-models' ? applicationWaves.companionsBeforeModels : applicationWaves.companionsAfterModels;
  const calls = [...new Set(c.callers.flatMap((x) => x.calls))].sort();
  return `companion ${c.name}: ${from}, ${c.declaration.order} (Application wave ${wave}); calls ${calls.length > 0 ? calls.join(', ') : 'no model service'}`;
}
