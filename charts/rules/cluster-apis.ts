import { clusterMinor, minimumKubernetesMinor } from '../clusters/versions.js';
import { httpScaledObjectType, scaledObjectType } from '../constructs/queue-autoscaling.js';
import { builtInGroups, versionedFeatures, type Obj } from '../prerequisites.js';
import type { Rule } from './types.js';

/** Rules on the APIs the cluster serves: its Kubernetes version and the CRDs installed. */
export const clusterApiRules: readonly Rule[] = [
  {
    id: 'kubernetes-version-supported',
    severity: 'error',
    checks: `The cluster runs at least Kubernetes 1.${minimumKubernetesMinor} (the repository's minimum), and no object sets a field or API its version does not serve (charts/prerequisites.ts lists each field's first version).`,
    why: 'A 1.23 Tanzu cluster passed every rule while its API server silently dropped the PodDisruptionBudget unhealthyPodEvictionPolicy, so loading pods blocked drains again.',
    fix: "Set the cluster profile's kubernetesVersion to what the cluster runs (capture it), remove the override that sets the field, or upgrade the cluster.",
    check: (svc, env) => {
      const minor = clusterMinor(env.cluster);
      const out: { message: string; fix?: string }[] = [];
      if (minor < minimumKubernetesMinor)
        out.push({
          message: `cluster ${env.cluster.name} runs Kubernetes 1.${minor}, older than the minimum 1.${minimumKubernetesMinor}`,
          fix: `Upgrade the cluster to 1.${minimumKubernetesMinor} or later.`,
        });
      for (const o of svc.objects) {
        for (const f of versionedFeatures) {
          if (f.minor > minor && f.uses(o as Obj))
            out.push({
              message: `${o.kind} ${o.metadata.name} sets ${f.field}, which Kubernetes 1.${minor} on cluster ${env.cluster.name} does not serve (needs 1.${f.minor}: ${f.why})`,
            });
        }
      }
      return out;
    },
  },
  {
    id: 'crd-installed',
    severity: 'error',
    checks: "Every object of a non-built-in API group has its CustomResourceDefinition installed on the cluster (the profile's customResourceTypes).",
    why: "Argo CD's dry run fails the whole sync on one unknown kind (a ServiceMonitor on a cluster without prometheus-operator), so nothing deploys.",
    fix: 'Install the operator that owns the CRD (capture the profile again), or turn the feature off (monitoring: false).',
    check: (svc, env) => {
      const installed = env.cluster.customResourceTypes ?? [];
      return svc.objects.flatMap((o) => {
        const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0]! : '';
        if (builtInGroups.has(group) || installed.some((c) => c.group === group && c.kind === o.kind)) return [];
        // A ScaledObject without KEDA is reported by queue-autoscaling-needs-keda, with what it costs besides the sync.
        if (group === scaledObjectType.group && o.kind === scaledObjectType.kind) return [];
        // So is an HTTPScaledObject without the HTTP add-on, by scale-to-zero-add-on-installed.
        if (group === httpScaledObjectType.group && o.kind === httpScaledObjectType.kind) return [];
        return [{ message: `${o.kind} ${o.metadata.name} (${group}) has no CRD on cluster ${env.cluster.name}` }];
      });
    },
  },
];
