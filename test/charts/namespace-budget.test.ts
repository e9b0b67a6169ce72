import { describe, expect, it } from 'vitest';
import type { ClusterProfile } from '../../charts/clusters/types.js';
import { namespaceBudgetName, type LimitRangeProps, type NamespaceQuotaProps } from '../../charts/constructs/namespace-budget.js';
import { environments } from '../../charts/environments/index.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { parseQuantity } from '../../charts/lib/quantity.js';
import { qwen25_3bInstructQ4KM, qwen25_7bInstructQ4KM } from '../../charts/models/catalogue.js';
import { RuleViolationError } from '../../charts/rules/engine.js';
import { admitContainer, limitRangeItems } from '../../charts/rules/namespace-budget.js';
import { GiB } from '../../charts/sizing/units.js';
import { synthesizeAll } from '../../charts/synth.js';
import { roomyTestCluster } from '../support/clusters.js';
import { committedManifests, validateSchema, type K8sObject } from '../support/manifests.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are read as plain JSON */

const docs = committedManifests();
const waveOf = (o: K8sObject): number => Number(o.metadata.annotations?.['argocd.argoproj.io/sync-wave'] ?? 0);
const budgeted = environments.filter((e) => e.quota !== undefined || e.limitRange !== undefined);

/** Requests and limits of one container as numbers, independent of the rule's own reading. */
const amount = (list: Record<string, string | number> | undefined, key: string): number => parseQuantity(list?.[key]) ?? 0;

/** Pods a Deployment may run at once at the most: replicas or its autoscaler's maximum, plus the RollingUpdate surge. */
function largest(dep: K8sObject, objects: K8sObject[]): number {
  const name = dep.metadata.name;
  const so = objects.find((o) => o.kind === 'ScaledObject' && o.spec.scaleTargetRef.name === name);
  const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler' && o.spec.scaleTargetRef.name === name);
  const max = so?.spec.maxReplicaCount ?? hpa?.spec.maxReplicas ?? dep.spec.replicas ?? 1;
  const surge = dep.spec.strategy?.type === 'RollingUpdate' ? Number(dep.spec.strategy.rollingUpdate?.maxSurge ?? 1) : 0;
  return max + surge;
}

