import { endpoints, inferencePaths } from '../../service/contract.js';
import { startupBudget } from '../sizing/probes.js';
import { loadProtectionSeconds } from './lib.js';
import type { EnvironmentContext, Rule, ServiceContext } from './types.js';

/** Margin the startup protection must keep over the expected load time. */
export const startupRuleMargin = 1.5;

function cacheReadMiBps(svc: ServiceContext, env: EnvironmentContext): number {
  const pvc = svc.pvc;
  if (pvc) {
    const cls = env.cluster.storageClasses.find((c) => c.name === pvc.spec.storageClassName);
    if (cls) return cls.readMiBps;
  }
  return svc.plan.cache.readMiBps;
}

/** Rules on the probes: the startup window against the model load, a cheap liveness, readiness apart from liveness. */
export const probeRules: readonly Rule[] = [
  {
    id: 'startup-window-covers-load',
    severity: 'error',
    checks: `Time before the kubelet may kill a loading pod (startup probe window, or liveness delay when there is no startup probe) >= ${startupRuleMargin}x the expected load time from the model size and the storage class read rate in the cluster profile.`,
    why: 'Liveness probes killed pods during a 90 s model load, in a restart loop that never served.',
    fix: "Keep the derived startup probe (remove overrides.startupProbe), or declare the storage's real read rate.",
    check: (svc, env) => {
      const expected = startupBudget({
        model: svc.plan.props.model,
        diskReadMiBps: cacheReadMiBps(svc, env),
        gpuOffload: svc.plan.gpuCount > 0,
      }).expectedLoadSeconds;
      const { seconds, by } = loadProtectionSeconds(svc.server);
      const needed = Math.ceil(expected * startupRuleMargin);
      return seconds < needed
        ? [{ message: `${by} is ${seconds}s but loading ${svc.plan.props.model.id} is expected to take ${expected}s (need >= ${needed}s)` }]
        : [];
    },
  },
  {
    id: 'liveness-cheap',
    severity: 'error',
    checks: `Liveness is an HTTP GET on ${endpoints.live} (never the inference path, never an exec that queries the model), with timeoutSeconds <= periodSeconds, periodSeconds >= 5 and at least 30 s of failures before a restart.`,
    why: 'A liveness check that runs inference (or waits on it) fails during long CPU generations, and the kubelet kills a busy, healthy pod.',
    fix: `Keep the default liveness probe on ${endpoints.live}.`,
    check: (svc) => {
      const p = svc.server.livenessProbe;
      if (!p) return [{ message: 'no liveness probe: a wedged process is never restarted', severity: 'warning' }];
      const out: { message: string }[] = [];
      if (p.exec) out.push({ message: `liveness runs a command (${(p.exec.command ?? []).join(' ')}); it cannot be proven not to touch the model` });
      const path = p.httpGet?.path;
      if (path && inferencePaths.includes(path)) out.push({ message: `liveness calls the inference path ${path}` });
      else if (path && path !== endpoints.live) out.push({ message: `liveness calls ${path} instead of ${endpoints.live}` });
      const period = p.periodSeconds ?? 10;
      const timeout = p.timeoutSeconds ?? 1;
      if (timeout > period) out.push({ message: `liveness timeoutSeconds ${timeout} > periodSeconds ${period}` });
      if (period < 5) out.push({ message: `liveness periodSeconds ${period} < 5` });
      if (period * (p.failureThreshold ?? 3) < 30) out.push({ message: `liveness restarts after ${period * (p.failureThreshold ?? 3)}s of failures (< 30 s)` });
      return out;
    },
  },
  {
    id: 'readiness-differs-from-liveness',
    severity: 'error',
    checks: 'Readiness and liveness are not the same endpoint with the same thresholds.',
    why: 'Identical probes restart a pod that is merely busy or draining, instead of only taking it out of the load balancer.',
    fix: `Readiness on ${endpoints.ready}, liveness on ${endpoints.live}.`,
    check: (svc) => {
      const r = svc.server.readinessProbe;
      const l = svc.server.livenessProbe;
      if (!r || !l) return r ? [] : [{ message: 'no readiness probe: traffic reaches pods that are loading or draining' }];
      const same = JSON.stringify(r) === JSON.stringify(l);
      return same ? [{ message: `readiness and liveness are identical (${r.httpGet?.path ?? 'exec'})` }] : [];
    },
  },
];
