import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { HttpScaledObject } from '../../imports/keda-http-scaledobject-http.keda.sh.js';
import type { KedaHttpAddOnProfile } from '../clusters/types.js';
import type { ScaleToZeroPlan } from '../sizing/cold-start.js';

/** Where the KEDA HTTP add-on runs when the profile does not say: the namespace its chart and manifests document. */
export const defaultKedaHttpAddOn: KedaHttpAddOnProfile = { namespace: 'keda' };

/**
 * The add-on's Services. kedacore/http-add-on config/interceptor/proxy-service.yaml (`interceptor-proxy`, port 8080
 * named `proxy`) and config/scaler/service.yaml (`external-scaler`, gRPC port 9090), both under the namePrefix
 * `keda-add-ons-http-` of their kustomization.yaml, as the Helm chart names them.
 */
export const kedaHttpAddOnServices = {
  interceptorProxy: { name: 'keda-add-ons-http-interceptor-proxy', port: 8080 },
  externalScaler: { name: 'keda-add-ons-http-external-scaler', port: 9090 },
} as const;

/**
 * With this annotation the add-on's operator creates no ScaledObject of its own for the HTTPScaledObject
 * (operator/controllers/http/app.go `SkipScaledObjectCreationAnnotation`): the service's queue ScaledObject stays
 * the only one on the Deployment (KEDA refuses two on one target) and keeps its paced scale-up.
 */
export const skipScaledObjectCreationAnnotation = 'httpscaledobject.keda.sh/skip-scaledobject-creation';

/** The Service in the model's namespace that clients and the Ingress call instead of the model's own Service. */
export function interceptorServiceName(service: string): string {
  return `${service}-interceptor`;
}

/** The names a client in the cluster reaches the interceptor Service by; the interceptor routes on the Host header. */
export function inClusterHosts(service: string, namespace: string): string[] {
  const base = `${interceptorServiceName(service)}.${namespace}`;
  return [base, `${base}.svc`, `${base}.svc.cluster.local`];
}

/**
 * The trigger that wakes a service at zero pods: KEDA's `external-push` scaler on the add-on's external scaler,
 * which reports the requests its interceptor holds for the HTTPScaledObject named in `httpScaledObject`
 * (pkg/k8s/scaledobject.go `ScalerAddressKey`, `HTTPScaledObjectKey`; scaler/handlers.go reads them). Prometheus
 * cannot wake it: at zero pods nothing exports the queue metrics.
 */
export function heldRequestsTrigger(httpScaledObject: string, addOn: KedaHttpAddOnProfile): { type: string; name: string; metadata: Record<string, string> } {
  const scaler = kedaHttpAddOnServices.externalScaler;
  return {
    type: 'external-push',
    name: 'held-requests',
    metadata: { scalerAddress: `${scaler.name}.${addOn.namespace}:${scaler.port}`, httpScaledObject },
  };
}

export interface ScaleToZeroRouteProps {
  /** The service (Deployment and Service) name; also the HTTPScaledObject's. */
  readonly name: string;
  /** The service's namespace: the in-cluster host names carry it. */
  readonly namespace: string;
  /** Labels on both objects (the service's app.kubernetes.io labels). */
  readonly labels: Record<string, string>;
  /** The model Service's port, which the interceptor forwards to. */
  readonly servicePort: number;
  /** The hold, idle and timeout figures (charts/sizing/cold-start.ts). */
  readonly plan: ScaleToZeroPlan;
  /** Most pods: the HTTPScaledObject states the same bound as the ScaledObject that scales. */
  readonly maxReplicas: number;
  /** In-flight requests per pod the queue autoscaler aims at; the add-on's concurrency metric uses the same. */
  readonly targetConcurrency: number;
  /** The ingress host routed through the interceptor. @default none — in-cluster clients only */
  readonly ingressHost?: string;
  /** The cluster's add-on. */
  readonly addOn: KedaHttpAddOnProfile;
  /**
   * The Service in the same namespace that answers a request held past the hold (the environment's failover
   * responder, charts/constructs/scale-to-zero-failover.ts): `coldStartTimeoutFailoverRef`. Its `timeoutSeconds`
   * is set to the hold, since the interceptor takes it in place of `conditionWait` (pkg/routing/table.go) and the
   * CRD defaults it to 30 s, which would cut every cold start at 30 s.
   * @default none — the interceptor answers 504 without Retry-After past the hold
   */
  readonly failover?: { readonly service: string; readonly port: number };
}

