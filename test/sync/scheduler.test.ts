/**
 * The simulated scheduler (test/sync/cluster.ts) places pods by the synth rules' predicates
 * (charts/placement/): a toleration or affinity the rules accept must schedule here too. Before the shared
 * module the simulator ignored the wildcard toleration (empty key, operator Exists) that the rules honoured.
 */
import type { IToleration } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { r5_2xlarge } from '../../charts/clusters/eks.js';
import type { NodePool } from '../../charts/clusters/types.js';
import { tolerates } from '../../charts/placement/index.js';
import { roomyTestCluster } from '../support/clusters.js';
import { SimCluster } from './cluster.js';
import type { Obj } from './objects.js';
import { SyncTimeline } from './timeline.js';

const tainted: NodePool = { ...r5_2xlarge(1), name: 'dedicated', taints: [{ key: 'dedicated', value: 'llm', effect: 'NoSchedule' }] };

function deployment(tolerations: IToleration[], affinity?: object): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'chat', namespace: 'llm' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'chat' } },
      template: {
        metadata: { labels: { app: 'chat' } },
        spec: {
          tolerations,
          ...(affinity ? { affinity } : {}),
          containers: [{ name: 'server', image: 'server:1.0.0', resources: { requests: { cpu: '1', memory: '1Gi' } } }],
        },
      },
    },
  } as Obj;
}

/** The pool the single pod of the Deployment was scheduled on after a minute, or undefined when it stays Pending. */
function scheduledPool(d: Obj): string | undefined {
  const sim = new SimCluster({
    profile: roomyTestCluster({ nodePools: [tainted] }),
    timeline: new SyncTimeline('scheduler'),
    podTiming: () => ({ startSeconds: 1, initSeconds: 0, readySeconds: 1, source: 'test' }),
  });
  sim.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'llm' } } as Obj);
  sim.apply(d);
  for (let i = 0; i < 60; i++) sim.tick();
  const pods = sim.list('Pod', 'llm');
  expect(pods).toHaveLength(1);
  return pods[0]!.spec.nodeName === undefined ? undefined : 'dedicated';
}

describe('simulated scheduler uses the placement predicates', () => {
  const cases: Array<[string, IToleration[]]> = [
    ['wildcard (empty key, Exists)', [{ operator: 'Exists' }]],
    ['key with Exists', [{ key: 'dedicated', operator: 'Exists' }]],
    ['key, value and effect', [{ key: 'dedicated', value: 'llm', effect: 'NoSchedule' }]],
  ];
  for (const [name, tolerations] of cases) {
    it(`schedules a pod whose toleration the rules accept: ${name}`, () => {
      expect(tolerates({ tolerations }, tainted)).toBe(true);
      expect(scheduledPool(deployment(tolerations))).toBe('dedicated');
    });
  }

  it('leaves Pending a pod whose toleration the rules refuse (wrong value, wildcard with another effect)', () => {
    for (const tolerations of [[{ key: 'dedicated', value: 'batch' }], [{ operator: 'Exists', effect: 'NoExecute' }]] as IToleration[][]) {
      expect(tolerates({ tolerations }, tainted)).toBe(false);
      expect(scheduledPool(deployment(tolerations))).toBeUndefined();
    }
  });

  it('honours required node affinity, as the rules do', () => {
    const tolerations: IToleration[] = [{ operator: 'Exists' }];
    const affinity = (instanceType: string) => ({
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'node.kubernetes.io/instance-type', operator: 'In', values: [instanceType] }] }],
        },
      },
    });
    expect(scheduledPool(deployment(tolerations, affinity('r5.2xlarge')))).toBe('dedicated');
    expect(scheduledPool(deployment(tolerations, affinity('m5.large')))).toBeUndefined();
  });
});
