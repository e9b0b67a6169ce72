import { parseQuantity } from '../lib/quantity.js';
import type { ClusterFacts } from './facts.js';
import { kubernetesMinor } from './facts.js';
import { podSecurityPolicyRemovedMinor } from './versions.js';
import type {
  AdmissionPolicies,
  ClusterProfile,
  CustomResourceType,
  LoadBalancerProfile,
  NodePool,
  PrometheusProfile,
  ResourceQuota,
  StorageClass,
} from './types.js';

/** Access modes a CSI driver offers for dynamically provisioned volumes (each driver's documentation). */
export const driverAccessModes: Readonly<Record<string, ReadonlyArray<'ReadWriteOnce' | 'ReadWriteMany'>>> = {
  'ebs.csi.aws.com': ['ReadWriteOnce'],
  'efs.csi.aws.com': ['ReadWriteMany', 'ReadWriteOnce'],
  'pd.csi.storage.gke.io': ['ReadWriteOnce'],
  'filestore.csi.storage.gke.io': ['ReadWriteMany', 'ReadWriteOnce'],
  'disk.csi.azure.com': ['ReadWriteOnce'],
  'file.csi.azure.com': ['ReadWriteMany', 'ReadWriteOnce'],
  // Block volumes; ReadWriteMany only with vSAN file services (declare it in the profile's storage decisions).
  'csi.vsphere.vmware.com': ['ReadWriteOnce'],
  'nfs.csi.k8s.io': ['ReadWriteMany', 'ReadWriteOnce'],
  'rancher.io/local-path': ['ReadWriteOnce'],
};

/**
 * In-tree provisioners whose volumes are served by a CSI driver once CSI migration is on by default
 * (KEP-625 and the per-plugin migration KEPs): from that minor the driver must be installed or the
 * class provisions nothing, which is how a gp2 (`kubernetes.io/aws-ebs`) claim stays Pending on an
 * EKS cluster with only the EFS driver.
 */
export const inTreeMigration: Readonly<Record<string, { readonly driver: string; readonly fromMinor: number }>> = {
  'kubernetes.io/aws-ebs': { driver: 'ebs.csi.aws.com', fromMinor: 23 },
  'kubernetes.io/gce-pd': { driver: 'pd.csi.storage.gke.io', fromMinor: 23 },
  'kubernetes.io/azure-disk': { driver: 'disk.csi.azure.com', fromMinor: 23 },
  'kubernetes.io/azure-file': { driver: 'file.csi.azure.com', fromMinor: 24 },
  'kubernetes.io/vsphere-volume': { driver: 'csi.vsphere.vmware.com', fromMinor: 25 },
};

/** What installs the CRDs of an API group: named in the failure a sync reports without them. */
const crdInstallers: Readonly<Record<string, string>> = {
  'monitoring.coreos.com': 'kube-prometheus-stack (prometheus-operator CRDs)',
  'keda.sh': 'KEDA',
  'http.keda.sh': 'KEDA HTTP add-on',
  'cert-manager.io': 'cert-manager',
  'elbv2.k8s.aws': 'AWS Load Balancer Controller',
  'metallb.io': 'MetalLB',
  'ako.vmware.com': 'AKO (the Avi Kubernetes Operator of NSX Advanced Load Balancer)',
  'nvidia.com': 'NVIDIA GPU Operator',
};

