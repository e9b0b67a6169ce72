import type { IContainer, IPodSecurityContext, IPodSpec, ISecurityContext } from 'kubernetes-models/v1';
import type { PolarisSeverity } from '../clusters/types.js';
import { clusterMinor, minimumKubernetesMinor, podSecurityPolicyRemovedMinor } from '../clusters/versions.js';
import type { EnvironmentContext, Rule, ServiceContext } from './types.js';
import { namespacePodSecurityLevel, restrictedVolumeSources } from '../lib/pod-security.js';

/**
 * Admission as the cluster performs it: Pod Security Admission on the namespace's level, Polaris's
 * validating webhook, Kyverno ClusterPolicies. Each check is modelled on the policy's own source (cited per
 * check); a rule fails when the admission controller would refuse the pods, so a sync that would leave a
 * Deployment with no pods fails synth instead.
 */

type Level = 'baseline' | 'restricted';

/** Every container of the pod template, init containers included (admission checks them all). */
function containersOf(pod: IPodSpec): IContainer[] {
  return [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
}

/** Capabilities the baseline level lets a container add (pod-security-admission check_capabilities_baseline.go). */
const baselineCapabilities = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);

/**
 * What a Pod Security level forbids in a pod spec, one line each; [] when the level admits it. Modelled on
 * kubernetes/kubernetes staging/src/k8s.io/pod-security-admission/policy (check_hostNamespaces,
 * check_privileged, check_capabilities_baseline, check_hostPathVolumes, check_hostPorts,
 * check_seccompProfile_baseline; restricted adds check_restrictedVolumes, check_allowPrivilegeEscalation,
 * check_runAsNonRoot, check_runAsUser, check_seccompProfile_restricted, check_capabilities_restricted).
 */
