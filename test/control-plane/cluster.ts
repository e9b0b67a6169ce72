/**
 * A cluster profile made real on the control plane: each node pool's nodes as Node objects kept Ready by a
 * heartbeat (the kubelet's node lease), the pool's per-node reservations as pods bound to each node, the
 * storage classes with a CSIDriver for each installed driver, and a stand-in for the external provisioners
 * that provisions a volume only for a driver the profile lists as installed.
 *
 * Modelled on the kubelet's node registration and lease (k8s.io/kubernetes pkg/kubelet/kubelet_node_status.go,
 * k8s.io/component-helpers apimachinery/lease/controller.go) and on an external-provisioner
 * (kubernetes-csi/external-provisioner, sig-storage-lib-external-provisioner controller.go: it acts on a claim
 * whose `volume.kubernetes.io/storage-provisioner` annotation, set by the PV controller, names its driver, and
 * for WaitForFirstConsumer only once the scheduler set `volume.kubernetes.io/selected-node`).
 */
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
  type KubeConfig,
  type KubernetesObject,
  type V1PersistentVolumeClaim,
} from '@kubernetes/client-node';
import type { ClusterProfile, NodePool } from '../../charts/clusters/types.js';
import { poolNodes } from '../../charts/placement/packing.js';
import { deleteNamespace } from './apply.js';

/** The extended resource the NVIDIA device plugin advertises; the manifests request it for GPU services. */
export const gpuResource = 'nvidia.com/gpu';
/** Namespace of the per-node reservation pods (the DaemonSets and other teams' pods the profile accounts for). */
export const reservedNamespace = 'kube-system';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface RegisteredNode {
  readonly name: string;
  readonly pool: NodePool;
  readonly zone?: string;
}

/** The Node objects of a pool: the nodes the packing model places pods on (`poolNodes`, an autoscaled pool at its maxCount). */
export function nodesOf(pool: NodePool): RegisteredNode[] {
  return poolNodes(pool).map((n) => ({ name: n.name, pool, zone: n.labels['topology.kubernetes.io/zone'] }));
}

function nodeResources(pool: NodePool): Record<string, string> {
  return {
    cpu: `${pool.allocatable.cpuMillis}m`,
    memory: `${pool.allocatable.memoryBytes}`,
    'ephemeral-storage': `${pool.allocatable.ephemeralStorageBytes}`,
    // The kubelet's default maxPods.
    pods: '110',
    ...(pool.gpus ? { [gpuResource]: `${pool.gpus.count}` } : {}),
  };
}

/** A profile's nodes, reservations, storage classes and provisioner running against one control plane. */
export class ProfileCluster {
  readonly nodes: RegisteredNode[];
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly objects: KubernetesObjectApi;
  private heartbeat?: NodeJS.Timeout;
  private provisioner?: NodeJS.Timeout;
  private provisioning = false;
  /** Claims the stand-in provisioner created a volume for, as namespace/name. */
  readonly provisioned: string[] = [];

  constructor(
    private readonly kubeConfig: KubeConfig,
    readonly profile: ClusterProfile,
    /**
     * Play the kubelet for pods bound to these nodes: report each Running and Ready once bound, and finish a
     * graceful deletion at once (the containers "stopped"). Default false: bound pods stay as the scheduler left
     * them, and a deleted pod stays Terminating as it does on a node whose kubelet is gone.
     */
    private readonly kubelet = false,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.coordination = kubeConfig.makeApiClient(CoordinationV1Api);
    this.objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    this.nodes = profile.nodePools.flatMap(nodesOf);
  }

