import { capacityTypeLabelsOf } from '../clusters/capacity-type.js';
import type { ConfigProblem } from '../lib/config-error.js';
import type { InferenceServiceProps, NodeSelectorRequirementProps, SpreadPolicy, TolerationProps } from './props.js';

/**
 * Where an inference pod may and should run, as pod-spec fields: the GPU node selector and toleration
 * (from `gpu`), the service's own tolerations, node selector and node affinity, a capacity-type preference built
 * from the cluster's pools, priority and runtime class, and topology spread once there can be several pods.
 * The Deployment gets exactly this (charts/constructs/patches.ts); the rules read the same fields back.
 */

/** Label GPU feature discovery sets on every GPU node; the GPU pods' default node selector. */
export const gpuPresentLabel = { 'nvidia.com/gpu.present': 'true' } as const;
/** Taint managed GPU node groups (EKS, GKE, AKS) put on GPU nodes. */
export const defaultGpuTaintKey = 'nvidia.com/gpu';
/** Weight of the capacity-type preference: the largest the API allows, so it outranks the scheduler's spreading scores. */
export const capacityPreferenceWeight = 100;
/** Well-known topology labels (kubelet and cloud provider set them on every node). */
export const topologyKeys = { zones: 'topology.kubernetes.io/zone', nodes: 'kubernetes.io/hostname' } as const;

export interface Toleration {
  readonly key?: string;
  readonly operator: 'Exists' | 'Equal';
  readonly value?: string;
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

interface Requirement {
  readonly key: string;
  readonly operator: NodeSelectorRequirementProps['operator'];
  readonly values?: string[];
}

export interface PodScheduling {
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly tolerations?: readonly Toleration[];
  readonly affinity?: {
    readonly nodeAffinity: {
      readonly requiredDuringSchedulingIgnoredDuringExecution?: {
        readonly nodeSelectorTerms: ReadonlyArray<{ readonly matchExpressions: readonly Requirement[] }>;
      };
      readonly preferredDuringSchedulingIgnoredDuringExecution?: ReadonlyArray<{
        readonly weight: number;
        readonly preference: { readonly matchExpressions: readonly Requirement[] };
      }>;
    };
  };
  readonly topologySpreadConstraints?: ReadonlyArray<{
    readonly maxSkew: number;
    readonly topologyKey: string;
    readonly whenUnsatisfiable: 'ScheduleAnyway' | 'DoNotSchedule';
    readonly labelSelector: { readonly matchLabels: Readonly<Record<string, string>> };
  }>;
  readonly priorityClassName?: string;
  readonly runtimeClassName?: string;
}

/** The most pods the service runs at once, as far as spreading is concerned. */
export function maxPods(props: InferenceServiceProps): number {
  return props.autoscaling ? props.autoscaling.maxReplicas : (props.replicas ?? 1);
}

function toleration(t: TolerationProps): Toleration {
  const operator = t.operator ?? (t.value !== undefined ? 'Equal' : 'Exists');
  return {
    ...(t.key !== undefined ? { key: t.key } : {}),
    operator,
    ...(t.value !== undefined ? { value: t.value } : {}),
    ...(t.effect !== undefined ? { effect: t.effect } : {}),
  };
}

function requirement(r: NodeSelectorRequirementProps): Requirement {
  return { key: r.key, operator: r.operator, ...(r.values !== undefined ? { values: [...r.values] } : {}) };
}

/** Tolerations for every taint of the cluster's pools of one capacity type (PreferNoSchedule needs none). */
function capacityTolerations(props: InferenceServiceProps, type: 'spot' | 'on-demand'): Toleration[] {
  return (props.nodePools ?? [])
    .filter((p) => p.capacityType === type)
    .flatMap((p) => p.taints.filter((t) => t.effect !== 'PreferNoSchedule'))
    .map((t) =>
      t.value !== undefined
        ? { key: t.key, operator: 'Equal' as const, value: t.value, effect: t.effect }
        : { key: t.key, operator: 'Exists' as const, effect: t.effect },
    );
}

/** The pod-spec scheduling fields of a service; `selector` is the pods' stable selector labels (topology spread counts them). */
export function podScheduling(props: InferenceServiceProps, selector: Readonly<Record<string, string>>): PodScheduling {
  const s = props.scheduling ?? {};
  const gpu = props.gpu;
  const nodeSelector = { ...(gpu ? (gpu.nodeSelector ?? gpuPresentLabel) : {}), ...s.nodeSelector };

  const tolerations: Toleration[] = [];
  const seen = new Set<string>();
  const addToleration = (t: Toleration) => {
    const key = JSON.stringify([t.key, t.operator, t.value, t.effect]);
    if (!seen.has(key)) {
      seen.add(key);
      tolerations.push(t);
    }
  };
  if (gpu) addToleration({ key: gpu.taintKey ?? defaultGpuTaintKey, operator: 'Exists', effect: 'NoSchedule' });
  for (const t of s.tolerations ?? []) addToleration(toleration(t));
  if (s.capacityType) for (const t of capacityTolerations(props, s.capacityType)) addToleration(t);

  const required = (s.nodeAffinity?.required ?? []).map((t) => ({ matchExpressions: t.matchExpressions.map(requirement) }));
  const preferred = (s.nodeAffinity?.preferred ?? []).map((t) => ({ weight: t.weight, preference: { matchExpressions: t.matchExpressions.map(requirement) } }));
  if (s.capacityType) {
    for (const label of capacityTypeLabelsOf(props.nodePools ?? [], s.capacityType)) {
      preferred.push({ weight: capacityPreferenceWeight, preference: { matchExpressions: [{ key: label.key, operator: 'In', values: [label.value] }] } });
    }
  }
  const nodeAffinity = {
    ...(required.length > 0 ? { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: required } } : {}),
    ...(preferred.length > 0 ? { preferredDuringSchedulingIgnoredDuringExecution: preferred } : {}),
  };