/** What a capture cannot see: the profile decides it, beside the captured facts. */
export interface ProfileDecisions {
  /** Profile name (Argo CD cluster name). No default. */
  readonly name: string;
  /** Repository-relative file of the profile. No default. */
  readonly definedIn: string;
  /**
   * The load balancer a `type: LoadBalancer` Service gets. Default from the capture: the on-prem load balancer it
   * found (MetalLB, kube-vip or AKO, with its address pools), else from the nodes' cloud: `aws` gets the in-tree
   * Classic ELB (60 s idle timeout, annotation-settable) or an NLB when the AWS Load Balancer Controller is
   * installed (350 s); any other cloud `none`, since nothing here knows its load balancer.
   */
  readonly loadBalancer?: LoadBalancerProfile;
  /**
   * Idle timeout in seconds of a captured load balancer whose timeout is set outside the Service: AKO's L4
   * virtual services take it from their network profile in the Avi controller, which kubectl cannot read.
   * Required when the capture found AKO; not read otherwise (MetalLB and kube-vip are not proxies).
   */
  readonly loadBalancerIdleTimeoutSeconds?: number;
  /** Ingress controller idle timeout without annotations. Default 60 s (ingress-nginx's proxy-read-timeout). */
  readonly ingressIdleTimeoutSeconds?: number;
  /** Idle timeouts on the client path nothing here can change. Default none. */
  readonly fixedPathIdleTimeoutsSeconds?: readonly number[];
  /**
   * Per storage class: the read rate one pod gets (MiB/s) and, when the driver offers more than
   * `driverAccessModes` says, its access modes. A class not listed here is taken at 100 MiB/s, a
   * conservative network-volume figure, so the startup window errs long.
   */
  readonly storage?: Readonly<Record<string, { readonly readMiBps: number; readonly accessModes?: StorageClass['accessModes'] }>>;
  /** Requests other workloads already place on each node, by pool name. Default none. */
  readonly reservedPerNode?: Readonly<Record<string, NonNullable<NodePool['reservedPerNode']>>>;
  /** GPU model and memory per pool when GPU feature discovery labels are absent. Default: from the labels. */
  readonly gpus?: Readonly<Record<string, { readonly memoryGiB: number; readonly model: string }>>;
  /** The cluster's Prometheus. Default: kube-prometheus-stack in `monitoring` (charts/clusters/prometheus.ts). */
  readonly prometheus?: PrometheusProfile;
  /**
   * PodSecurityPolicy admission enabled. Default: on below 1.25 when the capture found PodSecurityPolicies (TKG
   * creates `vmware-system-privileged` and `vmware-system-restricted` where it turns the admission on), else off.
   * The API server's admission plugins are not visible to kubectl: declare false for a cluster that keeps
   * policies without enforcing them.
   */
  readonly podSecurityPolicyAdmission?: boolean;
  /**
   * The KEDA HTTP add-on. Default: the namespace the capture found its interceptor proxy Service in
   * (`kedaHttpAddOnNamespaces`), else none (a service that scales to zero is then refused). Declared, it must name
   * a namespace the capture found the interceptor in, when the add-ons were captured.
   */
  readonly kedaHttpAddOn?: ClusterProfile['kedaHttpAddOn'];
  /**
   * Namespace of an IngressClass's controller where the IngressClass does not say (no
   * `meta.helm.sh/release-namespace` annotation), by class name. Default: the annotation; `ingress-nginx` for
   * an nginx class without one (the ingress-nginx chart's documented namespace).
   */
  readonly ingressControllerNamespaces?: Readonly<Record<string, string>>;
  /**
   * Idle timeout per IngressClass whose controller takes no timeout from Ingress annotations (Traefik sets it
   * in its entry points' `respondingTimeouts` and ServersTransports, HAProxy in its ConfigMap), by class name.
   * Default `ingressIdleTimeoutSeconds`.
   */
  readonly ingressIdleTimeoutsSeconds?: Readonly<Record<string, number>>;
  /**
   * Admission policies the platform enforces (Polaris webhook, Kyverno ClusterPolicies). The capture sees
   * whether Kyverno is installed (its CRDs) but not which policies enforce. Default none.
   */
  readonly admission?: AdmissionPolicies;
}

/** Default read rate for a class the decisions do not describe. */
export const unknownClassReadMiBps = 100;

