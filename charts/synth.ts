import { environmentGpuReach } from './sizing/gpu-reach.js';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { Yaml } from 'cdk8s';
import { buildEnvironment, environmentCharts, renderCharts, type EnvironmentBuild } from './environment-chart.js';
import { environments as allEnvironments, gitops } from './environments/index.js';
import type { Environment } from './environments/types.js';
import { parseAllDocuments } from 'yaml';
import { buildGitOps, checkEnvironmentRevisions } from './gitops/argocd.js';
import { derivePrerequisites, renderPrerequisites, replacePrerequisites, type ObjectSource } from './prerequisites.js';
import { checkCatalogue } from './models/catalogue.js';
import { configurationDocPath, renderConfigurationDoc } from './docs/configuration.js';
import { renderRulesDoc } from './rules/docs.js';
import { dashboardDocPath, replacePanelTable } from './dashboard/docs.js';
import { unpublishedImageWarnings } from './rules/image-pinning.js';
import type { Finding } from './rules/types.js';
import { formatFinding, runRules, RuleViolationError, invalidWaivers, type RuleReport } from './rules/engine.js';

/** The rules reference, regenerated with the manifests. */
export const rulesDocPath = 'docs/rules.md';

/** docs/prerequisites.md: its generated block is regenerated with the manifests (charts/prerequisites.ts). */
export const prerequisitesDocPath = 'docs/prerequisites.md';
/** Every file outside dist/ and argocd/ that synth writes (CI and the committed-output test check them all). */
export const generatedDocPaths: readonly string[] = [rulesDocPath, configurationDocPath, dashboardDocPath, prerequisitesDocPath];

/** Everything `npm run synth` produces, as repository-relative path -> file text. */
export interface SynthOutput {
  readonly files: ReadonlyMap<string, string>;
  readonly builds: readonly EnvironmentBuild[];
  /** Warnings and waived findings of the synth rules (errors throw). */
  readonly report: RuleReport;
  /**
   * Published images no digest is recorded for yet (before their first publish): one warning per image, naming every
   * service that uses it, rather than one per service in `report` (charts/rules/image-pinning.ts).
   */
  readonly unpublishedImages: readonly Finding[];
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
    for (const [file, yaml] of renderCharts(b.app, environmentCharts(b))) files.set(`dist/${b.environment.name}/${file}`, yaml);
    for (const c of b.companions) for (const [file, objects] of c.files) files.set(`${c.outputDir}/${file}`, Yaml.stringify(...objects));
  }
  if (environments === allEnvironments)
    checkEnvironmentRevisions(
      gitops,
      environments.map((e) => e.name),
    );
  const argo = buildGitOps(gitops, builds);
  for (const [file, yaml] of renderCharts(argo.app, argo.charts)) files.set(`argocd/${file}`, yaml);
  files.set(rulesDocPath, renderRulesDoc());
  files.set(configurationDocPath, renderConfigurationDoc());
  files.set(dashboardDocPath, replacePanelTable(readFileSync(new URL(`../${dashboardDocPath}`, import.meta.url), 'utf8')));
  const objects = [...files]
    .filter(([path]) => path.endsWith('.yaml'))
    .flatMap(([file, text]) => parseAllDocuments(text).map((d) => ({ file, object: d.toJSON() as ObjectSource['object'] })));
  const prerequisitesPage = readFileSync(new URL(`../${prerequisitesDocPath}`, import.meta.url), 'utf8');
  files.set(prerequisitesDocPath, replacePrerequisites(prerequisitesPage, renderPrerequisites(derivePrerequisites(objects, environments))));
  return { files, builds, report, unpublishedImages: unpublishedImageWarnings(builds) };
}

