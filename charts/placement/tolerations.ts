import type { IToleration } from 'kubernetes-models/v1';
import type { NodePool, Taint } from '../clusters/types.js';

/**
 * Taints against tolerations, as the scheduler's TaintToleration filter decides them. Modelled on
 * kubernetes/kubernetes staging/src/k8s.io/api/core/v1/toleration.go (`Toleration.ToleratesTaint`),
 * staging/src/k8s.io/component-helpers/scheduling/corev1/helpers.go (`TolerationsTolerateTaint`,
 * `FindMatchingUntoleratedTaint`) and pkg/scheduler/framework/plugins/tainttoleration (`DoNotScheduleTaintsFilterFunc`).
 */

/**
 * One toleration against one taint (toleration.go ToleratesTaint), in its order:
 * 1. a non-empty effect must equal the taint's; an empty effect matches every effect;
 * 2. a non-empty key must equal the taint's; an empty key matches every key (the API allows it only with Exists);
 * 3. operator Equal, or empty (the API default), compares the values (an absent value is the empty string);
 *    Exists matches any value; any other operator tolerates nothing. (Lt and Gt compare numbers upstream only
 *    behind the alpha TaintTolerationComparisonOperators gate, off by default, and are not in these API types.)
 */
export function toleratesTaint(toleration: IToleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  const operator: string = toleration.operator ?? '';
  if (operator === '' || operator === 'Equal') return (toleration.value ?? '') === (taint.value ?? '');
  return operator === 'Exists';
}

/** Taints that keep a pod off a node unless tolerated: NoSchedule and NoExecute. PreferNoSchedule only lowers the node's score. */
export function blocksScheduling(taint: Taint): boolean {
  return taint.effect === 'NoSchedule' || taint.effect === 'NoExecute';
}

/** The pool's scheduling taints no toleration of the pod tolerates (FindMatchingUntoleratedTaint, all of them rather than the first). */
export function untoleratedTaints(tolerations: readonly IToleration[] | undefined, pool: NodePool): Taint[] {
  return pool.taints.filter((t) => blocksScheduling(t) && !(tolerations ?? []).some((tol) => toleratesTaint(tol, t)));
}

/** Every NoSchedule / NoExecute taint of the pool is tolerated by some toleration of the pod. */
export function tolerates(pod: { readonly tolerations?: readonly IToleration[] }, pool: NodePool): boolean {
  return untoleratedTaints(pod.tolerations, pool).length === 0;
}
