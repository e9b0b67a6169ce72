import { describe, expect, it } from 'vitest';
import { envVars } from '../../service/contract.js';
import { kedaCrds, prometheusOperatorCrds } from '../../charts/clusters/eks.js';
import { maxHpaPolicyPeriodSeconds } from '../../charts/constructs/queue-autoscaling.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { qwen25_3bInstructQ4KM } from '../../charts/models/catalogue.js';
import { RuleViolationError } from '../../charts/rules/engine.js';
import { synthesizeAll } from '../../charts/synth.js';
import { roomyTestCluster } from '../support/clusters.js';
import { committedManifests, type K8sObject } from '../support/manifests.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are read as plain JSON */

const docs = committedManifests().map((d) => d.object);
const autoscalers = docs.filter((o) => o.kind === 'ScaledObject' || o.kind === 'HorizontalPodAutoscaler');
const deploymentOf = (a: K8sObject): K8sObject =>
  docs.find((o) => o.kind === 'Deployment' && o.metadata.namespace === a.metadata.namespace && o.metadata.name === a.spec.scaleTargetRef.name)!;
const bounds = (a: K8sObject): [number, number] =>
  a.kind === 'ScaledObject' ? [a.spec.minReplicaCount, a.spec.maxReplicaCount] : [a.spec.minReplicas ?? 1, a.spec.maxReplicas];

/**
 * Disruptions the disruption controller allows with n healthy pods (kubernetes pkg/controller/disruption/
 * disruption.go: intstr percentages scaled against the expected count, rounded up), written here apart from the rule.
 */
function disruptionsAllowed(pdb: K8sObject, n: number): number {
  const scaled = (v: number | string): number => (typeof v === 'string' && v.endsWith('%') ? Math.ceil((Number(v.slice(0, -1)) / 100) * n) : Number(v));
  const desiredHealthy = pdb.spec.minAvailable !== undefined ? scaled(pdb.spec.minAvailable) : n - scaled(pdb.spec.maxUnavailable);
  return Math.max(0, n - desiredHealthy);
}

describe('scale-up against the model load, in the committed output', () => {
  it('is exercised by at least one autoscaled service', () => {
    expect(autoscalers.length).toBeGreaterThan(0);
  });

  for (const a of autoscalers) {
    describe(`${a.metadata.namespace}/${a.metadata.name} (${a.kind})`, () => {
      const dep = deploymentOf(a);
      const server = dep.spec.template.spec.containers.find((c: any) => c.name === 'server');
      const window = server.startupProbe.periodSeconds * server.startupProbe.failureThreshold;
      const behavior = a.kind === 'ScaledObject' ? a.spec.advanced.horizontalPodAutoscalerConfig.behavior : a.spec.behavior;

      it('never adds pods again within one startup window', () => {
        expect(behavior.scaleUp.policies.length).toBeGreaterThan(0);
        for (const p of behavior.scaleUp.policies) expect(p.periodSeconds).toBeGreaterThanOrEqual(Math.min(window, maxHpaPolicyPeriodSeconds));
      });

      it('at minReplicas the running pods hold what the next pod is added for, until it is Ready', () => {
        if (a.kind !== 'ScaledObject') return;
        const env = (name: string) => Number(server.env.find((e: any) => e.name === name).value);
        const capacity = env(envVars.parallel) + env(envVars.maxQueue);
        const threshold = Number(a.spec.triggers[0].metadata.threshold);
        // At zero pods the interceptor of a service that scales to zero holds every request; from one pod on, the pods absorb.
        expect(Math.max(1, a.spec.minReplicaCount) * (capacity - threshold)).toBeGreaterThanOrEqual(threshold);
      });

      it('its PodDisruptionBudget lets a pod go at minReplicas and at maxReplicas', () => {
        const pdb = docs.find(
          (o) => o.kind === 'PodDisruptionBudget' && o.metadata.namespace === a.metadata.namespace && o.metadata.name === dep.metadata.name,
        )!;
        const [min, max] = bounds(a);
        for (const n of [Math.max(1, min), max]) expect(disruptionsAllowed(pdb, n), `${n} pods`).toBeGreaterThanOrEqual(1);
      });
    });
  }
});

