import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { defaultPort } from '../../service/contract.js';
import { ChartConfigError, type ConfigProblem } from '../lib/config-error.js';
import type { LoadBalancerKind, LoadBalancerProfile } from '../clusters/types.js';
import type { ExposureProps } from './props.js';

/** Port the Service exposes in the cluster. */
export const servicePort = 80;

/**
 * What one implementation of `type: LoadBalancer` reads from a Service, modelled on its own source or
 * documentation (cited per entry). Every fact about a load balancer kind lives here; the rules and the summary
 * read it rather than repeating it.
 */
export interface LoadBalancerImplementation {
  /** Name as people know it, for messages and docs. */
  readonly name: string;
  /**
   * Where the idle timeout on the client path comes from: the Service's annotations (set here from the request
   * timeout), the profile (a setting outside the Service, declared in `loadBalancer.idleTimeoutSeconds`), or
   * `none` when the implementation holds no connection of its own and so has no idle timeout at all.
   */
  readonly idleTimeout: 'annotation' | 'profile' | 'none';
  /** Why the idle timeout is what it is, in one sentence (rule docs and the synth summary). */
  readonly idleTimeoutNote: string;
  /**
   * The annotations naming the address pool a Service draws from, when the implementation reads one; several
   * when releases read different keys (all get the same value). Undefined: no per-Service pool.
   */
  readonly addressPoolAnnotations?: readonly string[];
  /** How the pool is chosen when the Service cannot name one. */
  readonly addressPoolNote: string;
  /** The implementation's own annotations for the Service (idle timeout, scheme). */
  readonly annotations: (internal: boolean, idleTimeoutSeconds: number) => Record<string, string>;
}

export const loadBalancerImplementations: Readonly<Record<LoadBalancerKind, LoadBalancerImplementation>> = {
  'aws-nlb': {
    name: 'AWS Network Load Balancer (AWS Load Balancer Controller)',
    idleTimeout: 'annotation',
    idleTimeoutNote: 'the NLB TCP idle timeout is a listener attribute (default 350 s), set from the request timeout',
    addressPoolNote: 'addresses come from the VPC subnets the controller discovers',
    annotations: (internal, idle) => ({
      'service.beta.kubernetes.io/aws-load-balancer-type': 'external',
      'service.beta.kubernetes.io/aws-load-balancer-nlb-target-type': 'ip',
      'service.beta.kubernetes.io/aws-load-balancer-scheme': internal ? 'internal' : 'internet-facing',
      [`service.beta.kubernetes.io/aws-load-balancer-listener-attributes.TCP-${servicePort}`]: `tcp.idle_timeout.seconds=${Math.max(60, idle)}`,
    }),
  },
  'aws-elb': {
    name: 'AWS Classic ELB (in-tree)',
    idleTimeout: 'annotation',
    idleTimeoutNote: 'the classic ELB idle timeout defaults to 60 s, which cuts long answers; set from the request timeout',
    addressPoolNote: 'addresses come from the VPC subnets',
    annotations: (internal, idle) => ({
      'service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout': String(idle),
      ...(internal ? { 'service.beta.kubernetes.io/aws-load-balancer-internal': 'true' } : {}),
    }),
  },
  gcp: {
    name: 'GKE passthrough Network Load Balancer',
    idleTimeout: 'none',
    idleTimeoutNote: 'a passthrough load balancer is not a proxy, so it has no idle timeout to raise',
    addressPoolNote: 'addresses come from the VPC',
    annotations: (internal): Record<string, string> => (internal ? { 'networking.gke.io/load-balancer-type': 'Internal' } : {}),
  },
  // metallb/metallb controller/service.go: the controller reads `metallb.io/address-pool` first and falls back to
  // the deprecated `metallb.universe.tf/address-pool` (valueForAnnotation); releases before the rename read only
  // the latter, so both are written. An unknown pool fails allocation (`pool ... does not exist`) and the Service
  // stays <pending>; no pools at all, likewise ("pools are empty").
  metallb: {
    name: 'MetalLB',
    idleTimeout: 'none',
    idleTimeoutNote:
      'MetalLB only announces the address (ARP/NDP in L2 mode, routes in BGP mode) and kube-proxy forwards the packets: it is not a proxy and has no idle timeout',
    addressPoolAnnotations: ['metallb.io/address-pool', 'metallb.universe.tf/address-pool'],
    addressPoolNote: 'without an address-pool annotation MetalLB tries every IPAddressPool with autoAssign on',
    annotations: () => ({}),
  },
  // kube-vip/kube-vip-cloud-provider pkg/provider/loadBalancer.go: the pool is the `kubevip` ConfigMap's
  // `cidr-<namespace>` or `range-<namespace>` key, else `cidr-global` / `range-global` (discoverPool); a Service
  // names no pool, only fixed addresses (`kube-vip.io/loadbalancerIPs`).
  'kube-vip': {
    name: 'kube-vip (kube-vip-cloud-provider)',
    idleTimeout: 'none',
    idleTimeoutNote: 'kube-vip announces the address from one node (ARP or BGP) and kube-proxy forwards the packets: it is not a proxy and has no idle timeout',
    addressPoolNote:
      "kube-vip-cloud-provider picks the pool by the Service's namespace: the kubevip ConfigMap's cidr-<namespace> or range-<namespace>, else cidr-global or range-global",
    annotations: () => ({}),
  },
  // vmware/load-balancer-and-ingress-services-for-kubernetes docs/crds/avinfrasetting.md (the Service annotation
  // naming an AviInfraSetting, whose vipNetworks give the address) and docs/crds/l4rule.md (the L4 virtual
  // service's network profile, `System-TCP-Proxy` unless an L4Rule names another, holds the TCP idle timeout; no
  // Service annotation sets it).
  avi: {
    name: 'NSX Advanced Load Balancer (Avi Kubernetes Operator)',
    idleTimeout: 'profile',
    idleTimeoutNote:
      "the L4 virtual service's TCP proxy network profile holds the idle timeout (System-TCP-Proxy unless an L4Rule names another); no Service annotation sets it, so the profile declares it",
    addressPoolAnnotations: ['aviinfrasetting.ako.vmware.com/name'],
    addressPoolNote: "without an AviInfraSetting AKO takes the VIP from the cloud's default VIP network",
    annotations: () => ({}),
  },
};