function quotaOf(hard: Readonly<Record<string, string>>): ResourceQuota {
  const q = (...keys: string[]) => {
    const key = keys.find((k) => hard[k] !== undefined);
    return key === undefined ? Number.POSITIVE_INFINITY : (parseQuantity(hard[key]) ?? Number.POSITIVE_INFINITY);
  };
  return {
    cpuMillis: q('requests.cpu', 'cpu') * 1000,
    memoryBytes: q('requests.memory', 'memory'),
    gpus: q('requests.nvidia.com/gpu'),
    ephemeralStorageBytes: q('requests.ephemeral-storage', 'ephemeral-storage'),
  };
}

/** A ClusterProfile whose every measurable figure comes from a capture. Throws when the decisions contradict the facts. */
export function profileFromFacts(facts: ClusterFacts, d: ProfileDecisions): ClusterProfile {
  const minor = kubernetesMinor(facts.kubernetesVersion);
  const problem = (field: string, what: string, fix: string) => new Error(`${d.definedIn}: cluster ${d.name}: ${field}: ${what}. Fix: ${fix}`);
  for (const name of Object.keys(d.storage ?? {})) {
    if (!facts.storageClasses.some((c) => c.name === name))
      throw problem(`storage.${name}`, 'no such storage class was captured', `use one of ${facts.storageClasses.map((c) => c.name).join(', ')}`);
  }
  for (const [field, byPool] of [
    ['reservedPerNode', d.reservedPerNode],
    ['gpus', d.gpus],
  ] as const) {
    for (const name of Object.keys(byPool ?? {})) {
      if (!facts.nodePools.some((p) => p.name === name))
        throw problem(`${field}.${name}`, 'no such node pool was captured', `use one of ${facts.nodePools.map((p) => p.name).join(', ')}`);
    }
  }
  for (const [field, byClass] of [
    ['ingressControllerNamespaces', d.ingressControllerNamespaces],
    ['ingressIdleTimeoutsSeconds', d.ingressIdleTimeoutsSeconds],
  ] as const) {
    for (const name of Object.keys(byClass ?? {})) {
      if (!facts.ingressClasses.some((c) => c.name === name))
        throw problem(
          `${field}.${name}`,
          'no such IngressClass was captured',
          `use one of ${facts.ingressClasses.map((c) => c.name).join(', ') || '(none captured)'}`,
        );
    }
  }
  if ((d.admission?.kyverno ?? []).length > 0 && !facts.operators.includes('Kyverno')) {
    throw problem(
      'admission.kyverno',
      'Kyverno policies are named but the capture found no kyverno.io CRDs',
      'install Kyverno and capture again, or remove admission.kyverno',
    );
  }
  const nodePools: NodePool[] = facts.nodePools.map((p) => {
    const reserved = d.reservedPerNode?.[p.name];
    let gpus: NodePool['gpus'];
    if (p.allocatable.gpus > 0) {
      const declared = d.gpus?.[p.name];
      if (declared) gpus = { count: p.allocatable.gpus, ...declared };
      else if (p.gpu) gpus = { count: p.allocatable.gpus, memoryGiB: Math.floor((p.gpu.memoryMiB / 1024) * 10) / 10, model: p.gpu.product.replace(/-/g, ' ') };
      else
        throw problem(
          `gpus.${p.name}`,
          'the pool has GPUs but no GPU feature discovery labels say their memory',
          `add gpus: { '${p.name}': { memoryGiB, model } } or install GPU feature discovery and capture again`,
        );
    }
    return {
      name: p.name,
      instanceType: p.instanceType,
      count: p.count,
      allocatable: { cpuMillis: p.allocatable.cpuMillis, memoryBytes: p.allocatable.memoryBytes, ephemeralStorageBytes: p.allocatable.ephemeralStorageBytes },
      ...(gpus ? { gpus } : {}),
      labels: p.labels,
      taints: p.taints,
      ...(reserved ? { reservedPerNode: reserved } : {}),
      ...(p.capacityType !== 'unknown' ? { capacityType: p.capacityType } : {}),
      ...(p.autoscaling ? { autoscaling: p.autoscaling } : {}),
      ...(p.zones.length > 0 ? { zones: p.zones } : {}),
    };
  });
  const storageClasses: StorageClass[] = facts.storageClasses.map((c) => {
    const migrated = inTreeMigration[c.provisioner];
    const driver = migrated && minor >= migrated.fromMinor ? migrated.driver : c.provisioner;
    // An in-tree provisioner before migration is served by kube-controller-manager itself.
    const installed = migrated && minor < migrated.fromMinor ? true : facts.csiDrivers.includes(driver);
    const decided = d.storage?.[c.name];
    return {
      name: c.name,
      provisioner: driver,
      accessModes: decided?.accessModes ?? driverAccessModes[driver] ?? ['ReadWriteOnce'],
      csiDriverInstalled: installed,
      readMiBps: decided?.readMiBps ?? unknownClassReadMiBps,
      ...(decided === undefined ? { readMiBpsAssumed: true } : {}),
      volumeBindingMode: c.volumeBindingMode,
    };
  });
  const awsLbController = facts.operators.includes('AWS Load Balancer Controller');
  const onpremLb = facts.loadBalancers ?? [];
  if (d.loadBalancer === undefined && onpremLb.length > 1)
    throw problem(
      'loadBalancer',
      `the capture found ${onpremLb.map((l) => `${l.kind} (${l.seenFrom})`).join(' and ')}`,
      'declare which one serves Services: loadBalancer: { kind, idleTimeoutSeconds, idleTimeoutFromAnnotations: false }',
    );
  const captured = onpremLb[0];
  if (d.loadBalancer === undefined && captured?.kind === 'avi' && d.loadBalancerIdleTimeoutSeconds === undefined)
    throw problem(
      'loadBalancerIdleTimeoutSeconds',
      `the capture found AKO (${captured.seenFrom}), whose idle timeout is its network profile's in the Avi controller, which kubectl cannot see`,
      "declare it from the L4 virtual services' network profile (System-TCP-Proxy unless an L4Rule names another)",
    );
  const idle = d.loadBalancerIdleTimeoutSeconds;
  if (idle !== undefined && (d.loadBalancer !== undefined || captured?.kind !== 'avi'))
    throw problem(
      'loadBalancerIdleTimeoutSeconds',
      `not read: ${d.loadBalancer !== undefined ? 'loadBalancer is declared whole' : `the captured load balancer is ${captured?.kind ?? 'none'}, whose idle timeout is not a profile setting`}`,
      'remove it (or put the timeout in loadBalancer.idleTimeoutSeconds)',
    );
  if (idle !== undefined && !(Number.isInteger(idle) && idle > 0))
    throw problem(
      'loadBalancerIdleTimeoutSeconds',
      `${idle} is not a positive number of seconds`,
      'give the network profile idle timeout in whole seconds, e.g. 600',
    );
  const loadBalancer: LoadBalancerProfile =
    d.loadBalancer ??
    (captured !== undefined
      ? {
          kind: captured.kind,
          idleTimeoutSeconds: captured.kind === 'avi' ? d.loadBalancerIdleTimeoutSeconds! : 0,
          idleTimeoutFromAnnotations: false,
          ...(captured.addressPools !== undefined ? { addressPools: captured.addressPools } : {}),
        }
      : facts.cloudProvider === 'aws'
        ? awsLbController
          ? { kind: 'aws-nlb', idleTimeoutSeconds: 350, idleTimeoutFromAnnotations: true }
          : { kind: 'aws-elb', idleTimeoutSeconds: 60, idleTimeoutFromAnnotations: true }
        : { kind: 'none', idleTimeoutSeconds: 0, idleTimeoutFromAnnotations: false });
  const kedaHttpAddOn = kedaHttpAddOnOf(facts, d, problem);
  const podSecurityPolicyAdmission = d.podSecurityPolicyAdmission ?? (minor < podSecurityPolicyRemovedMinor && (facts.podSecurityPolicies ?? []).length > 0);
  const namespaceQuotas: Record<string, ResourceQuota> = {};
  for (const q of facts.resourceQuotas) {
    const next = quotaOf(q.hard);
    const prev = namespaceQuotas[q.namespace];
    // Several quotas in one namespace: every one of them must hold, so the smallest of each figure counts.
    namespaceQuotas[q.namespace] = prev
      ? {
          cpuMillis: Math.min(prev.cpuMillis, next.cpuMillis),
          memoryBytes: Math.min(prev.memoryBytes, next.memoryBytes),
          gpus: Math.min(prev.gpus, next.gpus),
          ephemeralStorageBytes: Math.min(prev.ephemeralStorageBytes, next.ephemeralStorageBytes),
        }
      : next;
  }
  const customResourceTypes: CustomResourceType[] = facts.customResourceTypes.map((c) => ({
    ...c,
    installedBy: crdInstallers[c.group] ?? `the operator serving ${c.group}`,
  }));
  const ingressControllerNamespaces = Object.fromEntries(
    facts.ingressClasses.flatMap((c) => {
      const ns = d.ingressControllerNamespaces?.[c.name] ?? c.controllerNamespace;
      return ns ? [[c.name, ns]] : [];
    }),
  );
  const ingressControllers = Object.fromEntries(facts.ingressClasses.map((c) => [c.name, c.controller]));
  return {
    name: d.name,
    definedIn: d.definedIn,
    kubernetesVersion: facts.kubernetesVersion,
    capturedFrom: `${facts.capturedFrom} at ${facts.capturedAt}`,
    nodePools,
    storageClasses,
    loadBalancer,
    ingressIdleTimeoutSeconds: d.ingressIdleTimeoutSeconds ?? 60,
    fixedPathIdleTimeoutsSeconds: d.fixedPathIdleTimeoutsSeconds ?? [],
    namespaceQuotas,
    customResourceTypes,
    ingressClassNames: facts.ingressClasses.map((c) => c.name),
    ingressControllerNamespaces,
    ingressControllers,
    ...(d.ingressIdleTimeoutsSeconds ? { ingressIdleTimeoutsSeconds: d.ingressIdleTimeoutsSeconds } : {}),
    ...(d.admission ? { admission: d.admission } : {}),
    ...(d.prometheus ? { prometheus: d.prometheus } : {}),
    ...(podSecurityPolicyAdmission ? { podSecurityPolicyAdmission } : d.podSecurityPolicyAdmission === false ? { podSecurityPolicyAdmission: false } : {}),
    ...(kedaHttpAddOn ? { kedaHttpAddOn } : {}),
  };
}

