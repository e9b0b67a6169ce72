import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildEnvironment, renderCharts, type EnvironmentBuild } from './environment-chart.js';
import { environments as allEnvironments, gitops } from './environments/index.js';
import type { Environment } from './environments/types.js';
import { buildGitOps } from './gitops/argocd.js';
import { checkCatalogue } from './models/catalogue.js';
import { renderRulesDoc } from './rules/docs.js';
import { formatFinding, runRules, RuleViolationError, invalidWaivers, type RuleReport } from './rules/engine.js';

/** The rules reference, regenerated with the manifests. */
export const rulesDocPath = 'docs/rules.md';

/** Everything `npm run synth` produces, as repository-relative path -> file text. */
export interface SynthOutput {
  readonly files: ReadonlyMap<string, string>;
  readonly builds: readonly EnvironmentBuild[];
  /** Warnings and waived findings of the synth rules (errors throw). */
  readonly report: RuleReport;
}

/**
 * Synthesize every environment and the Argo CD objects in memory (tests call this; nothing is written).
 * Throws ChartConfigError for props that cannot be built and RuleViolationError when a synth rule fails.
 */
export function synthesizeAll(environments: readonly Environment[] = allEnvironments): SynthOutput {
  // Every registered model entry, used or not, must be possible before anything is sized from it.
  checkCatalogue();
  const files = new Map<string, string>();
  const builds = environments.map(buildEnvironment);
  const report = checkRules(builds);
  for (const b of builds) {
    for (const [file, yaml] of renderCharts(b.app, [b.namespace, ...b.services])) files.set(`dist/${b.environment.name}/${file}`, yaml);
  }
  const argo = buildGitOps(gitops, builds);
  for (const [file, yaml] of renderCharts(argo.app, argo.charts)) files.set(`argocd/${file}`, yaml);
  files.set(rulesDocPath, renderRulesDoc());
  return { files, builds, report };
}

/** Run the synth rules; throw with every error (and unknown waiver) at once. */
export function checkRules(builds: readonly EnvironmentBuild[]): RuleReport {
  const report = runRules(builds);
  const fileOf = (env: string): string | undefined => builds.find((b) => b.environment.name === env)?.environment.definedIn;
  const badWaivers = invalidWaivers(builds);
  if (report.errors.length > 0 || badWaivers.length > 0) {
    throw new RuleViolationError(report, [...report.errors.map((f) => formatFinding(f, fileOf(f.environment))), ...badWaivers]);
  }
  return report;
}

/** Replace dist/ and argocd/ under `root` with exactly the synthesized files (stale files vanish). */
export function writeOutput(root: string, output: SynthOutput): void {
  for (const dir of ['dist', 'argocd']) rmSync(join(root, dir), { recursive: true, force: true });
  rmSync(join(root, rulesDocPath), { force: true });
  for (const [path, yaml] of output.files) {
    const full = join(root, path);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, yaml);
  }
}

/** Files under dir, relative to root, sorted: for comparing a synth with what is committed. */
export function listFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}