/** One line for the synth summary: what implements a load-balancer Service and the idle timeout it puts on the path. */
export function loadBalancerSummary(lb: LoadBalancerProfile): string {
  if (lb.kind === 'none') return 'no load balancer on this cluster';
  const impl = loadBalancerImplementations[lb.kind];
  const timeout =
    impl.idleTimeout === 'none'
      ? 'no idle timeout'
      : impl.idleTimeout === 'profile' || !lb.idleTimeoutFromAnnotations
        ? `idle timeout ${lb.idleTimeoutSeconds}s (from the cluster profile)`
        : 'idle timeout set from the request timeout';
  return `${impl.name}: ${timeout}: ${impl.idleTimeoutNote}`;
}

/**
 * The Service's annotations for a load balancer kind: the implementation's own, and its pool annotations when
 * an address pool is named. A pool for an implementation that reads none is refused, naming the field.
 */
export function loadBalancerAnnotations(
  provider: LoadBalancerKind,
  internal: boolean,
  idleTimeoutSeconds: number,
  addressPool: string | undefined,
  where: { readonly file: string; readonly object: string },
): Record<string, string> {
  const impl = loadBalancerImplementations[provider];
  if (addressPool === undefined) return impl.annotations(internal, idleTimeoutSeconds);
  if (impl.addressPoolAnnotations === undefined)
    throw new ChartConfigError([
      {
        ...where,
        field: 'exposure.addressPool',
        problem: `${impl.name} reads no address pool from a Service (${impl.addressPoolNote})`,
        fix: provider === 'kube-vip' ? 'remove it and give the namespace a pool in the kubevip ConfigMap (cidr-<namespace>)' : 'remove it',
      },
    ]);
  return { ...impl.annotations(internal, idleTimeoutSeconds), ...Object.fromEntries(impl.addressPoolAnnotations.map((a) => [a, addressPool])) };
}

/** ingress-nginx annotations: proxy timeouts from the request timeout, no buffering for SSE. */
export function nginxIngressAnnotations(idleTimeoutSeconds: number): Record<string, string> {
  return {
    'nginx.ingress.kubernetes.io/proxy-read-timeout': String(idleTimeoutSeconds),
    'nginx.ingress.kubernetes.io/proxy-send-timeout': String(idleTimeoutSeconds),
    'nginx.ingress.kubernetes.io/proxy-buffering': 'off',
    'nginx.ingress.kubernetes.io/proxy-body-size': '1m',
  };
}

/**
 * AWS Load Balancer Controller annotations for an ALB Ingress (kubernetes-sigs/aws-load-balancer-controller,
 * docs/guide/ingress/annotations.md): the ALB's idle timeout is a load-balancer attribute (default 60 s, at
 * most 4000 s); `target-type: ip` sends traffic straight to the pods, so the NetworkPolicy must admit the
 * ALB's VPC addresses, not a controller namespace.
 */
