import { envVars } from '../../service/contract.js';
import { drainMarginSeconds } from '../sizing/timeouts.js';
import { pathIdleTimeouts } from './exposure.js';
import { envValue } from './lib.js';
import type { Rule } from './types.js';

/** Rules on time along the request path: idle timeouts, the grace period, SSE keep-alive. */
export const timeoutRules: readonly Rule[] = [
  {
    id: 'idle-timeout-covers-request',
    severity: 'error',
    checks:
      'Every idle timeout on the client path (load balancer, ingress, fixed proxies) >= the request timeout, or SSE keep-alive is on (then a shorter idle timeout is a warning: non-streamed answers can still be cut).',
    why: 'A 7-minute CPU answer behind a 60 s idle-timeout load balancer was cut every time.',
    fix: 'Raise the idle timeout (the construct sets it on load balancers and ingress it creates), lower requestTimeoutSeconds, or keep SSE keep-alive on and use stream: true.',
    check: (svc, env) => {
      const requestTimeout = Number(envValue(svc.server, envVars.requestTimeoutMs) ?? 0) / 1000;
      const keepAlive = Number(envValue(svc.server, envVars.sseKeepAliveMs) ?? 0);
      const short = pathIdleTimeouts(svc, env).filter((t) => t.seconds < requestTimeout);
      if (short.length === 0) return [];
      const list = short.map((t) => `${t.what} ${t.seconds}s`).join(', ');
      return [
        keepAlive > 0
          ? {
              message: `${list} < request timeout ${requestTimeout}s; streamed answers survive on keep-alive comments, non-streamed ones are cut`,
              severity: 'warning' as const,
            }
          : { message: `${list} < request timeout ${requestTimeout}s and SSE keep-alive is off` },
      ];
    },
  },
  {
    id: 'grace-covers-request',
    severity: 'error',
    checks: `terminationGracePeriodSeconds >= preStop + request timeout + ${drainMarginSeconds} s drain, and SHUTDOWN_GRACE_MS fits inside it.`,
    why: 'Rollouts that SIGKILL pods mid-answer: clients see truncated responses on every deploy.',
    fix: 'Remove overrides.terminationGracePeriodSeconds (it is derived), or lower requestTimeoutSeconds.',
    check: (svc) => {
      const grace = svc.pod.terminationGracePeriodSeconds ?? 30;
      const requestTimeout = Number(envValue(svc.server, envVars.requestTimeoutMs) ?? 0) / 1000;
      const shutdownGrace = Number(envValue(svc.server, envVars.shutdownGraceMs) ?? 0) / 1000;
      const preStop = Number(svc.server.lifecycle?.preStop?.exec?.command?.at(-1) ?? 0) || 0;
      const need = preStop + requestTimeout + drainMarginSeconds;
      const out: { message: string }[] = [];
      if (grace < need)
        out.push({
          message: `terminationGracePeriodSeconds ${grace} < preStop ${preStop} + request timeout ${requestTimeout} + drain ${drainMarginSeconds} = ${need}`,
        });
      if (preStop + shutdownGrace > grace) out.push({ message: `preStop ${preStop}s + SHUTDOWN_GRACE ${shutdownGrace}s exceed the grace period ${grace}s` });
      return out;
    },
  },
  {
    id: 'sse-keepalive-below-idle',
    severity: 'error',
    checks: 'The SSE keep-alive interval is below the smallest idle timeout on the path (load balancer, ingress, fixed proxies).',
    why: 'Streams cut while a request waits in the queue or prefills: nothing is written for longer than the idle timeout.',
    fix: 'Remove overrides.sseKeepAliveSeconds (derived as min(15 s, smallest idle timeout / 4)).',
    check: (svc, env) => {
      const keepAlive = Number(envValue(svc.server, envVars.sseKeepAliveMs) ?? 0) / 1000;
      if (keepAlive === 0) return [];
      const timeouts = pathIdleTimeouts(svc, env);
      const smallest = Math.min(...timeouts.map((t) => t.seconds), ...(svc.plan.props.pathIdleTimeoutsSeconds ?? [60]));
      return keepAlive >= smallest ? [{ message: `SSE keep-alive ${keepAlive}s >= smallest idle timeout ${smallest}s on the path` }] : [];
    },
  },
];
