import { GiB } from '../sizing/units.js';
import type { CustomResourceType, NodePool, StorageClass } from './types.js';

/**
 * EKS building blocks. Allocatable figures follow the EKS-optimized AMI's kubelet reservations:
 * CPU 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above; memory
 * 255 MiB + 11 MiB x max pods plus a 100 MiB eviction threshold, less what the OS keeps.
 * An r5.large thus offers 1930m CPU and about 14.6 GiB to pods.
 */
export function eksCpuReservedMillis(cores: number): number {
  let reserved = 60;
  if (cores >= 2) reserved += 10;
  if (cores >= 3) reserved += 5 * (Math.min(cores, 4) - 2);
  if (cores > 4) reserved += 2.5 * (cores - 4);
  return reserved;
}

/** The kubelet keeps 10% of an 80 GiB root volume for image GC and eviction. */
const ephemeralAllocatable = Math.floor(80 * GiB * 0.9);

/** An EC2 node pool from its instance shape: vCPUs and the memory pods can get (GiB). */
function ec2Pool(instanceType: string, vcpus: number, allocatableMemoryGiB: number, count: number, extra: Partial<NodePool> = {}): NodePool {
  return {
    name: `${extra.gpus ? 'gpu' : 'cpu'}-${instanceType.replace('.', '-')}`,
    instanceType,
    count,
    allocatable: {
      cpuMillis: vcpus * 1000 - eksCpuReservedMillis(vcpus),
      memoryBytes: Math.round(allocatableMemoryGiB * GiB),
      ephemeralStorageBytes: ephemeralAllocatable,
    },
    labels: { 'node.kubernetes.io/instance-type': instanceType, ...extra.labels },
    taints: extra.taints ?? [],
    ...(extra.gpus ? { gpus: extra.gpus } : {}),
  };
}

