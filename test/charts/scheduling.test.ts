import { describe, expect, it } from 'vitest';
import { capacityTypeLabels } from '../../charts/clusters/capacity-type.js';
import { g5_2xlarge, m6i_4xlargeNodeGroup, r5_2xlarge } from '../../charts/clusters/eks.js';
import type { ClusterProfile, NodePool } from '../../charts/clusters/types.js';
import { topologyKeys } from '../../charts/constructs/scheduling.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { qwen25_3bInstructQ4KM, qwen25_7bInstructQ4KM } from '../../charts/models/catalogue.js';
import { qwen25_72bInstructQ4KM } from '../../charts/models/entries/qwen2.5-72b-instruct-q4_k_m.js';
import { gpuLayerSplit, layerDevices } from '../../charts/sizing/gpu-split.js';
import { synthesizeAll } from '../../charts/synth.js';
import { roomyTestCluster } from '../support/clusters.js';
import { synthError } from '../support/synth.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- synthesized manifests are read as plain JSON */

const chat: ServiceDeclaration = { model: qwen25_3bInstructQ4KM, cpu: 2, modelCache: { kind: 'emptyDir' } };
const gpuChat: ServiceDeclaration = {
  model: qwen25_7bInstructQ4KM,
  cpu: 2,
  gpu: { count: 1, memoryGiB: 24 },
  modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3' },
};

function env(
  services: Record<string, ServiceDeclaration>,
  cluster: ClusterProfile = roomyTestCluster({ definedIn: 'test/charts/scheduling.test.ts' }),
): Environment {
  return {
    name: 'test',
    definedIn: 'test/charts/scheduling.test.ts',
    namespace: 'llm-test',
    clusterName: 'test',
    cluster,
    image: 'ghcr.io/gguf-on-k8s/inference:1.2.3',
    services,
  };
}

/** The pod spec of the one Deployment of service `name`. */
function podSpec(e: Environment, name = 'chat'): any {
  const out = synthesizeAll([e]);
  const build = out.builds[0]!;
  const chart = build.services.find((s) => s.service.plan.name === name)!;
  return (chart.toJson() as any[]).find((o) => o.kind === 'Deployment').spec.template.spec;
}

/** A Karpenter-provisioned spot pool: a different cloud label than EKS managed node groups use. */
function karpenterSpot(): NodePool {
  const base = r5_2xlarge(4);
  return {
    ...base,
    name: 'karpenter-spot',
    labels: { ...base.labels, 'karpenter.sh/capacity-type': 'spot' },
    capacityType: 'spot',
    taints: [{ key: 'karpenter.sh/disrupted', effect: 'NoSchedule' }],
  };
}

