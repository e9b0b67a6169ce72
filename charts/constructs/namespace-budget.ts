import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { ChartConfigError, type ConfigProblem } from '../lib/config-error.js';

/**
 * The namespace's budget as an environment declares it: a ResourceQuota over every pod and claim in the
 * namespace. The `namespace-quota-fits` rule checks it against the services at their largest (autoscaler
 * maximum plus rollout surge). There is deliberately no CPU *limit* quota: a `limits.cpu` quota makes the
 * API server refuse every pod that states no CPU limit (ResourceQuota admission: "must specify limits.cpu"),
 * and the inference server runs without one on purpose (a CFS quota throttles every thread of a batch).
 */
export interface NamespaceQuotaProps {
  /** CPU cores all pods together may request (`requests.cpu`). Required: there is no budget that fits every team. */
  readonly cpu: number;
  /**
   * GiB of memory all pods together may request, and the same for limits (`requests.memory`, `limits.memory`):
   * every container here has its memory limit equal to its request. Required.
   */
  readonly memoryGiB: number;
  /**
   * Whole NVIDIA GPUs all pods together may request (`requests.nvidia.com/gpu`; Kubernetes allows only the
   * `requests.` form for extended resources). Required, 0 included: 0 forbids GPU pods in the namespace.
   */
  readonly gpus: number;
  /** GiB of ephemeral storage all pods together may request and be limited to (`requests.`/`limits.ephemeral-storage`). Required. */
  readonly ephemeralStorageGiB: number;
  /** Pods that may exist at once (`pods`). @default no pod-count limit — the resource figures already bound the namespace. */
  readonly pods?: number;
  /** GiB all PersistentVolumeClaims together may request (`requests.storage`). @default no storage limit */
  readonly storageGiB?: number;
  /** PersistentVolumeClaims that may exist at once (`persistentvolumeclaims`). @default no claim-count limit */
  readonly persistentVolumeClaims?: number;
}

/** Per-container resource figures of a LimitRange item. Each field is optional: an unset one is not constrained. */
export interface ContainerResourceFigures {
  /** CPU cores. @default unset */
  readonly cpu?: number;
  /** Memory in MiB. @default unset */
  readonly memoryMiB?: number;
  /** Ephemeral storage in MiB. @default unset */
  readonly ephemeralStorageMiB?: number;
}

/**
 * A LimitRange of type Container in the namespace: bounds on what one container may ask for, and what a
 * container that states nothing is given. The API server fills gaps the way kubernetes
 * pkg/apis/core/v1/defaults.go SetDefaults_LimitRangeItem does (an unset `default` limit becomes `max`, an unset
 * `defaultRequest` becomes `default`, then `min`), so a `max.cpu` alone hands every container without a CPU limit
 * a CPU limit: the `limit-range-admits` rule reports what the admitted pods would really get.
 */
export interface LimitRangeProps {
  /** Largest request and limit one container may have (`max`). @default unset — no upper bound */
  readonly maxPerContainer?: ContainerResourceFigures;
  /** Smallest request one container may have (`min`). @default unset — no lower bound */
  readonly minPerContainer?: ContainerResourceFigures;
  /**
   * Requests given to a container that states none (`defaultRequest`), e.g. a `kubectl run` debug pod, which a
   * quota on requests would otherwise refuse. @default unset — Kubernetes then derives it from `default` or `min`
   */
  readonly defaultRequest?: ContainerResourceFigures;
  /**
   * Limits given to a container that states none (`default`). No `cpu` here: a default CPU limit lands on the
   * inference server, which states none on purpose. @default unset — Kubernetes then derives it from `max`
   */
  readonly defaultLimit?: Omit<ContainerResourceFigures, 'cpu'>;
}

/** Name of the ResourceQuota and of the LimitRange this repository puts in every namespace that declares them. */
export const namespaceBudgetName = 'inference-budget';

