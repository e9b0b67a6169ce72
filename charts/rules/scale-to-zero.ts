import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IService } from 'kubernetes-models/v1';
import { containerCommands, envVars, failoverResponder, type FailoverRoute } from '../../service/contract.js';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { ingressControllers } from '../constructs/exposure.js';
import { httpScaledObjectType, scaledObjectType } from '../constructs/queue-autoscaling.js';
import { kedaHttpAddOnServices } from '../constructs/scale-to-zero.js';
import { idleDurationSeconds } from '../sizing/cold-start.js';
import { envValue, loadProtectionSeconds } from './lib.js';
import { admitContainer, limitRangeItems } from './namespace-budget.js';
import { ingressClassOf, ingressControllerOf, pathIdleTimeouts } from './exposure.js';
import type { EnvironmentContext, Manifest, Rule, ServiceContext, Synthesized } from './types.js';

/**
 * The fields of an HTTPScaledObject (http.keda.sh/v1alpha1) the rules read, after kedacore/http-add-on
 * operator/apis/http/v1alpha1/httpscaledobject_types.go.
 */
interface HttpScaledObjectManifest extends Manifest {
  readonly spec: {
    readonly hosts?: readonly string[];
    readonly scaleTargetRef: { readonly name: string; readonly service: string; readonly port?: number };
    readonly replicas?: { readonly min?: number; readonly max?: number };
    readonly timeouts?: { readonly conditionWait?: string; readonly responseHeader?: string };
    readonly coldStartTimeoutFailoverRef?: { readonly service: string; readonly port?: number; readonly portName?: string; readonly timeoutSeconds?: number };
  };
}

/**
 * The CRD's default of `coldStartTimeoutFailoverRef.timeoutSeconds` (crds/http.keda.sh_httpscaledobjects.yaml), and
 * the interceptor's own bound when a failover is set and no wait is (interceptor/middleware/endpoint_resolver.go
 * `defaultFallbackReadinessTimeout`).
 */
const failoverDefaultTimeoutSeconds = 30;

/**
 * The hold the interceptor applies, as kedacore/http-add-on pkg/routing/table.go converts an HTTPScaledObject: a
 * failover's `timeoutSeconds` above 0 replaces `timeouts.conditionWait`; with a failover, an unset wait becomes 30 s.
 */
function effectiveHold(httpso: HttpScaledObjectManifest): { seconds: number | undefined; field: string } {
  const failover = httpso.spec.coldStartTimeoutFailoverRef;
  if (failover) {
    const timeout = failover.timeoutSeconds ?? failoverDefaultTimeoutSeconds;
    if (timeout > 0)
      return {
        seconds: timeout,
        field: `coldStartTimeoutFailoverRef.timeoutSeconds${failover.timeoutSeconds === undefined ? ' (unset: the CRD default)' : ''}`,
      };
    return { seconds: durationSeconds(httpso.spec.timeouts?.conditionWait) ?? failoverDefaultTimeoutSeconds, field: 'timeouts.conditionWait' };
  }
  return { seconds: durationSeconds(httpso.spec.timeouts?.conditionWait), field: 'timeouts.conditionWait' };
}

/** The service's HTTPScaledObject: present exactly when it scales to zero through the add-on. */
export function httpScaledObjectOf(svc: ServiceContext): HttpScaledObjectManifest | undefined {
  return svc.objects.find(
    (o): o is HttpScaledObjectManifest => o.kind === httpScaledObjectType.kind && o.apiVersion.startsWith(`${httpScaledObjectType.group}/`),
  );
}

/** A Go duration as the CRD's `metav1.Duration` fields take it, in seconds; whole `s`/`m`/`h` only, as this repository writes them. */
function durationSeconds(text: string | undefined): number | undefined {
  return text === undefined ? undefined : idleDurationSeconds(text);
}

/** The interceptor's response-header timeout when neither the route nor its environment sets one. */
const interceptorResponseHeaderDefaultSeconds = 300;

const externalNameServices = (svc: ServiceContext): Synthesized<IService>[] =>
  svc.objects.filter((o) => o.kind === 'Service' && (o as Synthesized<IService>).spec.type === 'ExternalName') as Synthesized<IService>[];

