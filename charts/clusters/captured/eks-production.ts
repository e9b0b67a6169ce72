/**
 * Captured 2026-12-02T02:44:01Z from files in test/fixtures/kubectl/eks-production by:
 *   npm run cluster:capture -- --from test/fixtures/kubectl/eks-production --out charts/clusters/captured/eks-production.ts --pool-bounds cpu-r5-2xlarge=3:6,gpu-g5-2xlarge=1:2
 * (kubectl version -o json; kubectl get nodes,storageclasses,csidrivers,customresourcedefinitions,ingressclasses,resourcequotas -A -o json).
 * Kubernetes v1.30.8-eks-2d5f260; node pools: cpu-r5-2xlarge (4 x r5.2xlarge, on-demand, autoscaled 3-6), gpu-g5-2xlarge (2 x g5.2xlarge, 1 GPU, on-demand, autoscaled 1-2).
 * Data only, written by tools/cluster-capture/main.ts (npm run cluster:capture): capture again rather than editing, and review the diff.
 */
import type { ClusterFacts } from '../facts.js';

export const eksProductionFacts: ClusterFacts = {
  "capturedAt": "2026-12-02T02:44:01Z",
  "capturedFrom": "files in test/fixtures/kubectl/eks-production",
  "kubernetesVersion": "v1.30.8-eks-2d5f260",
  "nodePools": [
    {
      "name": "cpu-r5-2xlarge",
      "groupedBy": "eks.amazonaws.com/nodegroup",
      "instanceType": "r5.2xlarge",
      "count": 4,
      "capacityType": "on-demand",
      "allocatable": {
        "cpuMillis": 7910,
        "memoryBytes": 65542565888,
        "ephemeralStorageBytes": 76224326324,
        "gpus": 0
      },
      "labels": {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": "r5.2xlarge",
        "beta.kubernetes.io/os": "linux",
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        "eks.amazonaws.com/nodegroup": "cpu-r5-2xlarge",
        "eks.amazonaws.com/sourceLaunchTemplateId": "lt-268af00142da25f77",
        "eks.amazonaws.com/sourceLaunchTemplateVersion": "1",
        "failure-domain.beta.kubernetes.io/region": "eu-west-1",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "r5.2xlarge",
        "topology.kubernetes.io/region": "eu-west-1"
      },
      "taints": [],
      "zones": [
        "eu-west-1a",
        "eu-west-1b",
        "eu-west-1c"
      ],
      "autoscaling": {
        "minCount": 3,
        "maxCount": 6
      }
    },
    {
      "name": "gpu-g5-2xlarge",
      "groupedBy": "eks.amazonaws.com/nodegroup",
      "instanceType": "g5.2xlarge",
      "count": 2,
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
        "eks.amazonaws.com/sourceLaunchTemplateId": "lt-ddcae44e3fd12526d",
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
        "eu-west-1a",
        "eu-west-1b"
      ],
      "autoscaling": {
        "minCount": 1,
        "maxCount": 2
      }
    }
  ],
  "storageClasses": [
    {
      "name": "efs-sc",
      "provisioner": "efs.csi.aws.com",
      "volumeBindingMode": "Immediate",
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
    "ebs.csi.aws.com",
    "efs.csi.aws.com"
  ],
  "customResourceTypes": [
    {
      "group": "acme.cert-manager.io",
      "kind": "Challenge"
    },
    {
      "group": "acme.cert-manager.io",
      "kind": "Order"
    },
    {
      "group": "cert-manager.io",
      "kind": "Certificate"
    },
    {
      "group": "cert-manager.io",
      "kind": "CertificateRequest"
    },
    {
      "group": "cert-manager.io",
      "kind": "ClusterIssuer"
    },
    {
      "group": "cert-manager.io",
      "kind": "Issuer"
    },
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
      "group": "keda.sh",
      "kind": "ClusterTriggerAuthentication"
    },
    {
      "group": "keda.sh",
      "kind": "ScaledJob"
    },
    {
      "group": "keda.sh",
      "kind": "ScaledObject"
    },
    {
      "group": "keda.sh",
      "kind": "TriggerAuthentication"
    },
    {
      "group": "kyverno.io",
      "kind": "ClusterPolicy"
    },
    {
      "group": "kyverno.io",
      "kind": "Policy"
    },
    {
      "group": "kyverno.io",
      "kind": "PolicyException"
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
    "KEDA",
    "cert-manager",
    "AWS Load Balancer Controller",
    "Kyverno",
    "NVIDIA GPU Operator",
    "Node Feature Discovery",
    "GPU feature discovery"
  ],
  "ingressClasses": [
    {
      "name": "alb",
      "controller": "ingress.k8s.aws/alb",
      "controllerNamespace": "kube-system"
    },
    {
      "name": "nginx",
      "controller": "k8s.io/ingress-nginx",
      "controllerNamespace": "ingress-nginx"
    }
  ],
  "resourceQuotas": [
    {
      "namespace": "llm-production",
      "name": "llm-production-quota",
      "hard": {
        "requests.cpu": "32",
        "requests.ephemeral-storage": "40Gi",
        "requests.memory": "64Gi",
        "requests.nvidia.com/gpu": "2"
      }
    }
  ],
  "cloudProvider": "aws"
};
