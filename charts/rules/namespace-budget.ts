import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IContainer, ILimitRangeItem, ILimitRangeSpec, IPodSpec, IResourceQuotaSpec } from 'kubernetes-models/v1';
import { namespaceBudgetName } from '../constructs/namespace-budget.js';
import { parseQuantity } from '../lib/quantity.js';
import { formatGiB } from '../sizing/units.js';
import type { EnvironmentContext, Manifest, Rule, ServiceContext, Synthesized } from './types.js';

/** The quota resources this repository's pods and claims consume, as ResourceQuota `spec.hard` keys. */
export const quotaResources = [
  'requests.cpu',
  'requests.memory',
  'limits.memory',
  'requests.ephemeral-storage',
  'limits.ephemeral-storage',
  'requests.nvidia.com/gpu',
  'pods',
  'requests.storage',
  'persistentvolumeclaims',
] as const;
export type QuotaResource = (typeof quotaResources)[number];
type Usage = Record<QuotaResource, number>;

/** `cpu` and `memory` in a quota mean their `requests.` form (kubernetes pkg/quota/v1/evaluator/core/pods.go). */
const shortForms: Record<string, QuotaResource> = { cpu: 'requests.cpu', memory: 'requests.memory', 'ephemeral-storage': 'requests.ephemeral-storage' };

/** One quota that holds the namespace: where it is declared and which prop a fix changes. */
interface QuotaSource {
  readonly what: string;
  readonly hard: Partial<Usage>;
  readonly fieldOf: (r: QuotaResource) => string;
  readonly fix: string;
}

const envFields: Record<QuotaResource, string> = {
  'requests.cpu': 'quota.cpu',
  'requests.memory': 'quota.memoryGiB',
  'limits.memory': 'quota.memoryGiB',
  'requests.ephemeral-storage': 'quota.ephemeralStorageGiB',
  'limits.ephemeral-storage': 'quota.ephemeralStorageGiB',
  'requests.nvidia.com/gpu': 'quota.gpus',
  pods: 'quota.pods',
  'requests.storage': 'quota.storageGiB',
  persistentvolumeclaims: 'quota.persistentVolumeClaims',
};
const profileFields: Partial<Record<QuotaResource, string>> = {
  'requests.cpu': 'cpuMillis',
  'requests.memory': 'memoryBytes',
  'requests.ephemeral-storage': 'ephemeralStorageBytes',
  'requests.nvidia.com/gpu': 'gpus',
};

/** A resource list of a manifest, as numbers (CPU in cores, the rest in bytes or units). */
function numbers(list: Record<string, string | number> | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(list ?? {}).map(([k, v]) => [k, parseQuantity(v) ?? 0]));
}

/** The Container items of the environment's LimitRanges, with the API server's defaulting applied. */
interface ContainerLimits {
  readonly max: Record<string, number>;
  readonly min: Record<string, number>;
  readonly default: Record<string, number>;
  readonly defaultRequest: Record<string, number>;
}

/**
 * kubernetes pkg/apis/core/v1/defaults.go SetDefaults_LimitRangeItem, for type Container: an unset `default`
 * (limit) is the `max`, an unset `defaultRequest` is the `default`, then the `min`.
 */
function defaultedItem(item: ILimitRangeItem): ContainerLimits {
  const max = numbers(item.max);
  const min = numbers(item.min);
  const def = { ...max, ...numbers(item.default) };
  const defReq = { ...min, ...def, ...numbers(item.defaultRequest) };
  return { max, min, default: def, defaultRequest: defReq };
}

export function limitRangeItems(objects: readonly Manifest[]): Array<ContainerLimits & { readonly name: string }> {
  return objects
    .filter((o) => o.kind === 'LimitRange')
    .flatMap((o) =>
      ((o.spec as ILimitRangeSpec | undefined)?.limits ?? [])
        .filter((i) => i.type === 'Container')
        .map((i) => ({ name: o.metadata.name, ...defaultedItem(i) })),
    );
}

/** A container as the API server admits it: its own requests and limits, gaps filled from the LimitRanges. */
export interface AdmittedContainer {
  readonly name: string;
  readonly requests: Record<string, number>;
  readonly limits: Record<string, number>;
  /** Limits the LimitRange added (the container stated none), e.g. `cpu`. */
  readonly defaultedLimits: readonly string[];
}

