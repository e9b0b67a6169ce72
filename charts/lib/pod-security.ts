/**
 * The Pod Security Standard level every environment namespace enforces and warns on: the Namespace labels
 * charts/environment-chart.ts writes, and the level the `pod-security-admission-matches` rule
 * (charts/rules/admission.ts) checks each pod against. Kept here so the chart does not import a rule module.
 */
export const namespacePodSecurityLevel = 'restricted' as const;

/**
 * Volume sources the `restricted` level allows (kubernetes/kubernetes pod-security-admission
 * policy/check_restrictedVolumes.go): the admission rule checks pods against it, and a generated
 * PodSecurityPolicy allows no volume type outside it (charts/constructs/pod-security-policy.ts).
 */
export const restrictedVolumeSources: ReadonlySet<string> = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