  /** Registers the nodes (Ready), their reservations and the storage classes, and starts heartbeat and provisioner. */
  async start(): Promise<void> {
    // Quotas the cluster's administrators set: their namespace exists before Argo CD applies into it.
    for (const [namespace, q] of Object.entries(this.profile.namespaceQuotas)) {
      await this.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } as KubernetesObject);
      await this.apply({
        apiVersion: 'v1',
        kind: 'ResourceQuota',
        metadata: { name: 'cluster-admin-quota', namespace },
        // A figure the captured quota did not set is infinite in the profile: no limit to create.
        spec: {
          hard: Object.fromEntries(
            Object.entries({
              'requests.cpu': q.cpuMillis / 1000,
              'requests.memory': q.memoryBytes,
              [`requests.${gpuResource}`]: q.gpus,
              'requests.ephemeral-storage': q.ephemeralStorageBytes,
            })
              .filter(([, v]) => Number.isFinite(v))
              .map(([k, v]) => [k, `${v}`]),
          ),
        },
      } as KubernetesObject);
    }
    for (const node of this.nodes) await this.registerNode(node);
    await this.renewLeases();
    await this.awaitSchedulable();
    this.heartbeat = setInterval(() => void this.renewLeases().catch(() => undefined), 10_000);
    for (const node of this.nodes) await this.reserve(node);
    for (const cls of this.profile.storageClasses) {
      await this.apply({
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: cls.name },
        provisioner: cls.provisioner,
        volumeBindingMode: cls.volumeBindingMode ?? 'Immediate',
        allowVolumeExpansion: true,
      } as KubernetesObject);
      if (cls.csiDriverInstalled) {
        await this.apply({
          apiVersion: 'storage.k8s.io/v1',
          kind: 'CSIDriver',
          metadata: { name: cls.provisioner },
          spec: { attachRequired: false },
        } as KubernetesObject);
      }
    }
    // Classes admission looks up (Priority and RuntimeClass plugins): the ones the profile says exist.
    for (const name of this.profile.priorityClassNames ?? []) {
      await this.apply({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name }, value: 1000 } as KubernetesObject);
    }
    for (const name of this.profile.runtimeClassNames ?? []) {
      await this.apply({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name }, handler: name } as KubernetesObject);
    }
    this.provisioner = setInterval(() => void this.provisionOnce().catch(() => undefined), 1_000);
  }

  /**
   * Waits until the node lifecycle controller has taken the `node.kubernetes.io/not-ready` taint off every node
   * (the TaintNodesByCondition admission plugin puts it on each new Node), so no pod is refused for it.
   */
  private async awaitSchedulable(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const tainted = [];
      for (const node of this.nodes) {
        const live = await this.core.readNode({ name: node.name });
        if ((live.spec?.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/'))) tainted.push(node.name);
      }
      if (tainted.length === 0) return;
      if (Date.now() > deadline) throw new Error(`nodes still tainted not-ready after ${timeoutMs / 1000} s: ${tainted.join(', ')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** One pass of the nodes' kubelets: bound pods reported Ready, terminating ones removed. */
  private async kubeletOnce(): Promise<void> {
    const nodes = new Set(this.nodes.map((n) => n.name));
    const pods = await this.core.listPodForAllNamespaces();
    for (const pod of pods.items) {
      const { name, namespace } = pod.metadata!;
      if (!pod.spec?.nodeName || !nodes.has(pod.spec.nodeName) || namespace === reservedNamespace) continue;
      if (pod.metadata?.deletionTimestamp) {
        await this.core.deleteNamespacedPod({ name: name!, namespace: namespace!, gracePeriodSeconds: 0 }).catch(() => undefined);
      } else if (!pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) {
        await reportPodReady(this.kubeConfig, namespace!, name!).catch(() => undefined);
      }
    }
  }

  /**
   * Stops the heartbeat and the provisioner and removes what start() made (nodes, reservation pods, storage classes,
   * CSIDrivers), so the next profile starts on an empty cluster: a StorageClass's provisioner and binding mode are
   * immutable, and another profile may name the same class differently.
   */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    clearInterval(this.provisioner);
    const ignoreMissing = (): undefined => undefined;
    for (const node of this.nodes) {
      await this.core.deleteNamespacedPod({ name: `reserved-${node.name}`, namespace: reservedNamespace, gracePeriodSeconds: 0 }).catch(ignoreMissing);
      await this.core.deleteNode({ name: node.name }).catch(ignoreMissing);
    }
    for (const name of this.profile.priorityClassNames ?? []) {
      await this.objects.delete({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name } }).catch(ignoreMissing);
    }
    for (const name of this.profile.runtimeClassNames ?? []) {
      await this.objects.delete({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name } }).catch(ignoreMissing);
    }
    for (const cls of this.profile.storageClasses) {
      await this.objects.delete({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: cls.name } }).catch(ignoreMissing);
      await this.objects.delete({ apiVersion: 'storage.k8s.io/v1', kind: 'CSIDriver', metadata: { name: cls.provisioner } }).catch(ignoreMissing);
    }
  }

  private async apply(o: KubernetesObject): Promise<void> {
    await this.objects.patch(o, undefined, undefined, 'gguf-on-k8s-tests', true, PatchStrategy.ServerSideApply);
  }

  private async registerNode(node: RegisteredNode): Promise<void> {
    const { pool } = node;
    const labels: Record<string, string> = {
      ...pool.labels,
      'kubernetes.io/hostname': node.name,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'node.kubernetes.io/instance-type': pool.instanceType,
      ...(node.zone ? { 'topology.kubernetes.io/zone': node.zone } : {}),
    };
    const body = { metadata: { name: node.name, labels }, spec: { taints: pool.taints.map((t) => ({ key: t.key, value: t.value, effect: t.effect })) } };
    await this.core.createNode({ body }).catch(async (err: unknown) => {
      if (!(err instanceof ApiException && err.code === 409)) throw err;
      // A node of the same name left by an earlier case of another profile (a test process killed mid-case):
      // replace it, so this profile's capacity, labels and taints are the ones the scheduler sees.
      await this.core.deleteNode({ name: node.name });
      await this.core.createNode({ body });
    });
    const now = new Date();
    // The kubelet reports capacity, allocatable and the Ready condition through the status subresource.
    await this.core.patchNodeStatus(
      {
        name: node.name,
        body: {
          status: {
            capacity: nodeResources(pool),
            allocatable: nodeResources(pool),
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'KubeletReady',
                message: 'kubelet is posting ready status (test heartbeat)',
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
              { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', lastHeartbeatTime: now, lastTransitionTime: now },
              { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', lastHeartbeatTime: now, lastTransitionTime: now },
              { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', lastHeartbeatTime: now, lastTransitionTime: now },
            ],
            nodeInfo: {
              architecture: 'amd64',
              operatingSystem: 'linux',
              kubeletVersion: this.profile.kubernetesVersion ?? 'v1.37.2',
              kubeProxyVersion: '',
              containerRuntimeVersion: 'containerd://2.0.0',
              bootID: '',
              kernelVersion: '',
              machineID: '',
              osImage: 'test',
              systemUUID: node.name,
            },
          },
        },
      },
      mergePatch,
    );
  }

  /** The node lease the node lifecycle controller reads as the kubelet's heartbeat (renewed every 10 s, as the kubelet does). */
  private async renewLeases(): Promise<void> {
    for (const node of this.nodes) {
      const body = {
        metadata: { name: node.name, namespace: 'kube-node-lease' },
        spec: { holderIdentity: node.name, leaseDurationSeconds: 40, renewTime: new V1MicroTime() },
      };
      try {
        await this.coordination.patchNamespacedLease({ name: node.name, namespace: 'kube-node-lease', body: { spec: body.spec } }, mergePatch);
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 404)) throw err;
        await this.coordination.createNamespacedLease({ namespace: 'kube-node-lease', body });
      }
    }
  }

  /** A pod bound to the node holding the pool's `reservedPerNode` requests, so the scheduler sees them as used. */
  private async reserve(node: RegisteredNode): Promise<void> {
    const r = node.pool.reservedPerNode;
    if (!r) return;
    await this.core.createNamespacedPod({
      namespace: reservedNamespace,
      body: {
        metadata: { name: `reserved-${node.name}`, labels: { 'gguf-on-k8s.test/reserved': 'true' } },
        spec: {
          nodeName: node.name,
          tolerations: [{ operator: 'Exists' }],
          containers: [
            { name: 'reserved', image: 'registry.k8s.io/pause:3.10', resources: { requests: { cpu: `${r.cpuMillis}m`, memory: `${r.memoryBytes}` } } },
          ],
        },
      },
    });
  }

  /** One pass of the stand-in external provisioner over every claim the PV controller handed to a driver. */
  private async provisionOnce(): Promise<void> {
    if (this.provisioning) return;
    this.provisioning = true;
    try {
      const claims = await this.core.listPersistentVolumeClaimForAllNamespaces();
      for (const claim of claims.items) await this.provision(claim);
      if (this.kubelet) await this.kubeletOnce();
    } finally {
      this.provisioning = false;
    }
  }

  private async provision(claim: V1PersistentVolumeClaim): Promise<void> {
    const annotations = claim.metadata?.annotations ?? {};
    const driver = annotations['volume.kubernetes.io/storage-provisioner'];
    if (claim.status?.phase !== 'Pending' || claim.spec?.volumeName || driver === undefined) return;
    const cls = this.profile.storageClasses.find((c) => c.name === claim.spec?.storageClassName);
    // No running driver, no volume: the claim stays Pending with the PV controller's ExternalProvisioning event.
    if (!cls || !cls.csiDriverInstalled || cls.provisioner !== driver) return;
    const selectedNode = annotations['volume.kubernetes.io/selected-node'];
    if ((cls.volumeBindingMode ?? 'Immediate') === 'WaitForFirstConsumer' && !selectedNode) return;
    const name = `pvc-${claim.metadata!.uid}`;
    await this.core.createPersistentVolume({
      body: {
        metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': driver } },
        spec: {
          capacity: { storage: claim.spec!.resources!.requests!.storage! },
          accessModes: claim.spec!.accessModes,
          storageClassName: cls.name,
          persistentVolumeReclaimPolicy: 'Delete',
          volumeMode: claim.spec!.volumeMode ?? 'Filesystem',
          claimRef: { namespace: claim.metadata!.namespace, name: claim.metadata!.name, uid: claim.metadata!.uid },
          csi: { driver, volumeHandle: name },
          ...(selectedNode
            ? {
                nodeAffinity: {
                  required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [selectedNode] }] }] },
                },
              }
            : {}),
        },
      },
    });
    this.provisioned.push(`${claim.metadata!.namespace}/${claim.metadata!.name}`);
  }
}

/**
 * Reports a bound pod as running and Ready, as the kubelet's status manager does once its containers started and
 * the readiness probe passed (pkg/kubelet/status/status_manager.go; conditions from pkg/kubelet/status/generate.go).
 * No process runs: the tests that need the service itself use the kubelet harness in test/conformance/.
 */
export async function reportPodReady(kubeConfig: KubeConfig, namespace: string, name: string): Promise<void> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const pod = await core.readNamespacedPod({ name, namespace });
  const now = new Date();
  const condition = (type: string) => ({ type, status: 'True', lastTransitionTime: now, lastProbeTime: null });
  await core.patchNamespacedPodStatus(
    {
      name,
      namespace,
      body: {
        status: {
          phase: 'Running',
          hostIP: '127.0.0.1',
          podIP: '127.0.0.1',
          startTime: now,
          conditions: [
            condition('PodReadyToStartContainers'),
            condition('Initialized'),
            condition('ContainersReady'),
            condition('Ready'),
            condition('PodScheduled'),
          ],
          containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
            name: c.name,
            image: c.image,
            imageID: '',
            ready: true,
            started: true,
            restartCount: 0,
            state: { running: { startedAt: now } },
          })),
        },
      },
    },
    mergePatch,
  );
}

/**
 * Runs `body` on the profile's nodes in `namespace`, then deletes the namespace and the nodes whatever happened:
 * a start that fails half-way or a namespace that outlives its deadline still leaves an empty cluster, so the next
 * case (often with the same node names) is judged on its own and not refused with "nodes … already exists".
 */
export async function onProfileCluster<T>(
  kubeConfig: KubeConfig,
  profile: ClusterProfile,
  namespace: string,
  options: { readonly kubelet: boolean },
  body: (cluster: ProfileCluster) => Promise<T>,
): Promise<T> {
  const cluster = new ProfileCluster(kubeConfig, profile, options.kubelet);
  try {
    await cluster.start();
    return await body(cluster);
  } finally {
    try {
      await deleteNamespace(kubeConfig, namespace);
    } finally {
      await cluster.stop();
    }
  }
}
