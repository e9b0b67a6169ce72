import { admissionRules } from './admission.js';
import { autoscalingRules } from './autoscaling.js';
import { clusterApiRules } from './cluster-apis.js';
import { companionRules } from './companions.js';
import { exposureRules } from './exposure.js';
import { cudaDriverRules } from './cuda-driver.js';
import { gpuRules } from './gpu.js';
import { imageRules } from './image.js';
import { modelCacheRules } from './model-cache.js';
import { imagePinningRules } from './image-pinning.js';
import { ingressAnnotationRules } from './ingress-annotations.js';
import { modelRules } from './model.js';
import { namespaceBudgetRules } from './namespace-budget.js';
import { placementRules } from './placement.js';
import { probeRules } from './probes.js';
import { rolloutRules } from './rollout.js';
import { scaleToZeroRules } from './scale-to-zero.js';
import { securityRules } from './security.js';
import { storageRules } from './storage.js';
import { timeoutRules } from './timeouts.js';
import type { Rule } from './types.js';
import { loadBalancerRules } from './load-balancers.js';
import { podSecurityPolicyRules } from './pod-security-policy.js';

/**
 * Every synth rule, family by family: one file per family under charts/rules/, each exporting its array. A new
 * rule goes into the file of its family; a new family is a new file spread in here (one line). The order is the
 * order of docs/rules.md and of the findings synth prints.
 */
export const rules: readonly Rule[] = [
  ...placementRules,
  ...gpuRules,
  ...cudaDriverRules,
  ...rolloutRules,
  ...storageRules,
  ...modelCacheRules,
  ...probeRules,
  ...timeoutRules,
  ...exposureRules,
  ...ingressAnnotationRules,
  ...imageRules,
  ...imagePinningRules,
  ...securityRules,
  ...modelRules,
  ...autoscalingRules,
  ...namespaceBudgetRules,
  ...admissionRules,
  ...clusterApiRules,
  ...loadBalancerRules,
  ...podSecurityPolicyRules,
  ...companionRules,
  ...scaleToZeroRules,
];
