/**
 * Whether NetworkPolicies let one pod open a TCP connection to another, as the Kubernetes API defines them
 * (kubernetes/kubernetes pkg/apis/networking/types.go, NetworkPolicySpec / NetworkPolicyPeer / NetworkPolicyPort):
 *
 * - a policy selects the pods of its own namespace that match `podSelector` (empty: every pod);
 * - `policyTypes` defaults to Ingress, plus Egress when the policy has egress rules; a pod selected by no policy of
 *   a direction is unrestricted in it, one selected by any is allowed only what some rule of those policies allows;
 * - a rule with no `from`/`to` admits every peer, with no `ports` every port; a peer with only `podSelector` means
 *   pods of the policy's namespace, only `namespaceSelector` every pod of the matching namespaces, both: matching
 *   pods in matching namespaces; a port is a number or a container port name of the destination pod, with
 *   `endPort` a range; protocol defaults to TCP;
 * - `ipBlock` is for addresses outside the cluster and pod IPs are not predictable, so only `0.0.0.0/0` without
 *   exceptions is taken to admit a pod (it contains every IPv4 pod address).
 *
 * Namespaces are matched on their labels plus `kubernetes.io/metadata.name`, which the API server sets on every
 * namespace (GA in 1.22).
 */

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: ReadonlyArray<{ readonly key: string; readonly operator: string; readonly values?: readonly string[] }>;
}

interface Peer {
  readonly podSelector?: LabelSelector;
  readonly namespaceSelector?: LabelSelector;
  readonly ipBlock?: { readonly cidr: string; readonly except?: readonly string[] };
}

interface PolicyPort {
  readonly protocol?: string;
  readonly port?: number | string;
  readonly endPort?: number;
}

/** A NetworkPolicy as synthesized or read from YAML (networking.k8s.io/v1). */
export interface NetworkPolicyObject {
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly spec?: {
    readonly podSelector?: LabelSelector;
    readonly policyTypes?: readonly string[];
    readonly ingress?: ReadonlyArray<{ readonly from?: readonly Peer[]; readonly ports?: readonly PolicyPort[] }>;
    readonly egress?: ReadonlyArray<{ readonly to?: readonly Peer[]; readonly ports?: readonly PolicyPort[] }>;
  };
}

/** One end of a connection. */
export interface PodEnd {
  readonly namespace: string;
  /** The namespace's labels besides `kubernetes.io/metadata.name`. */
  readonly namespaceLabels: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  /** Container ports by name (a policy may name a port). */
  readonly namedPorts?: Readonly<Record<string, number>>;
}

/** Label selector semantics of metav1.LabelSelector: every matchLabels pair and every expression must hold. */
export function selects(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (selector === undefined) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    const ok =
      e.operator === 'In'
        ? has && (e.values ?? []).includes(value!)
        : e.operator === 'NotIn'
          ? !has || !(e.values ?? []).includes(value!)
          : e.operator === 'Exists'
            ? has
            : e.operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}

const namespaceLabelsOf = (end: PodEnd): Record<string, string> => ({ ...end.namespaceLabels, 'kubernetes.io/metadata.name': end.namespace });

function peerAdmits(peer: Peer, policyNamespace: string, other: PodEnd): boolean {
  if (peer.ipBlock !== undefined) return peer.ipBlock.cidr === '0.0.0.0/0' && (peer.ipBlock.except ?? []).length === 0;
  const namespaceOk = peer.namespaceSelector !== undefined ? selects(peer.namespaceSelector, namespaceLabelsOf(other)) : other.namespace === policyNamespace;
  const podOk = peer.podSelector !== undefined ? selects(peer.podSelector, other.labels) : true;
  return namespaceOk && podOk;
}

function portAdmits(ports: readonly PolicyPort[] | undefined, port: number, protocol: string, destination: PodEnd): boolean {
  if (ports === undefined || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    const number = typeof p.port === 'number' ? p.port : destination.namedPorts?.[p.port];
    if (number === undefined) return false;
    return p.endPort !== undefined ? port >= number && port <= p.endPort : port === number;
  });
}

const policyTypesOf = (p: NetworkPolicyObject): readonly string[] =>
  p.spec?.policyTypes ?? (p.spec?.egress !== undefined ? ['Ingress', 'Egress'] : ['Ingress']);

/** The verdict for one direction: allowed, or the policies that select the pod and admit nothing matching. */
export interface Verdict {
  readonly allowed: boolean;
  /** `namespace/name` of every policy of that direction selecting the pod (empty: the pod is unrestricted). */
  readonly policies: readonly string[];
}

/** Whether `destination`'s ingress policies admit a connection from `source` to `port`. */
export function ingressAllows(policies: readonly NetworkPolicyObject[], source: PodEnd, destination: PodEnd, port: number, protocol = 'TCP'): Verdict {
  const applying = policies.filter(
    (p) =>
      (p.metadata.namespace ?? destination.namespace) === destination.namespace &&
      policyTypesOf(p).includes('Ingress') &&
      selects(p.spec?.podSelector, destination.labels),
  );
  const allowed =
    applying.length === 0 ||
    applying.some((p) =>
      (p.spec?.ingress ?? []).some(
        (r) =>
          (r.from === undefined || r.from.length === 0 || r.from.some((peer) => peerAdmits(peer, destination.namespace, source))) &&
          portAdmits(r.ports, port, protocol, destination),
      ),
    );
  return { allowed, policies: applying.map((p) => `${p.metadata.namespace ?? destination.namespace}/${p.metadata.name}`) };
}

/** Whether `source`'s egress policies admit a connection to `destination` on `port`. */
export function egressAllows(policies: readonly NetworkPolicyObject[], source: PodEnd, destination: PodEnd, port: number, protocol = 'TCP'): Verdict {
  const applying = policies.filter(
    (p) =>
      (p.metadata.namespace ?? source.namespace) === source.namespace && policyTypesOf(p).includes('Egress') && selects(p.spec?.podSelector, source.labels),
  );
  const allowed =
    applying.length === 0 ||
    applying.some((p) =>
      (p.spec?.egress ?? []).some(
        (r) =>
          (r.to === undefined || r.to.length === 0 || r.to.some((peer) => peerAdmits(peer, source.namespace, destination))) &&
          portAdmits(r.ports, port, protocol, destination),
      ),
    );
  return { allowed, policies: applying.map((p) => `${p.metadata.namespace ?? source.namespace}/${p.metadata.name}`) };
}

/**
 * Whether `source`'s egress policies admit DNS (port 53 over UDP) to some peer at all: a pod that cannot resolve
 * `<service>.<namespace>.svc` never reaches the service, whatever the service admits.
 */
export function egressAllowsDns(policies: readonly NetworkPolicyObject[], source: PodEnd): Verdict {
  const applying = policies.filter(
    (p) =>
      (p.metadata.namespace ?? source.namespace) === source.namespace && policyTypesOf(p).includes('Egress') && selects(p.spec?.podSelector, source.labels),
  );
  const allowed =
    applying.length === 0 ||
    applying.some((p) =>
      (p.spec?.egress ?? []).some(
        (r) => (r.ports ?? []).length === 0 || (r.ports ?? []).some((q) => (q.protocol ?? 'TCP') === 'UDP' && (q.port === undefined || q.port === 53)),
      ),
    );
  return { allowed, policies: applying.map((p) => `${p.metadata.namespace ?? source.namespace}/${p.metadata.name}`) };
}