describe('namespace budget in the committed output', () => {
  it('is exercised by at least one example environment', () => {
    expect(budgeted.length).toBeGreaterThan(0);
  });

  for (const env of budgeted) {
    describe(env.name, () => {
      const objects = docs.filter((d) => d.file.startsWith(`dist/${env.name}/`)).map((d) => d.object);
      const ns = objects.find((o) => o.kind === 'Namespace')!;
      const quota = objects.find((o) => o.kind === 'ResourceQuota');
      const limitRange = objects.find((o) => o.kind === 'LimitRange');

      it('has the declared objects in the namespace, after the Namespace and before every pod', () => {
        expect(quota !== undefined).toBe(env.quota !== undefined);
        expect(limitRange !== undefined).toBe(env.limitRange !== undefined);
        const firstWorkload = Math.min(...objects.filter((o) => o.kind === 'Deployment').map(waveOf));
        for (const o of [quota, limitRange].filter((x): x is K8sObject => x !== undefined)) {
          expect(o.metadata.namespace).toBe(env.namespace);
          expect(o.metadata.name).toBe(namespaceBudgetName);
          expect(waveOf(o)).toBeGreaterThan(waveOf(ns));
          expect(waveOf(o)).toBeLessThan(firstWorkload);
        }
      });

      it('the quota never constrains limits.cpu (the inference server states no CPU limit, so every pod would be refused)', () => {
        if (!quota) return;
        expect(Object.keys(quota.spec.hard)).not.toContain('limits.cpu');
        expect(Object.keys(quota.spec.hard)).not.toContain('limits.nvidia.com/gpu');
      });

      it('the quota holds every Deployment at its largest, counted here from the manifests', () => {
        if (!quota) return;
        const deployments = objects.filter((o) => o.kind === 'Deployment');
        expect(deployments.length).toBeGreaterThan(0);
        const sum = (side: 'requests' | 'limits', key: string): number =>
          deployments.reduce((acc, d) => {
            const pod = d.spec.template.spec;
            const app = pod.containers.reduce((a: number, c: any) => a + amount(c.resources?.[side], key), 0);
            const init = (pod.initContainers ?? []).reduce((a: number, c: any) => Math.max(a, amount(c.resources?.[side], key)), 0);
            return acc + Math.max(app, init) * largest(d, objects);
          }, 0);
        const hard = (k: string): number => parseQuantity(quota.spec.hard[k])!;
        expect(sum('requests', 'cpu')).toBeLessThanOrEqual(hard('requests.cpu'));
        expect(sum('requests', 'memory')).toBeLessThanOrEqual(hard('requests.memory'));
        expect(sum('limits', 'memory')).toBeLessThanOrEqual(hard('limits.memory'));
        expect(sum('requests', 'ephemeral-storage')).toBeLessThanOrEqual(hard('requests.ephemeral-storage'));
        expect(sum('limits', 'nvidia.com/gpu')).toBeLessThanOrEqual(hard('requests.nvidia.com/gpu'));
        if (quota.spec.hard.pods !== undefined) expect(deployments.reduce((a, d) => a + largest(d, objects), 0)).toBeLessThanOrEqual(hard('pods'));
        const claims = objects.filter((o) => o.kind === 'PersistentVolumeClaim');
        if (quota.spec.hard['requests.storage'] !== undefined)
          expect(claims.reduce((a, c) => a + amount(c.spec.resources.requests, 'storage'), 0)).toBeLessThanOrEqual(hard('requests.storage'));
        if (quota.spec.hard.persistentvolumeclaims !== undefined) expect(claims.length).toBeLessThanOrEqual(hard('persistentvolumeclaims'));
      });

      it('every container is within the LimitRange, and it never hands the inference server a CPU limit', () => {
        if (!limitRange) return;
        const [item] = limitRange.spec.limits;
        for (const d of objects.filter((o) => o.kind === 'Deployment')) {
          const pod = d.spec.template.spec;
          for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
            for (const [k, max] of Object.entries(item.max ?? {})) {
              expect(amount(c.resources?.limits, k), `${d.metadata.name}/${c.name} ${k}`).toBeLessThanOrEqual(parseQuantity(max as string)!);
              expect(amount(c.resources?.requests, k)).toBeLessThanOrEqual(parseQuantity(max as string)!);
            }
          }
          const server = pod.containers.find((c: any) => c.name === 'server');
          // A CPU max with no CPU default becomes the default limit (SetDefaults_LimitRangeItem).
          // (The scale-to-zero failover responder has no inference server.)
          if (server !== undefined && server.resources?.limits?.cpu === undefined) expect(item.default?.cpu ?? item.max?.cpu).toBeUndefined();
        }
      });

      it('validates offline against the Kubernetes schema', () => {
        for (const o of [quota, limitRange].filter((x): x is K8sObject => x !== undefined)) expect(() => validateSchema(o)).not.toThrow();
      });
    });
  }

  const quotaDoc = docs.find((d) => d.object.kind === 'ResourceQuota')!.object;
  const limitRangeDoc = docs.find((d) => d.object.kind === 'LimitRange')!.object;
  const breakages: Array<[string, () => K8sObject, RegExp]> = [
    ['a ResourceQuota with an unparseable amount', () => ({ ...structuredClone(quotaDoc), spec: { hard: { 'requests.cpu': 'lots' } } }), /quantity/],
    [
      'a LimitRange item without a type',
      () => {
        const o = structuredClone(limitRangeDoc);
        delete o.spec.limits[0].type;
        return o;
      },
      /required property type/,
    ],
    ['a LimitRange without limits', () => ({ ...structuredClone(limitRangeDoc), spec: {} }), /required property limits/],
  ];
  for (const [what, broken, complaint] of breakages) {
    it(`schema validation rejects ${what}`, () => {
      expect(() => validateSchema(broken())).toThrow(complaint);
    });
  }

  it("the environments' AppProject permits both kinds", () => {
    const project = docs
      .map((d) => d.object)
      .find((o) => o.kind === 'AppProject' && o.spec.destinations.some((x: { namespace: string }) => budgeted.some((e) => e.namespace === x.namespace)))!;
    expect(project.spec.namespaceResourceWhitelist).toContainEqual({ group: '', kind: 'ResourceQuota' });
    expect(project.spec.namespaceResourceWhitelist).toContainEqual({ group: '', kind: 'LimitRange' });
  });
});