  const spread: Array<NonNullable<PodScheduling['topologySpreadConstraints']>[number]> = [];
  if (maxPods(props) > 1) {
    const policies: Record<keyof typeof topologyKeys, SpreadPolicy> = {
      zones: s.topologySpread?.zones ?? 'ScheduleAnyway',
      nodes: s.topologySpread?.nodes ?? 'ScheduleAnyway',
    };
    for (const domain of ['zones', 'nodes'] as const) {
      const policy = policies[domain];
      if (policy !== 'off')
        spread.push({ maxSkew: 1, topologyKey: topologyKeys[domain], whenUnsatisfiable: policy, labelSelector: { matchLabels: { ...selector } } });
    }
  }

  return {
    ...(Object.keys(nodeSelector).length > 0 ? { nodeSelector } : {}),
    ...(tolerations.length > 0 ? { tolerations } : {}),
    ...(Object.keys(nodeAffinity).length > 0 ? { affinity: { nodeAffinity } } : {}),
    ...(spread.length > 0 ? { topologySpreadConstraints: spread } : {}),
    ...(s.priorityClassName !== undefined ? { priorityClassName: s.priorityClassName } : {}),
    ...(s.runtimeClassName !== undefined ? { runtimeClassName: s.runtimeClassName } : {}),
  };
}

