/**
 * `npm run review`: what a change does to each environment, as Markdown for a pull-request comment.
 * Compares dist/ at a base revision (committed; `npm run synth` keeps it byte-identical to the synth of that
 * revision) with the working tree synthesized in memory (every synth rule run), or with another revision's dist/.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { environments } from '../../charts/environments/index.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { RuleViolationError } from '../../charts/rules/engine.js';
import { synthesizeAll } from '../../charts/synth.js';
import { renderReview, reviewEnvironment, type EnvObjects } from './review.js';

const usage = `usage: npm run review -- [--base <rev>] [--head <rev>]

Prints, per environment and service, what the change does: pods restarted and how, worst-case
unavailability from the startup window, bytes downloaded again, requests before and after against the
cluster's capacity and the namespace's quota, and the synth rules' outcome (Markdown).

  --base <rev>  revision to compare against (default: git merge-base HEAD main)
  --head <rev>  revision to review (default: the working tree, synthesized in memory)
  --help        this text
`;

const root = fileURLToPath(new URL('../..', import.meta.url));
const git = (...args: string[]): string => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** dist/<env>/ objects per environment at a revision. */
export function distAt(rev: string): Map<string, EnvObjects> {
  const out = new Map<string, unknown[]>();
  const files = git('ls-tree', '-r', '--name-only', rev, 'dist/')
    .split('\n')
    // Every file under dist/<env>/, companions' subfolders included, as synth writes them (charts/synth.ts).
    .filter((f) => /^dist\/[^/]+\/.+\.ya?ml$/.test(f));
  for (const f of files) {
    const env = f.split('/')[1] as string;
    const docs = parseAllDocuments(git('show', `${rev}:${f}`))
      .map((d) => d.toJSON())
      .filter((o) => o !== null);
    out.set(env, [...(out.get(env) ?? []), ...docs]);
  }
  return out;
}

function main(argv: string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage);
    return 0;
  }
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const unknown = argv.filter((a, i) => a.startsWith('-') && !['--base', '--head'].includes(a) && !['--base', '--head'].includes(argv[i - 1] ?? ''));
  if (unknown.length > 0) {
    process.stderr.write(`review: unknown option ${unknown[0]}\n\n${usage}`);
    return 2;
  }
  let base = opt('--base');
  try {
    base ??= git('merge-base', 'HEAD', 'main').trim();
  } catch {
    process.stderr.write('review: no merge base with main; pass --base <rev>\n');
    return 2;
  }
  const before = distAt(base);
  const headRev = opt('--head');
  let after: Map<string, EnvObjects>;
  let rules: (environment: string) => string;
  if (headRev) {
    after = distAt(headRev);
    rules = () => `not run (${headRev} read from its committed dist/)`;
  } else {
    try {
      const out = synthesizeAll();
      after = new Map();
      for (const [path, text] of out.files) {
        const m = /^dist\/([^/]+)\//.exec(path);
        if (!m) continue;
        after.set(m[1] as string, [
          ...(after.get(m[1] as string) ?? []),
          ...parseAllDocuments(text)
            .map((d) => d.toJSON())
            .filter((o) => o !== null),
        ]);
      }
      const findings = [...out.report.warnings, ...out.report.waived];
      rules = (environment) => {
        const notes = findings.filter((f) => f.environment === environment).length;
        return notes === 0 ? 'all passed' : `passed, ${notes} warning(s) or waived finding(s) (npm run synth lists them)`;
      };
    } catch (e) {
      if (e instanceof ChartConfigError || e instanceof RuleViolationError) {
        process.stdout.write(`## What this change does\n\n**Synth refuses this change**, so nothing would deploy:\n\n\`\`\`\n${e.message}\n\`\`\`\n`);
        return 1;
      }
      throw e;
    }
  }
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  const reviews = names.map((n) =>
    reviewEnvironment(
      n,
      before.get(n),
      after.get(n),
      environments.find((e) => e.name === n),
      rules(n),
    ),
  );
  process.stdout.write(`${renderReview(reviews, `What this change does (${base.slice(0, 12)} -> ${headRev ?? 'working tree'})`)}\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
