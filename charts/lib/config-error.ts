/**
 * A configuration mistake found while synthesizing. The message names where the
 * service is defined, the service, the field and how to fix it, so `npm run synth`
 * fails with something a reviewer can act on.
 */
export interface ConfigProblem {
  /** Repository-relative file that defines the object, e.g. `charts/environments/production.ts`. */
  readonly file: string;
  /** `<environment>/<service>` */
  readonly object: string;
  /** The prop at fault, e.g. `contextSize`. */
  readonly field: string;
  readonly problem: string;
  readonly fix: string;
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}: ${p.object}: ${p.field}: ${p.problem}. Fix: ${p.fix}`;
}

export class ChartConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${formatProblem(p)}`).join('\n')}`,
    );
    this.name = 'ChartConfigError';
  }
}