/** A DNS subdomain (RFC 1123), the form PriorityClass and RuntimeClass names take. */
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A label key: optional DNS-subdomain prefix and a name of at most 63 characters. */
const labelKey = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Every mistake in a service's scheduling props, each naming the field and the fix (the API server would refuse them). */
export function schedulingProblems(props: InferenceServiceProps, object: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const problem = (field: string, text: string, fix: string) => out.push({ file: props.definedIn, object, field, problem: text, fix });
  const s = props.scheduling;
  if (!s) return out;
  (s.tolerations ?? []).forEach((t, i) => {
    const field = `scheduling.tolerations[${i}]`;
    if (t.operator === 'Exists' && t.value !== undefined) problem(field, `operator Exists with value "${t.value}"`, 'drop the value, or use operator Equal');
    if (t.operator === 'Equal' && t.key === undefined)
      problem(field, 'operator Equal without a key', 'name the taint key, or use operator Exists to tolerate every taint');
    if (t.key !== undefined && !labelKey.test(t.key))
      problem(`${field}.key`, `"${t.key}" is not a taint key`, 'use a label-style key, e.g. "capacity" or "nvidia.com/gpu"');
  });
  for (const [k] of Object.entries(s.nodeSelector ?? {})) {
    if (!labelKey.test(k))
      problem(`scheduling.nodeSelector.${k}`, `"${k}" is not a label key`, 'use a node label key, e.g. "node.kubernetes.io/instance-type"');
  }
  const gpuSelector = props.gpu ? (props.gpu.nodeSelector ?? gpuPresentLabel) : {};
  for (const [k, v] of Object.entries(s.nodeSelector ?? {})) {
    const gpuValue = (gpuSelector as Record<string, string>)[k];
    if (gpuValue !== undefined && gpuValue !== v)
      problem(`scheduling.nodeSelector.${k}`, `"${v}" contradicts gpu.nodeSelector's "${gpuValue}": no node has both`, 'set the label in one place only');
  }
  const checkExpressions = (field: string, exprs: readonly NodeSelectorRequirementProps[]) => {
    if (exprs.length === 0) problem(field, 'has no matchExpressions (an empty term matches no node)', 'add at least one expression or remove the term');
    exprs.forEach((e, i) => {
      const f = `${field}.matchExpressions[${i}]`;
      const n = e.values?.length ?? 0;
      if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) problem(f, `operator ${e.operator} without values`, 'list one or more values');
      if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0) problem(f, `operator ${e.operator} with values`, 'drop the values');
      if ((e.operator === 'Gt' || e.operator === 'Lt') && (n !== 1 || !/^-?\d+$/.test(e.values![0]!)))
        problem(f, `operator ${e.operator} needs exactly one integer value`, 'give one integer, e.g. ["2"]');
      if (!labelKey.test(e.key)) problem(`${f}.key`, `"${e.key}" is not a label key`, 'use a node label key');
    });
  };
  (s.nodeAffinity?.required ?? []).forEach((t, i) => checkExpressions(`scheduling.nodeAffinity.required[${i}]`, t.matchExpressions));
  (s.nodeAffinity?.preferred ?? []).forEach((t, i) => {
    if (!Number.isInteger(t.weight) || t.weight < 1 || t.weight > 100)
      problem(`scheduling.nodeAffinity.preferred[${i}].weight`, `${t.weight} is not a weight`, 'use a whole number from 1 to 100');
    checkExpressions(`scheduling.nodeAffinity.preferred[${i}]`, t.matchExpressions);
  });
  if (s.capacityType !== undefined && s.capacityType !== 'spot' && s.capacityType !== 'on-demand') {
    problem('scheduling.capacityType', `"${String(s.capacityType)}" is not a capacity type`, "use 'spot' (on-demand as the fallback) or 'on-demand'");
  }
  for (const field of ['priorityClassName', 'runtimeClassName'] as const) {
    const v = s[field];
    if (v !== undefined && (v.length > 253 || !dnsSubdomain.test(v)))
      problem(`scheduling.${field}`, `"${v}" is not a DNS subdomain name`, 'use lower-case letters, digits, dashes and dots');
  }
  for (const domain of ['zones', 'nodes'] as const) {
    const v = s.topologySpread?.[domain];
    if (v !== undefined && !['ScheduleAnyway', 'DoNotSchedule', 'off'].includes(v))
      problem(`scheduling.topologySpread.${domain}`, `"${String(v)}" is not a spread policy`, "use 'ScheduleAnyway', 'DoNotSchedule' or 'off'");
  }
  return out;
}
