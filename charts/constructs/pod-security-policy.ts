import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import type { IPodSpec, IVolume } from 'kubernetes-models/v1';
import type { IPodSecurityPolicySpec } from 'kubernetes-models/policy/v1beta1';
import { syncWave, waves } from '../lib/argocd.js';
import { restrictedVolumeSources } from '../lib/pod-security.js';

/**
 * A PodSecurityPolicy written for one pod template, and the Role and RoleBinding that let the pods' service
 * account `use` it. Clusters on Kubernetes 1.24 and older with PodSecurityPolicy admission on (TKG's default)
 * refuse every pod no policy admits; the admission plugin accepts a policy the pod's service account may use
 * (kubernetes/kubernetes plugin/pkg/admission/security/podsecuritypolicy/admission.go authorizes `use` on
 * `podsecuritypolicies` in group `policy` for the requesting user or the pod's service account), so binding it
 * to the service account admits the pods whichever controller creates them.
 *
 * The policy is read off the pod template as synthesized, overrides included, and bounded by the restricted Pod
 * Security Standard; rule `pod-security-policy-admits` checks it against the pod from the other side.
 */

/** The seccomp profile annotations of a PodSecurityPolicy (pkg/security/podsecuritypolicy/seccomp/strategy.go). */
export const pspSeccompAnnotations = {
  allowed: 'seccomp.security.alpha.kubernetes.io/allowedProfileNames',
  default: 'seccomp.security.alpha.kubernetes.io/defaultProfileName',
} as const;

/** The PodSecurityPolicy volume type of a pod volume: its source field (`persistentVolumeClaim`, `emptyDir`, ...). */
export function volumeType(v: IVolume): string {
  return Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
}

/** The annotation value PodSecurityPolicy uses for a seccompProfile field (`RuntimeDefault` -> `runtime/default`). */
export function seccompAnnotationValue(profile: { type: string; localhostProfile?: string } | undefined): string | undefined {
  if (profile === undefined) return undefined;
  if (profile.type === 'RuntimeDefault') return 'runtime/default';
  if (profile.type === 'Localhost') return `localhost/${profile.localhostProfile ?? ''}`;
  return 'unconfined';
}

/** One value, or none when the pod's containers disagree or leave it unset. */
function single<T>(values: ReadonlyArray<T | undefined>): T | undefined {
  const set = new Set(values);
  return set.size === 1 ? [...set][0] : undefined;
}

/**
 * The PodSecurityPolicy spec (and its seccomp annotations) for `pod`: the pod's own users, groups, volume types and
 * seccomp profiles, bounded by the `restricted` Pod Security Standard the namespace enforces anyway. It never
 * admits privilege escalation, privileged containers, host namespaces or ports, root, an added capability other
 * than NET_BIND_SERVICE, a volume type outside the restricted set or an unconfined seccomp profile: a pod that needs
 * one of those is refused by the policy too (rule `pod-security-policy-admits` names what), so a waiver of the Pod
 * Security rules does not open a hole the policy would then admit.
 */