export function podSecurityViolations(pod: IPodSpec, level: Level): string[] {
  const out: string[] = [];
  const podSc = pod.securityContext ?? {};
  for (const ns of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (pod[ns] === true) out.push(`${ns}: true`);
  for (const v of pod.volumes ?? []) if (v.hostPath) out.push(`volume ${v.name} is a hostPath`);
  if (podSc.seccompProfile?.type === 'Unconfined') out.push('pod seccompProfile Unconfined');
  for (const c of containersOf(pod)) {
    const sc = c.securityContext ?? {};
    if (sc.privileged === true) out.push(`container ${c.name}: privileged`);
    for (const cap of sc.capabilities?.add ?? []) if (!baselineCapabilities.has(cap)) out.push(`container ${c.name}: adds capability ${cap}`);
    for (const p of c.ports ?? []) if ((p.hostPort ?? 0) !== 0) out.push(`container ${c.name}: hostPort ${p.hostPort}`);
    if (sc.seccompProfile?.type === 'Unconfined') out.push(`container ${c.name}: seccompProfile Unconfined`);
  }
  if (level === 'baseline') return out;
  for (const v of pod.volumes ?? []) {
    const source = Object.keys(v).find((k) => k !== 'name');
    if (source !== undefined && !restrictedVolumeSources.has(source) && source !== 'hostPath') out.push(`volume ${v.name} of type ${source}`);
  }
  const podSeccomp = podSc.seccompProfile?.type;
  for (const c of containersOf(pod)) {
    const sc = c.securityContext ?? {};
    if (sc.allowPrivilegeEscalation !== false) out.push(`container ${c.name}: allowPrivilegeEscalation is not false`);
    // runAsNonRoot: the container's own setting wins; unset, the pod's must be true.
    if (sc.runAsNonRoot === false || (sc.runAsNonRoot === undefined && podSc.runAsNonRoot !== true)) out.push(`container ${c.name}: runAsNonRoot is not true`);
    if (sc.runAsUser === 0 || (sc.runAsUser === undefined && podSc.runAsUser === 0)) out.push(`container ${c.name}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? podSeccomp;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') out.push(`container ${c.name}: seccompProfile is not RuntimeDefault or Localhost`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`container ${c.name}: capabilities do not drop ALL`);
    for (const cap of sc.capabilities?.add ?? [])
      if (cap !== 'NET_BIND_SERVICE' && baselineCapabilities.has(cap))
        out.push(`container ${c.name}: adds capability ${cap} (restricted allows only NET_BIND_SERVICE)`);
  }
  return out;
}

/**
 * Polaris's default check severities for the checks below (FairwindsOps/polaris pkg/config/default.yaml):
 * all `danger`, the only severity its webhook denies on.
 */
export const polarisDefaultSeverities: Readonly<Record<string, PolarisSeverity>> = {
  sensitiveContainerEnvVar: 'danger',
  tagNotSpecified: 'danger',
  runAsRootAllowed: 'danger',
  privilegeEscalationAllowed: 'danger',
  runAsPrivileged: 'danger',
  dangerousCapabilities: 'danger',
  hostNetworkSet: 'danger',
  hostPIDSet: 'danger',
  hostIPCSet: 'danger',
};

/** The patterns `sensitiveContainerEnvVar` refuses in a name set with a literal `value`. */
const sensitiveEnvNames = [
  /^AWS_SECRET_ACCESS_KEY$/i,
  /^GOOGLE_APPLICATION_CREDENTIALS$/i,
  /^AZURE_.+KEY$/i,
  /^OCI_CLI_KEY_CONTENT$/i,
  /password/i,
  /token/i,
  /bearer/i,
  /secret/i,
];
const privateKeyValue = /\s*-BEGIN\s+.*PRIVATE KEY-\s*/i;

/**
 * Polaris checks our pods could trip, each the JSON schema of pkg/config/checks/<id>.yaml read as code:
 * which containers (init containers too, as schema.go applies container checks to both) fail it, and why.
 */
const polarisChecks: Readonly<Record<string, (pod: IPodSpec) => string[]>> = {
  // Fails an env entry that has a literal value and a sensitive name (or a private key as its value);
  // valueFrom (a secretKeyRef) passes whatever its name.
  sensitiveContainerEnvVar: (pod) =>
    containersOf(pod).flatMap((c) =>
      (c.env ?? [])
        .filter((e) => e.value !== undefined && (sensitiveEnvNames.some((re) => re.test(e.name)) || privateKeyValue.test(String(e.value))))
        .map((e) => `container ${c.name}: env ${e.name} has a literal value and a name Polaris takes for a credential`),
    ),
  tagNotSpecified: (pod) =>
    containersOf(pod).flatMap((c) =>
      !/^.+:.+$/.test(c.image ?? '') || /^.+:latest$/.test(c.image ?? '') ? [`container ${c.name}: image ${c.image} has no tag or is :latest`] : [],
    ),
  // Passes when the pod says non-root (runAsNonRoot true or runAsUser >= 1) and the container does not undo it, or the container says so itself.
  runAsRootAllowed: (pod) => {
    const good = (sc: ISecurityContext | IPodSecurityContext | undefined) =>
      sc !== undefined && ((sc.runAsUser !== undefined && sc.runAsUser >= 1) || sc.runAsNonRoot === true);
    const notBad = (sc: ISecurityContext | undefined) =>
      sc === undefined || ((sc.runAsUser === undefined || sc.runAsUser >= 1) && (sc.runAsNonRoot === undefined || sc.runAsNonRoot === true));
    return containersOf(pod).flatMap((c) =>
      (good(pod.securityContext) && notBad(c.securityContext)) || good(c.securityContext) ? [] : [`container ${c.name}: may run as root`],
    );
  },
  privilegeEscalationAllowed: (pod) =>
    containersOf(pod).flatMap((c) => (c.securityContext?.allowPrivilegeEscalation === true ? [`container ${c.name}: allowPrivilegeEscalation true`] : [])),
  runAsPrivileged: (pod) =>
    ((pod.securityContext as { privileged?: boolean } | undefined)?.privileged === true ? ['pod: privileged'] : []).concat(
      containersOf(pod).flatMap((c) => (c.securityContext?.privileged === true ? [`container ${c.name}: privileged`] : [])),
    ),
  dangerousCapabilities: (pod) =>
    containersOf(pod).flatMap((c) =>
      (c.securityContext?.capabilities?.add ?? []).some((a: string) => /^(ALL|SYS_ADMIN|NET_ADMIN)$/i.test(a))
        ? [`container ${c.name}: adds ALL, SYS_ADMIN or NET_ADMIN`]
        : [],
    ),
  hostNetworkSet: (pod) => (pod.hostNetwork === true ? ['pod: hostNetwork'] : []),
  hostPIDSet: (pod) => (pod.hostPID === true ? ['pod: hostPID'] : []),
  hostIPCSet: (pod) => (pod.hostIPC === true ? ['pod: hostIPC'] : []),
};

/** Polaris's exemption annotations on the controller (pkg/validator/schema.go hasExemptionAnnotation). */
function polarisExempt(deployment: ServiceContext['deployment'], checkId: string): boolean {
  const a = deployment.metadata.annotations ?? {};
  return (
    String(a['polaris.fairwinds.com/exempt'] ?? '').toLowerCase() === 'true' ||
    String(a[`polaris.fairwinds.com/${checkId}-exempt`] ?? '').toLowerCase() === 'true'
  );
}

/** What the Polaris webhook would deny the service's Deployment for, one line per failing danger check. */
export function polarisDenials(svc: Pick<ServiceContext, 'deployment' | 'pod'>, severities: Readonly<Record<string, PolarisSeverity>> = {}): string[] {
  return Object.entries(polarisChecks).flatMap(([id, check]) => {
    const severity = severities[id] ?? polarisDefaultSeverities[id];
    if (severity !== 'danger' || polarisExempt(svc.deployment, id)) return [];
    return check(svc.pod).map((why) => `${id}: ${why}`);
  });
}

/**
 * The kyverno/policies best-practice ClusterPolicies this repository models, by policy name: what each
 * validates on a pod (auto-generated for Deployments by Kyverno's autogen).
 */
export const kyvernoPolicies: Readonly<Record<string, (pod: IPodSpec) => string[]>> = {
  // best-practices/disallow-latest-tag: every container, init and ephemeral container has a tag, not `latest`.
  'disallow-latest-tag': (pod) =>
    [...containersOf(pod), ...(pod.ephemeralContainers ?? [])].flatMap((c) =>
      !/^.*:.*$/.test(c.image ?? '')
        ? [`container ${c.name}: image ${c.image} has no tag`]
        : /:latest$/.test(c.image ?? '')
          ? [`container ${c.name}: image ${c.image} is :latest`]
          : [],
    ),
  // best-practices/require-pod-requests-limits (policy name require-requests-limits): containers and init
  // containers request memory and CPU and limit memory.
  'require-requests-limits': (pod) =>
    containersOf(pod).flatMap((c) => {
      const r = c.resources ?? {};
      const missing = [
        r.requests?.memory === undefined ? 'requests.memory' : '',
        r.requests?.cpu === undefined ? 'requests.cpu' : '',
        r.limits?.memory === undefined ? 'limits.memory' : '',
      ].filter((m) => m !== '');
      return missing.length > 0 ? [`container ${c.name}: no ${missing.join(', ')}`] : [];
    }),
  // best-practices/require-probes (policy name require-pod-probes): every app container (not init) has a
  // liveness, readiness or startup probe.
  'require-pod-probes': (pod) =>
    pod.containers.flatMap((c) =>
      c.livenessProbe || c.readinessProbe || c.startupProbe ? [] : [`container ${c.name}: no liveness, readiness or startup probe`],
    ),
};

/**
 * A pod field naming a cluster-scoped class (PriorityClass, RuntimeClass) that admission must find: a finding when
 * the name is neither in the profile's list nor one the API server creates itself. Not checked when the profile
 * lists none (unknown is not absent).
 */
function namedClassMissing(
  field: string,
  kind: string,
  name: string | undefined,
  known: readonly string[] | undefined,
  builtIn: readonly string[],
  env: EnvironmentContext,
): { message: string }[] {
  if (name === undefined || known === undefined || known.includes(name) || builtIn.includes(name)) return [];
  return [
    {
      message: `${field} "${name}" is not a ${kind} of cluster ${env.cluster.name} (profile ${env.cluster.definedIn} lists: ${[...known, ...builtIn].join(', ') || 'none'})`,
    },
  ];
}

export const admissionRules: readonly Rule[] = [
  {
    id: 'pod-security-admission-matches',
    severity: 'error',
    checks: `Pods are admitted by what the cluster enforces: Pod Security Admission labels (served from 1.${minimumKubernetesMinor}); a profile that says PodSecurityPolicy admission is on runs Kubernetes older than 1.${podSecurityPolicyRemovedMinor}, which removed it (below that, pod-security-policy-admits checks the generated policy).`,
    why: 'A profile claiming PodSecurityPolicy admission on a 1.25+ cluster describes a cluster that cannot exist, and every rule built on it checks the wrong thing.',
    fix: 'Capture the cluster again, or set podSecurityPolicyAdmission false in the profile.',
    check: (_svc, env) => {
      if (!env.cluster.podSecurityPolicyAdmission) return [];
      const minor = clusterMinor(env.cluster);
      if (minor >= podSecurityPolicyRemovedMinor)
        return [
          {
            message: `profile ${env.cluster.definedIn} says PodSecurityPolicy admission is on, but Kubernetes 1.${minor} has no PodSecurityPolicy`,
            fix: 'Set podSecurityPolicyAdmission false in the profile.',
          },
        ];
      // Before 1.25 synth generates a policy for the pods; pod-security-policy-admits checks it admits them.
      return [];
    },
  },
  {
    id: 'priority-class-exists',
    severity: 'error',
    checks:
      "The pods' priorityClassName is one the cluster profile lists (priorityClassNames), or one of the two the API server creates on every cluster (system-cluster-critical, system-node-critical); not checked when the profile lists none.",
    why: 'Admission refuses a pod whose PriorityClass does not exist ("no PriorityClass with name ... was found"): the ReplicaSet creates no pods and the Deployment shows only a FailedCreate event.',
    fix: 'Use a PriorityClass the cluster has (kubectl get priorityclasses) and record it in the profile, or create it first.',
    check: (svc, env) =>
      namedClassMissing(
        'priorityClassName',
        'PriorityClass',
        svc.pod.priorityClassName,
        env.cluster.priorityClassNames,
        ['system-cluster-critical', 'system-node-critical'],
        env,
      ),
  },
  {
    id: 'runtime-class-exists',
    severity: 'error',
    checks: "The pods' runtimeClassName is one the cluster profile lists (runtimeClassNames); not checked when the profile lists none.",
    why: 'Admission refuses a pod whose RuntimeClass does not exist (`pod rejected: RuntimeClass "nvidia" not found`), so a GPU service written for a GPU Operator cluster creates no pods on a cluster without it.',
    fix: 'Drop scheduling.runtimeClassName where the NVIDIA runtime is the default, or install the runtime (GPU Operator) and record its RuntimeClass in the profile.',
    check: (svc, env) => namedClassMissing('runtimeClassName', 'RuntimeClass', svc.pod.runtimeClassName, env.cluster.runtimeClassNames, [], env),
  },
  {
    id: 'pod-security-standard-met',
    severity: 'error',
    checks: `Every pod meets the Pod Security Standard the environment's namespace enforces (\`${namespacePodSecurityLevel}\`): no host namespaces, privileged containers, hostPath or hostPorts; only the restricted volume types; allowPrivilegeEscalation false, runAsNonRoot, no UID 0, seccomp RuntimeDefault, capabilities drop ALL (as pod-security-admission's checks read them), init containers included.`,
    why: "A pod that breaks the namespace's level is refused by Pod Security Admission at creation: the ReplicaSet reports FailedCreate and the Deployment has no pods at all, while a waiver of security-context-restricted makes the rules look satisfied.",
    fix: 'Remove the overrides.securityContext field the message names; a waiver of security-context-restricted does not get a pod past admission.',
    check: (svc) =>
      podSecurityViolations(svc.pod, namespacePodSecurityLevel).map((v) => ({ message: `Pod Security "${namespacePodSecurityLevel}" refuses the pod: ${v}` })),
  },
  {
    id: 'polaris-admits',
    severity: 'error',
    checks:
      "Where the profile runs Polaris's validating webhook, no Deployment fails a Polaris check at danger severity (the default configuration's, or the profile's overrides): sensitiveContainerEnvVar, tagNotSpecified, runAsRootAllowed, privilegeEscalationAllowed, runAsPrivileged, dangerousCapabilities, host namespaces; a `polaris.fairwinds.com/<check>-exempt` annotation exempts as Polaris does.",
    why: "Polaris's danger-level sensitiveContainerEnvVar matched `token` in MAX_TOKENS_LIMIT, a plain number: its webhook denied every Deployment, and the rename to MAX_COMPLETION_LENGTH is what fixed it.",
    fix: 'Set the value from a Secret (valueFrom) or rename the variable, pin the image tag, or keep the default securityContext; exempt a check with its annotation only with a written reason.',
    check: (svc, env) => {
      const polaris = env.cluster.admission?.polaris;
      if (!polaris) return [];
      return polarisDenials(svc, polaris.checks).map((why) => ({
        message: `the Polaris webhook on cluster ${env.cluster.name} denies Deployment ${svc.deployment?.metadata?.name}: ${why}`,
      }));
    },
  },
  {
    id: 'kyverno-admits',
    severity: 'error',
    checks:
      'Every Kyverno ClusterPolicy the profile lists with failureAction Enforce admits the pods (disallow-latest-tag, require-requests-limits, require-pod-probes, as kyverno/policies writes them); a policy this repository does not model is an error, so none is assumed to pass.',
    why: 'An enforced policy refuses the pod at creation (require-requests-limits on an init container without a memory limit, say): Argo CD shows the Deployment Progressing with zero pods until its progress deadline.',
    fix: 'Set what the policy requires (the message names the container and field), or ask the platform team for a PolicyException; remove from the profile a policy the cluster does not enforce.',
    check: (svc, env) =>
      (env.cluster.admission?.kyverno ?? [])
        .filter((p) => p.failureAction === 'Enforce')
        .flatMap((p) => {
          const policy = kyvernoPolicies[p.name];
          if (!policy)
            return [
              {
                message: `profile ${env.cluster.definedIn} enforces Kyverno ClusterPolicy ${p.name}, which this repository does not model (known: ${Object.keys(kyvernoPolicies).join(', ')})`,
                fix: 'Model the policy in charts/rules/admission.ts from its source, or set its failureAction to Audit in the profile if the cluster only audits it.',
              },
            ];
          return policy(svc.pod).map((why) => ({ message: `Kyverno ClusterPolicy ${p.name} denies the pod: ${why}` }));
        }),
  },
];