/**
 * kubernetes plugin/pkg/admission/limitranger/admission.go defaultContainerResourceRequirements and
 * mergeContainerResources: every Container item's `default` becomes a limit and `defaultRequest` a request
 * wherever the container states none for that resource; what the container states is kept.
 */
export function admitContainer(container: Pick<IContainer, 'name' | 'resources'>, items: readonly ContainerLimits[]): AdmittedContainer {
  const requests = numbers(container.resources?.requests);
  const limits = numbers(container.resources?.limits);
  const defaultedLimits: string[] = [];
  for (const item of items) {
    for (const [k, v] of Object.entries(item.default)) {
      if (!(k in limits)) {
        limits[k] = v;
        defaultedLimits.push(k);
      }
    }
    for (const [k, v] of Object.entries(item.defaultRequest)) if (!(k in requests)) requests[k] = v;
  }
  return { name: container.name, requests, limits, defaultedLimits };
}

function admittedPod(pod: IPodSpec, items: readonly ContainerLimits[]): { app: AdmittedContainer[]; init: AdmittedContainer[] } {
  return { app: pod.containers.map((c) => admitContainer(c, items)), init: (pod.initContainers ?? []).map((c) => admitContainer(c, items)) };
}

/**
 * What one pod counts against a quota: the larger of the app containers' sum and the biggest init container,
 * per resource, as the scheduler and the quota evaluator compute it (kubernetes pkg/quota/v1/evaluator/core/pods.go
 * PodUsageFunc over component-helpers resource.PodRequests / PodLimits).
 */
function podQuotaUsage(pod: IPodSpec, items: readonly ContainerLimits[]): Partial<Usage> {
  const { app, init } = admittedPod(pod, items);
  const effective = (side: 'requests' | 'limits', key: string): number =>
    Math.max(
      app.reduce((acc, c) => acc + (c[side][key] ?? 0), 0),
      init.reduce((acc, c) => Math.max(acc, c[side][key] ?? 0), 0),
    );
  return {
    'requests.cpu': effective('requests', 'cpu'),
    'requests.memory': effective('requests', 'memory'),
    'limits.memory': effective('limits', 'memory'),
    'requests.ephemeral-storage': effective('requests', 'ephemeral-storage'),
    'limits.ephemeral-storage': effective('limits', 'ephemeral-storage'),
    // Extended resources: requests default to limits (the server states only the limit); quota counts requests.
    'requests.nvidia.com/gpu': Math.max(effective('requests', 'nvidia.com/gpu'), effective('limits', 'nvidia.com/gpu')),
    pods: 1,
  };
}

/** A service at its largest: every pod the autoscaler may run plus the rollout's surge pods, and its claim. */
export function serviceQuotaUsage(svc: ServiceContext, env: EnvironmentContext): Usage {
  const perPod = podQuotaUsage(svc.pod, limitRangeItems(env.namespaceObjects));
  const pods = svc.replicas + svc.surgePods;
  const usage = Object.fromEntries(quotaResources.map((r) => [r, (perPod[r] ?? 0) * pods])) as Usage;
  usage['requests.storage'] = parseQuantity(svc.pvc?.spec?.resources?.requests?.storage) ?? 0;
  usage.persistentvolumeclaims = svc.pvc ? 1 : 0;
  return usage;
}

/**
 * The scale-to-zero failover responder's share (charts/constructs/scale-to-zero-failover.ts): its pod and the
 * pod its rolling update surges. Counted before the services, so a breach is reported on the service that tips it.
 */
function failoverQuotaUsage(env: EnvironmentContext): Usage {
  const deployment = env.failoverObjects.find((o) => o.kind === 'Deployment') as Synthesized<IDeployment> | undefined;
  const pod = deployment?.spec.template.spec;
  if (!pod) return none;
  const perPod = podQuotaUsage(pod, limitRangeItems(env.namespaceObjects));
  const pods = (deployment.spec.replicas ?? 1) + Number(deployment.spec.strategy?.rollingUpdate?.maxSurge ?? 0);
  return Object.fromEntries(quotaResources.map((r) => [r, (perPod[r] ?? 0) * pods])) as Usage;
}

