import { kedaHttpAddOnServices } from '../constructs/scale-to-zero.js';
import { cpuMillis, parseQuantity } from '../lib/quantity.js';
import type {
  CapturedIngressClass,
  CapturedLoadBalancer,
  CapturedNodePool,
  CapturedQuota,
  CapturedStorageClass,
  CapturedTaint,
  ClusterFacts,
} from './facts.js';
import { kubernetesMinor } from './facts.js';
import { podSecurityPolicyRemovedMinor } from './versions.js';

/**
 * Turns kubectl's JSON into ClusterFacts. Shapes modelled on the Kubernetes API reference (Node
 * `status.allocatable`, `spec.taints`, `spec.providerID`; StorageClass `provisioner`, `volumeBindingMode`,
 * `allowVolumeExpansion`; CSIDriver `metadata.name`; CustomResourceDefinition `spec.group`,
 * `spec.names.kind`; IngressClass `spec.controller`; ResourceQuota `spec.hard`) and on
 * kubectl's `version -o json` (`serverVersion.gitVersion`) and `get -o json` (a `List` of items).
 */

/** A capture that cannot be trusted: the message names the input and what to do. */
export class CaptureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaptureError';
  }
}

/* eslint-disable @typescript-eslint/no-explicit-any -- kubectl output is read as plain JSON */

/** The kinds the capture command lists, by the resource name kubectl takes. */
export const capturedKinds = {
  nodes: 'Node',
  storageclasses: 'StorageClass',
  csidrivers: 'CSIDriver',
  customresourcedefinitions: 'CustomResourceDefinition',
  ingressclasses: 'IngressClass',
  resourcequotas: 'ResourceQuota',
} as const;

export const kubectlGetArgs = ['get', Object.keys(capturedKinds).join(','), '-A', '-o', 'json'];
export const kubectlVersionArgs = ['version', '-o', 'json'];

/**
 * Node labels that name a node pool, most specific first; the instance type is the fallback.
 * EKS managed node groups, GKE node pools, AKS agent pools, Karpenter node pools.
 */
export const poolLabels = [
  'eks.amazonaws.com/nodegroup',
  'cloud.google.com/gke-nodepool',
  'agentpool',
  'kubernetes.azure.com/agentpool',
  'karpenter.sh/nodepool',
  'node.kubernetes.io/instance-type',
] as const;

/** Labels that differ per node and say nothing about the pool. */
const perNodeLabels = new Set([
  'kubernetes.io/hostname',
  'nvidia.com/gfd.timestamp',
  'topology.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/zone',
  'topology.ebs.csi.aws.com/zone',
  'alpha.eksctl.io/instance-id',
  'eks.amazonaws.com/nodegroup-image',
  'k8s.io/cloud-provider-aws',
  'topology.k8s.aws/zone-id',
]);

/** Capacity type from the labels EKS, Karpenter and GKE put on nodes. */
function capacityType(labels: Record<string, string>): CapturedNodePool['capacityType'] {
  const eks = labels['eks.amazonaws.com/capacityType'];
  if (eks) return eks === 'SPOT' ? 'spot' : 'on-demand';
  const karpenter = labels['karpenter.sh/capacity-type'];
  if (karpenter) return karpenter === 'spot' ? 'spot' : 'on-demand';
  if (labels['cloud.google.com/gke-spot'] === 'true' || labels['cloud.google.com/gke-preemptible'] === 'true') return 'spot';
  if (labels['kubernetes.azure.com/scalesetpriority'] === 'spot') return 'spot';
  return 'unknown';
}

/** What a CRD group (or a node label) shows is installed. */
export const operatorSignatures: ReadonlyArray<{ readonly operator: string; readonly crdGroup?: string; readonly nodeLabel?: string }> = [
  { operator: 'prometheus-operator', crdGroup: 'monitoring.coreos.com' },
  { operator: 'KEDA', crdGroup: 'keda.sh' },
  { operator: 'cert-manager', crdGroup: 'cert-manager.io' },
  { operator: 'AWS Load Balancer Controller', crdGroup: 'elbv2.k8s.aws' },
  { operator: 'MetalLB', crdGroup: 'metallb.io' },
  { operator: 'AKO (NSX Advanced Load Balancer)', crdGroup: 'ako.vmware.com' },
  { operator: 'Kyverno', crdGroup: 'kyverno.io' },
  { operator: 'NVIDIA GPU Operator', crdGroup: 'nvidia.com' },
  { operator: 'Node Feature Discovery', crdGroup: 'nfd.k8s-sigs.io' },
  { operator: 'GPU feature discovery', nodeLabel: 'nvidia.com/gpu.product' },
];

