import type { IPodSecurityPolicySpec } from 'kubernetes-models/policy/v1beta1';
import type { IPodSpec } from 'kubernetes-models/v1';
import { clusterMinor, podSecurityPolicyRemovedMinor } from '../clusters/versions.js';
import { pspSeccompAnnotations, seccompAnnotationValue, volumeType } from '../constructs/pod-security-policy.js';
import type { Manifest, Rule } from './types.js';

/**
 * PodSecurityPolicy admission as Kubernetes 1.24 and older performed it, modelled on kubernetes/kubernetes
 * pkg/security/podsecuritypolicy (provider.go MutatePod / ValidatePod / validateContainer and the strategies under
 * user/, group/, capabilities/, seccomp/) and plugin/pkg/admission/security/podsecuritypolicy/admission.go (a
 * policy counts only when the pod's service account, or the user creating the pod, may `use` it).
 */

type IdRange = { readonly min: number; readonly max: number };
type RangeRule = { readonly rule?: string; readonly ranges?: readonly IdRange[] };

/** A PodSecurityPolicy as synthesized. */
export interface PodSecurityPolicyObject {
  readonly metadata: { readonly name: string; readonly annotations?: Readonly<Record<string, string>> };
  readonly spec: IPodSecurityPolicySpec;
}

const inRanges = (id: number, ranges: readonly IdRange[] | undefined) => (ranges ?? []).some((r) => id >= r.min && id <= r.max);

/**
 * A MustRunAs id strategy (group/mustrunas.go, user/mustrunas.go): an unset id is generated from the first range
 * by MutatePod, so only an id outside every range is refused.
 */
function idOutside(what: string, id: number | undefined, rule: RangeRule | undefined): string[] {
  if (rule?.rule !== 'MustRunAs' || id === undefined || inRanges(id, rule.ranges)) return [];
  return [`${what} ${id} is outside the policy's ranges ${(rule.ranges ?? []).map((r) => `${r.min}-${r.max}`).join(', ') || '(none)'}`];
}

/** What a PodSecurityPolicy refuses in a pod, one line each; [] when it admits the pod (after its own defaulting). */
export function podSecurityPolicyViolations(pod: IPodSpec, psp: PodSecurityPolicyObject): string[] {
  const spec = psp.spec;
  const out: string[] = [];
  const podSc = pod.securityContext ?? {};
  for (const ns of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (pod[ns] === true && spec[ns] !== true) out.push(`pod: ${ns} is not allowed`);
  const volumes = new Set(spec.volumes ?? []);
  for (const v of pod.volumes ?? [])
    if (!volumes.has('*') && !volumes.has(volumeType(v))) out.push(`volume ${v.name}: ${volumeType(v)} volumes are not allowed`);
  out.push(...idOutside('fsGroup', podSc.fsGroup, spec.fsGroup));
  for (const g of podSc.supplementalGroups ?? []) out.push(...idOutside('supplemental group', g, spec.supplementalGroups));
  const allowedSeccomp = psp.metadata.annotations?.[pspSeccompAnnotations.allowed];
  const allowedProfiles = allowedSeccomp === undefined ? undefined : allowedSeccomp.split(',');
  const defaultProfile = psp.metadata.annotations?.[pspSeccompAnnotations.default];
  const podProfile = seccompAnnotationValue(podSc.seccompProfile) ?? defaultProfile;
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    const sc = c.securityContext ?? {};
    const at = `container ${c.name}`;
    const uid = sc.runAsUser ?? podSc.runAsUser;
    if (spec.runAsUser.rule === 'MustRunAsNonRoot') {
      // user/nonroot.go: uid 0 is refused; no uid is admitted because MutatePod then sets runAsNonRoot, unless it is false.
      if (uid === 0) out.push(`${at}: runs as uid 0 and the policy requires non-root`);
      if (uid === undefined && (sc.runAsNonRoot ?? podSc.runAsNonRoot) === false)
        out.push(`${at}: runAsNonRoot false and no uid, the policy requires non-root`);
    } else out.push(...idOutside(`${at}: runAsUser`, uid, spec.runAsUser));
    out.push(...idOutside(`${at}: runAsGroup`, sc.runAsGroup ?? podSc.runAsGroup, spec.runAsGroup));
    if (sc.privileged === true && spec.privileged !== true) out.push(`${at}: privileged containers are not allowed`);
    // An unset allowPrivilegeEscalation is defaulted to the policy's (defaultAllowPrivilegeEscalation, else false).
    const escalation = sc.allowPrivilegeEscalation ?? spec.defaultAllowPrivilegeEscalation ?? spec.allowPrivilegeEscalation ?? true;
    if (spec.allowPrivilegeEscalation === false && escalation) out.push(`${at}: allowPrivilegeEscalation is not allowed`);
    // capabilities/mustrunas.go: required drops are added by MutatePod, so only adding one is refused; an added
    // capability must be allowed (or a default add).
    const allowedCaps = new Set([...(spec.allowedCapabilities ?? []), ...(spec.defaultAddCapabilities ?? [])]);
    for (const cap of sc.capabilities?.add ?? []) {
      if ((spec.requiredDropCapabilities ?? []).includes(cap)) out.push(`${at}: adds capability ${cap}, which the policy requires dropped`);
      else if (!allowedCaps.has('*') && !allowedCaps.has(cap)) out.push(`${at}: capability ${cap} may not be added`);
    }
    for (const p of c.ports ?? [])
      if ((p.hostPort ?? 0) > 0 && !(spec.hostPorts ?? []).some((r) => p.hostPort! >= r.min && p.hostPort! <= r.max))
        out.push(`${at}: host port ${p.hostPort} is not allowed`);
    // provider.go: with readOnlyRootFilesystem required, an unset value is defaulted to true; false is refused.
    if (spec.readOnlyRootFilesystem === true && sc.readOnlyRootFilesystem === false) out.push(`${at}: readOnlyRootFilesystem must be true`);
    // seccomp/strategy.go: the container's profile, else the pod's (defaulted to the policy's default profile).
    const profile = seccompAnnotationValue(sc.seccompProfile) ?? podProfile;
    if (allowedProfiles === undefined) {
      if (profile !== undefined) out.push(`${at}: seccomp profile ${profile} may not be set (the policy allows none)`);
    } else if (!allowedProfiles.includes('*') && !allowedProfiles.includes(profile ?? ''))
      out.push(`${at}: seccomp profile ${profile ?? '(none)'} is not allowed (allowed: ${allowedSeccomp})`);
  }
  return out;
}