describe('namespace budget rules', () => {
  const definedIn = 'test/charts/namespace-budget.test.ts';
  const chat: ServiceDeclaration = {
    model: qwen25_3bInstructQ4KM,
    cpu: 4,
    modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'efs-sc', accessMode: 'ReadWriteMany' },
  };
  const gpuChat: ServiceDeclaration = {
    model: qwen25_7bInstructQ4KM,
    cpu: 2,
    gpu: { count: 1, memoryGiB: 24 },
    modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3' },
  };
  const roomyQuota: NamespaceQuotaProps = { cpu: 64, memoryGiB: 128, gpus: 4, ephemeralStorageGiB: 64 };
  const env = (over: Partial<Environment> = {}, cluster: ClusterProfile = roomyTestCluster({ definedIn })): Environment => ({
    name: 'budget',
    definedIn,
    namespace: 'llm-budget',
    clusterName: 'budget',
    cluster,
    image: 'ghcr.io/gguf-on-k8s/inference:1.2.3',
    services: { chat: { ...chat, autoscaling: { minReplicas: 1, maxReplicas: 3, signal: 'cpu' } }, 'chat-gpu': gpuChat },
    ...over,
  });
  const findings = (e: Environment): { errors: RuleViolationError['report']['errors']; warnings: RuleViolationError['report']['warnings'] } => {
    try {
      const out = synthesizeAll([e]);
      return { errors: [], warnings: out.report.warnings };
    } catch (err) {
      if (err instanceof RuleViolationError) return { errors: err.report.errors, warnings: err.report.warnings };
      throw err;
    }
  };
  const errorsOf = (e: Environment, id: string) => findings(e).errors.filter((f) => f.ruleId === id);

  it('a quota that holds the services at their largest passes', () => {
    expect(findings(env({ quota: roomyQuota })).errors).toEqual([]);
  });

  it('counts the autoscaler maximum and the surge pod: 3 + 1 chat pods x 4 CPU + 2 CPU do not fit 17 CPU, 18 do', () => {
    const tight = errorsOf(env({ quota: { ...roomyQuota, cpu: 17 } }), 'namespace-quota-fits');
    expect(tight).toHaveLength(1);
    expect(tight[0]!.service).toBe('chat-gpu'); // declaration order: chat fits alone, chat-gpu tips it over
    expect(tight[0]!.message).toMatch(/requests\.cpu 18 CPU > 17 CPU \(quota\.cpu\)/);
    expect(tight[0]!.message).toContain(`ResourceQuota ${namespaceBudgetName} (${definedIn}: quota)`);
    expect(tight[0]!.message).toContain('chat x4 pods');
    expect(tight[0]!.fix).toContain(definedIn);
    expect(errorsOf(env({ quota: { ...roomyQuota, cpu: 18 } }), 'namespace-quota-fits')).toEqual([]);
  });

  it('names the service that no longer fits and every resource it breaks, GPUs and claims included', () => {
    const out = errorsOf(env({ quota: { ...roomyQuota, gpus: 0, persistentVolumeClaims: 1 } }), 'namespace-quota-fits');
    expect(out).toHaveLength(1);
    expect(out[0]!.service).toBe('chat-gpu');
    expect(out[0]!.message).toMatch(/requests\.nvidia\.com\/gpu 1 > 0 \(quota\.gpus\)/);
    expect(out[0]!.message).toMatch(/persistentvolumeclaims 2 > 1 \(quota\.persistentVolumeClaims\)/);
  });

  it("checks the cluster profile's quota with the same rule, each quota on its own", () => {
    const profileQuota = { 'llm-budget': { cpuMillis: 10_000, memoryBytes: 256 * GiB, gpus: 4, ephemeralStorageBytes: 256 * GiB } };
    const cluster = roomyTestCluster({ definedIn, namespaceQuotas: profileQuota });
    const both = errorsOf(env({ quota: { ...roomyQuota, memoryGiB: 8 } }, cluster), 'namespace-quota-fits');
    expect(both.map((f) => f.message.split(' is exceeded')[0])).toEqual([
      `ResourceQuota ${namespaceBudgetName} (${definedIn}: quota)`,
      `the cluster's quota on namespace llm-budget (profile ${definedIn}: namespaceQuotas)`,
    ]);
    expect(both[0]!.message).toMatch(/requests\.memory .* \(quota\.memoryGiB\)/);
    expect(both[0]!.message).toMatch(/limits\.memory .* \(quota\.memoryGiB\)/);
    expect(both[1]!.message).toMatch(/requests\.cpu 18 CPU > 10 CPU \(namespaceQuotas\['llm-budget'\]\.cpuMillis\)/);
    expect(both[1]!.service).toBe('chat'); // 16 CPU of chat alone already exceed 10
    expect(both[1]!.fix).toMatch(/cluster:capture/);
  });

  const withLimitRange = (limitRange: LimitRangeProps): Environment => env({ quota: roomyQuota, limitRange });

  it("a LimitRange max below the model server's memory fails synth naming the container and the field", () => {
    const out = errorsOf(withLimitRange({ maxPerContainer: { memoryMiB: 2048 } }), 'limit-range-admits');
    expect(out.map((f) => f.service).sort()).toEqual(['chat', 'chat-gpu']);
    expect(out[0]!.message).toMatch(
      /container server: memory limit .* is above LimitRange inference-budget max 2\.00 GiB \(test\/charts\/namespace-budget\.test\.ts: limitRange\.maxPerContainer\)/,
    );
    expect(errorsOf(withLimitRange({ maxPerContainer: { memoryMiB: 8192 } }), 'limit-range-admits')).toEqual([]);
  });

  it("a LimitRange min above a container's request fails synth (the init container is checked too)", () => {
    const out = errorsOf(withLimitRange({ minPerContainer: { memoryMiB: 512 } }), 'limit-range-admits');
    expect(out.length).toBeGreaterThan(0);
    expect(out.every((f) => /below LimitRange inference-budget min/.test(f.message))).toBe(true);
    expect(out.some((f) => !f.message.startsWith('container server'))).toBe(true);
  });

  it("a CPU max becomes the server's CPU limit: a warning at or above its request, an error below it", () => {
    const above = findings(withLimitRange({ maxPerContainer: { cpu: 8 } }));
    expect(above.errors).toEqual([]);
    expect(above.warnings.filter((w) => w.ruleId === 'limit-range-admits').map((w) => w.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/admitted with CPU limit 8 CPU .* defaults the limit to max\.cpu/)]),
    );
    const below = errorsOf(withLimitRange({ maxPerContainer: { cpu: 3 } }), 'limit-range-admits');
    expect(below.some((f) => f.service === 'chat' && /cpu request 4 CPU is above LimitRange inference-budget max 3 CPU/.test(f.message))).toBe(true);
  });

  it('admits a container as the API server does: default limit from max, default request from the default, stated values kept', () => {
    const [item] = limitRangeItems([
      {
        apiVersion: 'v1',
        kind: 'LimitRange',
        metadata: { name: 'lr' },
        spec: { limits: [{ type: 'Container', max: { cpu: '8', memory: '16Gi' }, min: { 'ephemeral-storage': '100Mi' } }] },
      },
    ]);
    const bare = admitContainer({ name: 'debug' }, [item!]);
    expect(bare.limits).toEqual({ cpu: 8, memory: 16 * GiB });
    expect(bare.requests).toEqual({ cpu: 8, memory: 16 * GiB, 'ephemeral-storage': 100 * 1024 ** 2 });
    expect([...bare.defaultedLimits].sort()).toEqual(['cpu', 'memory']);
    const stated = admitContainer({ name: 'server', resources: { requests: { cpu: '4', memory: '3Gi' }, limits: { memory: '3Gi' } } }, [item!]);
    expect(stated.requests).toMatchObject({ cpu: 4, memory: 3 * GiB });
    expect(stated.limits).toEqual({ cpu: 8, memory: 3 * GiB });
    expect(stated.defaultedLimits).toEqual(['cpu']);
  });

  it('refuses impossible budgets before synthesizing, naming file, environment and field', () => {
    const bad = (e: Environment) => {
      try {
        synthesizeAll([e]);
      } catch (err) {
        if (err instanceof ChartConfigError) return err.message;
        throw err;
      }
      throw new Error('expected a configuration error');
    };
    expect(bad(env({ quota: { ...roomyQuota, cpu: -1 } }))).toContain(`${definedIn}: budget: quota.cpu: -1 is not a valid amount`);
    expect(bad(env({ limitRange: { minPerContainer: { memoryMiB: 4096 }, maxPerContainer: { memoryMiB: 1024 } } }))).toMatch(
      /limitRange\.minPerContainer\.memoryMiB: 4096 is above maxPerContainer\.memoryMiB 1024/,
    );
    expect(bad(env({ limitRange: { defaultLimit: { cpu: 2 } as never } }))).toMatch(/limitRange\.defaultLimit\.cpu/);
    expect(bad(env({ quota: { ...roomyQuota, memorygib: 3 } as never }))).toMatch(/quota\.memorygib: unknown prop .*did you mean "memoryGiB"/);
  });
});
