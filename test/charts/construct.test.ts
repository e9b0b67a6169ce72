import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { GgufInferenceService } from '../../charts/constructs/gguf-inference-service.js';
import type { InferenceServiceProps } from '../../charts/constructs/props.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { qwen25_3bInstructQ4KM, qwen25_7bInstructQ4KM } from '../../charts/models/catalogue.js';
import { estimateMemory, kvBytesPerToken } from '../../charts/sizing/memory.js';
import { startupBudget } from '../../charts/sizing/probes.js';
import { MiB } from '../../charts/sizing/units.js';
import { validateSchema, type K8sObject } from '../support/manifests.js';

const base: InferenceServiceProps = {
  environment: 'test',
  definedIn: 'test/charts/construct.test.ts',
  model: qwen25_3bInstructQ4KM,
  image: 'ghcr.io/gguf-on-k8s/inference:1.2.3',
  modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3' },
};

function synth(props: Partial<InferenceServiceProps>, name = 'llm'): K8sObject[] {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ns', disableResourceNameHashes: true });
  new GgufInferenceService(chart, name, { ...base, ...props });
  return Testing.synth(chart) as K8sObject[];
}

const byKind = (objs: K8sObject[], kind: string): K8sObject => {
  const found = objs.find((o) => o.kind === kind);
  if (!found) throw new Error(`no ${kind}`);
  return found;
};

function configError(props: Partial<InferenceServiceProps>, name = 'llm'): ChartConfigError {
  try {
    synth(props, name);
  } catch (e) {
    if (e instanceof ChartConfigError) return e;
    throw e;
  }
  throw new Error('expected synth to fail');
}

describe('sizing formulas (figures worked by hand)', () => {
  it('memory for Qwen2.5-3B Q4_K_M, 4096 tokens x 2 sequences, batch 512', () => {
    expect(kvBytesPerToken(qwen25_3bInstructQ4KM)).toBe(2 * 36 * 2 * 128 * 2); // 36,864 B
    const m = estimateMemory({ model: qwen25_3bInstructQ4KM, contextSize: 4096, parallel: 2, batchSize: 512, gpuOffload: false });
    expect(m.kvCacheBytes).toBe(301_989_888);
    expect(m.logitsBytes).toBe(311_164_928);
    // 2,104,932,768 + 301,989,888 + 311,164,928 + 536,870,912 = 3,254,958,496 -> 25 x 128 MiB
    expect(m.requestBytes).toBe(3200 * MiB);
  });

  it('startup window for the 3B model at 125 MiB/s hits the 60 s floor; on 25 MiB/s it grows', () => {
    const fast = startupBudget({ model: qwen25_3bInstructQ4KM, diskReadMiBps: 125, gpuOffload: false });
    expect(fast).toMatchObject({ expectedLoadSeconds: 27, budgetSeconds: 60, failureThreshold: 12, windowSeconds: 60 });
    const slow = startupBudget({ model: qwen25_3bInstructQ4KM, diskReadMiBps: 25, gpuOffload: false });
    expect(slow.expectedLoadSeconds).toBe(91); // 10 + 2,104,932,768 / (25 MiB/s) = 90.3
    expect(slow.windowSeconds).toBeGreaterThanOrEqual(182);
  });
});

