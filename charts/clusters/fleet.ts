import { certManagerCrds, efs, g6e_12xlargeNodeGroup, gp3, kedaCrds, kedaHttpAddOnCrds, m6i_4xlargeNodeGroup, prometheusOperatorCrds } from './eks.js';
import { kubePrometheusStack } from './prometheus.js';
import type { ClusterProfile } from './types.js';

/**
 * A multi-model EKS cluster: an autoscaled on-demand and a spot node group of m6i.4xlarge for the CPU models, a
 * g6e.12xlarge GPU node group (four L40S per node) in one zone for the large models, gp3 and EFS storage, KEDA for
 * queue autoscaling and its HTTP add-on (idle CPU models scale to zero), ingress-nginx, the NVIDIA GPU Operator's `nvidia` RuntimeClass and one PriorityClass for the
 * serving pods. Typed by hand; `npm run cluster:capture` writes the same facts from the cluster itself.
 */
export const fleetCluster: ClusterProfile = {
  name: 'fleet',
  definedIn: 'charts/clusters/fleet.ts',
  kubernetesVersion: 'v1.31.4-eks-2d5f260',
  nodePools: [
    m6i_4xlargeNodeGroup('cpu-on-demand', 'on-demand', { minCount: 2, maxCount: 4 }),
    m6i_4xlargeNodeGroup('cpu-spot', 'spot', { minCount: 0, maxCount: 6 }),
    g6e_12xlargeNodeGroup('gpu-l40s', 'us-east-1a', { minCount: 1, maxCount: 2 }),
  ],
  storageClasses: [gp3, efs],
  loadBalancer: { kind: 'aws-nlb', idleTimeoutSeconds: 350, idleTimeoutFromAnnotations: true },
  ingressIdleTimeoutSeconds: 60,
  fixedPathIdleTimeoutsSeconds: [],
  customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds, ...kedaHttpAddOnCrds, ...certManagerCrds],
  kedaHttpAddOn: { namespace: 'keda' },
  ingressClassNames: ['nginx'],
  ingressControllerNamespaces: { nginx: 'ingress-nginx' },
  namespaceQuotas: {},
  prometheus: kubePrometheusStack('kube-prometheus-stack', 'monitoring'),
  priorityClassNames: ['llm-serving'],
  runtimeClassNames: ['nvidia'],
};