/**
 * The add-ons capture: a second `kubectl get` of what only some clusters serve, listed only where the first capture
 * shows the cluster serves it (a kind the API server does not know fails the whole kubectl command). DaemonSets
 * show kube-vip and MetalLB's speaker; IPAddressPools and AviInfraSettings are the address pools of MetalLB and AKO;
 * PodSecurityPolicies exist until 1.25; the ConfigMap is kube-vip-cloud-provider's pool configuration.
 */
export const addonKinds = {
  daemonsets: 'DaemonSet',
  podsecuritypolicies: 'PodSecurityPolicy',
  'ipaddresspools.metallb.io': 'IPAddressPool',
  'aviinfrasettings.ako.vmware.com': 'AviInfraSetting',
  configmaps: 'ConfigMap',
  services: 'Service',
} as const;

/**
 * kube-vip-cloud-provider's pool ConfigMap: `kubevip` (KubeVipCloudConfig in kube-vip/kube-vip-cloud-provider
 * pkg/provider/provider.go) in `kube-system`, where its manifest runs it; fetched by name, never all ConfigMaps.
 */
export const kubeVipConfigMap = { name: 'kubevip', namespace: 'kube-system' } as const;
export const kubectlKubeVipConfigMapArgs = ['get', 'configmap', kubeVipConfigMap.name, '-n', kubeVipConfigMap.namespace, '-o', 'json', '--ignore-not-found'];

/**
 * The KEDA HTTP add-on's interceptor proxy Service, fetched by name in every namespace (never all Services) where
 * the main capture shows the add-on's HTTPScaledObject CRD: the namespace it is found in is the add-on's, which the
 * charts route scaled-to-zero services through (charts/constructs/scale-to-zero.ts).
 */
export const kubectlKedaHttpAddOnArgs = [
  'get',
  'services',
  '-A',
  '--field-selector',
  `metadata.name=${kedaHttpAddOnServices.interceptorProxy.name}`,
  '-o',
  'json',
];

/** Whether a capture's CRDs include the KEDA HTTP add-on's HTTPScaledObject (its chart installs the CRD). */
export function servesKedaHttpAddOn(facts: Pick<ClusterFacts, 'customResourceTypes'>): boolean {
  return facts.customResourceTypes.some((c) => c.group === 'http.keda.sh' && c.kind === 'HTTPScaledObject');
}

/** The add-ons `kubectl get` for a cluster the main capture described. */
export function kubectlAddonArgs(facts: Pick<ClusterFacts, 'kubernetesVersion' | 'customResourceTypes'>): string[] {
  const crd = (group: string, kind: string) => facts.customResourceTypes.some((c) => c.group === group && c.kind === kind);
  const kinds = [
    'daemonsets',
    ...(kubernetesMinor(facts.kubernetesVersion) < podSecurityPolicyRemovedMinor ? ['podsecuritypolicies'] : []),
    ...(crd('metallb.io', 'IPAddressPool') ? ['ipaddresspools.metallb.io'] : []),
    ...(crd('ako.vmware.com', 'AviInfraSetting') ? ['aviinfrasettings.ako.vmware.com'] : []),
  ];
  return ['get', kinds.join(','), '-A', '-o', 'json'];
}

/**
 * What shows an on-prem load balancer: MetalLB's CRDs (metallb.io, v0.13 and later) or its speaker DaemonSet, AKO's
 * CRDs (ako.vmware.com), and a kube-vip DaemonSet serving Services (`svc_enable=true` in its environment, as
 * `kube-vip manifest daemonset --services` writes it; a kube-vip serving only the control-plane address is not a
 * Service load balancer).
 */
export const onpremLoadBalancerSignatures: ReadonlyArray<{
  readonly kind: CapturedLoadBalancer['kind'];
  readonly crdGroup?: string;
  readonly daemonSet?: (ds: any) => boolean;
}> = [
  { kind: 'metallb', crdGroup: 'metallb.io', daemonSet: (ds) => containerImages(ds).some((i) => /(^|\/)metallb\/speaker(:|@|$)/.test(i)) },
  { kind: 'avi', crdGroup: 'ako.vmware.com' },
  {
    kind: 'kube-vip',
    daemonSet: (ds) =>
      ((ds.spec?.template?.spec?.containers ?? []) as any[]).some(
        (c) => /(^|\/)kube-vip(:|@|$)/.test(String(c.image ?? '')) && ((c.env ?? []) as any[]).some((e) => e.name === 'svc_enable' && e.value === 'true'),
      ),
  },
];