/** Every quota that holds the environment's namespace: the one it synthesizes, and the one its cluster profile records. */
function quotaSources(env: EnvironmentContext): QuotaSource[] {
  const out: QuotaSource[] = [];
  const definedIn = env.environment.definedIn;
  for (const q of env.namespaceObjects.filter((o) => o.kind === 'ResourceQuota')) {
    const hard: Partial<Usage> = {};
    for (const [k, v] of Object.entries(numbers((q.spec as IResourceQuotaSpec | undefined)?.hard))) {
      const key = (shortForms[k] ?? k) as QuotaResource;
      if ((quotaResources as readonly string[]).includes(key)) hard[key] = Math.min(v, hard[key] ?? Infinity);
    }
    out.push({
      what: `ResourceQuota ${q.metadata.name} (${definedIn}: quota)`,
      hard,
      fieldOf: (r) => envFields[r],
      fix: `Raise the named field of quota in ${definedIn}, or lower the services' requests or maxReplicas.`,
    });
  }
  const profileQuota = env.cluster.namespaceQuotas[env.environment.namespace];
  if (profileQuota) {
    out.push({
      what: `the cluster's quota on namespace ${env.environment.namespace} (profile ${env.cluster.definedIn}: namespaceQuotas)`,
      hard: {
        'requests.cpu': profileQuota.cpuMillis / 1000,
        'requests.memory': profileQuota.memoryBytes,
        'requests.ephemeral-storage': profileQuota.ephemeralStorageBytes,
        'requests.nvidia.com/gpu': profileQuota.gpus,
      },
      fieldOf: (r) => `namespaceQuotas['${env.environment.namespace}'].${profileFields[r] ?? r}`,
      fix: `Ask the cluster's administrators to raise the quota and record it in ${env.cluster.definedIn} (npm run cluster:capture), or lower the services' requests or maxReplicas.`,
    });
  }
  return out;
}

function show(r: QuotaResource, n: number): string {
  if (r === 'requests.cpu') return `${Number(n.toFixed(3))} CPU`;
  if (r === 'pods' || r === 'persistentvolumeclaims' || r === 'requests.nvidia.com/gpu') return String(n);
  return formatGiB(n);
}

function add(a: Usage, b: Usage): Usage {
  return Object.fromEntries(quotaResources.map((r) => [r, a[r] + b[r]])) as Usage;
}
const none = Object.fromEntries(quotaResources.map((r) => [r, 0])) as Usage;

/**
 * The unified `namespace-quota-fits` check. Each quota is admitted independently (every ResourceQuota in a
 * namespace must hold), so each source is checked alone; a breach is reported once per quota, on the service
 * whose pods (in declaration order) no longer fit, naming the resource and the prop that sets its limit.
 */
export function checkNamespaceQuotas(svc: ServiceContext, env: EnvironmentContext): Array<{ message: string; fix: string }> {
  const out: Array<{ message: string; fix: string }> = [];
  for (const source of quotaSources(env)) {
    const over = (total: Usage): QuotaResource[] => quotaResources.filter((r) => source.hard[r] !== undefined && total[r] > source.hard[r]! + 1e-9);
    const failover = failoverQuotaUsage(env);
    let before = failover;
    for (const s of env.services) {
      const after = add(before, serviceQuotaUsage(s, env));
      const now = over(after);
      if (now.length > 0 && over(before).length === 0) {
        if (s === svc) {
          const total = env.services.reduce((acc, x) => add(acc, serviceQuotaUsage(x, env)), failover);
          const breaches = over(total).map((r) => `${r} ${show(r, total[r])} > ${show(r, source.hard[r]!)} (${source.fieldOf(r)})`);
          const shares = env.services.map((x) => {
            const u = serviceQuotaUsage(x, env);
            return `${x.name} x${x.replicas + x.surgePods} pods: ${show('requests.cpu', u['requests.cpu'])}, ${show('requests.memory', u['requests.memory'])}, ${u['requests.nvidia.com/gpu']} GPU`;
          });
          out.push({
            message: `${source.what} is exceeded at full scale (autoscaler maximum plus rollout surge) once ${svc.name} is added: ${breaches.join(', ')}; per service: ${shares.join('; ')}${failover.pods > 0 ? `; the scale-to-zero failover responder x${failover.pods} pods: ${show('requests.cpu', failover['requests.cpu'])}, ${show('requests.memory', failover['requests.memory'])}` : ''}`,
            fix: source.fix,
          });
        }
        break;
      }
      before = after;
    }
  }
  return out;
}

