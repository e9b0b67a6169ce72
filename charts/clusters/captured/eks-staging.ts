/**
 * Captured 2026-12-02T01:23:20Z from files in test/fixtures/kubectl/eks-staging by:
 *   npm run cluster:capture -- --from test/fixtures/kubectl/eks-staging --out charts/clusters/captured/eks-staging.ts --pool-bounds cpu-r5-xlarge=2:3
 * (kubectl version -o json; kubectl get nodes,storageclasses,csidrivers,customresourcedefinitions,ingressclasses,resourcequotas -A -o json).
 * Kubernetes v1.31.4-eks-2d5f260; node pools: cpu-r5-xlarge (2 x r5.xlarge, on-demand, autoscaled 2-3), gpu-g5-2xlarge (1 x g5.2xlarge, 1 GPU, on-demand).
 * Data only, written by tools/cluster-capture/main.ts (npm run cluster:capture): capture again rather than editing, and review the diff.
 */
import type { ClusterFacts } from '../facts.js';

export const eksStagingFacts: ClusterFacts = {
  "capturedAt": "2026-12-02T01:23:20Z",
  "capturedFrom": "files in test/fixtures/kubectl/eks-staging",
  "kubernetesVersion": "v1.31.4-eks-2d5f260",
  "nodePools": [
    {
      "name": "cpu-r5-xlarge",
      "groupedBy": "eks.amazonaws.com/nodegroup",
      "instanceType": "r5.xlarge",
      "count": 2,
      "capacityType": "on-demand",
      "allocatable": {
        "cpuMillis": 3920,
        "memoryBytes": 32123604992,
        "ephemeralStorageBytes": 76224326324,
        "gpus": 0
      },
      "labels": {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": "r5.xlarge",
        "beta.kubernetes.io/os": "linux",
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        "eks.amazonaws.com/nodegroup": "cpu-r5-xlarge",
        "eks.amazonaws.com/sourceLaunchTemplateId": "lt-0e68906204d10b09b",
        "eks.amazonaws.com/sourceLaunchTemplateVersion": "1",
        "failure-domain.beta.kubernetes.io/region": "eu-west-1",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "r5.xlarge",
        "topology.kubernetes.io/region": "eu-west-1"
      },
      "taints": [],
      "zones": [
        "eu-west-1a",
        "eu-west-1b"
      ],
      "autoscaling": {
        "minCount": 2,
        "maxCount": 3
      }
    },
    {
      "name": "gpu-g5-2xlarge",
      "groupedBy": "eks.amazonaws.com/nodegroup",
      "instanceType": "g5.2xlarge",
      "count": 1,
      "capacityType": "on-demand",
      "allocatable": {
        "cpuMillis": 7910,
        "memoryBytes": 32123604992,
        "ephemeralStorageBytes": 76224326324,
        "gpus": 1
      },
      "gpu": {
        "product": "NVIDIA-A10G",
        "memoryMiB": 23028
      },
      "labels": {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": "g5.2xlarge",
        "beta.kubernetes.io/os": "linux",
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        "eks.amazonaws.com/nodegroup": "gpu-g5-2xlarge",
        "eks.amazonaws.com/sourceLaunchTemplateId": "lt-245fd9acb815ab362",
        "eks.amazonaws.com/sourceLaunchTemplateVersion": "1",
        "failure-domain.beta.kubernetes.io/region": "eu-west-1",
        "feature.node.kubernetes.io/pci-10de.present": "true",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "g5.2xlarge",
        "nvidia.com/cuda.driver.major": "550",
        "nvidia.com/cuda.runtime.major": "12",
        "nvidia.com/gpu.compute.major": "8",
        "nvidia.com/gpu.compute.minor": "6",
        "nvidia.com/gpu.count": "1",
        "nvidia.com/gpu.family": "ampere",
        "nvidia.com/gpu.machine": "g5.2xlarge",
        "nvidia.com/gpu.memory": "23028",
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": "NVIDIA-A10G",
        "nvidia.com/gpu.replicas": "1",
        "nvidia.com/mig.capable": "false",
        "topology.kubernetes.io/region": "eu-west-1"
      },
      "taints": [
        {
          "key": "nvidia.com/gpu",
          "value": "true",
          "effect": "NoSchedule"
        }
      ],
      "zones": [
        "eu-west-1a"
      ]
    }
  ],
  "storageClasses": [
    {
      "name": "gp2",
      "provisioner": "kubernetes.io/aws-ebs",
      "volumeBindingMode": "WaitForFirstConsumer",
      "allowVolumeExpansion": false,
      "isDefault": false
    },
    {
      "name": "gp3",
      "provisioner": "ebs.csi.aws.com",
      "volumeBindingMode": "WaitForFirstConsumer",
      "allowVolumeExpansion": true,
      "isDefault": true
    }
  ],
  "csiDrivers": [
    "ebs.csi.aws.com"
  ],
  "customResourceTypes": [
    {
      "group": "crd.k8s.amazonaws.com",
      "kind": "ENIConfig"
    },
    {
      "group": "elbv2.k8s.aws",
      "kind": "IngressClassParams"
    },
    {
      "group": "elbv2.k8s.aws",
      "kind": "TargetGroupBinding"
    },
    {
      "group": "monitoring.coreos.com",
      "kind": "Alertmanager"
    },
    {
      "group": "monitoring.coreos.com",
      "kind": "PodMonitor"
    },
    {
      "group": "monitoring.coreos.com",
      "kind": "Prometheus"
    },
    {
      "group": "monitoring.coreos.com",
      "kind": "PrometheusRule"
    },
    {
      "group": "monitoring.coreos.com",
      "kind": "ServiceMonitor"
    },
    {
      "group": "networking.k8s.aws",
      "kind": "PolicyEndpoint"
    },
    {
      "group": "nfd.k8s-sigs.io",
      "kind": "NodeFeature"
    },
    {
      "group": "nfd.k8s-sigs.io",
      "kind": "NodeFeatureRule"
    },
    {
      "group": "nvidia.com",
      "kind": "ClusterPolicy"
    },
    {
      "group": "nvidia.com",
      "kind": "NVIDIADriver"
    },
    {
      "group": "vpcresources.k8s.aws",
      "kind": "SecurityGroupPolicy"
    }
  ],
  "operators": [
    "prometheus-operator",
    "AWS Load Balancer Controller",
    "NVIDIA GPU Operator",
    "Node Feature Discovery",
    "GPU feature discovery"
  ],
  "ingressClasses": [
    {
      "name": "nginx",
      "controller": "k8s.io/ingress-nginx",
      "controllerNamespace": "ingress-nginx"
    }
  ],
  "resourceQuotas": [
    {
      "namespace": "llm-staging",
      "name": "llm-staging-quota",
      "hard": {
        "requests.cpu": "8",
        "requests.ephemeral-storage": "20Gi",
        "requests.memory": "24Gi",
        "requests.nvidia.com/gpu": "1"
      }
    }
  ],
  "cloudProvider": "aws"
};