describe('GgufInferenceService', () => {
  it('synthesizes valid objects with stable names', () => {
    const objs = synth({});
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'Deployment/llm',
      'NetworkPolicy/llm',
      expect.stringMatching(/^PersistentVolumeClaim\/llm-model-cache-[0-9a-f]{8}$/),
      'PodDisruptionBudget/llm',
      'PrometheusRule/llm',
      'Service/llm',
      'ServiceAccount/llm',
      'ServiceMonitor/llm',
    ]);
    for (const o of objs) validateSchema(o);
  });

  it('applies every Deployment patch (none is silently dropped)', () => {
    const dep = byKind(synth({ model: qwen25_7bInstructQ4KM, gpu: { count: 2, memoryGiB: 24, nodeSelector: { pool: 'gpu' } } }), 'Deployment');
    const pod = dep.spec.template.spec;
    expect(dep.spec.revisionHistoryLimit).toBe(3);
    expect(pod.containers[0].resources.limits['nvidia.com/gpu']).toBe(2);
    expect(pod.nodeSelector).toEqual({ pool: 'gpu' });
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(dep.spec.template.metadata.labels['cdk8s.io/metadata.addr']).toBeUndefined();
    expect(dep.spec.strategy.type).toBe('Recreate');
  });

  it('rolls a ReadWriteMany or emptyDir cache with maxSurge 1 / maxUnavailable 0', () => {
    const rwx = byKind(
      synth({ replicas: 3, modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'efs-sc', accessMode: 'ReadWriteMany' } }),
      'Deployment',
    );
    expect(rwx.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  });

  it('rolls several GPU replicas one at a time without a surge; Recreate only for a ReadWriteOnce cache', () => {
    const gpu = { model: qwen25_7bInstructQ4KM, gpu: { count: 1, memoryGiB: 24 } };
    const rwx = byKind(
      synth({ ...gpu, replicas: 3, modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'efs-sc', accessMode: 'ReadWriteMany' } }),
      'Deployment',
    );
    expect(rwx.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
    const rwo = byKind(synth({ ...gpu, modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3', accessMode: 'ReadWriteOnce' } }), 'Deployment');
    expect(rwo.spec.strategy).toEqual({ type: 'Recreate' });
    // Negative control: the override still wins.
    const forced = byKind(synth({ ...gpu, replicas: 3, modelCache: { kind: 'emptyDir' }, overrides: { strategy: 'Recreate' } }), 'Deployment');
    expect(forced.spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('names the cache claim by its identity: a new model, class, access mode or size is a new claim, never an update', () => {
    const claimOf = (props: Partial<InferenceServiceProps>): K8sObject => byKind(synth(props), 'PersistentVolumeClaim');
    const base3b = claimOf({});
    expect(base3b.metadata.annotations).toMatchObject({ 'argocd.argoproj.io/sync-options': 'Delete=false' });
    expect(claimOf({ replicas: 1, contextSize: 8192 }).metadata.name).toBe(base3b.metadata.name);
    const changed = [
      claimOf({ model: qwen25_7bInstructQ4KM }),
      claimOf({ modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'efs-sc', accessMode: 'ReadWriteMany' } }),
      claimOf({ modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3', sizeGiB: 10 } }),
    ].map((c) => c.metadata.name);
    for (const name of changed) expect(name).not.toBe(base3b.metadata.name);
    expect(new Set(changed).size).toBe(changed.length);
    const dep = byKind(synth({}), 'Deployment');
    expect(dep.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'model-cache').persistentVolumeClaim.claimName).toBe(base3b.metadata.name);
  });

  it('lets exactly one pod go at every replica count, with or without an autoscaler', () => {
    for (const scale of [{ replicas: 1 }, { replicas: 3 }, { autoscaling: { minReplicas: 2, maxReplicas: 6 } }]) {
      const pdb = byKind(synth({ ...scale, modelCache: { kind: 'emptyDir' } }), 'PodDisruptionBudget');
      expect(pdb.spec, JSON.stringify(scale)).toEqual({ maxUnavailable: 1, selector: expect.any(Object), unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    }
    const explicit = byKind(
      synth({ replicas: 4, modelCache: { kind: 'emptyDir' }, overrides: { disruptionBudget: { minAvailable: 3 } } }),
      'PodDisruptionBudget',
    );
    expect(explicit.spec).toMatchObject({ minAvailable: 3, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    expect(explicit.spec.maxUnavailable).toBeUndefined();
  });

  it('sizes an emptyDir cache with a sizeLimit and a matching ephemeral-storage request', () => {
    const dep = byKind(synth({ modelCache: { kind: 'emptyDir' } }), 'Deployment');
    const pod = dep.spec.template.spec;
    expect(pod.volumes.find((v: { name: string }) => v.name === 'model-cache').emptyDir.sizeLimit).toBe('3072Mi'); // 3 GiB: ceil(1.2 x 1.96 GiB)
    expect(pod.containers[0].resources.requests['ephemeral-storage']).toBe('4Gi');
    expect(pod.containers[0].resources.limits['ephemeral-storage']).toBe('4Gi');
  });

  it('sets idle timeouts from the request timeout on load balancers and ingress', () => {
    const elb = byKind(synth({ requestTimeoutSeconds: 420, exposure: { kind: 'load-balancer', provider: 'aws-elb' } }), 'Service');
    expect(elb.spec.type).toBe('LoadBalancer');
    expect(elb.metadata.annotations?.['service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout']).toBe('450');
    const nlb = byKind(synth({ exposure: { kind: 'load-balancer', provider: 'aws-nlb' } }), 'Service');
    expect(nlb.metadata.annotations?.['service.beta.kubernetes.io/aws-load-balancer-listener-attributes.TCP-80']).toBe('tcp.idle_timeout.seconds=330');
    const ing = byKind(synth({ exposure: { kind: 'ingress', host: 'llm.example.test' } }), 'Ingress');
    expect(ing.metadata.annotations).toMatchObject({
      'nginx.ingress.kubernetes.io/proxy-read-timeout': '330',
      'nginx.ingress.kubernetes.io/proxy-buffering': 'off',
    });
  });

  it('omits replicas and adds an HPA when autoscaling', () => {
    const objs = synth({ autoscaling: { minReplicas: 2, maxReplicas: 5 }, modelCache: { kind: 'emptyDir' } });
    expect(byKind(objs, 'Deployment').spec.replicas).toBeUndefined();
    expect(byKind(objs, 'HorizontalPodAutoscaler').spec).toMatchObject({ minReplicas: 2, maxReplicas: 5 });
  });
});

describe('bad props fail synth naming the file, the service, the field and the fix', () => {
  const cases: Array<[string, Partial<InferenceServiceProps>, string]> = [
    ['negative cache size', { modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3', sizeGiB: -5 } }, 'modelCache.sizeGiB'],
    ['cache smaller than the model', { modelCache: { kind: 'emptyDir', sizeGiB: 1 } }, 'modelCache.sizeGiB'],
    ['missing storage class', { modelCache: { kind: 'persistentVolumeClaim', storageClassName: '' } }, 'modelCache.storageClassName'],
    ['fractional GPU count', { gpu: { count: 0.5, memoryGiB: 24 } }, 'gpu.count'],
    ['negative replicas', { replicas: -1 }, 'replicas'],
    ['negative cpu', { cpu: -2 }, 'cpu'],
    ['a GPU count of zero on what is a CPU service', { gpu: { count: 0, memoryGiB: 24 } }, 'gpu.count'],
    ['zero context', { contextSize: 0 }, 'contextSize'],
  ];
  for (const [label, props, field] of cases) {
    it(label, () => {
      const err = configError(props);
      expect(err.message).toContain('test/charts/construct.test.ts: test/llm: ');
      expect(err.message).toContain(`: ${field}: `);
      expect(err.message).toContain('Fix: ');
    });
  }

  it('reports every problem at once', () => {
    const err = configError({ contextSize: -1, replicas: 0, modelCache: { kind: 'emptyDir', sizeGiB: 1 } });
    expect(err.problems.map((p) => p.field).sort()).toEqual(['contextSize', 'maxCompletionLength', 'modelCache.sizeGiB', 'replicas']);
  });
});
