import type { INodeSelectorRequirement, INodeSelectorTerm, IPodSpec } from 'kubernetes-models/v1';
import type { NodePool } from '../clusters/types.js';

/**
 * A pod's node selector and required node affinity against a pool, as the scheduler's NodeAffinity filter
 * decides them for one node. Modelled on kubernetes/kubernetes
 * staging/src/k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go (`GetRequiredNodeAffinity`,
 * `LazyErrorNodeSelector.Match`, `nodeSelectorRequirementsAsSelector`) and apimachinery's labels selector.
 *
 * A pool stands for its nodes through the labels every one of them carries (the profile keeps no label only
 * some nodes carry), so a requirement on any other label is not counted as met; likewise `matchFields`
 * (`metadata.name`), since a profile records no node names.
 */

/** One label requirement against the pool's labels; an unknown operator or a malformed value is a parse error upstream and matches nothing. */
export function requirementHolds(r: INodeSelectorRequirement, labels: Readonly<Record<string, string>>): boolean {
  const v = labels[r.key];
  const values = r.values ?? [];
  const integer = (s: string | undefined): number | undefined => (s !== undefined && /^[+-]?\d+$/.test(s) ? Number(s) : undefined);
  switch (r.operator) {
    case 'In':
      return v !== undefined && values.includes(v);
    case 'NotIn':
      return v === undefined || !values.includes(v);
    case 'Exists':
      return v !== undefined;
    case 'DoesNotExist':
      return v === undefined;
    case 'Gt':
    case 'Lt': {
      // One integer value, else labels.NewRequirement refuses the term; a label that is not an integer does not match.
      const bound = values.length === 1 ? integer(values[0]) : undefined;
      const have = integer(v);
      if (bound === undefined || have === undefined) return false;
      return r.operator === 'Gt' ? have > bound : have < bound;
    }
    default:
      return false;
  }
}

/** One node selector term: its expressions ANDed; a term with neither expressions nor fields selects nothing (isEmptyNodeSelectorTerm). */
export function termHolds(term: INodeSelectorTerm, labels: Readonly<Record<string, string>>): boolean {
  const expressions = term.matchExpressions ?? [];
  if (expressions.length === 0 && (term.matchFields ?? []).length === 0) return false;
  if ((term.matchFields ?? []).length > 0) return false; // node names are not in the profile
  return expressions.every((r) => requirementHolds(r, labels));
}

/**
 * The pod's nodeSelector (every pair equal) and required node affinity (terms ORed, the empty ones skipped; with
 * the field set and no term left, nothing matches) both hold for the pool's labels.
 */
export function selects(pod: Pick<IPodSpec, 'nodeSelector' | 'affinity'>, pool: NodePool): boolean {
  if (!Object.entries(pod.nodeSelector ?? {}).every(([k, v]) => pool.labels[k] === v)) return false;
  const required = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required === undefined) return true;
  return required.nodeSelectorTerms.some((t) => termHolds(t, pool.labels));
}