/** The add-on the profile routes scaled-to-zero services through: declared and checked against the capture, or captured. */
function kedaHttpAddOnOf(
  facts: ClusterFacts,
  d: ProfileDecisions,
  problem: (field: string, what: string, fix: string) => Error,
): ClusterProfile['kedaHttpAddOn'] {
  const found = facts.kedaHttpAddOnNamespaces;
  if (d.kedaHttpAddOn !== undefined) {
    if (found !== undefined && !found.includes(d.kedaHttpAddOn.namespace))
      throw problem(
        'kedaHttpAddOn',
        `namespace ${d.kedaHttpAddOn.namespace} holds no KEDA HTTP add-on interceptor in the capture (found: ${found.length > 0 ? found.join(', ') : 'none'})`,
        found.length > 0
          ? `set kedaHttpAddOn.namespace to ${found[0]}`
          : 'install the add-on (Helm chart kedacore/keda-add-ons-http), capture again, or remove kedaHttpAddOn',
      );
    return d.kedaHttpAddOn;
  }
  if (found === undefined || found.length === 0) return undefined;
  if (found.length > 1)
    throw problem(
      'kedaHttpAddOn',
      `the capture found the add-on's interceptor in ${found.length} namespaces (${found.join(', ')})`,
      'declare kedaHttpAddOn: { namespace } naming the one the model services use',
    );
  return { namespace: found[0] as string };
}