export function albIngressAnnotations(idleTimeoutSeconds: number, internal: boolean): Record<string, string> {
  return {
    'alb.ingress.kubernetes.io/scheme': internal ? 'internal' : 'internet-facing',
    'alb.ingress.kubernetes.io/target-type': 'ip',
    'alb.ingress.kubernetes.io/load-balancer-attributes': `idle_timeout.timeout_seconds=${Math.min(4000, Math.max(60, idleTimeoutSeconds))}`,
  };
}

/**
 * What this repository knows of each ingress controller, by the IngressClass `spec.controller` it answers to:
 * whether the Ingress's own annotations can set the idle timeout on the client path, and whether the
 * controller proxies from pods in its namespace or sends traffic from outside the cluster straight to the pods.
 * Traefik (`traefik.io/ingress-controller`) reads its timeouts from its entry points' `respondingTimeouts`
 * and from ServersTransport objects (doc.traefik.io/traefik/routing/entrypoints/#transport), HAProxy
 * (`haproxy.org/ingress-controller`) from its ConfigMap: no Ingress annotation reaches them, so the
 * profile must declare what they are set to (`ingressIdleTimeoutsSeconds`).
 */
export const ingressControllers: Readonly<
  Record<string, { readonly name: string; readonly timeoutFromAnnotations: boolean; readonly trafficFrom: 'controller-namespace' | 'load-balancer' }>
> = {
  'k8s.io/ingress-nginx': { name: 'ingress-nginx', timeoutFromAnnotations: true, trafficFrom: 'controller-namespace' },
  'ingress.k8s.aws/alb': { name: 'AWS Load Balancer Controller (ALB)', timeoutFromAnnotations: true, trafficFrom: 'load-balancer' },
  'traefik.io/ingress-controller': { name: 'Traefik', timeoutFromAnnotations: false, trafficFrom: 'controller-namespace' },
  'haproxy.org/ingress-controller': { name: 'HAProxy Kubernetes Ingress', timeoutFromAnnotations: false, trafficFrom: 'controller-namespace' },
};

/** The controller an IngressClass without a recorded controller is taken to have (profiles typed by hand). */
export const defaultIngressController = 'k8s.io/ingress-nginx';

/** The annotations the construct sets for a controller: its timeout annotations where it has them, none otherwise. */
export function controllerIngressAnnotations(controller: string, idleTimeoutSeconds: number, internal: boolean): Record<string, string> {
  if (controller === 'k8s.io/ingress-nginx') return nginxIngressAnnotations(idleTimeoutSeconds);
  if (controller === 'ingress.k8s.aws/alb') return albIngressAnnotations(idleTimeoutSeconds, internal);
  return {};
}

/** The idle timeout an Ingress's annotations set for its controller, or undefined when they set none. */
export function ingressIdleTimeoutFromAnnotations(controller: string, annotations: Readonly<Record<string, string>>): number | undefined {
  if (controller === 'k8s.io/ingress-nginx') {
    const read = annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'];
    return read === undefined ? undefined : Number(read);
  }
  if (controller === 'ingress.k8s.aws/alb') {
    const attrs = annotations['alb.ingress.kubernetes.io/load-balancer-attributes'];
    const m = attrs === undefined ? null : /idle_timeout\.timeout_seconds=(\d+)/.exec(attrs);
    return m ? Number(m[1]) : undefined;
  }
  return undefined;
}

/** Why each annotation the construct sets on an Ingress must not be replaced, and what to change instead. */
export const managedIngressAnnotations: Readonly<Record<string, { readonly why: string; readonly fix: string }>> = {
  'nginx.ingress.kubernetes.io/proxy-read-timeout': {
    why: 'it is derived from the request timeout, so a long non-streamed answer is never cut by the proxy',
    fix: 'set requestTimeoutSeconds on the service instead',
  },
  'nginx.ingress.kubernetes.io/proxy-send-timeout': {
    why: 'it is derived from the request timeout, so a long upload or slow client is never cut by the proxy',
    fix: 'set requestTimeoutSeconds on the service instead',
  },
  'nginx.ingress.kubernetes.io/proxy-buffering': {
    why: 'buffering must stay off: a buffering proxy holds streamed tokens and SSE keep-alive comments until its buffer fills',
    fix: 'remove it; streaming needs an unbuffered proxy',
  },
  'nginx.ingress.kubernetes.io/proxy-body-size': {
    why: 'the construct bounds request bodies at the ingress; the service itself answers larger bodies with a JSON 413',
    fix: 'remove it',
  },
  'alb.ingress.kubernetes.io/load-balancer-attributes': {
    why: "it carries the ALB's idle timeout, derived from the request timeout, so a long non-streamed answer is never cut by the load balancer",
    fix: 'set requestTimeoutSeconds on the service instead',
  },
  'alb.ingress.kubernetes.io/target-type': {
    why: "the NetworkPolicy admits the load balancer's addresses because the ALB sends traffic straight to the pods (target type ip)",
    fix: 'remove it',
  },
  'alb.ingress.kubernetes.io/scheme': { why: 'it follows exposure.internal', fix: 'set exposure.internal instead' },
};