/** The quota's `spec.hard`, keyed as Kubernetes names the resources. */
export function resourceQuotaHard(q: NamespaceQuotaProps): Record<string, string> {
  return {
    'requests.cpu': `${Math.round(q.cpu * 1000)}m`,
    'requests.memory': `${q.memoryGiB}Gi`,
    'limits.memory': `${q.memoryGiB}Gi`,
    'requests.ephemeral-storage': `${q.ephemeralStorageGiB}Gi`,
    'limits.ephemeral-storage': `${q.ephemeralStorageGiB}Gi`,
    'requests.nvidia.com/gpu': String(q.gpus),
    ...(q.pods !== undefined ? { pods: String(q.pods) } : {}),
    ...(q.storageGiB !== undefined ? { 'requests.storage': `${q.storageGiB}Gi` } : {}),
    ...(q.persistentVolumeClaims !== undefined ? { persistentvolumeclaims: String(q.persistentVolumeClaims) } : {}),
  };
}

function figures(f: ContainerResourceFigures | undefined): Record<string, string> | undefined {
  if (f === undefined) return undefined;
  const out: Record<string, string> = {};
  if (f.cpu !== undefined) out.cpu = `${Math.round(f.cpu * 1000)}m`;
  if (f.memoryMiB !== undefined) out.memory = `${f.memoryMiB}Mi`;
  if (f.ephemeralStorageMiB !== undefined) out['ephemeral-storage'] = `${f.ephemeralStorageMiB}Mi`;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The LimitRange's one item, as written (the API server's defaulting is modelled by the rule, not baked in). */
export function limitRangeItem(lr: LimitRangeProps): {
  type: 'Container';
  max?: Record<string, string>;
  min?: Record<string, string>;
  default?: Record<string, string>;
  defaultRequest?: Record<string, string>;
} {
  const item: ReturnType<typeof limitRangeItem> = { type: 'Container' };
  const max = figures(lr.maxPerContainer);
  const min = figures(lr.minPerContainer);
  const def = figures(lr.defaultLimit);
  const defReq = figures(lr.defaultRequest);
  if (max) item.max = max;
  if (min) item.min = min;
  if (def) item.default = def;
  if (defReq) item.defaultRequest = defReq;
  return item;
}

function nonNegative(n: number | undefined, whole: boolean): boolean {
  return n === undefined || (Number.isFinite(n) && n >= 0 && (!whole || Number.isInteger(n)));
}