describe('scheduling props reach the pod spec', () => {
  it('tolerations, node selector and required/preferred node affinity, priority and runtime class, as declared', () => {
    const pod = podSpec(
      env(
        {
          chat: {
            ...chat,
            scheduling: {
              tolerations: [
                { key: 'dedicated', value: 'llm', effect: 'NoSchedule' },
                { key: 'maintenance', operator: 'Exists' },
              ],
              nodeSelector: { 'node.kubernetes.io/instance-type': 'r5.2xlarge' },
              nodeAffinity: {
                required: [{ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }] }],
                preferred: [{ weight: 10, matchExpressions: [{ key: 'node.kubernetes.io/instance-type', operator: 'Exists' }] }],
              },
              priorityClassName: 'llm-serving',
              runtimeClassName: 'gvisor',
            },
          },
        },
        roomyTestCluster({ nodePools: [{ ...r5_2xlarge(4), labels: { ...r5_2xlarge(4).labels, 'kubernetes.io/arch': 'amd64' } }] }),
      ),
    );
    expect(pod.tolerations).toEqual([
      { key: 'dedicated', operator: 'Equal', value: 'llm', effect: 'NoSchedule' },
      { key: 'maintenance', operator: 'Exists' },
    ]);
    expect(pod.nodeSelector).toEqual({ 'node.kubernetes.io/instance-type': 'r5.2xlarge' });
    expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      { matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }] },
    ]);
    expect(pod.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution).toEqual([
      { weight: 10, preference: { matchExpressions: [{ key: 'node.kubernetes.io/instance-type', operator: 'Exists' }] } },
    ]);
    expect(pod.priorityClassName).toBe('llm-serving');
    expect(pod.runtimeClassName).toBe('gvisor');
  });

  it('a GPU service keeps the GPU selector and toleration and adds its own to them', () => {
    const plain = podSpec(env({ chat: gpuChat }));
    expect(plain.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(plain.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    const more = podSpec(
      env(
        {
          chat: {
            ...gpuChat,
            gpu: { ...gpuChat.gpu!, taintKey: 'gpu' },
            scheduling: {
              nodeSelector: { 'nvidia.com/gpu.product': 'NVIDIA-A10G' },
              tolerations: [
                { key: 'gpu', operator: 'Exists', effect: 'NoSchedule' },
                { key: 'team', value: 'ml' },
              ],
            },
          },
        },
        roomyTestCluster({
          nodePools: [
            r5_2xlarge(2),
            {
              ...g5_2xlarge(2),
              labels: { ...g5_2xlarge(2).labels, 'nvidia.com/gpu.product': 'NVIDIA-A10G' },
              taints: [{ key: 'gpu', value: 'true', effect: 'NoSchedule' }],
            },
          ],
        }),
      ),
    );
    expect(more.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true', 'nvidia.com/gpu.product': 'NVIDIA-A10G' });
    // The GPU toleration once, not twice, though the service lists it too.
    expect(more.tolerations).toEqual([
      { key: 'gpu', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'team', operator: 'Equal', value: 'ml' },
    ]);
  });

  it("a capacity-type preference matches the label the cluster's own pools carry, whatever the provisioner", () => {
    for (const spot of [m6i_4xlargeNodeGroup('cpu-spot', 'spot', { minCount: 0, maxCount: 4 }), karpenterSpot()]) {
      const pod = podSpec(
        env({ chat: { ...chat, replicas: 2, scheduling: { capacityType: 'spot' } } }, roomyTestCluster({ nodePools: [r5_2xlarge(2), spot] })),
      );
      const known = capacityTypeLabels.find((l) => spot.labels[l.key] === l.spot)!;
      expect(pod.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution).toEqual([
        { weight: 100, preference: { matchExpressions: [{ key: known.key, operator: 'In', values: [known.spot] }] } },
      ]);
      // The spot pool's taints are tolerated, so spot is reachable; the preference is soft, so on-demand is the fallback.
      expect(pod.tolerations).toEqual(
        spot.taints.map((t) =>
          t.value !== undefined ? { key: t.key, operator: 'Equal', value: t.value, effect: t.effect } : { key: t.key, operator: 'Exists', effect: t.effect },
        ),
      );
      expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    }
  });

  it('topology spread across zones and nodes (maxSkew 1, ScheduleAnyway) only once a service can run more than one pod', () => {
    expect(podSpec(env({ chat })).topologySpreadConstraints).toBeUndefined();
    for (const declared of [
      { ...chat, replicas: 3 },
      { ...chat, autoscaling: { minReplicas: 1, maxReplicas: 3, signal: 'cpu' as const } },
    ]) {
      const spread = podSpec(env({ chat: declared })).topologySpreadConstraints;
      expect(spread.map((c: any) => [c.topologyKey, c.maxSkew, c.whenUnsatisfiable])).toEqual([
        [topologyKeys.zones, 1, 'ScheduleAnyway'],
        [topologyKeys.nodes, 1, 'ScheduleAnyway'],
      ]);
      expect(spread[0].labelSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'chat', 'app.kubernetes.io/instance': 'chat-test' });
    }
    const asked = podSpec(
      env({ chat: { ...chat, replicas: 2, scheduling: { topologySpread: { zones: 'DoNotSchedule', nodes: 'off' } } } }),
    ).topologySpreadConstraints;
    expect(asked.map((c: any) => [c.topologyKey, c.whenUnsatisfiable])).toEqual([[topologyKeys.zones, 'DoNotSchedule']]);
  });

  it('bad scheduling props fail synth naming the file, the service, the field and the fix', () => {
    const bad = env({
      chat: {
        ...chat,
        scheduling: {
          tolerations: [{ key: 'a', operator: 'Exists', value: 'x' }],
          nodeAffinity: {
            required: [{ matchExpressions: [{ key: 'zone', operator: 'In' }] }],
            preferred: [{ weight: 0, matchExpressions: [{ key: 'k', operator: 'Gt', values: ['two'] }] }],
          },
          priorityClassName: 'Not_A_Name',
        },
      },
    });
    let error: unknown;
    try {
      synthesizeAll([bad]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ChartConfigError);
    const fields = (error as ChartConfigError).problems.map((p) => p.field).sort();
    expect(fields).toEqual([
      'scheduling.nodeAffinity.preferred[0].matchExpressions[0]',
      'scheduling.nodeAffinity.preferred[0].weight',
      'scheduling.nodeAffinity.required[0].matchExpressions[0]',
      'scheduling.priorityClassName',
      'scheduling.tolerations[0]',
    ]);
    expect((error as Error).message).toContain('test/charts/scheduling.test.ts: test/chat: scheduling.tolerations[0]: operator Exists with value "x". Fix:');
  });

  it('an unknown scheduling key fails synth with a suggestion', () => {
    const typo = env({ chat: { ...chat, scheduling: { tolerations: [], priorityClassname: 'x' } as never } });
    expect(() => synthesizeAll([typo])).toThrow(/scheduling\.priorityClassname: unknown prop "priorityClassname".*did you mean "priorityClassName"/);
  });
});

describe("pod-fits-node-pool reads the pools' taints and labels", () => {
  it('a pod that tolerates no pool fails with the pool names, their taints and the toleration to add; with it, it passes', () => {
    const tainted = roomyTestCluster({
      nodePools: [{ ...r5_2xlarge(3), name: 'dedicated', taints: [{ key: 'dedicated', value: 'llm', effect: 'NoSchedule' }] }, g5_2xlarge(1)],
    });
    const err = synthError(env({ chat }, tainted));
    const finding = err.report.errors.find((f) => f.ruleId === 'pod-fits-node-pool')!;
    expect(finding.message).toContain(
      "dedicated: taint dedicated=llm:NoSchedule (tolerate with scheduling.tolerations: [{ key: 'dedicated', value: 'llm', effect: 'NoSchedule' }]) not tolerated",
    );
    expect(finding.message).toContain('gpu-g5-2xlarge: taint nvidia.com/gpu=true:NoSchedule');
    expect(() =>
      synthesizeAll([env({ chat: { ...chat, scheduling: { tolerations: [{ key: 'dedicated', value: 'llm', effect: 'NoSchedule' }] } } }, tainted)]),
    ).not.toThrow();
  });

  it('a node selector or required affinity no pool satisfies fails; one a pool satisfies passes', () => {
    const arm = roomyTestCluster({ nodePools: [{ ...r5_2xlarge(3), labels: { ...r5_2xlarge(3).labels, 'kubernetes.io/arch': 'arm64' } }] });
    const wantsAmd = {
      ...chat,
      scheduling: { nodeAffinity: { required: [{ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In' as const, values: ['amd64'] }] }] } },
    };
    expect(synthError(env({ chat: wantsAmd }, arm)).report.errors.map((f) => f.ruleId)).toEqual(['pod-fits-node-pool']);
    const notArm = {
      ...chat,
      scheduling: { nodeAffinity: { required: [{ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'NotIn' as const, values: ['amd64'] }] }] } },
    };
    expect(() => synthesizeAll([env({ chat: notArm }, arm)])).not.toThrow();
    expect(
      synthError(env({ chat: { ...chat, scheduling: { nodeSelector: { 'kubernetes.io/arch': 'amd64' } } } }, arm)).report.errors.map((f) => f.ruleId),
    ).toEqual(['pod-fits-node-pool']);
  });

  it('cluster-fits-all-pods counts a service only on the pools it tolerates', () => {
    // Room for both services' CPU in total, but only the one that tolerates the dedicated pool may use it.
    const cluster = roomyTestCluster({
      nodePools: [r5_2xlarge(1), { ...r5_2xlarge(4), name: 'dedicated', taints: [{ key: 'dedicated', value: 'llm', effect: 'NoSchedule' }] }],
    });
    const big: ServiceDeclaration = { ...chat, cpu: 7, replicas: 2, overrides: { strategy: 'Recreate' } };
    expect(synthError(env({ chat: big }, cluster)).report.errors.map((f) => f.ruleId)).toEqual(['cluster-fits-all-pods']);
    expect(() => synthesizeAll([env({ chat: { ...big, scheduling: { tolerations: [{ key: 'dedicated', operator: 'Exists' }] } } }, cluster)])).not.toThrow();
  });
});

describe('GPU layer split (llama.cpp LLAMA_SPLIT_MODE_LAYER)', () => {
  it('places layer il on the first device whose cumulative share exceeds il / (layers + 1), the output layer last', () => {
    // 80 layers + output over 2 GPUs: il/81 < 0.5 for il <= 40.
    const two = layerDevices(80, 2);
    expect(two.filter((d) => d === 0).length).toBe(41);
    expect(two[80]).toBe(1);
    const four = layerDevices(80, 4);
    expect([0, 1, 2, 3].map((d) => four.filter((x) => x === d).length)).toEqual([21, 20, 20, 20]);
    expect(layerDevices(28, 1).every((d) => d === 0)).toBe(true);
  });

  it('the per-GPU bytes add up to the weights without the CPU-resident embeddings, plus the output table and the KV cache', () => {
    const kv = 2 * 2 ** 30;
    const shares = gpuLayerSplit(qwen25_72bInstructQ4KM, kv, 2);
    const total = shares.reduce((a, s) => a + s.bytes, 0);
    expect(Math.abs(total - (qwen25_72bInstructQ4KM.fileBytes + kv))).toBeLessThan(4);
    expect(shares.map((s) => s.layers?.count)).toEqual([41, 39]);
    expect(shares.map((s) => s.output)).toEqual([false, true]);
  });
});

describe('every environment', () => {
  const out = synthesizeAll();
  const services = out.builds.flatMap((b) => b.services.map((s) => ({ env: b.environment, chart: s })));

  it("a capacity-type preference targets only labels the cluster's pools of that type carry, and the pod can still run on the other type", () => {
    for (const { env: e, chart } of services) {
      const wanted = chart.service.plan.props.scheduling?.capacityType;
      if (wanted === undefined) continue;
      const pod = (chart.toJson() as any[]).find((o) => o.kind === 'Deployment').spec.template.spec;
      const terms: any[] = pod.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
      expect(terms.length, `${e.name}/${chart.node.id}`).toBeGreaterThan(0);
      for (const t of terms) {
        for (const m of t.preference.matchExpressions) {
          expect(
            e.cluster.nodePools.some((p) => p.capacityType === wanted && m.values.includes(p.labels[m.key])),
            `${e.name}/${chart.node.id}: ${m.key}`,
          ).toBe(true);
        }
      }
      expect(
        pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution,
        `${e.name}/${chart.node.id}: a preference, never a requirement`,
      ).toBeUndefined();
    }
  });

  it('a service that can run several pods spreads them over zones and nodes; a single pod does not', () => {
    for (const { env: e, chart } of services) {
      const plan = chart.service.plan;
      const pod = (chart.toJson() as any[]).find((o) => o.kind === 'Deployment').spec.template.spec;
      const keys = (pod.topologySpreadConstraints ?? []).map((c: any) => c.topologyKey);
      const several = (plan.props.autoscaling?.maxReplicas ?? plan.replicas) > 1;
      expect(keys, `${e.name}/${chart.node.id}`).toEqual(several ? [topologyKeys.zones, topologyKeys.nodes] : []);
    }
  });
});
