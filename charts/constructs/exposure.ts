import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { defaultPort } from '../../service/contract.js';
import { ChartConfigError, type ConfigProblem } from '../lib/config-error.js';
import type { ExposureProps } from './props.js';

/** Port the Service exposes in the cluster. */
export const servicePort = 80;

/**
 * Idle-timeout annotations per load balancer, set from the request timeout so a long
 * non-streamed answer is not cut (streams are covered by SSE keep-alive comments as well).
 */
export function loadBalancerAnnotations(provider: 'aws-nlb' | 'aws-elb' | 'gcp', internal: boolean, idleTimeoutSeconds: number): Record<string, string> {
  switch (provider) {
    case 'aws-nlb':
      // AWS Load Balancer Controller; NLB TCP idle timeout is a listener attribute (default 350 s).
      return {
        'service.beta.kubernetes.io/aws-load-balancer-type': 'external',
        'service.beta.kubernetes.io/aws-load-balancer-nlb-target-type': 'ip',
        'service.beta.kubernetes.io/aws-load-balancer-scheme': internal ? 'internal' : 'internet-facing',
        [`service.beta.kubernetes.io/aws-load-balancer-listener-attributes.TCP-${servicePort}`]: `tcp.idle_timeout.seconds=${Math.max(60, idleTimeoutSeconds)}`,
      };
    case 'aws-elb':
      // In-tree classic ELB: idle timeout defaults to 60 s, which cuts long answers.
      return {
        'service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout': String(idleTimeoutSeconds),
        ...(internal ? { 'service.beta.kubernetes.io/aws-load-balancer-internal': 'true' } : {}),
      };
    case 'gcp':
      // GKE passthrough Network Load Balancer: no proxy, so no idle timeout to raise.
      return internal ? { 'networking.gke.io/load-balancer-type': 'Internal' } : {};
  }
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
        annotations: isLb ? loadBalancerAnnotations(exposure.provider, exposure.internal ?? true, props.idleTimeoutSeconds) : undefined,
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