/** Mistakes in a declared budget, named by file, environment and field. */
export function namespaceBudgetProblems(
  where: { file: string; object: string },
  quota: NamespaceQuotaProps | undefined,
  lr: LimitRangeProps | undefined,
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const bad = (field: string, value: unknown, fix: string): void => {
    out.push({ ...where, field, problem: `${JSON.stringify(value)} is not a valid amount`, fix });
  };
  if (quota) {
    if (!(quota.cpu > 0) || !Number.isInteger(quota.cpu * 1000))
      bad('quota.cpu', quota.cpu, 'set the CPU cores the namespace may request, e.g. 16 (whole millicores)');
    if (!(quota.memoryGiB > 0) || !Number.isInteger(quota.memoryGiB)) bad('quota.memoryGiB', quota.memoryGiB, 'set whole GiB, e.g. 64');
    if (!(quota.ephemeralStorageGiB > 0) || !Number.isInteger(quota.ephemeralStorageGiB))
      bad('quota.ephemeralStorageGiB', quota.ephemeralStorageGiB, 'set whole GiB, e.g. 40');
    if (!nonNegative(quota.gpus, true) || quota.gpus === undefined) bad('quota.gpus', quota.gpus, 'set whole GPUs, 0 for a CPU-only namespace');
    if (!nonNegative(quota.pods, true)) bad('quota.pods', quota.pods, 'set a whole number of pods, or leave it out');
    if (!nonNegative(quota.storageGiB, true)) bad('quota.storageGiB', quota.storageGiB, 'set whole GiB, or leave it out');
    if (!nonNegative(quota.persistentVolumeClaims, true))
      bad('quota.persistentVolumeClaims', quota.persistentVolumeClaims, 'set a whole number of claims, or leave it out');
  }
  if (lr) {
    const groups: Array<[string, ContainerResourceFigures | undefined]> = [
      ['limitRange.maxPerContainer', lr.maxPerContainer],
      ['limitRange.minPerContainer', lr.minPerContainer],
      ['limitRange.defaultRequest', lr.defaultRequest],
      ['limitRange.defaultLimit', lr.defaultLimit],
    ];
    for (const [field, f] of groups) {
      if (f?.cpu !== undefined && (!(f.cpu > 0) || !Number.isInteger(f.cpu * 1000))) bad(`${field}.cpu`, f.cpu, 'set CPU cores in whole millicores, e.g. 8');
      if (!nonNegative(f?.memoryMiB, true) || f?.memoryMiB === 0) bad(`${field}.memoryMiB`, f?.memoryMiB, 'set whole MiB, e.g. 16384');
      if (!nonNegative(f?.ephemeralStorageMiB, true) || f?.ephemeralStorageMiB === 0)
        bad(`${field}.ephemeralStorageMiB`, f?.ephemeralStorageMiB, 'set whole MiB, e.g. 20480');
    }
    if ('cpu' in (lr.defaultLimit ?? {})) {
      out.push({
        ...where,
        field: 'limitRange.defaultLimit.cpu',
        problem: 'a default CPU limit would be set on the inference server, which runs without one so that a CFS quota never throttles its threads',
        fix: 'remove defaultLimit.cpu',
      });
    }
    const min = lr.minPerContainer ?? {};
    const max = lr.maxPerContainer ?? {};
    for (const key of ['cpu', 'memoryMiB', 'ephemeralStorageMiB'] as const) {
      const lo = min[key];
      const hi = max[key];
      if (lo !== undefined && hi !== undefined && lo > hi)
        out.push({
          ...where,
          field: `limitRange.minPerContainer.${key}`,
          problem: `${lo} is above maxPerContainer.${key} ${hi}: no container could be admitted`,
          fix: `keep minPerContainer.${key} at most ${hi}`,
        });
    }
  }
  return out;
}

export interface NamespaceBudgetProps {
  /** Namespace the objects go in. */
  readonly namespace: string;
  /** Labels on both objects. */
  readonly labels: Record<string, string>;
  /** Annotations on both objects (the sync wave). */
  readonly annotations: Record<string, string>;
  /** The quota, when the environment declares one. @default none — no ResourceQuota is synthesized */
  readonly quota?: NamespaceQuotaProps;
  /** The LimitRange, when the environment declares one. @default none — no LimitRange is synthesized */
  readonly limitRange?: LimitRangeProps;
  /** File and environment named in configuration errors. */
  readonly where: { readonly file: string; readonly object: string };
}

/** The namespace's ResourceQuota and LimitRange, from the environment's declared budget. */
export class NamespaceBudget extends Construct {
  constructor(scope: Construct, id: string, props: NamespaceBudgetProps) {
    super(scope, id);
    const problems = namespaceBudgetProblems(props.where, props.quota, props.limitRange);
    if (problems.length > 0) throw new ChartConfigError(problems);
    const metadata = { name: namespaceBudgetName, namespace: props.namespace, labels: props.labels, annotations: props.annotations };
    if (props.quota) {
      const hard = Object.fromEntries(Object.entries(resourceQuotaHard(props.quota)).map(([k, v]) => [k, kplus.k8s.Quantity.fromString(v)]));
      new kplus.k8s.KubeResourceQuota(this, 'quota', { metadata, spec: { hard } });
    }
    if (props.limitRange) {
      const item = limitRangeItem(props.limitRange);
      const q = (r: Record<string, string> | undefined) =>
        r ? Object.fromEntries(Object.entries(r).map(([k, v]) => [k, kplus.k8s.Quantity.fromString(v)])) : undefined;
      new kplus.k8s.KubeLimitRange(this, 'limit-range', {
        metadata,
        spec: { limits: [{ type: item.type, max: q(item.max), min: q(item.min), default: q(item.default), defaultRequest: q(item.defaultRequest) }] },
      });
    }
  }
}