function containerImages(ds: any): string[] {
  return ((ds.spec?.template?.spec?.containers ?? []) as any[]).map((c) => String(c.image ?? ''));
}

/** The scopes kube-vip-cloud-provider finds a pool for (pkg/provider/loadBalancer.go discoverPool): `cidr-<ns>` / `range-<ns>`. */
function kubeVipPoolScopes(configMap: any): string[] {
  const keys = Object.keys(configMap?.data ?? {});
  return [...new Set(keys.map((k) => /^(?:cidr|range)-(.+)$/.exec(k)?.[1]).filter((s): s is string => s !== undefined))].sort();
}

/** Load balancers and PodSecurityPolicies from the CRD groups of the main capture and the add-ons list, when given. */
function addonFacts(
  groups: ReadonlySet<string>,
  addons: unknown,
  where: string | undefined,
): Pick<ClusterFacts, 'loadBalancers' | 'podSecurityPolicies' | 'kedaHttpAddOnNamespaces'> {
  let items: any[] | undefined;
  if (addons !== undefined) {
    const list = addons as any;
    if (list?.kind !== 'List' || !Array.isArray(list.items))
      fail(
        where ?? 'add-ons',
        `expected a kubectl List (kind: List, items: [...]), got kind ${JSON.stringify(list?.kind)}`,
        'write it with kubectl get ... -o json',
      );
    items = list.items as any[];
    const known = new Set<string>(Object.values(addonKinds));
    const stray = items.find((i) => !known.has(i?.kind));
    if (stray) fail(where ?? 'add-ons', `unexpected item kind ${JSON.stringify(stray?.kind)}`, `list only ${Object.keys(addonKinds).join(',')}`);
  }
  const of = (kind: string) => (items ?? []).filter((i) => i.kind === kind);
  const daemonSets = of('DaemonSet');
  const names = (kind: string) =>
    of(kind)
      .map((i) => String(i.metadata?.name))
      .sort();
  const kubeVipCm = of('ConfigMap').find((c) => c.metadata?.name === kubeVipConfigMap.name && c.metadata?.namespace === kubeVipConfigMap.namespace);
  const loadBalancers: CapturedLoadBalancer[] = [];
  for (const sig of onpremLoadBalancerSignatures) {
    const ds = sig.daemonSet ? daemonSets.find(sig.daemonSet) : undefined;
    const seenFrom =
      sig.crdGroup !== undefined && groups.has(sig.crdGroup)
        ? `CRD group ${sig.crdGroup}`
        : ds
          ? `DaemonSet ${ds.metadata?.namespace}/${ds.metadata?.name}`
          : undefined;
    if (seenFrom === undefined) continue;
    const pools =
      items === undefined
        ? undefined
        : sig.kind === 'metallb'
          ? names('IPAddressPool')
          : sig.kind === 'avi'
            ? names('AviInfraSetting')
            : kubeVipPoolScopes(kubeVipCm);
    loadBalancers.push({ kind: sig.kind, seenFrom, ...(pools !== undefined ? { addressPools: pools } : {}) });
  }
  const psps = names('PodSecurityPolicy');
  const kedaHttpAddOnNamespaces = [
    ...new Set(
      of('Service')
        .filter((svc) => svc.metadata?.name === kedaHttpAddOnServices.interceptorProxy.name)
        .map((svc) => String(svc.metadata?.namespace)),
    ),
  ].sort();
  return {
    ...(loadBalancers.length > 0 ? { loadBalancers } : {}),
    ...(psps.length > 0 ? { podSecurityPolicies: psps } : {}),
    // Only where the CRD is served and the add-ons were captured: absent means unknown, [] means not found.
    ...(items !== undefined && groups.has('http.keda.sh') ? { kedaHttpAddOnNamespaces } : {}),
  };
}

function fail(where: string, problem: string, fix: string): never {
  throw new CaptureError(`${where}: ${problem}. Fix: ${fix}`);
}