export function podSecurityPolicyFor(pod: IPodSpec): { spec: IPodSecurityPolicySpec; annotations: Record<string, string> } {
  const podSc = pod.securityContext ?? {};
  const containers = [...(pod.initContainers ?? []), ...pod.containers];
  const effective = containers.map((c) => c.securityContext ?? {});
  const uid = single(effective.map((sc) => sc.runAsUser ?? podSc.runAsUser));
  const gid = single(effective.map((sc) => sc.runAsGroup ?? podSc.runAsGroup));
  const exact = (id: number) => ({ rule: 'MustRunAs', ranges: [{ min: id, max: id }] });
  const localhost = effective
    .map((sc) => seccompAnnotationValue(sc.seccompProfile ?? podSc.seccompProfile))
    .filter((p): p is string => p?.startsWith('localhost/') === true);
  const addsNetBind = effective.some((sc) => (sc.capabilities?.add ?? []).includes('NET_BIND_SERVICE'));
  const groups = podSc.supplementalGroups ?? [];
  const spec: IPodSecurityPolicySpec = {
    privileged: false,
    allowPrivilegeEscalation: false,
    defaultAllowPrivilegeEscalation: false,
    requiredDropCapabilities: ['ALL'],
    ...(addsNetBind ? { allowedCapabilities: ['NET_BIND_SERVICE'] } : {}),
    volumes: [...new Set((pod.volumes ?? []).map(volumeType))].filter((t) => restrictedVolumeSources.has(t)).sort(),
    hostNetwork: false,
    hostIPC: false,
    hostPID: false,
    runAsUser: uid !== undefined && uid !== 0 ? exact(uid) : { rule: 'MustRunAsNonRoot' },
    ...(gid !== undefined ? { runAsGroup: exact(gid) } : {}),
    // fsGroup and supplemental groups: the pod's own; where it sets none, RunAsAny, so the policy does not mutate
    // the pod by giving it one (MustRunAs generates the first range's minimum).
    fsGroup: podSc.fsGroup !== undefined ? exact(podSc.fsGroup) : { rule: 'RunAsAny' },
    supplementalGroups:
      groups.length > 0 ? { rule: 'MustRunAs', ranges: [...new Set(groups)].sort((a, b) => a - b).map((g) => ({ min: g, max: g })) } : { rule: 'RunAsAny' },
    seLinux: { rule: 'RunAsAny' },
    readOnlyRootFilesystem: effective.every((sc) => sc.readOnlyRootFilesystem === true),
  };
  const allowed = ['runtime/default', ...new Set(localhost)];
  return { spec, annotations: { [pspSeccompAnnotations.allowed]: allowed.join(','), [pspSeccompAnnotations.default]: 'runtime/default' } };
}

export interface PodSecurityPolicyGrantProps {
  /**
   * Name of the PodSecurityPolicy. Cluster-scoped, so it carries the namespace: `<namespace>-<service>`.
   * No default: the caller knows both.
   */
  readonly policyName: string;
  /** Name of the Role and RoleBinding in the service's namespace. No default. */
  readonly name: string;
  /** Labels on all three objects (the service's). No default. */
  readonly labels: Record<string, string>;
  /** The service account the pods run as; the RoleBinding's subject. No default. */
  readonly serviceAccountName: string;
  /** The namespace of the service account (the chart's). No default. */
  readonly namespace: string;
  /**
   * The pod template the policy must admit, read when the chart is synthesized (so JSON patches and overrides
   * applied to the Deployment are seen). No default.
   */
  readonly podSpec: () => IPodSpec;
}

/**
 * The PodSecurityPolicy object: its spec and seccomp annotations are computed when it is rendered, from the pod
 * template as rendered then, and it carries no namespace (cluster-scoped, whatever the chart's namespace).
 */
class PodSecurityPolicyObject extends ApiObject {
  constructor(
    scope: Construct,
    id: string,
    private readonly meta: { name: string; labels: Record<string, string>; annotations: Record<string, string> },
    private readonly podSpec: () => IPodSpec,
  ) {
    super(scope, id, { apiVersion: 'policy/v1beta1', kind: 'PodSecurityPolicy', metadata: { name: meta.name } });
  }

  override toJson(): { metadata: Record<string, unknown> } & Record<string, unknown> {
    const json = super.toJson() as { metadata: Record<string, unknown> } & Record<string, unknown>;
    const { namespace: _clusterScoped, ...metadata } = json.metadata;
    const policy = podSecurityPolicyFor(this.podSpec());
    return {
      ...json,
      metadata: { ...metadata, labels: this.meta.labels, annotations: { ...this.meta.annotations, ...policy.annotations } },
      spec: policy.spec,
    };
  }
}

/** The PodSecurityPolicy for a service's pods and the RBAC that lets its service account use it. */
export class PodSecurityPolicyGrant extends Construct {
  constructor(scope: Construct, id: string, props: PodSecurityPolicyGrantProps) {
    super(scope, id);
    // Before the workload's wave, like the service account: a pod created without the policy is refused.
    const annotations = syncWave(waves.prerequisites);
    new PodSecurityPolicyObject(this, 'policy', { name: props.policyName, labels: props.labels, annotations }, props.podSpec);
    new ApiObject(this, 'role', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: props.name, labels: props.labels, annotations },
      rules: [{ apiGroups: ['policy'], resources: ['podsecuritypolicies'], resourceNames: [props.policyName], verbs: ['use'] }],
    });
    new ApiObject(this, 'binding', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: props.name, labels: props.labels, annotations },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: props.name },
      subjects: [{ kind: 'ServiceAccount', name: props.serviceAccountName, namespace: props.namespace }],
    });
  }
}