/** The host names the interceptor routes to a service: its ingress host (if any) and its in-cluster names. */
export function routedHosts(service: string, namespace: string, ingressHost: string | undefined): string[] {
  return [...(ingressHost !== undefined ? [ingressHost] : []), ...inClusterHosts(service, namespace)];
}

/**
 * The request path of a service that scales to zero, through the KEDA HTTP add-on (kedacore/http-add-on): an
 * HTTPScaledObject (http.keda.sh/v1alpha1; fields from operator/apis/http/v1alpha1/httpscaledobject_types.go) that
 * routes the service's host names to its Service, and an ExternalName Service that points those names (and the
 * Ingress) at the interceptor's proxy. The interceptor holds each request until the Service has a ready endpoint
 * (interceptor/middleware/endpoint_resolver.go), for at most `timeouts.conditionWait`, here the hold the plan
 * derives from the startup window. Past it the interceptor forwards the request to the failover responder, which
 * answers 503 with Retry-After (`failover`); without one it answers 504 Gateway Timeout as text/plain, with no
 * Retry-After (handler/static.go, `http.Error`): docs/scale-to-zero.md says what a client sees.
 */
export class ScaleToZeroRoute extends Construct {
  /** The ExternalName Service clients and the Ingress call. */
  readonly interceptorService: kplus.Service;

  constructor(scope: Construct, id: string, props: ScaleToZeroRouteProps) {
    super(scope, id);
    const proxy = kedaHttpAddOnServices.interceptorProxy;
    this.interceptorService = new kplus.Service(this, 'interceptor', {
      metadata: { name: interceptorServiceName(props.name), labels: props.labels },
      type: kplus.ServiceType.EXTERNAL_NAME,
      externalName: `${proxy.name}.${props.addOn.namespace}.svc.cluster.local`,
      ports: [{ name: 'http', port: proxy.port, targetPort: proxy.port, protocol: kplus.Protocol.TCP }],
    });
    // An ExternalName Service is a DNS alias: callers connect to the interceptor's own port. cdk8s-plus drops the
    // ports of that type; the Ingress backend and the readers of `kubectl get svc` want the port stated.
    ApiObject.of(this.interceptorService).addJsonPatch(JsonPatch.add('/spec/ports', [{ name: 'http', port: proxy.port, protocol: 'TCP' }]));
    new HttpScaledObject(this, 'route', {
      metadata: { name: props.name, labels: props.labels, annotations: { [skipScaledObjectCreationAnnotation]: 'true' } },
      spec: {
        hosts: routedHosts(props.name, props.namespace, props.ingressHost),
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: props.name, service: props.name, port: props.servicePort },
        replicas: { min: 0, max: props.maxReplicas },
        // Read only by a ScaledObject the operator creates, which the annotation turns off; stated so
        // `kubectl get httpso` shows the idle time the service's own ScaledObject applies.
        scaledownPeriod: props.plan.idleAfterSeconds,
        scalingMetric: { concurrency: { targetValue: props.targetConcurrency } },
        timeouts: { conditionWait: `${props.plan.holdSeconds}s`, responseHeader: `${props.plan.responseHeaderTimeoutSeconds}s` },
        ...(props.failover
          ? { coldStartTimeoutFailoverRef: { service: props.failover.service, port: props.failover.port, timeoutSeconds: props.plan.holdSeconds } }
          : {}),
      },
    });
  }
}
