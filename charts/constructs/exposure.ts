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

/** Why each annotation the construct sets on an Ingress must not be replaced, and what to change instead. */
export const managedIngressAnnotations: Readonly<Record<string, { readonly why: string; readonly fix: string }>> = {
  'nginx.ingress.kubernetes.io/proxy-read-timeout': { why: 'it is derived from the request timeout, so a long non-streamed answer is never cut by the proxy', fix: 'set requestTimeoutSeconds on the service instead' },
  'nginx.ingress.kubernetes.io/proxy-send-timeout': { why: 'it is derived from the request timeout, so a long upload or slow client is never cut by the proxy', fix: 'set requestTimeoutSeconds on the service instead' },
  'nginx.ingress.kubernetes.io/proxy-buffering': { why: 'buffering must stay off: a buffering proxy holds streamed tokens and SSE keep-alive comments until its buffer fills', fix: 'remove it; streaming needs an unbuffered proxy' },
  'nginx.ingress.kubernetes.io/proxy-body-size': { why: 'the construct bounds request bodies at the ingress; the service itself answers larger bodies with a JSON 413', fix: 'remove it' },
};

/**
 * The Ingress's annotations: the construct's own, plus the service's extra ones. An extra annotation that would
 * replace a construct-managed one is refused (the message says why), as is a value that is not a string.
 */
export function ingressAnnotations(idleTimeoutSeconds: number, extra: Readonly<Record<string, string>> | undefined, where: { readonly file: string; readonly object: string }): Record<string, string> {
  const managed = nginxIngressAnnotations(idleTimeoutSeconds);
  const problems: ConfigProblem[] = [];
  for (const [key, value] of Object.entries(extra ?? {})) {
    const field = `exposure.annotations['${key}']`;
    const reason = managedIngressAnnotations[key];
    if (key in managed && reason) problems.push({ ...where, field, problem: `would replace the construct's ${key}: "${managed[key]}"; ${reason.why}`, fix: reason.fix });
    else if (typeof value !== 'string') problems.push({ ...where, field, problem: `${JSON.stringify(value)} is not a string (annotation values are strings)`, fix: `quote it: '${String(value)}'` });
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
  /** File and `<environment>/<service>` named when an extra annotation is refused. */
  readonly where: { readonly file: string; readonly object: string };
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
        metadata: { name: props.name, labels: props.labels, annotations: ingressAnnotations(props.idleTimeoutSeconds, exposure.annotations, props.where) },
        className: exposure.className ?? 'nginx',
        tls: exposure.tlsSecretName
          ? [{ hosts: [exposure.host], secret: kplus.Secret.fromSecretName(this, 'tls', exposure.tlsSecretName) }]
          : undefined,
      });
      ingress.addHostDefaultBackend(exposure.host, kplus.IngressBackend.fromService(this.service, { port: servicePort }));
    }
  }
}