/** Run the synth rules; throw with every error (and unknown waiver) at once. */
export function checkRules(builds: readonly EnvironmentBuild[]): RuleReport {
  const report = runRules(builds);
  const fileOf = (env: string): string | undefined => builds.find((b) => b.environment.name === env)?.environment.definedIn;
  const badWaivers = invalidWaivers(builds);
  if (report.errors.length > 0 || badWaivers.length > 0) {
    // A GPU service whose maximum does not fit is refused by the capacity rules; say the bound that fits beside them.
    const gpuBounds = builds.flatMap((b) =>
      environmentGpuReach(
        b.environment,
        b.services.map((s) => s.service.plan),
      )
        .filter((r) => r.declaredPods > r.reachablePods)
        .map((r) => `gpu reach ${b.environment.name}/${r.service}: ${r.text}`),
    );
    throw new RuleViolationError(report, [...report.errors.map((f) => formatFinding(f, fileOf(f.environment))), ...badWaivers, ...gpuBounds]);
  }
  return report;
}

/**
 * Where synth stages its output before swapping it in: inside the repository (so every rename stays
 * on one filesystem) and git-ignored.
 */
export const stagingParent = 'build';

/** The top-level outputs synth owns: each is replaced as a whole, by one rename. */
function outputRoots(output: SynthOutput): string[] {
  const roots = new Set<string>();
  for (const path of output.files.keys()) {
    const top = path.split('/')[0]!;
    roots.add(top === 'dist' || top === 'argocd' ? top : path);
  }
  return [...roots].sort();
}

/** Every file under an output root (a directory or one file) as relative path -> bytes. */
function readTree(root: string, rel: string): Map<string, Buffer> | undefined {
  const full = join(root, rel);
  if (!existsSync(full)) return undefined;
  if (!statSync(full).isDirectory()) return new Map([[rel, readFileSync(full)]]);
  return new Map(listFiles(root, rel).map((p) => [p, readFileSync(join(root, p))]));
}

function sameTree(a: Map<string, Buffer> | undefined, b: Map<string, Buffer> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.size !== b.size) return false;
  for (const [p, bytes] of a) {
    const other = b.get(p);
    if (other === undefined || !other.equals(bytes)) return false;
  }
  return true;
}

/**
 * Replace dist/, argocd/ and the generated files under `root` with exactly the synthesized files
 * (stale files vanish), never leaving them empty or half-written: everything is written to a
 * staging directory first, then each output root is swapped in with one rename, and an output
 * whose bytes did not change is not touched at all. If any step fails, what was committed is
 * restored and the error is rethrown.
 */
export function writeOutput(root: string, output: SynthOutput): void {
  mkdirSync(join(root, stagingParent), { recursive: true });
  const staging = mkdtempSync(join(root, stagingParent, '.synth-'));
  const fresh = join(staging, 'new');
  const previous = join(staging, 'old');
  const swapped: string[] = [];
  try {
    for (const [path, text] of output.files) {
      const full = join(fresh, path);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, text);
    }
    for (const rel of outputRoots(output)) {
      if (sameTree(readTree(fresh, rel), readTree(root, rel))) continue;
      const target = join(root, rel);
      if (existsSync(target)) {
        mkdirSync(dirname(join(previous, rel)), { recursive: true });
        renameSync(target, join(previous, rel));
      }
      swapped.push(rel);
      mkdirSync(dirname(target), { recursive: true });
      renameSync(join(fresh, rel), target);
    }
  } catch (error) {
    for (const rel of swapped.reverse()) {
      const target = join(root, rel);
      if (existsSync(join(previous, rel))) {
        rmSync(target, { recursive: true, force: true });
        renameSync(join(previous, rel), target);
      }
    }
    throw error;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Copy the synthesized manifests into the directory the cdk8s CLI gave the app (CDK8S_OUTDIR), so
 * `cdk8s synth` lists them and its validation plugins see them. The CLI deletes that directory
 * before running the app, which is why cdk8s.yaml points it at a scratch directory and not at dist/.
 */
export function writeCliOutput(root: string, outdir: string, output: SynthOutput): void {
  const dir = resolve(outdir);
  const owned = outputRoots(output).map((rel) => resolve(root, rel));
  if (dir === resolve(root) || owned.some((o) => dir === o || dir.startsWith(`${o}${sep}`))) {
    // Pointed at the repository's own output: writeOutput has already put the files there.
    mkdirSync(dir, { recursive: true });
    return;
  }
  for (const [path, text] of output.files) {
    if (!path.endsWith('.yaml')) continue;
    const full = join(dir, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
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
