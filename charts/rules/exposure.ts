import { defaultIngressController, ingressControllers, ingressIdleTimeoutFromAnnotations, loadBalancerImplementations } from '../constructs/exposure.js';
import type { EnvironmentContext, Rule, ServiceContext } from './types.js';

/**
 * The IngressClass an Ingress names. The exposure construct always sets one; an Ingress without it would get the
 * cluster's default class, which no profile records, so it reads as a class the cluster does not have.
 */
export function ingressClassOf(ingress: NonNullable<ServiceContext['ingress']>): string {
  return ingress.spec.ingressClassName ?? '(unset)';
}

/** Idle timeouts on the client's path: load balancer, ingress, and what the profile says cannot change. */
export function pathIdleTimeouts(svc: ServiceContext, env: EnvironmentContext): Array<{ what: string; seconds: number }> {
  const out = env.cluster.fixedPathIdleTimeoutsSeconds.map((s) => ({ what: 'fixed path timeout', seconds: s }));
  const svcAnn = svc.service?.metadata.annotations ?? {};
  // A cluster without a load balancer has no idle timeout to meet: exposure-supported reports the Service instead.
  const lb = env.cluster.loadBalancer;
  // An implementation that is not a proxy (MetalLB, kube-vip, a passthrough NLB) adds no idle timeout to the path.
  if (svc.service?.spec.type === 'LoadBalancer' && lb.kind !== 'none' && loadBalancerImplementations[lb.kind].idleTimeout !== 'none') {
    let seconds = lb.idleTimeoutSeconds;
    if (lb.idleTimeoutFromAnnotations && loadBalancerImplementations[lb.kind].idleTimeout === 'annotation') {
      const elb = svcAnn['service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout'];
      const nlb = Object.entries(svcAnn).find(([k]) => k.startsWith('service.beta.kubernetes.io/aws-load-balancer-listener-attributes'))?.[1];
      const fromNlb = nlb ? Number(/tcp\.idle_timeout\.seconds=(\d+)/.exec(String(nlb))?.[1]) : undefined;
      seconds = Number(elb ?? fromNlb ?? seconds);
    }
    out.push({ what: `${lb.kind} load balancer`, seconds });
  }
  if (svc.ingress) {
    const cls = ingressClassOf(svc.ingress);
    const controller = ingressControllerOf(env, cls);
    const fromAnnotations = ingressIdleTimeoutFromAnnotations(controller, svc.ingress.metadata.annotations ?? {});
    const seconds = fromAnnotations ?? env.cluster.ingressIdleTimeoutsSeconds?.[cls] ?? env.cluster.ingressIdleTimeoutSeconds;
    out.push({ what: `ingress ${cls} (${controller}) idle timeout`, seconds });
  }
  return out;
}

/** The `spec.controller` of an IngressClass on the cluster (ingress-nginx where the profile does not say). */
export function ingressControllerOf(env: EnvironmentContext, cls: string): string {
  return env.cluster.ingressControllers?.[cls] ?? defaultIngressController;
}

/** Rules on how clients reach the service: load balancers, ingress classes and their controllers. */
export const exposureRules: readonly Rule[] = [
  {
    id: 'exposure-supported',
    severity: 'error',
    checks:
      'A load-balancer Service only on a cluster whose profile has that load balancer (provider matching), and an Ingress only with an IngressClass the cluster has.',
    why: 'A load-balancer service on an on-prem cluster without one stayed <pending> with AWS annotations nobody read, and synth blamed the SSE keep-alive instead.',
    fix: "Use exposure ingress or cluster-ip on this cluster, name an IngressClass it has, set exposure.provider to the profile's loadBalancer.kind, or install a load balancer (MetalLB, kube-vip, AKO) and capture the cluster again.",
    check: (svc, env) => {
      const out: { message: string }[] = [];
      const exposure = svc.plan.props.exposure;
      const lb = env.cluster.loadBalancer;
      if (svc.service?.spec.type === 'LoadBalancer') {
        if (lb.kind === 'none')
          out.push({
            message: `Service ${svc.service.metadata.name} is type LoadBalancer but cluster ${env.cluster.name} has no load balancer (profile ${env.cluster.definedIn}: loadBalancer.kind none)`,
          });
        else if (exposure?.kind === 'load-balancer' && exposure.provider !== lb.kind)
          out.push({
            message: `exposure.provider ${exposure.provider} but cluster ${env.cluster.name} has a ${lb.kind} load balancer: its annotations would be ignored`,
          });
      }
      if (svc.ingress) {
        const cls = ingressClassOf(svc.ingress);
        const have = env.cluster.ingressClassNames ?? [];
        if (!have.includes(cls))
          out.push({
            message: `Ingress ${svc.ingress.metadata.name} uses IngressClass "${cls}", which cluster ${env.cluster.name} does not have (has: ${have.join(', ') || 'none'})`,
          });
      }
      return out;
    },
  },
  {
    id: 'ingress-controller-supported',
    severity: 'error',
    checks:
      "An Ingress's class has a controller whose idle timeout the Ingress sets (ingress-nginx, the AWS Load Balancer Controller's ALB) or whose timeout the profile declares (ingressIdleTimeoutsSeconds: Traefik, HAProxy and others read theirs from their own configuration), and the NetworkPolicy admits where that controller's traffic comes from (its namespace, recorded in the profile, or the load balancer's addresses).",
    why: 'The ingress class could only be nginx and the NetworkPolicy admitted `ingress-nginx` whatever ran the class; on any other controller nginx annotations are silently ignored, so the path rules would check a timeout the controller never applies while its own cuts long answers.',
    fix: "Use a class whose controller this repository configures (nginx, alb), or set the controller's timeouts in its own configuration and declare them in the profile (ingressIdleTimeoutsSeconds), with its namespace (ingressControllerNamespaces) where the IngressClass does not record it.",
    check: (svc, env) => {
      if (!svc.ingress) return [];
      const cls = ingressClassOf(svc.ingress);
      if (!(env.cluster.ingressClassNames ?? []).includes(cls)) return []; // exposure-supported reports it
      const controller = ingressControllerOf(env, cls);
      const known = ingressControllers[controller];
      const out: { message: string }[] = [];
      const declared = env.cluster.ingressIdleTimeoutsSeconds?.[cls];
      if (!known?.timeoutFromAnnotations && declared === undefined) {
        out.push({
          message: `IngressClass ${cls} is served by ${known?.name ?? controller}, whose idle timeout no Ingress annotation sets (it lives in the controller's own configuration), and profile ${env.cluster.definedIn} does not declare it (ingressIdleTimeoutsSeconds.${cls})`,
        });
      }
      if (
        (known?.trafficFrom ?? 'controller-namespace') === 'controller-namespace' &&
        controller !== defaultIngressController &&
        env.cluster.ingressControllerNamespaces?.[cls] === undefined
      ) {
        out.push({
          message: `IngressClass ${cls} (${controller}): profile ${env.cluster.definedIn} does not say which namespace its controller runs in, so the NetworkPolicy admits ingress-nginx instead`,
        });
      }
      return out;
    },
  },
];
