import { parseQuantity } from '../lib/quantity.js';
import { formatGiB as gib } from '../sizing/units.js';
import type { Rule } from './types.js';

/** Rules on the model cache volume: its storage class, access mode and size. */
export const storageRules: readonly Rule[] = [
  {
    id: 'storage-class-provisioned',
    severity: 'error',
    checks: "The cache PVC's storage class exists in the cluster profile, its CSI driver is installed, and it offers the requested access mode.",
    why: 'A PVC on a class with no provisioner (gp2 on a cluster with only the EFS CSI driver) stays Pending and so does the pod.',
    fix: 'Name a storage class the cluster provisions (see charts/clusters/), or install its CSI driver and capture the profile again (npm run cluster:capture).',
    check: (svc, env) => {
      if (!svc.pvc) return [];
      const name = svc.pvc.spec.storageClassName;
      const cls = env.cluster.storageClasses.find((c) => c.name === name);
      if (!cls)
        return [
          {
            message: `storage class "${name}" does not exist in cluster ${env.cluster.name} (has: ${env.cluster.storageClasses.map((c) => c.name).join(', ') || 'none'})`,
          },
        ];
      if (!cls.csiDriverInstalled)
        return [{ message: `storage class "${name}" needs the CSI driver ${cls.provisioner}, which is not installed in cluster ${env.cluster.name}` }];
      const modes: string[] = svc.pvc.spec.accessModes ?? [];
      const missing = modes.filter((m) => !(cls.accessModes as readonly string[]).includes(m));
      return missing.length > 0 ? [{ message: `storage class "${name}" does not offer ${missing.join(', ')}` }] : [];
    },
  },
  {
    id: 'rwo-cache-shared',
    severity: 'error',
    checks: 'A ReadWriteOnce cache volume is used by one pod at a time: single replica, no HPA, and the Recreate strategy.',
    why: 'RollingUpdate (or a second replica) with a ReadWriteOnce volume deadlocks on Multi-Attach when the new pod lands on another node.',
    fix: 'Use strategy Recreate and one replica, or a ReadWriteMany storage class, or an emptyDir cache.',
    check: (svc) => {
      if (!svc.pvc || !(svc.pvc.spec.accessModes ?? []).includes('ReadWriteOnce')) return [];
      const out: { message: string }[] = [];
      if (svc.deployment.spec.strategy?.type === 'RollingUpdate') out.push({ message: 'ReadWriteOnce cache volume with a RollingUpdate strategy' });
      if (svc.replicas > 1) out.push({ message: `ReadWriteOnce cache volume shared by up to ${svc.replicas} replicas` });
      return out;
    },
  },
  {
    id: 'cache-not-ephemeral',
    severity: 'error',
    checks: 'The model lives on a cache volume; an emptyDir cache has sizeLimit >= model size and the pod requests at least that much ephemeral storage.',
    why: 'A pod evicted for ephemeral storage while downloading a 3 GB model, over and over.',
    fix: 'Use a PVC cache, or give the emptyDir a sizeLimit and request matching ephemeral storage (the construct does both by default).',
    check: (svc) => {
      const volume = (svc.pod.volumes ?? []).find((v) => v.name === 'model-cache');
      const fileBytes = svc.plan.props.model.fileBytes;
      if (!volume) return [{ message: 'no model-cache volume: the model would be written to the container filesystem' }];
      if (!volume.emptyDir) return [];
      const limit = parseQuantity(volume.emptyDir.sizeLimit);
      if (limit === undefined) return [{ message: 'emptyDir cache without sizeLimit' }];
      const out: { message: string }[] = [];
      if (limit < fileBytes) out.push({ message: `emptyDir sizeLimit ${gib(limit)} < model ${gib(fileBytes)}` });
      const eph = parseQuantity(svc.server.resources?.requests?.['ephemeral-storage']) ?? 0;
      if (eph < limit) out.push({ message: `ephemeral-storage request ${gib(eph)} < emptyDir sizeLimit ${gib(limit)}` });
      return out;
    },
  },
  {
    id: 'storage-read-rate-declared',
    severity: 'warning',
    checks:
      "The cache volume's storage class has a read rate the cluster profile declares (`storage.<class>.readMiBps`), not the default assumed for an undeclared class.",
    why: 'The startup window is sized from the read rate: an assumed figure can make it far longer than needed (slow restarts go unnoticed) or, on a slower volume, too short (the pod is killed while loading).',
    fix: "Measure the class (e.g. `fio --rw=read --bs=1M` on a volume of it, or the provider's documented throughput) and declare it in the profile's decisions: storage: { '<class>': { readMiBps: N } }.",
    check: (svc, env) => {
      // The startup window is sized from this rate (charts/sizing/probes.ts): an assumed one is a guess to show.
      const name = svc.pvc?.spec?.storageClassName;
      if (name === undefined) return [];
      const cls = env.cluster.storageClasses.find((c) => c.name === name);
      if (cls?.readMiBpsAssumed !== true) return [];
      return [
        {
          message: `storage class "${name}" of cluster ${env.cluster.name} has no declared read rate; the startup window assumes ${cls.readMiBps} MiB/s (profile ${env.cluster.definedIn})`,
        },
      ];
    },
  },
];