function quantity(where: string, value: unknown): number {
  try {
    return parseQuantity(value as string | undefined) ?? 0;
  } catch {
    return fail(where, `unparseable quantity ${JSON.stringify(value)}`, 'capture again from an unmodified kubectl output');
  }
}

function nodePools(nodes: any[], where: string): CapturedNodePool[] {
  const groups = new Map<string, { key: string; value: string; nodes: any[] }>();
  for (const node of nodes) {
    const labels: Record<string, string> = node.metadata?.labels ?? {};
    const key = poolLabels.find((k) => labels[k] !== undefined);
    const value = key ? labels[key]! : 'unlabelled';
    const id = `${key ?? ''}=${value}`;
    const g = groups.get(id) ?? { key: key ?? 'none', value, nodes: [] };
    g.nodes.push(node);
    groups.set(id, g);
  }
  return [...groups.values()]
    .map((g) => {
      const at = (n: any) => `${where}: Node ${n.metadata?.name}`;
      const alloc = g.nodes.map((n) => {
        const a = n.status?.allocatable;
        if (!a) fail(at(n), 'no status.allocatable', 'capture with kubectl get nodes -o json (not a trimmed output)');
        return {
          cpuMillis: cpuMillis(a.cpu),
          memoryBytes: quantity(at(n), a.memory),
          ephemeralStorageBytes: quantity(at(n), a['ephemeral-storage']),
          gpus: quantity(at(n), a['nvidia.com/gpu']),
        };
      });
      const min = (k: keyof (typeof alloc)[number]) => Math.min(...alloc.map((a) => a[k]));
      const labelSets: Array<Record<string, string>> = g.nodes.map((n) => n.metadata?.labels ?? {});
      const common = Object.fromEntries(
        Object.entries(labelSets[0]!)
          .filter(([k, v]) => !perNodeLabels.has(k) && labelSets.every((l) => l[k] === v))
          .sort(([a], [b]) => a.localeCompare(b)),
      );
      const taintKey = (t: CapturedTaint) => `${t.key}=${t.value ?? ''}:${t.effect}`;
      const taintSets: CapturedTaint[][] = g.nodes.map((n) =>
        ((n.spec?.taints ?? []) as any[]).map((t) => ({
          key: t.key,
          ...(t.value !== undefined && t.value !== '' ? { value: t.value } : {}),
          effect: t.effect,
        })),
      );
      const taints = taintSets[0]!.filter((t) => taintSets.every((s) => s.some((u) => taintKey(u) === taintKey(t))));
      const zones = [
        ...new Set(
          labelSets.map((l) => l['topology.kubernetes.io/zone'] ?? l['failure-domain.beta.kubernetes.io/zone']).filter((z): z is string => z !== undefined),
        ),
      ].sort();
      const product = common['nvidia.com/gpu.product'];
      const gpuMemory = common['nvidia.com/gpu.memory'];
      const pool: CapturedNodePool = {
        name: g.value,
        groupedBy: g.key,
        instanceType: common['node.kubernetes.io/instance-type'] ?? common['beta.kubernetes.io/instance-type'] ?? 'unknown',
        count: g.nodes.length,
        capacityType: capacityType(common),
        allocatable: { cpuMillis: min('cpuMillis'), memoryBytes: min('memoryBytes'), ephemeralStorageBytes: min('ephemeralStorageBytes'), gpus: min('gpus') },
        ...(product && gpuMemory ? { gpu: { product, memoryMiB: Number(gpuMemory) } } : {}),
        labels: common,
        taints,
        zones,
      };
      return pool;
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

function cloudOf(nodes: any[]): string {
  const ids = nodes.map((n) => String(n.spec?.providerID ?? ''));
  const scheme = ids.map((id) => /^([a-z]+):\/\//.exec(id)?.[1]).find((s) => s !== undefined);
  return scheme ?? 'none';
}

/** Reads `kubectl version -o json` output. */
export function serverVersion(json: unknown, where: string): string {
  const v = (json as any)?.serverVersion?.gitVersion;
  if (typeof v !== 'string' || !/^v?1\.\d+/.test(v))
    fail(
      where,
      'no serverVersion.gitVersion',
      'run `kubectl version -o json` against a reachable cluster (serverVersion is missing when kubectl cannot reach it)',
    );
  return v;
}

/** Autoscaling bounds by pool name, as `--pool-bounds` gives them. */
export type PoolBounds = Readonly<Record<string, { readonly minCount: number; readonly maxCount: number }>>;

/**
 * Parses `--pool-bounds cpu=2:6,gpu=1:2` (pool name = node group, min:max nodes). The bounds come from
 * where the cloud keeps them (`aws eks describe-nodegroup --query nodegroup.scalingConfig`, the GKE node
 * pool's autoscaling, the cluster-autoscaler's `--nodes=MIN:MAX:NAME`); kubectl sees only the nodes.
 */
export function parsePoolBounds(text: string): PoolBounds {
  const out: Record<string, { minCount: number; maxCount: number }> = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const m = /^([^=\s]+)=(\d+):(\d+)$/.exec(part);
    if (!m)
      throw new CaptureError(
        `--pool-bounds "${part}": expected NAME=MIN:MAX (e.g. cpu=2:6). Fix: give each autoscaled pool as node-group=min:max, comma-separated`,
      );
    const [, name, min, max] = m;
    if (Number(min) > Number(max) || Number(max) === 0)
      throw new CaptureError(
        `--pool-bounds "${part}": min ${min} > max ${max} (or max 0). Fix: copy minSize and maxSize from the node group's scaling configuration`,
      );
    if (out[name!]) throw new CaptureError(`--pool-bounds: pool ${name} given twice. Fix: give each pool once`);
    out[name!] = { minCount: Number(min), maxCount: Number(max) };
  }
  return out;
}

/** The pools with their bounds; fails on a bound for a pool that was not captured, or one the registered nodes break. */
function withBounds(pools: CapturedNodePool[], bounds: PoolBounds): CapturedNodePool[] {
  for (const name of Object.keys(bounds)) {
    if (!pools.some((p) => p.name === name))
      fail(
        `--pool-bounds ${name}`,
        'no node pool of that name was captured',
        `use one of ${pools.map((p) => p.name).join(', ')} (node pools are named by ${poolLabels[0]} and the other pool labels)`,
      );
  }
  return pools.map((p) => {
    const b = bounds[p.name];
    if (!b) return p;
    if (p.count > b.maxCount)
      fail(
        `--pool-bounds ${p.name}=${b.minCount}:${b.maxCount}`,
        `${p.count} nodes are registered, more than the maximum`,
        'copy the bounds from the node group again; they are out of date',
      );
    return { ...p, autoscaling: { minCount: b.minCount, maxCount: b.maxCount } };
  });
}

/** ClusterFacts from the two kubectl outputs. `where` names each input in errors. */
export function factsFromKubectl(input: {
  version: unknown;
  versionFrom: string;
  list: unknown;
  listFrom: string;
  capturedFrom: string;
  capturedAt: string;
  poolBounds?: PoolBounds;
  /** The add-ons list (`kubectlAddonArgs`, plus kube-vip's ConfigMap), when captured. Default: not captured. */
  addons?: unknown;
  addonsFrom?: string;
}): ClusterFacts {
  const kubernetesVersion = serverVersion(input.version, input.versionFrom);
  const list = input.list as any;
  const where = input.listFrom;
  if (list?.kind !== 'List' || !Array.isArray(list.items))
    fail(
      where,
      `expected a kubectl List (kind: List, items: [...]), got kind ${JSON.stringify(list?.kind)}`,
      `write it with kubectl ${kubectlGetArgs.join(' ')}`,
    );
  const items: any[] = list.items;
  const known = new Set<string>(Object.values(capturedKinds));
  const stray = items.find((i) => !known.has(i?.kind));
  if (stray) fail(where, `unexpected item kind ${JSON.stringify(stray?.kind)}`, `list only ${Object.keys(capturedKinds).join(',')}`);
  const of = (kind: string) => items.filter((i) => i.kind === kind);
  const nodes = of('Node');
  if (nodes.length === 0) fail(where, 'no Node items (the nodes kind is missing)', `run kubectl ${kubectlGetArgs.join(' ')} with a user allowed to list nodes`);
  if (of('StorageClass').length === 0)
    fail(
      where,
      'no StorageClass items (the storageclasses kind is missing, or the cluster has no storage class)',
      `run kubectl ${kubectlGetArgs.join(' ')}; a cluster without storage classes cannot hold the model cache on a PVC`,
    );

  const storageClasses: CapturedStorageClass[] = of('StorageClass')
    .map((s) => ({
      name: s.metadata.name,
      provisioner: s.provisioner,
      volumeBindingMode: s.volumeBindingMode === 'WaitForFirstConsumer' ? ('WaitForFirstConsumer' as const) : ('Immediate' as const),
      allowVolumeExpansion: s.allowVolumeExpansion === true,
      isDefault: s.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true',
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const csiDrivers = of('CSIDriver')
    .map((d) => String(d.metadata.name))
    .sort();
  const customResourceTypes = of('CustomResourceDefinition')
    .map((c) => ({ group: String(c.spec?.group), kind: String(c.spec?.names?.kind) }))
    .sort((a, b) => `${a.group}/${a.kind}`.localeCompare(`${b.group}/${b.kind}`));
  const groups = new Set(customResourceTypes.map((c) => c.group));
  const pools = withBounds(nodePools(nodes, where), input.poolBounds ?? {});
  const operators = operatorSignatures
    .filter(
      (s) => (s.crdGroup !== undefined && groups.has(s.crdGroup)) || (s.nodeLabel !== undefined && pools.some((p) => p.labels[s.nodeLabel!] !== undefined)),
    )
    .map((s) => s.operator);
  const ingressClasses: CapturedIngressClass[] = of('IngressClass')
    .map((c) => {
      const ns = c.metadata.annotations?.['meta.helm.sh/release-namespace'];
      return { name: String(c.metadata.name), controller: String(c.spec?.controller), ...(ns ? { controllerNamespace: String(ns) } : {}) };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  const resourceQuotas: CapturedQuota[] = of('ResourceQuota')
    .map((q) => ({
      namespace: String(q.metadata.namespace),
      name: String(q.metadata.name),
      hard: Object.fromEntries(
        Object.entries(q.spec?.hard ?? {})
          .map(([k, v]): [string, string] => [k, String(v)])
          .sort((a, b) => a[0].localeCompare(b[0])),
      ),
    }))
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  return {
    capturedAt: input.capturedAt,
    capturedFrom: input.capturedFrom,
    kubernetesVersion,
    nodePools: pools,
    storageClasses,
    csiDrivers,
    customResourceTypes,
    operators,
    ingressClasses,
    resourceQuotas,
    cloudProvider: cloudOf(nodes),
    ...addonFacts(groups, input.addons, input.addonsFrom),
  };
}

/** A TypeScript identifier for the facts constant, from the file name (`onprem-tanzu` -> `onpremTanzuFacts`). */
export function factsIdentifier(baseName: string): string {
  const words = baseName
    .replace(/\.ts$/, '')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean);
  const camel = words.map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1).toLowerCase())).join('');
  return `${/^[0-9]/.test(camel) ? `c${camel}` : camel || 'cluster'}Facts`;
}

/** The reviewable TypeScript file a capture writes. `importPath` reaches charts/clusters/facts.ts from it. */
export function renderFactsFile(facts: ClusterFacts, identifier: string, importPath: string, command: string): string {
  const pools = facts.nodePools
    .map(
      (p) =>
        `${p.name} (${p.count} x ${p.instanceType}${p.allocatable.gpus ? `, ${p.allocatable.gpus} GPU` : ''}${p.capacityType !== 'unknown' ? `, ${p.capacityType}` : ''}${p.autoscaling ? `, autoscaled ${p.autoscaling.minCount}-${p.autoscaling.maxCount}` : ''})`,
    )
    .join(', ');
  return [
    '/**',
    ` * Captured ${facts.capturedAt} from ${facts.capturedFrom} by:`,
    ` *   ${command}`,
    ` * (kubectl ${kubectlVersionArgs.join(' ')}; kubectl ${kubectlGetArgs.join(' ')}${facts.loadBalancers || facts.podSecurityPolicies ? `; add-ons: kubectl ${kubectlAddonArgs(facts).join(' ')}` : ''}${facts.kedaHttpAddOnNamespaces ? `; KEDA HTTP add-on: kubectl ${kubectlKedaHttpAddOnArgs.join(' ')}` : ''}).`,
    ` * Kubernetes ${facts.kubernetesVersion}; node pools: ${pools}.`,
    ' * Data only, written by tools/cluster-capture/main.ts (npm run cluster:capture): capture again rather than editing, and review the diff.',
    ' */',
    `import type { ClusterFacts } from '${importPath}';`,
    '',
    `export const ${identifier}: ClusterFacts = ${JSON.stringify(facts, null, 2)};`,
    '',
  ].join('\n');
}
