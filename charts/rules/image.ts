import { mutableImageReason } from '../lib/image.js';
import type { Rule } from './types.js';

/** Rules on container images. */
export const imageRules: readonly Rule[] = [
  {
    id: 'image-immutable',
    severity: 'error',
    checks: 'Every container image has an immutable reference: a version tag or (better) a digest; `latest` or no tag fails.',
    why: 'A `:latest` image: two pods of one ReplicaSet running different code, and no way to roll back.',
    fix: 'Pin a version tag (image:1.2.3) or a digest (image@sha256:...).',
    check: (svc) =>
      [...svc.pod.containers, ...(svc.pod.initContainers ?? [])].flatMap((c) => {
        const reason = mutableImageReason(c.image ?? '');
        return reason ? [{ message: `container ${c.name}: image "${c.image}" ${reason}` }] : [];
      }),
  },
];
