/**
 * Captured 2026-12-07T19:16:00Z from files in test/fixtures/kubectl/onprem-tanzu by:
 *   npm run cluster:capture -- --from test/fixtures/kubectl/onprem-tanzu --out charts/clusters/captured/onprem-tanzu.ts
 * (kubectl version -o json; kubectl get nodes,storageclasses,csidrivers,customresourcedefinitions,ingressclasses,resourcequotas -A -o json; add-ons: kubectl get daemonsets,podsecuritypolicies,aviinfrasettings.ako.vmware.com -A -o json).
 * Kubernetes v1.23.8+vmware.3; node pools: vsphere-vm.cpu-16.mem-64gb.os-photon (3 x vsphere-vm.cpu-16.mem-64gb.os-photon), vsphere-vm.cpu-2.mem-8gb.os-photon (3 x vsphere-vm.cpu-2.mem-8gb.os-photon).
 * Data only, written by tools/cluster-capture/main.ts (npm run cluster:capture): capture again rather than editing, and review the diff.
 */
import type { ClusterFacts } from '../facts.js';

export const onpremTanzuFacts: ClusterFacts = {
  "capturedAt": "2026-12-07T19:16:00Z",
  "capturedFrom": "files in test/fixtures/kubectl/onprem-tanzu",
  "kubernetesVersion": "v1.23.8+vmware.3",
  "nodePools": [
    {
      "name": "vsphere-vm.cpu-16.mem-64gb.os-photon",
      "groupedBy": "node.kubernetes.io/instance-type",
      "instanceType": "vsphere-vm.cpu-16.mem-64gb.os-photon",
      "count": 3,
      "capacityType": "unknown",
      "allocatable": {
        "cpuMillis": 16000,
        "memoryBytes": 67442454528,
        "ephemeralStorageBytes": 94580335255,
        "gpus": 0
      },
      "labels": {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": "vsphere-vm.cpu-16.mem-64gb.os-photon",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "vsphere-vm.cpu-16.mem-64gb.os-photon",
        "run.tanzu.vmware.com/kubernetesDistributionVersion": "v1.23.8---vmware.3-tkg.1",
        "run.tanzu.vmware.com/tkr": "v1.23.8---vmware.3-tkg.1"
      },
      "taints": [],
      "zones": []
    },
    {
      "name": "vsphere-vm.cpu-2.mem-8gb.os-photon",
      "groupedBy": "node.kubernetes.io/instance-type",
      "instanceType": "vsphere-vm.cpu-2.mem-8gb.os-photon",
      "count": 3,
      "capacityType": "unknown",
      "allocatable": {
        "cpuMillis": 2000,
        "memoryBytes": 8239464448,
        "ephemeralStorageBytes": 15165289574,
        "gpus": 0
      },
      "labels": {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": "vsphere-vm.cpu-2.mem-8gb.os-photon",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "node-role.kubernetes.io/control-plane": "",
        "node-role.kubernetes.io/master": "",
        "node.kubernetes.io/exclude-from-external-load-balancers": "",
        "node.kubernetes.io/instance-type": "vsphere-vm.cpu-2.mem-8gb.os-photon",
        "run.tanzu.vmware.com/kubernetesDistributionVersion": "v1.23.8---vmware.3-tkg.1",
        "run.tanzu.vmware.com/tkr": "v1.23.8---vmware.3-tkg.1"
      },
      "taints": [
        {
          "key": "node-role.kubernetes.io/master",
          "effect": "NoSchedule"
        }
      ],
      "zones": []
    }
  ],
  "storageClasses": [
    {
      "name": "vsphere-gold",
      "provisioner": "csi.vsphere.vmware.com",
      "volumeBindingMode": "Immediate",
      "allowVolumeExpansion": true,
      "isDefault": true
    }
  ],
  "csiDrivers": [
    "csi.vsphere.vmware.com"
  ],
  "customResourceTypes": [
    {
      "group": "ako.vmware.com",
      "kind": "AviInfraSetting"
    },
    {
      "group": "ako.vmware.com",
      "kind": "HostRule"
    },
    {
      "group": "ako.vmware.com",
      "kind": "HTTPRule"
    },
    {
      "group": "cert-manager.io",
      "kind": "Certificate"
    },
    {
      "group": "cert-manager.io",
      "kind": "Issuer"
    },
    {
      "group": "cns.vmware.com",
      "kind": "CnsNodeVmAttachment"
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
    }
  ],
  "operators": [
    "prometheus-operator",
    "cert-manager",
    "AKO (NSX Advanced Load Balancer)"
  ],
  "ingressClasses": [
    {
      "name": "nginx",
      "controller": "k8s.io/ingress-nginx",
      "controllerNamespace": "ingress-system"
    }
  ],
  "resourceQuotas": [
    {
      "namespace": "llm-onprem",
      "name": "llm-onprem-quota",
      "hard": {
        "requests.cpu": "24",
        "requests.ephemeral-storage": "60Gi",
        "requests.memory": "96Gi"
      }
    }
  ],
  "cloudProvider": "vsphere",
  "loadBalancers": [
    {
      "kind": "avi",
      "seenFrom": "CRD group ako.vmware.com",
      "addressPools": [
        "llm-vip"
      ]
    }
  ],
  "podSecurityPolicies": [
    "vmware-system-privileged",
    "vmware-system-restricted"
  ]
};
