/**
 * Companions (charts/companions/) against the model services they call, and against the rules every pod of the
 * environment meets. `companion-reaches-model` runs per model service like every rule; `companionFindings` applies
 * the image and Pod Security rules to the companions' own pods, which belong to no model service.
 */
import type { IPodSpec } from 'kubernetes-models/v1';
import type { EnvironmentBuild } from '../environment-chart.js';
import { modelServiceFacts } from '../companions/resolve.js';
import { egressAllows, egressAllowsDns, ingressAllows, type PodEnd } from '../companions/network-reach.js';
import { parseImage } from '../lib/image.js';
import { namespacePodSecurityLevel } from '../lib/pod-security.js';
import { podSecurityViolations } from './admission.js';
import type { Finding, Rule } from './types.js';

const companionReachesModelId = 'companion-reaches-model';

export const companionRules: Rule[] = [
  {
    id: companionReachesModelId,
    severity: 'error',
    checks:
      "Every companion pod that references a model service can open a connection to it: the model service's NetworkPolicy admits the pod's namespace and labels on the serving port, and any egress NetworkPolicy of the companion's own manifests admits the model pods on that port and DNS.",
    why: 'A companion pointed at a model service whose policy drops its packets fails at its first request with a connection timeout, long after a green sync; nothing in Argo CD or the pod status shows why.',
    fix: "Keep the companion in the environment's namespace (the model service admits its own namespace), give the companion's egress policy a rule to the model pods' labels on the serving port and to DNS (port 53 UDP), or drop the reference.",
    check: (svc, env) => {
      const facts = modelServiceFacts(svc.objects, svc.plan);
      const namespaceLabels = env.namespaceObjects.find((o) => o.kind === 'Namespace')?.metadata.labels ?? {};
      const model: PodEnd = { namespace: facts.namespace, namespaceLabels, labels: facts.podLabels, namedPorts: namedPortsOf(svc.pod) };
      const out: { message: string }[] = [];
      for (const companion of env.companions) {
        for (const caller of companion.callers.filter((c) => c.calls.includes(svc.name))) {
          const from: PodEnd = { namespace: companion.namespace, namespaceLabels, labels: caller.labels };
          const who = `companion ${companion.name} (${caller.workload})`;
          const ingress = ingressAllows(facts.networkPolicies, from, model, facts.targetPort);
          if (!ingress.allowed)
            out.push({
              message: `${who} -> ${svc.name}:${facts.targetPort}: NetworkPolicy ${ingress.policies.join(', ')} of ${svc.name} admits no pod with labels ${JSON.stringify(caller.labels)} in ${companion.namespace}`,
            });
          const egress = egressAllows(companion.networkPolicies, from, model, facts.targetPort);
          if (!egress.allowed)
            out.push({
              message: `${who} -> ${svc.name}:${facts.targetPort}: the companion's NetworkPolicy ${egress.policies.join(', ')} allows no egress to the pods of ${svc.name} (${JSON.stringify(facts.podLabels)}) on port ${facts.targetPort}`,
            });
          const dns = egressAllowsDns(companion.networkPolicies, from);
          if (!dns.allowed)
            out.push({
              message: `${who} -> ${svc.name}: the companion's NetworkPolicy ${dns.policies.join(', ')} allows no DNS (UDP 53), so ${svc.name}.${facts.namespace}.svc never resolves`,
            });
        }
      }
      return out;
    },
  },
];

function namedPortsOf(pod: IPodSpec): Record<string, number> {
  return Object.fromEntries(pod.containers.flatMap((c) => (c.ports ?? []).flatMap((p) => (p.name !== undefined ? [[p.name, p.containerPort] as const] : []))));
}

/**
 * Findings for the companions' own pods, under the rule ids that apply to every pod: `image-pinned` (a digest on
 * every image; an error in production) and `pod-security-standard-met` (the namespace enforces `restricted`, so a
 * pod that fails it is refused at admission and its workload never becomes Ready). A companion's `waivers` waive them
 * with a written reason. Reported with service `companion:<name>`.
 */
export function companionFindings(build: EnvironmentBuild): Finding[] {
  const env = build.environment;
  const out: Finding[] = [];
  for (const c of build.companions) {
    const base = { environment: env.name, service: `companion:${c.name}` };
    const waiver = (id: string): { waiver?: string } => (c.declaration.waivers?.[id] !== undefined ? { waiver: c.declaration.waivers[id] } : {});
    for (const image of c.images) {
      if (parseImage(image.image).digest !== undefined) continue;
      out.push({
        ...base,
        ruleId: 'image-pinned',
        severity: env.production === true ? 'error' : 'warning',
        message: `${image.workload} container ${image.container}: image "${image.image}" has no digest${env.production === true ? ' in a production environment' : ''}`,
        fix: `write it as repository:tag@sha256:<digest> (\`docker buildx imagetools inspect ${image.image}\` prints the digest)`,
        ...waiver('image-pinned'),
      });
    }
    for (const { workload, pod } of c.pods) {
      const violations = podSecurityViolations(pod as IPodSpec, namespacePodSecurityLevel);
      if (violations.length === 0) continue;
      out.push({
        ...base,
        ruleId: 'pod-security-standard-met',
        severity: 'error',
        message: `${workload}: the namespace enforces Pod Security "${namespacePodSecurityLevel}", which refuses the pod: ${violations.join('; ')}`,
        fix: 'set runAsNonRoot, a non-root runAsUser, seccompProfile RuntimeDefault, allowPrivilegeEscalation false and drop ALL capabilities on every container',
        ...waiver('pod-security-standard-met'),
      });
    }
  }
  return out;
}

/** Rule ids a companion may waive: the ones its findings carry. */
export const companionWaivableRuleIds: readonly string[] = ['image-pinned', 'pod-security-standard-met'];
