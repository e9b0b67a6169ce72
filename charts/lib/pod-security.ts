/**
 * The Pod Security Standard level every environment namespace enforces and warns on: the Namespace labels
 * charts/environment-chart.ts writes, and the level the `pod-security-admission-matches` rule
 * (charts/rules/admission.ts) checks each pod against. Kept here so the chart does not import a rule module.
 */
export const namespacePodSecurityLevel = 'restricted' as const;
