import { loadBalancerImplementations } from '../constructs/exposure.js';
import type { Rule } from './types.js';

/**
 * Rules on what an on-prem load balancer needs before a `type: LoadBalancer` Service gets an address. A cloud load
 * balancer takes its addresses from the VPC; MetalLB, kube-vip and AKO take them from pools someone configured,
 * and a Service whose pool does not exist stays `<pending>`: Argo CD then shows it Progressing for ever
 * (gitops-engine pkg/health/health_service.go waits for an ingress address) and every later wave waits with it.
 */
export const loadBalancerRules: readonly Rule[] = [
  {
    id: 'load-balancer-address-pool-exists',
    severity: 'error',
    checks:
      "A LoadBalancer Service on MetalLB, kube-vip or AKO can get an address from a pool the cluster has (the profile's loadBalancer.addressPools, captured): the named MetalLB IPAddressPool or AKO AviInfraSetting exists, MetalLB has any pool at all, and kube-vip's ConfigMap has a pool for the namespace or a global one. Not checked when the profile does not list the pools.",
    why: "MetalLB answers a Service naming a missing pool with `pool ... does not exist` and kube-vip-cloud-provider one in a namespace without a pool with `no address pools could be found`: the Service stays <pending>, Argo CD waits on it as Progressing, and the Deployment's own wave never starts.",
    fix: 'Name a pool the profile lists (exposure.addressPool), or create the pool (IPAddressPool, AviInfraSetting, a cidr-<namespace> key in the kubevip ConfigMap) and capture the cluster again.',
    check: (svc, env) => {
      const lb = env.cluster.loadBalancer;
      const pools = lb.addressPools;
      if (svc.service?.spec.type !== 'LoadBalancer' || lb.kind === 'none' || pools === undefined) return [];
      const impl = loadBalancerImplementations[lb.kind];
      const annotations = svc.service.metadata.annotations ?? {};
      const named = impl.addressPoolAnnotations?.map((a) => annotations[a]).find((v) => v !== undefined);
      const known = pools.join(', ') || 'none';
      const where = `profile ${env.cluster.definedIn} (loadBalancer.addressPools)`;
      if (lb.kind === 'kube-vip') {
        return pools.includes(env.environment.namespace) || pools.includes('global')
          ? []
          : [
              {
                message: `kube-vip has no pool for namespace ${env.environment.namespace} and no global one (${where}: ${known}); Service ${svc.service.metadata.name} would stay <pending>`,
                fix: `Add cidr-${env.environment.namespace} or range-${env.environment.namespace} (or cidr-global) to the kubevip ConfigMap in kube-system and capture the cluster again.`,
              },
            ];
      }
      if (named !== undefined && !pools.includes(named))
        return [
          {
            message: `Service ${svc.service.metadata.name} asks ${impl.name} for address pool "${named}", which cluster ${env.cluster.name} does not have (${where}: ${known})`,
          },
        ];
      if (named === undefined && lb.kind === 'metallb' && pools.length === 0)
        return [
          { message: `MetalLB on cluster ${env.cluster.name} has no IPAddressPool (${where}): Service ${svc.service.metadata.name} would stay <pending>` },
        ];
      return [];
    },
  },
];
