import type { INodeSelectorRequirement, INodeSelectorTerm, IPodSpec, IToleration } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import type { NodePool, Taint } from '../../charts/clusters/types.js';
import { fits, podRequests, poolsCapacity, selects, tolerates, toleratesTaint, unfitReason } from '../../charts/placement/index.js';
import { GiB } from '../../charts/sizing/units.js';

/** A node pool with only what the predicates read; the rest of NodePool at neutral values. */
function pool(over: Partial<NodePool> = {}): NodePool {
  return {
    name: 'pool',
    instanceType: 'test.large',
    count: 1,
    allocatable: { cpuMillis: 4000, memoryBytes: 16 * GiB, ephemeralStorageBytes: 100 * GiB },
    labels: {},
    taints: [],
    ...over,
  };
}

const gpuTaint: Taint = { key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' };
const noValue: Taint = { key: 'dedicated', effect: 'NoExecute' };

// kubernetes/kubernetes staging/src/k8s.io/api/core/v1/toleration.go ToleratesTaint, case by case.
describe('toleratesTaint (toleration.go ToleratesTaint)', () => {
  const cases: Array<[string, IToleration, Taint, boolean]> = [
    ['empty key with Exists tolerates any key and value', { operator: 'Exists' }, gpuTaint, true],
    ['empty-string key with Exists is the same wildcard', { key: '', operator: 'Exists' }, noValue, true],
    ['empty key with Exists and an effect tolerates only that effect', { operator: 'Exists', effect: 'NoSchedule' }, noValue, false],
    ['empty effect matches every effect', { key: 'dedicated', operator: 'Exists' }, noValue, true],
    ['a different effect does not match', { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoExecute' }, gpuTaint, false],
    ['a different key does not match', { key: 'other', operator: 'Exists' }, gpuTaint, false],
    ['Equal compares values: equal', { key: 'nvidia.com/gpu', operator: 'Equal', value: 'true' }, gpuTaint, true],
    ['Equal compares values: different', { key: 'nvidia.com/gpu', operator: 'Equal', value: 'false' }, gpuTaint, false],
    ['Equal with no value matches a taint with no value', { key: 'dedicated', operator: 'Equal' }, noValue, true],
    ['Equal with no value does not match a taint with one', { key: 'nvidia.com/gpu', operator: 'Equal' }, gpuTaint, false],
    ['an empty operator is Equal', { key: 'nvidia.com/gpu', value: 'true' }, gpuTaint, true],
    ['an empty operator is Equal (different value)', { key: 'nvidia.com/gpu', value: 'yes' }, gpuTaint, false],
    ['Exists ignores the value', { key: 'nvidia.com/gpu', operator: 'Exists' }, gpuTaint, true],
    ['an unknown operator tolerates nothing', { key: 'nvidia.com/gpu', operator: 'Gt' as 'Exists', value: '0' }, gpuTaint, false],
  ];
  for (const [name, toleration, taint, expected] of cases) {
    it(name, () => expect(toleratesTaint(toleration, taint)).toBe(expected));
  }
});

describe('tolerates (TaintToleration filter: NoSchedule and NoExecute only)', () => {
  it('an untolerated PreferNoSchedule taint does not keep the pod off the pool', () => {
    expect(tolerates({}, pool({ taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] }))).toBe(true);
  });
  it('every blocking taint needs a toleration; one of two tolerated is not enough', () => {
    const p = pool({ taints: [gpuTaint, noValue] });
    expect(tolerates({ tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' }] }, p)).toBe(false);
    expect(
      tolerates(
        {
          tolerations: [
            { key: 'nvidia.com/gpu', operator: 'Exists' },
            { key: 'dedicated', operator: 'Exists' },
          ],
        },
        p,
      ),
    ).toBe(true);
    expect(tolerates({ tolerations: [{ operator: 'Exists' }] }, p)).toBe(true);
  });
  it('a pool without taints takes a pod without tolerations', () => {
    expect(tolerates({}, pool())).toBe(true);
  });
  it('unfitReason names the untolerated taint and the toleration that would admit it', () => {
    const reason = unfitReason({}, podRequests({ containers: [] }), pool({ taints: [gpuTaint] }));
    expect(reason).toBe(
      "pool: taint nvidia.com/gpu=true:NoSchedule (tolerate with scheduling.tolerations: [{ key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' }]) not tolerated",
    );
  });
});

// nodeaffinity.go GetRequiredNodeAffinity / LazyErrorNodeSelector.Match and apimachinery's label requirements.
describe('selects (node selector and required node affinity)', () => {
  const labels = { 'node.kubernetes.io/instance-type': 'g5.2xlarge', gpus: '4', zone: 'a' };
  const p = pool({ labels });
  const required = (...terms: INodeSelectorTerm[]): Pick<IPodSpec, 'affinity'> => ({
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } },
  });

  it('nodeSelector: every pair must equal a label', () => {
    expect(selects({ nodeSelector: { zone: 'a' } }, p)).toBe(true);
    expect(selects({ nodeSelector: { zone: 'a', missing: 'x' } }, p)).toBe(false);
    expect(selects({}, p)).toBe(true);
  });
  it('operators In, NotIn, Exists, DoesNotExist, Gt, Lt', () => {
    // An operator outside the API's enum is cast in, as a JSON manifest could carry it.
    const one = (key: string, operator: string, values?: string[]) =>
      selects(required({ matchExpressions: [{ key, operator: operator as INodeSelectorRequirement['operator'], ...(values ? { values } : {}) }] }), p);
    expect(one('zone', 'In', ['a', 'b'])).toBe(true);
    expect(one('zone', 'In', ['b'])).toBe(false);
    expect(one('absent', 'In', ['a'])).toBe(false);
    expect(one('zone', 'NotIn', ['b'])).toBe(true);
    expect(one('absent', 'NotIn', ['b'])).toBe(true);
    expect(one('zone', 'Exists')).toBe(true);
    expect(one('absent', 'Exists')).toBe(false);
    expect(one('absent', 'DoesNotExist')).toBe(true);
    expect(one('gpus', 'Gt', ['3'])).toBe(true);
    expect(one('gpus', 'Gt', ['4'])).toBe(false);
    expect(one('gpus', 'Lt', ['5'])).toBe(true);
    expect(one('zone', 'Gt', ['1'])).toBe(false); // not an integer label
    expect(one('gpus', 'Gt', ['1', '2'])).toBe(false); // Gt takes exactly one value
    expect(one('zone', 'Near', ['a'])).toBe(false); // unknown operator
  });
  it('terms are ORed, expressions within a term ANDed', () => {
    const a: INodeSelectorTerm = { matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] };
    const b: INodeSelectorTerm = {
      matchExpressions: [
        { key: 'zone', operator: 'In', values: ['a'] },
        { key: 'gpus', operator: 'Exists' },
      ],
    };
    const c: INodeSelectorTerm = {
      matchExpressions: [
        { key: 'zone', operator: 'In', values: ['a'] },
        { key: 'absent', operator: 'Exists' },
      ],
    };
    expect(selects(required(a, b), p)).toBe(true);
    expect(selects(required(a, c), p)).toBe(false);
  });
  it('an empty term selects nothing, and required affinity with no term left matches no node', () => {
    expect(selects(required({ matchExpressions: [] }), p)).toBe(false);
    expect(selects(required({}), p)).toBe(false);
    expect(selects(required(), p)).toBe(false);
    expect(selects(required({}, { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }), p)).toBe(true);
  });
  it('matchFields (node names) is not counted as met: a profile records no node names', () => {
    expect(selects(required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-1'] }] }), p)).toBe(false);
  });
  it('nodeSelector and affinity must both hold', () => {
    expect(selects({ nodeSelector: { zone: 'b' }, ...required({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }) }, p)).toBe(false);
  });
});

// component-helpers/resource/helpers.go PodRequests; pkg/apis/core/v1/defaults.go SetDefaults_Pod.
describe('podRequests (as the scheduler counts them)', () => {
  const c = (name: string, requests: Record<string, string>, limits: Record<string, string> = {}, restartPolicy?: string) => ({
    name,
    resources: { requests, limits },
    ...(restartPolicy ? { restartPolicy } : {}),
  });

  it('app containers are summed; a plain init container counts only where it is larger', () => {
    const r = podRequests({
      containers: [c('a', { cpu: '1', memory: '1Gi' }), c('b', { cpu: '500m', memory: '1Gi' })],
      initContainers: [c('init', { cpu: '4', memory: '512Mi' })],
    });
    expect(r).toEqual({ cpuMillis: 4000, memoryBytes: 2 * GiB, ephemeralStorageBytes: 0, gpus: 0 });
  });
  it('a sidecar (restartPolicy Always) adds to the sum and runs beside the init containers after it', () => {
    const r = podRequests({
      containers: [c('app', { cpu: '1' })],
      initContainers: [c('sidecar', { cpu: '500m' }, {}, 'Always'), c('init', { cpu: '1700m' })],
    });
    // Sum 1 + 0.5 = 1.5; while init runs: 1.7 + the sidecar 0.5 = 2.2.
    expect(r.cpuMillis).toBe(2200);
    const before = podRequests({
      containers: [c('app', { cpu: '1' })],
      initContainers: [c('init', { cpu: '1700m' }), c('sidecar', { cpu: '500m' }, {}, 'Always')],
    });
    // The init container runs before the sidecar starts: max(1.7, 1 + 0.5).
    expect(before.cpuMillis).toBe(1700);
  });
  it('a resource with a limit and no request is requested at its limit (GPUs included)', () => {
    const r = podRequests({ containers: [c('gpu', { cpu: '1' }, { cpu: '2', memory: '3Gi', 'nvidia.com/gpu': '1' })] });
    expect(r).toEqual({ cpuMillis: 1000, memoryBytes: 3 * GiB, ephemeralStorageBytes: 0, gpus: 1 });
  });
  it('pod overhead is added', () => {
    expect(podRequests({ containers: [c('a', { cpu: '1' })], overhead: { cpu: '250m' } }).cpuMillis).toBe(1250);
  });
});

describe('fits (NodeResourcesFit against free allocatable)', () => {
  const p = pool({ reservedPerNode: { cpuMillis: 1000, memoryBytes: 4 * GiB }, gpus: { count: 1, memoryGiB: 24, model: 'A10G' } });
  const req = (cpuMillis: number, memoryBytes: number, gpus = 0) => ({ cpuMillis, memoryBytes, ephemeralStorageBytes: 0, gpus });
  it('requests up to the free allocatable fit; one millicore or byte more does not', () => {
    expect(fits({}, req(3000, 12 * GiB, 1), p)).toBe(true);
    expect(fits({}, req(3001, 12 * GiB), p)).toBe(false);
    expect(fits({}, req(3000, 12 * GiB + 1), p)).toBe(false);
    expect(fits({}, req(1000, GiB, 2), p)).toBe(false);
  });
  it('unfitReason lists every resource that is short', () => {
    expect(unfitReason({}, req(3500, 13 * GiB), p)).toBe(
      'pool (test.large): cpu 3.5 CPU > 3 CPU free, memory 13.00 GiB > 12.00 GiB free of 16.00 GiB allocatable',
    );
  });
  it('poolsCapacity: free allocatable times nodes, an autoscaled pool at its maxCount', () => {
    const fixed = pool({ count: 2, reservedPerNode: { cpuMillis: 500, memoryBytes: GiB } });
    const autoscaled = pool({ count: 1, autoscaling: { minCount: 1, maxCount: 3 }, gpus: { count: 4, memoryGiB: 24, model: 'L40S' } });
    expect(poolsCapacity([fixed, autoscaled])).toEqual({
      cpuMillis: 2 * 3500 + 3 * 4000,
      memoryBytes: 2 * 15 * GiB + 3 * 16 * GiB,
      ephemeralStorageBytes: 5 * 100 * GiB,
      gpus: 12,
    });
  });
});
