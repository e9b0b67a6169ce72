import type { Rule } from './types.js';

/** Rules on the containers' security context. */
export const securityRules: readonly Rule[] = [
  {
    id: 'security-context-restricted',
    severity: 'error',
    checks: 'Every container runs as non-root, with a read-only root filesystem, no privilege escalation and all capabilities dropped.',
    why: 'A compromised model server (it parses untrusted prompts and downloads files) must not own the node.',
    fix: 'Remove overrides.securityContext; the service writes only to /tmp and the model cache.',
    check: (svc) =>
      [...svc.pod.containers, ...(svc.pod.initContainers ?? [])].flatMap((c) => {
        const sc = c.securityContext ?? {};
        const bad: string[] = [];
        if (sc.runAsNonRoot !== true && svc.pod.securityContext?.runAsNonRoot !== true) bad.push('runAsNonRoot not true');
        if (sc.readOnlyRootFilesystem !== true) bad.push('root filesystem writable');
        if (sc.allowPrivilegeEscalation !== false) bad.push('privilege escalation allowed');
        if (!(sc.capabilities?.drop ?? []).includes('ALL')) bad.push('capabilities not dropped');
        return bad.length > 0 ? [{ message: `container ${c.name}: ${bad.join(', ')}` }] : [];
      }),
  },
];