/**
 * The Ingress's annotations: the construct's own for its controller, plus the service's extra ones. An extra
 * annotation that would replace a construct-managed one is refused (the message says why), as is a value that
 * is not a string.
 */
export function ingressAnnotations(
  controller: string,
  idleTimeoutSeconds: number,
  internal: boolean,
  extra: Readonly<Record<string, string>> | undefined,
  where: { readonly file: string; readonly object: string },
): Record<string, string> {
  const managed = controllerIngressAnnotations(controller, idleTimeoutSeconds, internal);
  const problems: ConfigProblem[] = [];
  for (const [key, value] of Object.entries(extra ?? {})) {
    const field = `exposure.annotations['${key}']`;
    const reason = managedIngressAnnotations[key];
    if (key in managed) {
      problems.push({
        ...where,
        field,
        problem: `would replace the construct's ${key}: "${managed[key]}"; ${reason?.why ?? 'the construct derives it for this ingress controller'}`,
        fix: reason?.fix ?? 'remove it',
      });
    } else if (typeof value !== 'string')
      problems.push({
        ...where,
        field,
        problem: `${JSON.stringify(value)} is not a string (annotation values are strings)`,
        fix: `quote it: '${String(value)}'`,
      });
  }
  if (problems.length > 0) throw new ChartConfigError(problems);
  return { ...extra, ...managed };
}

export interface InferenceExposureProps {
  readonly name: string;
  readonly labels: Record<string, string>;
  /** Pod labels the Service selects (the stable app.kubernetes.io pair). */
  readonly selector: Record<string, string>;
  readonly exposure: ExposureProps;
  readonly idleTimeoutSeconds: number;
  /**
   * `spec.controller` of the Ingress's class, which decides its annotations (`ingressAnnotations`).
   * @default `k8s.io/ingress-nginx` — ingress-nginx, the controller of the default `nginx` class
   */
  readonly ingressController?: string;
  /** File and `<environment>/<service>` named when an extra annotation is refused. */
  readonly where: { readonly file: string; readonly object: string };
  /**
   * The Service the Ingress sends to. @default the model's own Service; a service that scales to zero passes the
   * interceptor's (charts/constructs/scale-to-zero.ts), which holds requests while no pod is Ready
   */
  readonly ingressBackend?: kplus.Service;
}

/** The Service (ClusterIP unless a load balancer is asked for) and an optional Ingress. */
export class InferenceExposure extends Construct {
  readonly service: kplus.Service;

  constructor(scope: Construct, id: string, props: InferenceExposureProps) {
    super(scope, id);
    const exposure = props.exposure;
    const isLb = exposure.kind === 'load-balancer';
    this.service = new kplus.Service(this, 'service', {
      metadata: {
        name: props.name,
        labels: props.labels,
        annotations: isLb
          ? loadBalancerAnnotations(exposure.provider, exposure.internal ?? true, props.idleTimeoutSeconds, exposure.addressPool, props.where)
          : undefined,
      },
      type: isLb ? kplus.ServiceType.LOAD_BALANCER : kplus.ServiceType.CLUSTER_IP,
      ports: [{ name: 'http', port: servicePort, targetPort: defaultPort, protocol: kplus.Protocol.TCP }],
    });
    for (const [key, value] of Object.entries(props.selector)) this.service.selectLabel(key, value);

    if (exposure.kind === 'ingress') {
      const ingress = new kplus.Ingress(this, 'ingress', {
        metadata: {
          name: props.name,
          labels: props.labels,
          annotations: ingressAnnotations(
            props.ingressController ?? defaultIngressController,
            props.idleTimeoutSeconds,
            exposure.internal ?? true,
            exposure.annotations,
            props.where,
          ),
        },
        className: exposure.className ?? 'nginx',
        tls: exposure.tlsSecretName ? [{ hosts: [exposure.host], secret: kplus.Secret.fromSecretName(this, 'tls', exposure.tlsSecretName) }] : undefined,
      });
      const backend = props.ingressBackend ?? this.service;
      ingress.addHostDefaultBackend(exposure.host, kplus.IngressBackend.fromService(backend, { port: backend.port ?? servicePort }));
    }
  }
}
