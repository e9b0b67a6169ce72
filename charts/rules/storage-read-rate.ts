import type { Rule } from './types.js';

/**
 * The model cache's read rate sizes the startup probe (charts/sizing/probes.ts): a class whose rate nobody
 * declared is taken at a conservative default, which is safe for the probe but a guess a reviewer should see.
 */
export const storageReadRateRules: readonly Rule[] = [
  {
    id: 'storage-read-rate-declared',
    severity: 'warning',
    checks: "The cache volume's storage class has a read rate the cluster profile declares (`storage.<class>.readMiBps`), not the default assumed for an undeclared class.",
    why: 'The startup window is sized from the read rate: an assumed figure can make it far longer than needed (slow restarts go unnoticed) or, on a slower volume, too short (the pod is killed while loading).',
    fix: "Measure the class (e.g. `fio --rw=read --bs=1M` on a volume of it, or the provider's documented throughput) and declare it in the profile's decisions: storage: { '<class>': { readMiBps: N } }.",
    check: (svc, env) => {
      const name: string | undefined = svc.pvc?.spec.storageClassName;
      if (name === undefined) return [];
      const cls = env.cluster.storageClasses.find((c) => c.name === name);
      if (cls?.readMiBpsAssumed !== true) return [];
      return [{ message: `storage class "${name}" of cluster ${env.cluster.name} has no declared read rate; the startup window assumes ${cls.readMiBps} MiB/s (profile ${env.cluster.definedIn})` }];
    },
  },
];
