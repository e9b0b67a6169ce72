import { describe, expect, it } from 'vitest';
import { buildEnvironment } from '../../charts/environment-chart.js';
import { environments } from '../../charts/environments/index.js';
import { podStartAllowanceSeconds } from '../../charts/sizing/plan.js';
import { rolloutCost, rolloutStrategy } from '../../charts/sizing/rollout.js';

const base = { terminationGracePeriodSeconds: 100, podStartSeconds: 300, startupWindowSeconds: 60, downloadSeconds: 0 };

describe('rollout cost', () => {
  it('Recreate loses every pod for grace + pod start + startup window', () => {
    const c = rolloutCost({ ...base, strategy: { type: 'Recreate' }, pods: 1 });
    expect(c).toMatchObject({ kind: 'downtime', podsAtOnce: 1, stepSeconds: 460, totalSeconds: 460 });
  });

  it('maxSurge 0 / maxUnavailable 1 loses one pod in n, n steps', () => {
    const c = rolloutCost({ ...base, strategy: { type: 'RollingUpdate', maxSurge: 0, maxUnavailable: 1 }, pods: 3 });
    expect(c).toMatchObject({ kind: 'capacity', podsAtOnce: 1, stepSeconds: 460, totalSeconds: 3 * 460 });
    // One replica: the same strategy is downtime.
    expect(rolloutCost({ ...base, strategy: { type: 'RollingUpdate', maxSurge: 0, maxUnavailable: 1 }, pods: 1 }).kind).toBe('downtime');
  });

  it('a surge loses nothing and does not wait for the grace period', () => {
    const c = rolloutCost({ ...base, strategy: { type: 'RollingUpdate', maxSurge: 1, maxUnavailable: 0 }, pods: 2, downloadSeconds: 40 });
    expect(c).toMatchObject({ kind: 'none', podsAtOnce: 0, stepSeconds: 360, totalSeconds: 720, downloadSeconds: 40 });
    expect(c.text).toContain('40s of download');
  });

  it('chooses Recreate only for a ReadWriteOnce cache', () => {
    expect(rolloutStrategy({ gpuCount: 1, readWriteOnceCache: true }).strategy).toEqual({ type: 'Recreate' });
    expect(rolloutStrategy({ gpuCount: 2, readWriteOnceCache: false }).strategy).toEqual({ type: 'RollingUpdate', maxSurge: 0, maxUnavailable: 1 });
    expect(rolloutStrategy({ gpuCount: 0, readWriteOnceCache: false }).strategy).toEqual({ type: 'RollingUpdate', maxSurge: 1, maxUnavailable: 0 });
  });
});

describe.each(environments.map((e) => [e.name, e] as const))('environment %s', (_n, env) => {
  it('states a rollout cost per service that matches its Deployment strategy and startup window', () => {
    for (const {
      service: { plan },
    } of buildEnvironment(env).services) {
      const c = plan.rolloutCost;
      expect(c.stepSeconds, plan.name).toBeGreaterThanOrEqual(podStartAllowanceSeconds + plan.startup.windowSeconds);
      if (plan.rollout.type === 'Recreate') expect(c.kind).toBe('downtime');
      if (plan.rollout.type === 'RollingUpdate' && plan.rollout.maxUnavailable === 0) expect(c.kind).toBe('none');
      expect(c.text.length).toBeGreaterThan(0);
    }
  });
});