/**
 * Rules on scaling to zero through the KEDA HTTP add-on (charts/constructs/scale-to-zero.ts): the add-on is there,
 * every client path goes through its interceptor, and the interceptor's hold is bounded by the model's own load.
 */
export const scaleToZeroRules: readonly Rule[] = [
  {
    id: 'scale-to-zero-add-on-installed',
    severity: 'error',
    checks:
      "A service that scales to zero (scaleToZero) runs on a cluster whose profile declares the KEDA HTTP add-on (kedaHttpAddOn, its namespace) and lists its HTTPScaledObject type, and its ScaledObject (KEDA, not prometheus-adapter) carries the add-on's external-push trigger that wakes it.",
    why: "Without the add-on's interceptor nothing holds the first request: at zero pods the Service has no endpoints and the caller gets connection refused for a whole model load; without the external-push trigger the service never wakes, because at zero pods no pod exports the queue metrics Prometheus would have to see.",
    fix: 'Install the KEDA HTTP add-on (Helm chart kedacore/keda-add-ons-http) beside KEDA, then add kedaHttpAddOn: { namespace } and the HTTPScaledObject type to the cluster profile; or remove scaleToZero and keep minReplicas 1 or more.',
    check: (svc, env) => {
      const httpso = httpScaledObjectOf(svc);
      if (!httpso) return [];
      const where = `cluster ${env.cluster.name} (profile ${env.cluster.definedIn})`;
      const out: { message: string }[] = [];
      if (env.cluster.kedaHttpAddOn === undefined)
        out.push({ message: `scaleToZero routes ${svc.name} through the KEDA HTTP add-on's interceptor, and ${where} declares no kedaHttpAddOn` });
      if (!(env.cluster.customResourceTypes ?? []).some((c) => c.group === httpScaledObjectType.group && c.kind === httpScaledObjectType.kind))
        out.push({
          message: `${where} has no ${httpScaledObjectType.kind}.${httpScaledObjectType.group} type: Argo CD fails the whole sync on ${httpScaledObjectType.kind} ${httpso.metadata.name}`,
        });
      const wake = svc.scaledObject?.spec.triggers?.find((t) => t.type === 'external-push' && t.metadata?.['httpScaledObject'] === httpso.metadata.name);
      if (!wake)
        out.push({
          message: `no KEDA ${scaledObjectType.kind} with the add-on's external-push trigger for ${httpso.metadata.name} scales ${svc.name}${svc.scaledObject ? '' : ' (the queue signal is read by prometheus-adapter, whose HPA cannot reach zero)'}: it would never wake`,
        });
      return out;
    },
  },
  {
    id: 'scale-to-zero-routed',
    severity: 'error',
    checks:
      "Every client path of a service that scales to zero goes through the add-on's interceptor: no load-balancer Service (a cloud load balancer sends to the pods), the Ingress's backend is the ExternalName Service that names the interceptor in the profile's add-on namespace on an ingress controller that proxies (ingress-nginx, Traefik, HAProxy; an ALB in IP mode sends to pod addresses), the HTTPScaledObject forwards to the model's Service and port and routes the ingress host, and the NetworkPolicy admits the add-on namespace.",
    why: 'A path that skips the interceptor reaches a Service with no endpoints at zero pods (connection refused), and the interceptor never counts those requests, so nothing wakes the service; a NetworkPolicy that blocks the interceptor turns every held request into a 502.',
    fix: 'Use exposure ingress (an ingress-nginx class) or cluster-ip for a service with scaleToZero, keep the generated Ingress backend and NetworkPolicy, and call the `<service>-interceptor` Service in the cluster.',
    check: (svc, env) => {
      const httpso = httpScaledObjectOf(svc);
      if (!httpso) return [];
      const out: { message: string }[] = [];
      const addOnNamespace = env.cluster.kedaHttpAddOn?.namespace;
      const proxy = kedaHttpAddOnServices.interceptorProxy;
      if (svc.service?.spec.type === 'LoadBalancer')
        out.push({ message: `Service ${svc.service.metadata.name} is a LoadBalancer: its load balancer sends to the pods, past the interceptor` });
      const interceptor = externalNameServices(svc).find((s) => s.spec.externalName?.startsWith(`${proxy.name}.`));
      if (!interceptor) out.push({ message: `no ExternalName Service points at the interceptor ${proxy.name}` });
      else if (addOnNamespace !== undefined && !interceptor.spec.externalName?.startsWith(`${proxy.name}.${addOnNamespace}.`))
        out.push({
          message: `Service ${interceptor.metadata.name} points at ${interceptor.spec.externalName}, but the add-on runs in namespace ${addOnNamespace}`,
        });
      if (svc.ingress) {
        const backend = svc.ingress.spec.rules?.flatMap((r) => r.http?.paths ?? []).map((p) => p.backend.service?.name) ?? [];
        const stray = backend.filter((b) => b !== interceptor?.metadata.name);
        if (stray.length > 0) out.push({ message: `Ingress ${svc.ingress.metadata.name} sends to ${stray.join(', ')}, not to the interceptor Service` });
        const controller = ingressControllerOf(env, ingressClassOf(svc.ingress));
        if (ingressControllers[controller]?.trafficFrom === 'load-balancer')
          out.push({
            message: `Ingress ${svc.ingress.metadata.name} is served by ${controller}, whose load balancer sends to pod addresses and cannot reach an ExternalName Service`,
          });
        const hosts = svc.ingress.spec.rules?.flatMap((r) => (r.host ? [r.host] : [])) ?? [];
        const unrouted = hosts.filter((h) => !(httpso.spec.hosts ?? []).includes(h));
        if (unrouted.length > 0)
          out.push({
            message: `${httpScaledObjectType.kind} ${httpso.metadata.name} does not route the ingress host ${unrouted.join(', ')}: the interceptor answers 404`,
          });
      }
      const port = svc.service?.spec.ports?.[0]?.port;
      if (httpso.spec.scaleTargetRef.service !== svc.service?.metadata.name || httpso.spec.scaleTargetRef.port !== port)
        out.push({
          message: `${httpScaledObjectType.kind} ${httpso.metadata.name} forwards to ${httpso.spec.scaleTargetRef.service}:${httpso.spec.scaleTargetRef.port}, not to the model Service ${svc.service?.metadata.name}:${port}`,
        });
      const policy = svc.objects.find((o) => o.kind === 'NetworkPolicy') as Synthesized<INetworkPolicy> | undefined;
      const peers = policy?.spec.ingress?.flatMap((r) => r.from ?? []) ?? [];
      const admitted = peers.some(
        (p) =>
          p.ipBlock?.cidr === '0.0.0.0/0' ||
          (p.podSelector === undefined && p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === addOnNamespace),
      );
      if (policy && addOnNamespace !== undefined && !admitted)
        out.push({
          message: `NetworkPolicy ${policy.metadata.name} does not admit the interceptor's namespace ${addOnNamespace}: every held request ends in 502`,
        });
      return out;
    },
  },
  {
    id: 'scale-to-zero-hold-bounded',
    severity: 'error',
    checks:
      "The interceptor's hold (HTTPScaledObject coldStartTimeoutFailoverRef.timeoutSeconds, which replaces timeouts.conditionWait when a failover is set and defaults to 30 s; else timeouts.conditionWait) is set, at least the startup probe's window (a normal load finishes inside it) and at most the Deployment's progress deadline; every idle timeout on the client path outlasts the hold, so the caller gets the failover's 503 (or the interceptor's 504) rather than a cut connection; and the interceptor's response-header timeout (timeouts.responseHeader) covers the request timeout.",
    why: 'Unset, the interceptor holds a request with no bound of its own (KEDA_HTTP_READINESS_TIMEOUT defaults to 0, interceptor/config/timeouts.go), so a pod that never loads keeps callers waiting until something else on the path cuts them; shorter than the load, every first caller after an idle spell is turned away while the pod it woke is still loading (a failover timeoutSeconds left at its CRD default of 30 s does exactly that); a 60 s ingress read timeout in front of a 4-minute hold cut every cold start.',
    fix: 'Keep the derived timeouts (charts/sizing/cold-start.ts): do not override the startup probe or the progress deadline below the load, and keep the ingress idle timeout the construct sets; on a path with a fixed shorter idle timeout, load faster (a faster cache volume) or do not scale to zero.',
    check: (svc, env) => {
      const httpso = httpScaledObjectOf(svc);
      if (!httpso) return [];
      const out: { message: string }[] = [];
      const { seconds: hold, field } = effectiveHold(httpso);
      if (hold === undefined || hold <= 0) {
        out.push({
          message: `${httpScaledObjectType.kind} ${httpso.metadata.name} sets no timeouts.conditionWait: the interceptor holds a request with no bound`,
        });
      } else {
        const load = loadProtectionSeconds(svc.server);
        if (hold < load.seconds)
          out.push({
            message: `the hold ${hold}s (${field}) is shorter than the ${load.by} ${load.seconds}s: a first caller is turned away while the pod it woke may still be loading`,
          });
        const deadline = svc.deployment.spec.progressDeadlineSeconds ?? 600;
        if (hold > deadline)
          out.push({ message: `the hold ${hold}s outlasts the Deployment's progress deadline ${deadline}s, after which the pod has failed anyway` });
        const short = pathIdleTimeouts(svc, env).filter((t) => t.seconds < hold);
        if (short.length > 0)
          out.push({
            message: `${short.map((t) => `${t.what} ${t.seconds}s`).join(', ')} < the hold ${hold}s: a held caller's connection is cut before the interceptor answers`,
          });
      }
      const requestTimeout = Number(envValue(svc.server, envVars.requestTimeoutMs) ?? 0) / 1000;
      // Unset, the interceptor's global KEDA_HTTP_RESPONSE_HEADER_TIMEOUT applies: 300 s by default (interceptor/config/timeouts.go).
      const header = durationSeconds(httpso.spec.timeouts?.responseHeader) ?? interceptorResponseHeaderDefaultSeconds;
      if (header < requestTimeout)
        out.push({
          message: `the interceptor's responseHeader timeout ${header}s < request timeout ${requestTimeout}s: a long non-streamed answer ends in 504`,
        });
      return out;
    },
  },
  {
    id: 'scale-to-zero-failover',
    severity: 'error',
    checks:
      "A service that scales to zero names a failover (HTTPScaledObject coldStartTimeoutFailoverRef) that is the environment's failover responder: a Service of that name and port in the namespace, selecting a Deployment whose container runs the responder (`node build/service/failover.js`) on that port and lists every host the HTTPScaledObject routes in FAILOVER_ROUTES; the namespace's LimitRange admits the responder's container; and no NetworkPolicy on the responder keeps the add-on's interceptor out.",
    why: "Past the hold, without a failover the interceptor answers `504 Gateway Timeout` as text/plain with no Retry-After (kedacore/http-add-on interceptor/middleware/endpoint_resolver.go), which clients read as a dead gateway; a failover that names a Service with no endpoints, or one a NetworkPolicy closes, turns it into a 502; a host the responder does not know gets a Retry-After that is not the service's.",
    fix: "Keep the generated scale-to-zero-failover objects (charts/constructs/scale-to-zero-failover.ts): do not remove the failover from the HTTPScaledObject, rename the responder, or narrow its NetworkPolicy; keep the environment's limitRange within the responder's resources (charts/constructs/scale-to-zero-failover.ts failoverResources).",
    check: (svc, env) => {
      const httpso = httpScaledObjectOf(svc);
      if (!httpso) return [];
      const ref = httpso.spec.coldStartTimeoutFailoverRef;
      if (!ref)
        return [
          {
            message: `${httpScaledObjectType.kind} ${httpso.metadata.name} has no coldStartTimeoutFailoverRef: past the hold clients get 504 text/plain without Retry-After`,
          },
        ];
      return failoverProblems(httpso, ref, env).map((message) => ({ message }));
    },
  },
];

