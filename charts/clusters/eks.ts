import { GiB } from '../sizing/units.js';
import type { NodePool, StorageClass } from './types.js';

/**
 * EKS building blocks. Allocatable figures follow the EKS-optimized AMI's kubelet reservations:
 * CPU 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above; memory
 * 255 MiB + 11 MiB x max pods, plus a 100 MiB eviction threshold (the AMI's bootstrap script).
 * An r5.large thus offers 1930m CPU and about 14.6 GiB to pods.
 */
export function eksCpuReservedMillis(cores: number): number {
  let reserved = 60;
  if (cores >= 2) reserved += 10;
  if (cores >= 3) reserved += 5 * (Math.min(cores, 4) - 2);
  if (cores > 4) reserved += 2.5 * (cores - 4);
  return reserved;
}

const rootVolume = 80 * GiB;
/** The kubelet keeps 10% of the root volume for image GC and eviction. */
const ephemeralAllocatable = Math.floor(rootVolume * 0.9);

export function r5Large(count: number, labels: Record<string, string> = { 'node.kubernetes.io/instance-type': 'r5.large' }): NodePool {
  return {
    name: 'cpu-r5-large',
    instanceType: 'r5.large',
    count,
    allocatable: { cpuMillis: 2000 - eksCpuReservedMillis(2), memoryBytes: Math.round(14.6 * GiB), ephemeralStorageBytes: ephemeralAllocatable },
    labels,
    taints: [],
  };
}

export function r5Xlarge(count: number): NodePool {
  return {
    name: 'cpu-r5-xlarge',
    instanceType: 'r5.xlarge',
    count,
    // 32 GiB - (255 + 11 x 58 pods) MiB - 100 MiB eviction, minus ~1.1 GiB the OS keeps
    allocatable: { cpuMillis: 4000 - eksCpuReservedMillis(4), memoryBytes: Math.round(29.8 * GiB), ephemeralStorageBytes: ephemeralAllocatable },
    labels: { 'node.kubernetes.io/instance-type': 'r5.xlarge' },
    taints: [],
  };
}

export function r5_2xlarge(count: number): NodePool {
  return {
    name: 'cpu-r5-2xlarge',
    instanceType: 'r5.2xlarge',
    count,
    allocatable: { cpuMillis: 8000 - eksCpuReservedMillis(8), memoryBytes: Math.round(60.9 * GiB), ephemeralStorageBytes: ephemeralAllocatable },
    labels: { 'node.kubernetes.io/instance-type': 'r5.2xlarge' },
    taints: [],
  };
}

/** g5.2xlarge: 8 vCPU, 32 GiB, one NVIDIA A10G with 24 GiB; GPU nodes tainted so only GPU pods land there. */
export function g5_2xlarge(count: number): NodePool {
  return {
    name: 'gpu-g5-2xlarge',
    instanceType: 'g5.2xlarge',
    count,
    allocatable: { cpuMillis: 8000 - eksCpuReservedMillis(8), memoryBytes: Math.round(29.8 * GiB), ephemeralStorageBytes: ephemeralAllocatable },
    gpus: { count: 1, memoryGiB: 24, model: 'NVIDIA A10G' },
    labels: { 'node.kubernetes.io/instance-type': 'g5.2xlarge', 'nvidia.com/gpu.present': 'true' },
    taints: [{ key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' }],
  };
}

/** gp3 through the EBS CSI driver: ReadWriteOnce, 125 MiB/s baseline throughput. */
export const gp3: StorageClass = { name: 'gp3', provisioner: 'ebs.csi.aws.com', accessModes: ['ReadWriteOnce'], csiDriverInstalled: true, readMiBps: 125 };
/** EFS through the EFS CSI driver: ReadWriteMany; one client reads far slower than a local gp3 volume. */
export const efs: StorageClass = { name: 'efs-sc', provisioner: 'efs.csi.aws.com', accessModes: ['ReadWriteMany', 'ReadWriteOnce'], csiDriverInstalled: true, readMiBps: 60 };

