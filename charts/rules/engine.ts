import type { EnvironmentBuild } from '../environment-chart.js';
import { rules } from './index.js';
import { buildRuleContext } from './context.js';
import { companionFindings, companionWaivableRuleIds } from './companions.js';
import type { Finding } from './types.js';

export interface RuleReport {
  readonly errors: readonly Finding[];
  readonly warnings: readonly Finding[];
  /** Findings a service waived, with the written reason. */
  readonly waived: readonly Finding[];
}

/** Run every rule against every service of every environment; collect all findings, not the first. */
export function runRules(builds: readonly EnvironmentBuild[]): RuleReport {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const waived: Finding[] = [];
  for (const build of builds) {
    const ctx = buildRuleContext(build, build.environment.cluster);
    for (const svc of ctx.services) {
      for (const rule of rules) {
        for (const r of rule.check(svc, ctx)) {
          const waiver = svc.plan.props.waivers?.[rule.id];
          const finding: Finding = {
            ruleId: rule.id,
            severity: r.severity ?? rule.severity,
            environment: build.environment.name,
            service: svc.name,
            message: r.message,
            fix: r.fix ?? rule.fix,
            ...(waiver !== undefined ? { waiver } : {}),
          };
          if (waiver !== undefined) waived.push(finding);
          else if (finding.severity === 'error') errors.push(finding);
          else warnings.push(finding);
        }
      }
    }
    // The companions' own pods, under the rule ids that apply to every pod (charts/rules/companions.ts).
    for (const finding of companionFindings(build)) {
      if (finding.waiver !== undefined) waived.push(finding);
      else if (finding.severity === 'error') errors.push(finding);
      else warnings.push(finding);
    }
  }
  return { errors, warnings, waived };
}

export function formatFinding(f: Finding, definedIn?: string): string {
  const where = definedIn ? `${definedIn}: ` : '';
  const tail = f.waiver !== undefined ? ` (waived: ${f.waiver})` : ` Fix: ${f.fix}`;
  return `${f.severity} [${f.ruleId}] ${where}${f.environment}/${f.service}: ${f.message}.${tail}`;
}

export class RuleViolationError extends Error {
  constructor(
    readonly report: RuleReport,
    lines: readonly string[],
  ) {
    super(`${report.errors.length} synth rule error(s):\n${lines.map((l) => `  ${l}`).join('\n')}`);
    this.name = 'RuleViolationError';
  }
}

/** Minimum length of a waiver's written reason: a reviewer must be able to tell why. */
export const minWaiverReasonLength = 15;

/**
 * Waivers that are themselves mistakes: an id that names no rule (a typo would silently waive
 * nothing), or a reason too short to tell a reviewer why.
 */
export function invalidWaivers(builds: readonly EnvironmentBuild[]): string[] {
  const ids = new Set(rules.map((r) => r.id));
  const ofCompanions = builds.flatMap((b) =>
    b.companions.flatMap((c) =>
      Object.entries(c.declaration.waivers ?? {}).flatMap(([id, reason]) => {
        const where = `${b.environment.definedIn}: ${b.environment.name}/companions/${c.name}: waivers`;
        if (!companionWaivableRuleIds.includes(id))
          return [`${where}: "${id}" is not a rule of a companion's own pods. Fix: use one of ${companionWaivableRuleIds.join(', ')}`];
        if (reason.trim().length < minWaiverReasonLength)
          return [
            `${where}: "${id}" needs a written reason (at least ${minWaiverReasonLength} characters), got "${reason}". Fix: say why the rule does not apply and until when`,
          ];
        return [];
      }),
    ),
  );
  return [
    ...ofCompanions,
    ...builds.flatMap((b) =>
      b.services.flatMap((s) =>
        Object.entries(s.service.plan.props.waivers ?? {}).flatMap(([id, reason]) => {
          const where = `${b.environment.definedIn}: ${b.environment.name}/${s.service.plan.name}: waivers`;
          if (!ids.has(id)) return [`${where}: unknown rule id "${id}". Fix: use an id from docs/rules.md`];
          if (reason.trim().length < minWaiverReasonLength)
            return [
              `${where}: "${id}" needs a written reason (at least ${minWaiverReasonLength} characters), got "${reason}". Fix: say why the rule does not apply and until when`,
            ];
          return [];
        }),
      ),
    ),
  ];
}
