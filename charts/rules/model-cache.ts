/**
 * Rules about the model cache across a change (charts/constructs/model-cache.ts: one claim per cache identity).
 */
import { parseQuantity } from '../lib/quantity.js';
import { formatGiB } from '../sizing/units.js';
import type { Rule } from './types.js';

/** Rules this module adds to the catalogue (appended at its end). */
export const modelCacheRules: readonly Rule[] = [
  {
    id: 'cache-change-fits-quota',
    severity: 'error',
    checks:
      "The namespace's ResourceQuota leaves room for this service's cache claim twice (requests.storage and persistentvolumeclaims): a model change creates the new claim beside the old one, which is pruned only after the new rollout is Healthy.",
    why: 'A model bump whose new claim exceeded the storage quota was refused at admission ("exceeded quota: requests.storage"): the sync failed with the old model still serving, and every retry failed the same way.',
    fix: 'Raise quota.storageGiB (and quota.persistentVolumeClaims) in the environment file by the size of the largest cache claim.',
    check: (svc, env) => {
      if (!svc.pvc) return [];
      const size = parseQuantity(svc.pvc.spec?.resources?.requests?.storage) ?? 0;
      const claims = env.services.flatMap((s) => (s.pvc ? [s.pvc] : []));
      const total = claims.reduce((acc, pvc) => acc + (parseQuantity(pvc.spec?.resources?.requests?.storage) ?? 0), 0);
      const file = env.environment.definedIn;
      const out: { message: string }[] = [];
      for (const q of env.namespaceObjects.filter((o) => o.kind === 'ResourceQuota')) {
        const hard: Readonly<Record<string, string | number | undefined>> = (q.spec as { hard?: Record<string, string | number> } | undefined)?.hard ?? {};
        const storage = parseQuantity(hard['requests.storage']);
        if (storage !== undefined && total + size > storage + 1e-9) {
          out.push({
            message: `ResourceQuota ${q.metadata.name}: the ${claims.length} cache claim(s) request ${formatGiB(total)}; changing ${svc.name}'s model adds a ${formatGiB(size)} claim beside them (${formatGiB(total + size)}), above requests.storage ${formatGiB(storage)} (${file}: quota.storageGiB)`,
          });
        }
        const count = parseQuantity(hard.persistentvolumeclaims);
        if (count !== undefined && claims.length + 1 > count) {
          out.push({
            message: `ResourceQuota ${q.metadata.name}: ${claims.length} cache claim(s) plus the new one of a model change is ${claims.length + 1}, above persistentvolumeclaims ${count} (${file}: quota.persistentVolumeClaims)`,
          });
        }
      }
      return out;
    },
  },
];
