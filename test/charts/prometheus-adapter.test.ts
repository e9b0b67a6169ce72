import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { kedaCrds, prometheusOperatorCrds } from '../../charts/clusters/eks.js';
import type { ClusterProfile, MetricsAdapter } from '../../charts/clusters/types.js';
import { customMetricsApi, inFlightPodMetric, prometheusAdapterRule, queueMetrics } from '../../charts/constructs/queue-autoscaling.js';
import type { Environment } from '../../charts/environments/types.js';
import { qwen25_3bInstructQ4KM } from '../../charts/models/catalogue.js';
import { RuleViolationError } from '../../charts/rules/engine.js';
import { synthesizeAll } from '../../charts/synth.js';
import { getHPAHealth } from '../sync/health/health_hpa.js';
import { roomyTestCluster } from '../support/clusters.js';
import { repoRoot, validateSchema, type K8sObject } from '../support/manifests.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are read as plain JSON */

const definedIn = 'test/charts/prometheus-adapter.test.ts';
const adapter: MetricsAdapter = { api: customMetricsApi, name: 'prometheus-adapter', installedBy: 'prometheus-community/prometheus-adapter Helm chart' };
const env = (cluster: ClusterProfile): Environment => ({
  name: 'adapter',
  definedIn,
  namespace: 'llm-adapter',
  clusterName: 'adapter',
  cluster,
  image: 'ghcr.io/gguf-on-k8s/inference:1.2.3',
  services: {
    chat: {
      model: qwen25_3bInstructQ4KM,
      cpu: 2,
      parallel: 2,
      modelCache: { kind: 'emptyDir' },
      autoscaling: { minReplicas: 1, maxReplicas: 4, signal: 'queue' },
    },
  },
});
const objectsOf = (e: Environment): K8sObject[] => {
  const out = synthesizeAll([e]);
  return [...out.files]
    .filter(([p]) => p.startsWith(`dist/${e.name}/`) || p.startsWith('argocd/'))
    .flatMap(([, y]) => parseAllDocuments(y).map((d) => d.toJSON() as K8sObject));
};

describe('queue autoscaling through prometheus-adapter', () => {
  const objects = objectsOf(env(roomyTestCluster({ definedIn, metricsAdapters: [adapter] })));
  const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler')!;
  const deployment = objects.find((o) => o.kind === 'Deployment')!;
  const server = deployment.spec.template.spec.containers.find((c: any) => c.name === 'server');
  const envOf = (name: string) => Number(server.env.find((e: any) => e.name === name).value);

  it('synthesizes an autoscaling/v2 HPA on the per-pod in-flight metric instead of a ScaledObject', () => {
    expect(objects.some((o) => o.kind === 'ScaledObject')).toBe(false);
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'chat' });
    expect(hpa.spec.metrics).toEqual([
      { type: 'Pods', pods: { metric: { name: inFlightPodMetric }, target: { type: 'AverageValue', averageValue: expect.anything() } } },
    ]);
    // The KEDA trigger's threshold: half of PARALLEL + MAX_QUEUE.
    expect(Number(hpa.spec.metrics[0].pods.target.averageValue)).toBe((envOf('PARALLEL') + envOf('MAX_QUEUE')) * 0.5);
    expect(() => validateSchema(hpa)).not.toThrow();
  });

  it('has no Deployment replicas, and the Application ignores them', () => {
    expect(deployment.spec.replicas).toBeUndefined();
    const app = objects.find((o) => o.kind === 'Application' && o.spec.destination?.namespace === 'llm-adapter')!;
    expect(app.spec.ignoreDifferences).toContainEqual(expect.objectContaining({ kind: 'Deployment', name: 'chat', jsonPointers: ['/spec/replicas'] }));
  });

  it('paces scale-up by the startup window and keeps scale-down longer than a model load', () => {
    const window = server.startupProbe.periodSeconds * server.startupProbe.failureThreshold;
    for (const p of hpa.spec.behavior.scaleUp.policies) expect(p.periodSeconds).toBeGreaterThanOrEqual(window);
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThan(deployment.spec.progressDeadlineSeconds);
  });

  it('is Healthy for Argo CD once the HPA controller scales it, and a missing adapter rule is Degraded (Argo CD v3.5; not up to v3.4, so the rule guards it at synth)', () => {
    const scaled = {
      ...hpa,
      status: {
        conditions: [
          { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale' },
          { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound' },
        ],
      },
    };
    expect(getHPAHealth(scaled as never).status).toBe('Healthy');
    const noMetric = { ...hpa, status: { conditions: [{ type: 'ScalingActive', status: 'False', reason: 'FailedGetPodsMetric' }] } };
    // argo-cd v3.5.0 gitops-engine/pkg/health/health_hpa.go lists ScalingActive FailedGetPodsMetric as degraded.
    expect(getHPAHealth(noMetric as never).status).toBe('Degraded');
  });

  it('prefers KEDA where both are installed', () => {
    const both = objectsOf(env(roomyTestCluster({ definedIn, metricsAdapters: [adapter], customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds] })));
    expect(both.some((o) => o.kind === 'ScaledObject')).toBe(true);
    expect(both.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(false);
  });

  it('without KEDA and without an adapter, synth fails saying what is missing', () => {
    let message = '';
    try {
      synthesizeAll([env(roomyTestCluster({ definedIn }))]);
    } catch (err) {
      if (!(err instanceof RuleViolationError)) throw err;
      message = err.report.errors
        .filter((f) => f.ruleId === 'queue-autoscaling-needs-keda')
        .map((f) => f.message)
        .join();
    }
    expect(message).toMatch(/no ScaledObject\.keda\.sh type and no adapter serving custom\.metrics\.k8s\.io/);
  });

  it('the adapter rule in docs/autoscaling.md is the one the code states, on the metrics the server exports', () => {
    const doc = readFileSync(join(repoRoot, 'docs/autoscaling.md'), 'utf8');
    const block = /<!-- prometheus-adapter-rule:begin -->\n```yaml\n([\s\S]*?)```\n<!-- prometheus-adapter-rule:end -->/.exec(doc)?.[1];
    expect(block).toBe(stringify({ rules: [prometheusAdapterRule()] }, { lineWidth: 0 }));
    const rule = prometheusAdapterRule() as { name: { as: string }; metricsQuery: string; seriesQuery: string };
    expect(rule.name.as).toBe(inFlightPodMetric);
    for (const m of Object.values(queueMetrics)) expect(rule.metricsQuery).toContain(`${m}{<<.LabelMatchers>>}`);
    expect(rule.seriesQuery).toContain('pod!=""');
  });
});
