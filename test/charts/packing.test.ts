/**
 * The per-node packing model (charts/placement/packing.ts) on small clusters whose outcome can be worked out by
 * hand from kube-scheduler's filters and default scores, and the cluster-fits-all-pods rule built on it.
 * The same model is compared with the real kube-scheduler in test/control-plane/agreement.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { m6i_4xlargeNodeGroup } from '../../charts/clusters/eks.js';
import type { NodePool } from '../../charts/clusters/types.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { qwen25_3bInstructQ4KM } from '../../charts/models/catalogue.js';
import { poolsCapacity } from '../../charts/placement/index.js';
import { describeLeftover, packingOrders, packPods, poolNodes, worstPacking, type PackedService, type PendingPod } from '../../charts/placement/packing.js';
import { GiB } from '../../charts/sizing/units.js';
import { roomyTestCluster } from '../support/clusters.js';
import { synthErrors } from '../support/synth.js';

function pool(name: string, nodes: number, over: Partial<NodePool> = {}): NodePool {
  return {
    name,
    instanceType: 'test.xlarge',
    count: nodes,
    allocatable: { cpuMillis: 10_000, memoryBytes: 64 * GiB, ephemeralStorageBytes: 100 * GiB },
    labels: {},
    taints: [],
    ...over,
  };
}

function service(name: string, cpuCores: number, replicas: number, over: Partial<PackedService> = {}): PackedService {
  return {
    name,
    pod: {},
    requests: { cpuMillis: cpuCores * 1000, memoryBytes: 4 * GiB, ephemeralStorageBytes: 0, gpus: 0 },
    initialReplicas: replicas,
    replicas,
    ...over,
  };
}

const inOrder = (...pods: Array<[PackedService, number]>): PendingPod[] => pods.map(([s, ordinal]) => ({ service: s, ordinal }));

describe('poolNodes', () => {
  it('an autoscaled pool at its maxCount, named by index, zones in turn', () => {
    const nodes = poolNodes(pool('p', 1, { autoscaling: { minCount: 1, maxCount: 3 }, zones: ['a', 'b'] }));
    expect(nodes.map((n) => [n.name, n.labels['topology.kubernetes.io/zone'], n.labels['kubernetes.io/hostname']])).toEqual([
      ['p-0', 'a', 'p-0'],
      ['p-1', 'b', 'p-1'],
      ['p-2', 'a', 'p-2'],
    ]);
  });
});

describe('packPods: one pod at a time, filter then score', () => {
  // Two nodes of 10 CPU; two 4-CPU pods and one 8-CPU pod: 16 of 20 CPU in total.
  const small = service('a-small', 4, 2);
  const big = service('b-big', 8, 1);
  const cluster = [pool('cpu', 2)];

  it('LeastAllocated spreads the small pods, one to a node, so the large one fits no node (Insufficient cpu)', () => {
    const r = packPods(cluster, inOrder([small, 1], [small, 2], [big, 1]), 'first');
    expect([...r.placements]).toEqual([
      ['a-small/1', 'cpu-0'],
      ['a-small/2', 'cpu-1'],
    ]);
    expect(r.leftover?.pod.service.name).toBe('b-big');
    expect(describeLeftover(r.leftover!)).toBe('0/2 nodes are available: 2 Insufficient cpu');
    expect(r.leftover?.roomiest).toMatchObject({ free: { cpuMillis: 6000 } });
  });

  it('negative control: the large pod first, then the small ones share the other node', () => {
    const r = packPods(cluster, inOrder([big, 1], [small, 1], [small, 2]), 'first');
    expect(r.leftover).toBeUndefined();
    expect(r.placements.get('a-small/1')).toBe(r.placements.get('a-small/2'));
  });

  it('the sum fits, so only the packing can tell', () => {
    expect(poolsCapacity(cluster).cpuMillis).toBeGreaterThanOrEqual(2 * 4000 + 8000);
  });

  it('worstPacking tries every order and tie-break and reports the first that leaves a pod over; a third node places them all', () => {
    const worst = worstPacking(cluster, [small, big]);
    expect(worst.leftover?.pod.service.name).toBe('b-big');
    expect(worst.leftover?.order).toMatch(/ties to the (first|last) node/);
    expect(worstPacking([pool('cpu', 3)], [small, big]).leftover).toBeUndefined();
  });

  it("Argo CD's order applies each Deployment's spec.replicas first, by name, then the autoscalers' pods", () => {
    const a = service('a', 1, 3, { initialReplicas: 1 });
    const b = service('b', 1, 2, { initialReplicas: 2 });
    const pods = packingOrders[0]!.pods([b, a]).map((p) => `${p.service.name}/${p.ordinal}`);
    expect(pods).toEqual(['a/1', 'b/1', 'b/2', 'a/2', 'a/3']);
  });

  it('a preferred node affinity (weight 2) outweighs LeastAllocated: pods fill the preferred pool while it has room', () => {
    const spot = pool('spot', 1, { labels: { capacity: 'spot' } });
    const onDemand = pool('on-demand', 1);
    const preferring = service('svc', 3, 4, {
      pod: {
        affinity: {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              { weight: 100, preference: { matchExpressions: [{ key: 'capacity', operator: 'In', values: ['spot'] }] } },
            ],
          },
        },
      },
    });
    const r = packPods([onDemand, spot], packingOrders[0]!.pods([preferring]), 'first');
    expect([...r.placements.values()]).toEqual(['spot-0', 'spot-0', 'spot-0', 'on-demand-0']);
  });

  it('taints and selectors are counted as the scheduler words them', () => {
    const tainted = pool('gpu', 1, { taints: [{ key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' }] });
    const labelled = pool('arm', 1, { labels: { 'kubernetes.io/arch': 'arm64' } });
    const picky = service('svc', 12, 1, { pod: { nodeSelector: { 'kubernetes.io/arch': 'arm64' } } });
    const r = packPods([tainted, labelled, pool('cpu', 1)], inOrder([picky, 1]), 'first');
    expect(describeLeftover(r.leftover!)).toBe(
      "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint(s)",
    );
  });

  it('a DoNotSchedule zone spread keeps a pod off a zone that would exceed maxSkew', () => {
    // Zone a: two nodes of 10 CPU; zone b: one node of 6 CPU, room for one 5-CPU pod.
    const zoneA = pool('za', 2, { zones: ['a'] });
    const zoneB = pool('zb', 1, { zones: ['b'], allocatable: { cpuMillis: 6000, memoryBytes: 64 * GiB, ephemeralStorageBytes: 100 * GiB } });
    const spread = (replicas: number) =>
      service('svc', 5, replicas, {
        pod: {
          topologySpreadConstraints: [
            { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'svc' } } },
          ],
        },
      });
    // a, then b (a second pod in a would make the skew 2), then a again (skew 1).
    const three = packPods([zoneA, zoneB], packingOrders[0]!.pods([spread(3)]), 'first');
    expect(three.leftover).toBeUndefined();
    expect(three.placements.get('svc/2')).toBe('zb-0');
    // The fourth fits zone a's CPU, but a:3 against b:1 is a skew of 2, and zone b is full.
    const four = packPods([zoneA, zoneB], packingOrders[0]!.pods([spread(4)]), 'first');
    expect(describeLeftover(four.leftover!)).toBe("0/3 nodes are available: 2 node(s) didn't match pod topology spread constraints, 1 Insufficient cpu");
  });

  it('ScheduleAnyway hostname spread (weight 2) sends the second pod to the node without one, against LeastAllocated', () => {
    const roomy = pool('roomy', 1, { allocatable: { cpuMillis: 100_000, memoryBytes: 640 * GiB, ephemeralStorageBytes: 100 * GiB } });
    const small = pool('small', 1);
    const soft = (spread: boolean) =>
      service('svc', 1, 2, {
        pod: spread
          ? {
              topologySpreadConstraints: [
                { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'svc' } } },
              ],
            }
          : {},
      });
    expect([...packPods([roomy, small], packingOrders[0]!.pods([soft(true)]), 'first').placements.values()]).toEqual(['roomy-0', 'small-0']);
    // Negative control: without the constraint both go to the roomy node.
    expect([...packPods([roomy, small], packingOrders[0]!.pods([soft(false)]), 'first').placements.values()]).toEqual(['roomy-0', 'roomy-0']);
  });
});

describe('cluster-fits-all-pods packs node by node', () => {
  const chat = (cpu: number, replicas: number): ServiceDeclaration => ({
    model: qwen25_3bInstructQ4KM,
    cpu,
    replicas,
    modelCache: { kind: 'emptyDir' },
    overrides: { strategy: 'Recreate' },
  });
  const env = (services: Record<string, ServiceDeclaration>, nodes: number): Environment => ({
    name: 'test',
    definedIn: 'test/charts/packing.test.ts',
    namespace: 'llm-test',
    clusterName: 'test',
    cluster: roomyTestCluster({
      definedIn: 'test/charts/packing.test.ts',
      nodePools: [m6i_4xlargeNodeGroup('cpu', 'on-demand', { minCount: nodes, maxCount: nodes })],
    }),
    image: 'ghcr.io/gguf-on-k8s/inference:1.2.3',
    services,
  });

  it('refuses pods that fit the pool in total but not node by node, naming the pod, the resource and the fix', () => {
    // 2 nodes of 15.89 CPU: 4 x 4 + 8 = 24 CPU fits in total, but two small pods on each node leave 7.89 CPU free.
    const found = synthErrors([env({ big: chat(8, 1), small: chat(4, 4) }, 2)]).filter((f) => f.ruleId === 'cluster-fits-all-pods');
    expect(found.map((f) => f.service).sort()).toEqual(['big', 'small']);
    expect(found[0]!.message).toMatch(/in total but not node by node/);
    expect(found[0]!.message).toMatch(/big's pod 1 of 1 \(cpu 8 CPU, memory [\d.]+ GiB\) stays Pending: 0\/2 nodes are available: 2 Insufficient cpu/);
    expect(found[0]!.message).toMatch(/Fix: a bigger pool .*fewer replicas .*requests that pack/);
  });

  it('passes once the requests pack (7 + 4 + 4 CPU per node), and with a node more', () => {
    expect(synthErrors([env({ big: chat(7, 1), small: chat(4, 4) }, 2)]).filter((f) => f.ruleId === 'cluster-fits-all-pods')).toEqual([]);
    expect(synthErrors([env({ big: chat(8, 1), small: chat(4, 4) }, 3)]).filter((f) => f.ruleId === 'cluster-fits-all-pods')).toEqual([]);
  });
});