const cores = (n: number): string => `${Number(n.toFixed(3))} CPU`;
function showResource(k: string, n: number): string {
  return k === 'cpu' ? cores(n) : formatGiB(n);
}

/** Rules this module adds to the catalogue (appended at its end). */
export const namespaceBudgetRules: readonly Rule[] = [
  {
    id: 'namespace-quota-fits',
    severity: 'error',
    checks:
      "Every ResourceQuota on the namespace (the one the environment declares, and the one the cluster profile records) holds the sum of the environment's pods at full scale (autoscaler maxReplicas, plus rollout surge pods where the strategy surges) as admitted under its LimitRange, and its cache claims: requests.cpu, requests/limits.memory, requests/limits.ephemeral-storage, requests.nvidia.com/gpu, pods, requests.storage, persistentvolumeclaims.",
    why: 'Rollouts stuck with "exceeded quota" when the surge pod (or the autoscaler) needs room the quota does not have.',
    fix: "Raise the quota (the environment's quota, or the cluster profile's namespaceQuotas and the cluster), or lower requests or replicas.",
    check: (svc, env) => checkNamespaceQuotas(svc, env),
  },
  {
    id: 'limit-range-admits',
    severity: 'error',
    checks: `Every container, as the API server admits it under the namespace's LimitRange (${namespaceBudgetName}: defaults filled in for what the container leaves unset, as kubernetes' LimitRanger does), has requests at least the per-container min and requests and limits at most the max; a CPU limit the LimitRange hands the inference server (which states none) is a warning, or an error below its request rounded up.`,
    why: 'A LimitRange max below the model\'s memory refused every pod of the ReplicaSet ("maximum memory usage per Container is 8Gi"), so the Deployment sat at zero pods with nothing but events to say why; and `max.cpu` alone became every container\'s CPU limit, throttling inference.',
    fix: "Raise limitRange.maxPerContainer (or lower minPerContainer) in the environment file, or lower the service's requests (contextSize, parallel, cpu).",
    check: (svc, env) => {
      const items = limitRangeItems(env.namespaceObjects);
      if (items.length === 0) return [];
      const file = env.environment.definedIn;
      const { app, init } = admittedPod(svc.pod, items);
      const out: Array<{ message: string; severity?: 'warning'; fix?: string }> = [];
      for (const c of [...app, ...init]) {
        for (const item of items) {
          for (const [k, max] of Object.entries(item.max)) {
            const limit = c.limits[k];
            const request = c.requests[k];
            if (limit !== undefined && limit > max)
              out.push({
                message: `container ${c.name}: ${k} limit ${showResource(k, limit)} is above LimitRange ${item.name} max ${showResource(k, max)} (${file}: limitRange.maxPerContainer): the API server refuses every pod`,
              });
            else if (request !== undefined && request > max)
              out.push({
                message: `container ${c.name}: ${k} request ${showResource(k, request)} is above LimitRange ${item.name} max ${showResource(k, max)} (${file}: limitRange.maxPerContainer): the API server refuses every pod`,
              });
          }
          for (const [k, min] of Object.entries(item.min)) {
            const request = c.requests[k];
            if (request !== undefined && request < min)
              out.push({
                message: `container ${c.name}: ${k} request ${showResource(k, request)} is below LimitRange ${item.name} min ${showResource(k, min)} (${file}: limitRange.minPerContainer): the API server refuses every pod`,
              });
          }
        }
        if (c.name === svc.server?.name && c.defaultedLimits.includes('cpu')) {
          const limit = c.limits.cpu!;
          const request = c.requests.cpu ?? 0;
          const source = `LimitRange ${items.map((i) => i.name).join(', ')} (${file}: limitRange; Kubernetes defaults the limit to max.cpu when no default is given)`;
          if (limit < Math.ceil(request))
            out.push({
              message: `container ${c.name} is admitted with CPU limit ${cores(limit)} from ${source}, below its request ${cores(request)} rounded up: every inference thread is throttled`,
            });
          else
            out.push({
              message: `container ${c.name} is admitted with CPU limit ${cores(limit)} from ${source}: a CFS quota now applies to the inference threads, which run without a limit by design`,
              severity: 'warning',
              fix: 'Leave limitRange.maxPerContainer.cpu out (bound CPU with quota.cpu instead), or accept the limit knowing bursts above it are throttled.',
            });
        }
      }
      return out;
    },
  },
];
