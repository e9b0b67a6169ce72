/**
 * Each health function, branch by branch, against the statuses the Kubernetes controllers write
 * (the cases mirror the branches of gitops-engine pkg/health/health_<kind>.go and Argo CD's PDB Lua check).
 */
import { describe, expect, it } from 'vitest';
import { getHealthCheckFunc, getResourceHealth, healthSource, isWorse } from './health/health.js';
import type { Obj } from './objects.js';

const obj = (apiVersion: string, kind: string, spec: unknown = {}, status: unknown = undefined, meta: Partial<Obj['metadata']> = {}): Obj => ({
  apiVersion,
  kind,
  metadata: { name: 'x', namespace: 'ns', ...meta },
  spec,
  ...(status === undefined ? {} : { status }),
});
const health = (o: Obj): string | undefined => getResourceHealth(o)?.status;

describe('health per kind', () => {
  it('PersistentVolumeClaim: Bound Healthy, Pending Progressing, Lost Degraded, no phase Unknown', () => {
    expect(health(obj('v1', 'PersistentVolumeClaim', {}, { phase: 'Bound' }))).toBe('Healthy');
    expect(health(obj('v1', 'PersistentVolumeClaim', {}, { phase: 'Pending' }))).toBe('Progressing');
    expect(health(obj('v1', 'PersistentVolumeClaim', {}, { phase: 'Lost' }))).toBe('Degraded');
    expect(health(obj('v1', 'PersistentVolumeClaim', {}, {}))).toBe('Unknown');
  });

  it('Deployment: generation, progress deadline, updated/old/available replicas, paused', () => {
    const d = (spec: object, status: object, generation = 2): Obj => obj('apps/v1', 'Deployment', { replicas: 2, ...spec }, status, { generation });
    expect(health(d({}, { observedGeneration: 1 }))).toBe('Progressing');
    expect(health(d({}, { observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }))).toBe(
      'Degraded',
    );
    expect(getResourceHealth(d({}, { observedGeneration: 2, updatedReplicas: 1, replicas: 2, availableReplicas: 1 }))?.message).toMatch(
      /1 out of 2 new replicas/,
    );
    expect(getResourceHealth(d({}, { observedGeneration: 2, updatedReplicas: 2, replicas: 3, availableReplicas: 2 }))?.message).toMatch(
      /1 old replicas are pending termination/,
    );
    expect(getResourceHealth(d({}, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 1 }))?.message).toMatch(
      /1 of 2 updated replicas are available/,
    );
    expect(health(d({}, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 }))).toBe('Healthy');
    expect(health(d({ paused: true }, { observedGeneration: 2 }))).toBe('Suspended');
  });

  it('ReplicaSet: ReplicaFailure Degraded, fewer available Progressing', () => {
    const rs = (status: object): Obj => obj('apps/v1', 'ReplicaSet', { replicas: 1 }, { observedGeneration: 1, ...status }, { generation: 1 });
    expect(health(rs({ conditions: [{ type: 'ReplicaFailure', status: 'True', message: 'quota' }] }))).toBe('Degraded');
    expect(health(rs({ availableReplicas: 0 }))).toBe('Progressing');
    expect(health(rs({ availableReplicas: 1 }))).toBe('Healthy');
  });

  it('Service: ClusterIP Healthy at once, LoadBalancer Progressing until it has an address', () => {
    expect(health(obj('v1', 'Service', { type: 'ClusterIP' }))).toBe('Healthy');
    expect(health(obj('v1', 'Service', { type: 'LoadBalancer' }, {}))).toBe('Progressing');
    expect(health(obj('v1', 'Service', { type: 'LoadBalancer' }, { loadBalancer: { ingress: [{ hostname: 'a' }] } }))).toBe('Healthy');
  });

  it('Ingress: Progressing until the controller writes an address', () => {
    expect(health(obj('networking.k8s.io/v1', 'Ingress', {}, {}))).toBe('Progressing');
    expect(health(obj('networking.k8s.io/v1', 'Ingress', {}, { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } }))).toBe('Healthy');
  });

  it('HPA (Argo CD v3.5): any degraded condition first, then AbleToScale/ScalingLimited True; none is "Waiting to Autoscale"', () => {
    const hpa = (conditions: object[]): Obj => obj('autoscaling/v2', 'HorizontalPodAutoscaler', {}, { conditions });
    expect(getResourceHealth(hpa([]))).toEqual({ status: 'Progressing', message: 'Waiting to Autoscale' });
    expect(health(hpa([{ type: 'AbleToScale', status: 'False', reason: 'FailedGetScale' }]))).toBe('Degraded');
    // v3.5: a degraded condition after a healthy one still wins (v3.4 read them in order and said Healthy).
    expect(
      health(
        hpa([
          { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale' },
          { type: 'ScalingActive', status: 'False', reason: 'FailedGetResourceMetric' },
        ]),
      ),
    ).toBe('Degraded');
    expect(
      health(
        hpa([
          { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale' },
          { type: 'ScalingActive', status: 'False', reason: 'FailedGetExternalMetric' },
        ]),
      ),
    ).toBe('Degraded');
    expect(
      health(
        hpa([
          { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale' },
          { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound' },
        ]),
      ),
    ).toBe('Healthy');
    expect(
      health(
        hpa([
          { type: 'ScalingActive', status: 'False', reason: 'FailedGetResourceMetric' },
          { type: 'AbleToScale', status: 'True' },
        ]),
      ),
    ).toBe('Degraded');
  });

  it('KEDA ScaledObject: no status Progressing; Ready True Healthy, with Paused Suspended; Ready False or Fallback True Degraded', () => {
    const so = (conditions?: object[]): Obj => obj('keda.sh/v1alpha1', 'ScaledObject', {}, conditions === undefined ? undefined : { conditions });
    expect(getResourceHealth(so())).toEqual({ status: 'Progressing', message: 'Creating HorizontalPodAutoscaler Object' });
    expect(
      getResourceHealth(
        so([
          { type: 'Ready', status: 'True', message: 'ready' },
          { type: 'Active', status: 'False' },
        ]),
      ),
    ).toEqual({ status: 'Healthy', message: 'ready' });
    expect(
      health(
        so([
          { type: 'Ready', status: 'True' },
          { type: 'Paused', status: 'True' },
        ]),
      ),
    ).toBe('Suspended');
    expect(getResourceHealth(so([{ type: 'Ready', status: 'False', message: 'no target' }]))).toEqual({ status: 'Degraded', message: 'no target' });
    expect(
      health(
        so([
          { type: 'Ready', status: 'True' },
          { type: 'Fallback', status: 'True' },
        ]),
      ),
    ).toBe('Degraded');
    expect(health(so([{ type: 'Ready', status: 'Unknown' }]))).toBe('Progressing');
    expect(healthSource(so())).toContain('resource_customizations/keda.sh/ScaledObject/health.lua');
  });

  it('PodDisruptionBudget: waiting for status, InsufficientPods is Healthy, other False conditions Degraded', () => {
    expect(health(obj('policy/v1', 'PodDisruptionBudget', {}, {}))).toBe('Progressing');
    expect(
      health(obj('policy/v1', 'PodDisruptionBudget', {}, { conditions: [{ type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods' }] })),
    ).toBe('Healthy');
    expect(health(obj('policy/v1', 'PodDisruptionBudget', {}, { conditions: [{ type: 'DisruptionAllowed', status: 'False', reason: 'SyncFailed' }] }))).toBe(
      'Degraded',
    );
  });

  it('Pod: CreateContainerConfigError Degraded, Running and Ready Healthy', () => {
    expect(
      health(
        obj(
          'v1',
          'Pod',
          {},
          {
            phase: 'Pending',
            containerStatuses: [{ name: 's', state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "k" not found' } } }],
          },
        ),
      ),
    ).toBe('Degraded');
    expect(health(obj('v1', 'Pod', {}, { phase: 'Pending' }))).toBe('Progressing');
    expect(health(obj('v1', 'Pod', {}, { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }))).toBe('Healthy');
    expect(health(obj('v1', 'Pod', {}, { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] }))).toBe('Progressing');
  });

  it('Namespace, ServiceAccount, NetworkPolicy and CRD-typed objects have no health check', () => {
    for (const [v, k] of [
      ['v1', 'Namespace'],
      ['v1', 'ServiceAccount'],
      ['networking.k8s.io/v1', 'NetworkPolicy'],
      ['monitoring.coreos.com/v1', 'ServiceMonitor'],
      ['monitoring.coreos.com/v1', 'PrometheusRule'],
    ] as const) {
      expect(getHealthCheckFunc(obj(v, k)), k).toBeUndefined();
      expect(healthSource(obj(v, k))).toMatch(/no health check/);
    }
  });

  it('an object being deleted is Progressing "Pending deletion"; health order is gitops-engine\'s', () => {
    expect(getResourceHealth(obj('v1', 'Service', {}, undefined, { deletionTimestamp: 1 }))).toEqual({ status: 'Progressing', message: 'Pending deletion' });
    expect(isWorse('Healthy', 'Progressing')).toBe(true);
    expect(isWorse('Degraded', 'Missing')).toBe(false);
    expect(isWorse('Missing', 'Degraded')).toBe(true);
  });
});