interface RoleLike {
  readonly metadata: { readonly name: string };
  readonly rules?: ReadonlyArray<{ apiGroups?: string[]; resources?: string[]; resourceNames?: string[]; verbs?: string[] }>;
}
interface RoleBindingLike {
  readonly metadata: { readonly name: string };
  readonly roleRef: { readonly kind: string; readonly name: string };
  readonly subjects?: ReadonlyArray<{ kind: string; name: string; namespace?: string }>;
}

/** The PodSecurityPolicies among `objects` that a Role bound to the service account lets it `use`. */
export function usablePolicies(objects: readonly Manifest[], serviceAccount: string, namespace: string): PodSecurityPolicyObject[] {
  const of = <T>(kind: string) => objects.filter((o) => o.kind === kind) as unknown as T[];
  const roles = of<RoleLike>('Role');
  const bound = of<RoleBindingLike>('RoleBinding')
    .filter((b) => (b.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === serviceAccount && (s.namespace ?? namespace) === namespace))
    .flatMap((b) => roles.filter((r) => b.roleRef.kind === 'Role' && r.metadata.name === b.roleRef.name));
  const grants = (name: string) =>
    bound.some((r) =>
      (r.rules ?? []).some(
        (rule) =>
          (rule.apiGroups ?? []).some((g) => g === 'policy' || g === '*') &&
          (rule.resources ?? []).some((x) => x === 'podsecuritypolicies' || x === '*') &&
          (rule.verbs ?? []).some((v) => v === 'use' || v === '*') &&
          (rule.resourceNames === undefined || rule.resourceNames.length === 0 || rule.resourceNames.includes(name)),
      ),
    );
  return of<PodSecurityPolicyObject>('PodSecurityPolicy').filter((p) => grants(p.metadata.name));
}

export const podSecurityPolicyRules: readonly Rule[] = [
  {
    id: 'pod-security-policy-admits',
    severity: 'error',
    checks: `Where the profile enforces PodSecurityPolicy (Kubernetes 1.24 and older), a policy the pods' service account may \`use\` (a Role with verb use on it, bound to the service account) admits the pod as the admission plugin would: users and groups in its ranges or non-root, no privilege escalation, no capability it does not allow, only its volume types, no host namespaces or ports, its seccomp profiles, a read-only root filesystem where it requires one. No policy/v1beta1 PodSecurityPolicy on 1.${podSecurityPolicyRemovedMinor} or later, which does not serve it.`,
    why: 'On TKG 1.23 every pod was refused for want of a PodSecurityPolicy and the Deployment showed no pods at all; a policy that does not match the pod (a uid outside its range, a volume type it omits) fails the same way, and only at sync time.',
    fix: 'Keep the generated policy (it is read off the pod template); if an override widens the pod, the policy follows it. On 1.25 or later set podSecurityPolicyAdmission false in the profile.',
    check: (svc, env) => {
      const minor = clusterMinor(env.cluster);
      const policies = svc.objects.filter((o) => o.kind === 'PodSecurityPolicy');
      if (minor >= podSecurityPolicyRemovedMinor)
        return policies.map((p) => ({
          message: `PodSecurityPolicy ${p.metadata.name} (policy/v1beta1) is not served by Kubernetes 1.${minor} on cluster ${env.cluster.name}`,
        }));
      if (env.cluster.podSecurityPolicyAdmission !== true) return [];
      const serviceAccount = svc.pod.serviceAccountName ?? 'default';
      const usable = usablePolicies(svc.objects, serviceAccount, env.environment.namespace);
      if (usable.length === 0)
        return [
          {
            message: `cluster ${env.cluster.name} (Kubernetes 1.${minor}) enforces PodSecurityPolicy and no policy is usable by service account ${serviceAccount} (no Role granting use, bound to it): every pod would be refused`,
          },
        ];
      const verdicts = usable.map((p) => ({ name: p.metadata.name, violations: podSecurityPolicyViolations(svc.pod, p) }));
      if (verdicts.some((v) => v.violations.length === 0)) return [];
      return verdicts.map((v) => ({ message: `PodSecurityPolicy ${v.name} refuses the pod: ${v.violations.join('; ')}` }));
    },
  },
];