describe('scale-up-waits-for-startup and pdb-allows-drain, both ways', () => {
  const cluster = roomyTestCluster({ definedIn: 'test/charts/scale-up.test.ts', customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds] });
  const env = (svc: ServiceDeclaration): Environment => ({
    name: 'scale',
    definedIn: 'test/charts/scale-up.test.ts',
    namespace: 'llm-scale',
    clusterName: 'scale',
    cluster,
    image: 'ghcr.io/gguf-on-k8s/inference:1.2.3',
    services: { chat: svc },
  });
  const chat = (autoscaling: ServiceDeclaration['autoscaling'], over: Partial<ServiceDeclaration> = {}): ServiceDeclaration => ({
    model: qwen25_3bInstructQ4KM,
    cpu: 2,
    parallel: 2,
    modelCache: { kind: 'emptyDir' },
    autoscaling,
    ...over,
  });
  const found = (e: Environment, id: string): string[] => {
    try {
      return [...synthesizeAll([e]).report.warnings].filter((f) => f.ruleId === id).map((f) => `warning: ${f.message}`);
    } catch (err) {
      if (err instanceof RuleViolationError) return err.report.errors.filter((f) => f.ruleId === id).map((f) => f.message);
      throw err;
    }
  };

  it('the default target share passes at minReplicas 1: 1 x (2 + 8 - 5) >= 5', () => {
    expect(found(env(chat({ minReplicas: 1, maxReplicas: 4, signal: 'queue' })), 'scale-up-waits-for-startup')).toEqual([]);
  });

  it('a target share the running pods cannot cover during a load fails, and more pods at the minimum fix it', () => {
    const tight = found(env(chat({ minReplicas: 1, maxReplicas: 4, signal: 'queue', targetCapacityFraction: 0.8 })), 'scale-up-waits-for-startup');
    expect(tight).toEqual([
      expect.stringMatching(
        /at minReplicas 1 the running pods hold 2 more requests \(capacity 10 = PARALLEL \+ MAX_QUEUE, threshold 8 per pod\) but the next pod is added for 8/,
      ),
    ]);
    // 4 x (10 - 8) = 8 >= 8.
    expect(found(env(chat({ minReplicas: 4, maxReplicas: 6, signal: 'queue', targetCapacityFraction: 0.8 })), 'scale-up-waits-for-startup')).toEqual([]);
  });

  it('the CPU HPA is paced by the startup window as well', () => {
    const out = synthesizeAll([env(chat({ minReplicas: 1, maxReplicas: 3, signal: 'cpu' }))]);
    const hpa = [...out.files.entries()].find(([p]) => p === 'dist/scale/chat.yaml')![1];
    expect(hpa).toMatch(/scaleUp:\n\s+policies:\n\s+- periodSeconds: \d+\n\s+type: Percent\n\s+value: 100/);
    expect(out.report.errors.filter((f) => f.ruleId === 'scale-up-waits-for-startup')).toEqual([]);
  });

  it('a PDB that blocks drains at the autoscaler minimum fails; one that allows a pod at both bounds passes', () => {
    const blocked = found(
      env(chat({ minReplicas: 2, maxReplicas: 4, signal: 'queue' }, { overrides: { disruptionBudget: { minAvailable: 2 } } })),
      'pdb-allows-drain',
    );
    expect(blocked).toEqual([expect.stringMatching(/minAvailable 2 >= replicas 2 at minReplicas 2/)]);
    expect(
      found(env(chat({ minReplicas: 2, maxReplicas: 4, signal: 'queue' }, { overrides: { disruptionBudget: { minAvailable: 1 } } })), 'pdb-allows-drain'),
    ).toEqual([]);
    const none = found(
      env(chat({ minReplicas: 2, maxReplicas: 4, signal: 'queue' }, { overrides: { disruptionBudget: { maxUnavailable: 0 } } })),
      'pdb-allows-drain',
    );
    expect(none).toEqual([expect.stringMatching(/maxUnavailable 0 at minReplicas 2/), expect.stringMatching(/maxUnavailable 0 at maxReplicas 4/)]);
  });
});
