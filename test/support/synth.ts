/**
 * Synth outcomes for tests: the rule errors of a synth that should fail, or none when it passes. Any other
 * exception (a bug, a config error) is rethrown, so a test never mistakes it for a rule verdict.
 */
import { RuleViolationError } from '../../charts/rules/engine.js';
import type { Finding } from '../../charts/rules/types.js';
import type { Environment } from '../../charts/environments/types.js';
import { synthesizeAll } from '../../charts/synth.js';

/** Error findings of a synth of these environments; [] when it passes. */
export function synthErrors(envs: Environment[]): Finding[] {
  try {
    synthesizeAll(envs);
    return [];
  } catch (err) {
    if (err instanceof RuleViolationError) return [...err.report.errors];
    throw err;
  }
}

/** The distinct rule ids of those errors, sorted. */
export const synthErrorIds = (envs: Environment[]): string[] => [...new Set(synthErrors(envs).map((f) => f.ruleId))].sort();

/** The RuleViolationError of a synth that must fail; throws when it passes. */
export function synthError(e: Environment): RuleViolationError {
  try {
    synthesizeAll([e]);
  } catch (err) {
    if (err instanceof RuleViolationError) return err;
    throw err;
  }
  throw new Error('expected synth to fail');
}