/** r5.large: 2 vCPU, 16 GiB; 1930m and ~14.6 GiB allocatable. */
export const r5Large = (count: number): NodePool => ec2Pool('r5.large', 2, 14.6, count);
/** r5.2xlarge: 8 vCPU, 64 GiB. */
export const r5_2xlarge = (count: number): NodePool => ec2Pool('r5.2xlarge', 8, 60.9, count);
/** g5.2xlarge: 8 vCPU, 32 GiB, one NVIDIA A10G with 24 GiB; tainted so only GPU pods land there. */
export const g5_2xlarge = (count: number): NodePool =>
  ec2Pool('g5.2xlarge', 8, 29.8, count, {
    gpus: { count: 1, memoryGiB: 24, model: 'NVIDIA A10G' },
    labels: { 'nvidia.com/gpu.present': 'true' },
    taints: [{ key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' }],
  });

/**
 * gp3 through the EBS CSI driver: ReadWriteOnce, 125 MiB/s baseline throughput. An EBS volume lives in one
 * availability zone, so the class binds on first consumer (as the EKS documentation's gp3 class does).
 */
export const gp3: StorageClass = {
  name: 'gp3',
  provisioner: 'ebs.csi.aws.com',
  accessModes: ['ReadWriteOnce'],
  csiDriverInstalled: true,
  readMiBps: 125,
  volumeBindingMode: 'WaitForFirstConsumer',
};
/** EFS through the EFS CSI driver: ReadWriteMany, regional, so it binds at once; one client reads far slower than a local gp3 volume. */
export const efs: StorageClass = {
  name: 'efs-sc',
  provisioner: 'efs.csi.aws.com',
  accessModes: ['ReadWriteMany', 'ReadWriteOnce'],
  csiDriverInstalled: true,
  readMiBps: 60,
  volumeBindingMode: 'Immediate',
};

/** The CRDs kube-prometheus-stack installs that this repository's manifests use. */
export const prometheusOperatorCrds: readonly CustomResourceType[] = [
  { group: 'monitoring.coreos.com', kind: 'ServiceMonitor', installedBy: 'kube-prometheus-stack (prometheus-operator CRDs)' },
  { group: 'monitoring.coreos.com', kind: 'PrometheusRule', installedBy: 'kube-prometheus-stack (prometheus-operator CRDs)' },
];

/** KEDA's Helm chart: ScaledObject (with its own HPA per object), ScaledJob and the trigger authentications. */
export const kedaCrds: readonly CustomResourceType[] = [
  { group: 'keda.sh', kind: 'ScaledObject', installedBy: 'KEDA (kedacore/keda Helm chart)' },
  { group: 'keda.sh', kind: 'TriggerAuthentication', installedBy: 'KEDA (kedacore/keda Helm chart)' },
];

/** The KEDA HTTP add-on's Helm chart (kedacore/keda-add-ons-http): the HTTPScaledObject its interceptor routes by. */
export const kedaHttpAddOnCrds: readonly CustomResourceType[] = [
  { group: 'http.keda.sh', kind: 'HTTPScaledObject', installedBy: 'KEDA HTTP add-on (kedacore/keda-add-ons-http Helm chart)' },
];

/**
 * Allocatable memory of an EKS node assuming 110 pods per node: the nominal size less ~3.2 % the kernel and OS
 * keep, 255 MiB + 11 MiB x 110 kube-reserved and the 100 MiB eviction threshold (about 60.4 GiB of a 64 GiB
 * m6i.4xlarge). Typed profiles only: a capture (`npm run cluster:capture`) reads each node's status.allocatable.
 */
function eksAllocatableMemoryGiB(nominalGiB: number): number {
  const kubeReservedGiB = (255 + 11 * 110) / 1024;
  return Math.floor((nominalGiB * (1 - 0.032) - kubeReservedGiB - 100 / 1024) * 10) / 10;
}

/**
 * An EKS managed node group of m6i.4xlarge (16 vCPU, 64 GiB), on-demand or spot. Managed node groups label every
 * node `eks.amazonaws.com/capacityType` (`ON_DEMAND` | `SPOT`) and `eks.amazonaws.com/nodegroup`; the spot group
 * is tainted so only services that opt in to reclaimable capacity land there.
 */
export function m6i_4xlargeNodeGroup(name: string, capacityType: 'on-demand' | 'spot', autoscaling: { minCount: number; maxCount: number }): NodePool {
  const base = ec2Pool('m6i.4xlarge', 16, eksAllocatableMemoryGiB(64), autoscaling.maxCount);
  return {
    ...base,
    name,
    labels: { ...base.labels, 'eks.amazonaws.com/nodegroup': name, 'eks.amazonaws.com/capacityType': capacityType === 'spot' ? 'SPOT' : 'ON_DEMAND' },
    taints: capacityType === 'spot' ? [{ key: 'capacity-type', value: 'spot', effect: 'NoSchedule' }] : [],
    capacityType,
    autoscaling,
  };
}

/**
 * An EKS managed node group of g6e.12xlarge (48 vCPU, 384 GiB, four NVIDIA L40S of 48 GB; 46068 MiB each as
 * nvidia-smi and GPU feature discovery's `nvidia.com/gpu.memory` report it, 44.9 GiB), on-demand, in one zone
 * (GPU capacity is usually reserved in one availability zone). Tainted like every GPU pool here.
 */
export function g6e_12xlargeNodeGroup(name: string, zone: string, autoscaling: { minCount: number; maxCount: number }): NodePool {
  const base = ec2Pool('g6e.12xlarge', 48, eksAllocatableMemoryGiB(384), autoscaling.maxCount, {
    gpus: { count: 4, memoryGiB: Math.floor((46068 / 1024) * 10) / 10, model: 'NVIDIA L40S' },
    labels: { 'nvidia.com/gpu.present': 'true' },
    taints: [{ key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' }],
  });
  return {
    ...base,
    name,
    labels: { ...base.labels, 'eks.amazonaws.com/nodegroup': name, 'eks.amazonaws.com/capacityType': 'ON_DEMAND', 'topology.kubernetes.io/zone': zone },
    capacityType: 'on-demand',
    autoscaling,
  };
}

/** cert-manager's Helm chart with `crds.enabled`: the issuers its ingress-shim reads and the Certificates it creates. */
export const certManagerCrds: readonly CustomResourceType[] = [
  { group: 'cert-manager.io', kind: 'Certificate', installedBy: 'cert-manager (jetstack/cert-manager Helm chart, crds.enabled)' },
  { group: 'cert-manager.io', kind: 'Issuer', installedBy: 'cert-manager (jetstack/cert-manager Helm chart, crds.enabled)' },
  { group: 'cert-manager.io', kind: 'ClusterIssuer', installedBy: 'cert-manager (jetstack/cert-manager Helm chart, crds.enabled)' },
];