/** What keeps the interceptor's failover for `httpso` from reaching a responder that knows its hosts. */
function failoverProblems(
  httpso: HttpScaledObjectManifest,
  ref: NonNullable<HttpScaledObjectManifest['spec']['coldStartTimeoutFailoverRef']>,
  env: EnvironmentContext,
): string[] {
  const objects = env.failoverObjects;
  const what = `${httpScaledObjectType.kind} ${httpso.metadata.name}'s coldStartTimeoutFailoverRef`;
  const service = objects.find((o): o is Synthesized<IService> => o.kind === 'Service' && o.metadata.name === ref.service) as Synthesized<IService> | undefined;
  if (!service) return [`${what} names Service ${ref.service}, which the environment does not synthesize: every request past the hold fails`];
  const port = service.spec.ports?.find((p) => (ref.port !== undefined ? p.port === ref.port : p.name === ref.portName));
  if (!port) return [`${what} names port ${ref.port ?? ref.portName}, which Service ${ref.service} does not have`];
  const selector = service.spec.selector ?? {};
  const deployment = objects.find(
    (o): o is Synthesized<IDeployment> =>
      o.kind === 'Deployment' &&
      Object.keys(selector).length > 0 &&
      Object.entries(selector).every(([k, v]) => (o as Synthesized<IDeployment>).spec.template.metadata?.labels?.[k] === v),
  );
  const container = deployment?.spec.template.spec?.containers.find((c) => JSON.stringify(c.command) === JSON.stringify(containerCommands.failover));
  if (!deployment || !container) return [`Service ${ref.service} selects no Deployment running ${containerCommands.failover.join(' ')}`];
  const out: string[] = [];
  const target = Number(port.targetPort ?? port.port);
  if (!(container.ports ?? []).some((p) => p.containerPort === target))
    out.push(`Service ${ref.service} sends port ${port.port} to ${target}, where the responder ${deployment.metadata.name} does not listen`);
  let routes: FailoverRoute[] = [];
  try {
    routes = JSON.parse(container.env?.find((e) => e.name === failoverResponder.envVars.routes)?.value ?? '[]') as FailoverRoute[];
  } catch {
    out.push(`the responder's ${failoverResponder.envVars.routes} is not JSON`);
  }
  const known = new Set(routes.flatMap((r) => r.hosts));
  const unknown = (httpso.spec.hosts ?? []).filter((h) => !known.has(h));
  if (unknown.length > 0)
    out.push(`the responder's ${failoverResponder.envVars.routes} does not list ${unknown.join(', ')}: a request for it gets another service's Retry-After`);
  // Admission: a LimitRange whose min or max the responder's container misses refuses its pod.
  const admitted = admitContainer(container, limitRangeItems(env.namespaceObjects));
  for (const item of limitRangeItems(env.namespaceObjects)) {
    for (const [k, max] of Object.entries(item.max)) {
      const value = admitted.limits[k] ?? admitted.requests[k];
      if (value !== undefined && value > max)
        out.push(
          `LimitRange ${item.name} max ${k} ${max} is below the responder's ${value} (${env.environment.definedIn}: limitRange.maxPerContainer): the API server refuses its pod`,
        );
    }
    for (const [k, min] of Object.entries(item.min)) {
      const request = admitted.requests[k];
      if (request !== undefined && request < min)
        out.push(
          `LimitRange ${item.name} min ${k} ${min} is above the responder's request ${request} (${env.environment.definedIn}: limitRange.minPerContainer): the API server refuses its pod`,
        );
    }
  }
  const podLabels = deployment.spec.template.metadata?.labels ?? {};
  const addOnNamespace = env.cluster.kedaHttpAddOn?.namespace;
  const policies = objects.filter(
    (o): o is Synthesized<INetworkPolicy> =>
      o.kind === 'NetworkPolicy' && Object.entries((o as Synthesized<INetworkPolicy>).spec.podSelector.matchLabels ?? {}).every(([k, v]) => podLabels[k] === v),
  );
  const admits = (p: Synthesized<INetworkPolicy>): boolean =>
    (p.spec.ingress ?? []).some(
      (rule) =>
        (rule.ports === undefined || rule.ports.some((rp) => rp.port === undefined || Number(rp.port) === target)) &&
        (rule.from === undefined ||
          rule.from.some(
            (peer) =>
              peer.ipBlock?.cidr === '0.0.0.0/0' ||
              (peer.podSelector === undefined && peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === addOnNamespace),
          )),
    );
  if (addOnNamespace !== undefined && policies.length > 0 && !policies.some(admits))
    out.push(
      `NetworkPolicy ${policies.map((p) => p.metadata.name).join(', ')} on the responder does not admit the interceptor's namespace ${addOnNamespace} on port ${target}: every request past the hold ends in 502`,
    );
  return out;
}
