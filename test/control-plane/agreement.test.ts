/**
 * The synth rules that model a control-plane decision against the real control plane (issue 27): every committed
 * environment (they must run) and variants that break one decision each (they must fail for real too), each
 * judged by the rules and by Kubernetes v1.37 itself. The table goes to docs/control-plane.md when
 * CONTROL_PLANE_DOC=1 (the command is in that file). The seed incidents are asserted on the same runs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ClusterProfile, NodePool } from '../../charts/clusters/types.js';
import { environments } from '../../charts/environments/index.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { cpuMillis, parseQuantity } from '../../charts/lib/quantity.js';
import type { Finding } from '../../charts/rules/types.js';
import { repoRoot, type ManifestDoc } from '../support/manifests.js';
import { apisRemovedBeforeControlPlane, installCrds } from './apply.js';
import { judgeOnRealCluster, synthUnchecked, type RealVerdict } from './compare.js';
import { controlPlaneAvailabilityTest, controlPlaneMissing, useControlPlane } from './setup.js';

/**
 * Cases where the rules and Kubernetes disagree and the fix is not small: each with what was found. A case that
 * starts to agree fails the test too, so the entry is removed with the fix.
 */
const openDisagreements: Readonly<Record<string, string>> = {};

/** The rules that stand in for a decision of the API server, a controller or the scheduler. */
export const controlPlaneRules = [
  'pod-fits-node-pool',
  'cluster-fits-all-pods',
  'rollout-surge-fits',
  'namespace-quota-fits',
  'limit-range-admits',
  'pod-security-standard-met',
  'gpu-scheduling',
  'storage-class-provisioned',
] as const;

interface Case {
  readonly name: string;
  /** The rule this case breaks on purpose; undefined for a committed environment, which must run. */
  readonly breaks?: (typeof controlPlaneRules)[number];
  readonly env: Environment;
}

interface Judged extends Case {
  readonly ruleErrors: readonly Finding[];
  readonly real: readonly RealVerdict[];
}

/** Pod requests of a service's Deployment as the scheduler counts them: containers summed, init containers at their largest. */
function podRequests(docs: readonly ManifestDoc[], service: string): { cpuMillis: number; memoryBytes: number } {
  const d = docs.find((x) => x.object.kind === 'Deployment' && x.object.metadata.name === service);
  if (!d) throw new Error(`no Deployment ${service}`);
  type C = { resources?: { requests?: Record<string, string> } };
  const spec = d.object.spec.template.spec as { containers: C[]; initContainers?: C[] };
  const sum = (cs: C[], f: (c: C) => number) => cs.reduce((a, c) => a + f(c), 0);
  const max = (cs: C[], f: (c: C) => number) => cs.reduce((a, c) => Math.max(a, f(c)), 0);
  const cpu = (c: C) => cpuMillis(c.resources?.requests?.cpu);
  const mem = (c: C) => parseQuantity(c.resources?.requests?.memory) ?? 0;
  return {
    cpuMillis: Math.max(sum(spec.containers, cpu), max(spec.initContainers ?? [], cpu)),
    memoryBytes: Math.max(sum(spec.containers, mem), max(spec.initContainers ?? [], mem)),
  };
}

const withCluster = (env: Environment, name: string, cluster: Partial<ClusterProfile>): Environment => ({
  ...env,
  cluster: { ...env.cluster, ...cluster, name: `${env.cluster.name}-${name}` },
});
const mapPools = (env: Environment, pick: (p: NodePool) => boolean, f: (p: NodePool) => NodePool): NodePool[] =>
  env.cluster.nodePools.map((p) => (pick(p) ? f(p) : p));
const withService = (env: Environment, service: string, change: (s: ServiceDeclaration) => ServiceDeclaration): Environment => ({
  ...env,
  services: { ...env.services, [service]: change(env.services[service]!) },
});

/** The first environment with a CPU-only service on a cache claim and a GPU service: the variants' base. */
const base = environments.find(
  (e) => Object.values(e.services).some((s) => s.gpu) && Object.values(e.services).some((s) => !s.gpu && s.modelCache?.kind === 'persistentVolumeClaim'),
)!;
const cpuService = Object.keys(base.services).find((s) => !base.services[s]!.gpu && base.services[s]!.modelCache?.kind === 'persistentVolumeClaim')!;
const gpuService = Object.keys(base.services).find((s) => base.services[s]!.gpu)!;
const isGpuPool = (p: NodePool) => (p.gpus?.count ?? 0) > 0;
const baseDocs = synthUnchecked(base).docs;
const cpuReq = podRequests(baseDocs, cpuService);
/** The environment with a quota and a LimitRange of its own, for the admission variants. */
const budgeted = environments.find((e) => e.quota && e.limitRange);
const MiB = 1024 * 1024;

export function cases(): Case[] {
  const out: Case[] = environments.map((env) => ({ name: `committed: ${env.name}`, env }));
  const reserved = (p: NodePool) => p.reservedPerNode ?? { cpuMillis: 0, memoryBytes: 0 };
  out.push({
    name: `${base.name}: ${cpuService} requests more memory than a CPU node has free (allocatable minus reservations)`,
    breaks: 'pod-fits-node-pool',
    env: withCluster(base, 'small-memory', {
      nodePools: mapPools(
        base,
        (p) => !isGpuPool(p),
        (p) => ({ ...p, allocatable: { ...p.allocatable, memoryBytes: cpuReq.memoryBytes + reserved(p).memoryBytes - 256 * MiB } }),
      ),
    }),
  });
  out.push({
    name: `${base.name}: ${cpuService} requests more CPU than a CPU node has free`,
    breaks: 'pod-fits-node-pool',
    env: withCluster(base, 'small-cpu', {
      nodePools: mapPools(
        base,
        (p) => !isGpuPool(p),
        (p) => ({ ...p, allocatable: { ...p.allocatable, cpuMillis: cpuReq.cpuMillis + reserved(p).cpuMillis - 100 } }),
      ),
    }),
  });
  out.push({
    name: `${base.name}: CPU nodes carry a taint no pod tolerates`,
    breaks: 'pod-fits-node-pool',
    env: withCluster(base, 'tainted', {
      nodePools: mapPools(
        base,
        (p) => !isGpuPool(p),
        (p) => ({ ...p, taints: [...p.taints, { key: 'dedicated', value: 'batch', effect: 'NoSchedule' }] }),
      ),
    }),
  });
  out.push({
    name: `${base.name}: one CPU node, each CPU pod fits alone but not all together`,
    breaks: 'cluster-fits-all-pods',
    env: withCluster(base, 'one-node', {
      nodePools: mapPools(
        base,
        (p) => !isGpuPool(p),
        (p) => {
          const { autoscaling: _autoscaling, ...fixed } = p;
          return {
            ...fixed,
            count: 1,
            allocatable: { ...p.allocatable, cpuMillis: 64_000, memoryBytes: cpuReq.memoryBytes + reserved(p).memoryBytes + 256 * MiB },
          };
        },
      ),
    }),
  });
  // Fits by sum, not by node: a copy of the largest CPU service joins, and each CPU node is sized so that any pod
  // fits it alone but no two share it (free CPU just under the two smallest pods together), with one node fewer
  // than pods. The pools hold the CPU in total and each service's pods one per node, so only a packing of all of
  // them together (whatever the order) tells that one pod stays Pending.
  const cpuOnly = Object.keys(base.services).filter((s) => !base.services[s]!.gpu);
  const largest = [...cpuOnly].sort((a, b) => podRequests(baseDocs, b).cpuMillis - podRequests(baseDocs, a).cpuMillis)[0]!;
  const copy = `${largest}-copy`;
  const fullScale = (s: ServiceDeclaration) => s.autoscaling?.maxReplicas ?? s.replicas ?? 1;
  const cpuPods = [...cpuOnly, copy].flatMap((s) =>
    Array.from({ length: fullScale(base.services[s === copy ? largest : s]!) }, () => podRequests(baseDocs, s === copy ? largest : s).cpuMillis),
  );
  const sorted = [...cpuPods].sort((a, b) => a - b);
  const freeCpu = sorted[0]! + sorted[1]! - 100;
  const nodes = cpuPods.length - 1;
  if (freeCpu < sorted.at(-1)! || cpuPods.reduce((a, c) => a + c, 0) > nodes * freeCpu)
    throw new Error(`${base.name}: CPU pods ${cpuPods.join(', ')} m cannot make a case that fits by sum but not by node`);
  out.push({
    name: `${base.name} and a copy of ${largest}: ${nodes} CPU nodes of ${freeCpu / 1000} CPU free hold ${cpuPods.length} pods by sum but one per node`,
    breaks: 'cluster-fits-all-pods',
    env: {
      ...withCluster(base, 'packing', {
        namespaceQuotas: {},
        nodePools: mapPools(
          base,
          (p) => !isGpuPool(p),
          (p) => {
            const { autoscaling: _autoscaling, ...fixed } = p;
            return { ...fixed, count: nodes, allocatable: { ...p.allocatable, cpuMillis: freeCpu + reserved(p).cpuMillis } };
          },
        ),
      }),
      services: { ...base.services, [copy]: base.services[largest]! },
    },
  });
  out.push({
    name: `${base.name}: no GPU node pool`,
    breaks: 'gpu-scheduling',
    env: withCluster(base, 'no-gpu', { nodePools: base.cluster.nodePools.filter((p) => !isGpuPool(p)) }),
  });
  out.push({
    name: `${base.name}: the cache class's CSI driver is not installed`,
    breaks: 'storage-class-provisioned',
    env: withCluster(base, 'no-csi', { storageClasses: base.cluster.storageClasses.map((c) => ({ ...c, csiDriverInstalled: false })) }),
  });
  out.push({
    name: `${base.name}: ${gpuService} with RollingUpdate on its one GPU node (no cluster quota, so the scheduler decides)`,
    breaks: 'rollout-surge-fits',
    env: withService(withCluster(base, 'no-quota', { namespaceQuotas: {} }), gpuService, (s) => ({
      ...s,
      overrides: { ...s.overrides, strategy: 'RollingUpdate' },
    })),
  });
  out.push({
    name: `${base.name}: ${cpuService} allows privilege escalation`,
    breaks: 'pod-security-standard-met',
    env: withService(base, cpuService, (s) => ({
      ...s,
      overrides: { ...s.overrides, securityContext: { ...s.overrides?.securityContext, allowPrivilegeEscalation: true } },
    })),
  });
  if (budgeted) {
    const docs = synthUnchecked(budgeted).docs;
    const limits = docs
      .filter((d) => d.object.kind === 'Deployment')
      .flatMap((d) =>
        (d.object.spec.template.spec.containers as Array<{ resources?: { limits?: Record<string, string> } }>).map(
          (c) => parseQuantity(c.resources?.limits?.memory) ?? 0,
        ),
      );
    out.push({
      name: `${budgeted.name}: the LimitRange's per-container memory maximum is below the largest container limit`,
      breaks: 'limit-range-admits',
      env: {
        ...budgeted,
        limitRange: {
          ...budgeted.limitRange,
          maxPerContainer: { ...budgeted.limitRange!.maxPerContainer, memoryMiB: Math.floor(Math.max(...limits) / MiB) - 1 },
        },
      },
    });
    const quota = budgeted.quota!;
    out.push({
      name: `${budgeted.name}: the namespace quota's memory holds the pods at their minimum but not at full scale`,
      breaks: 'namespace-quota-fits',
      env: {
        ...budgeted,
        quota: { ...quota, memoryGiB: Math.ceil(Object.keys(budgeted.services).reduce((a, s) => a + podRequests(docs, s).memoryBytes, 0) / 1024 ** 3) },
      },
    });
  }
  return out;
}

/**
 * Rule and Kubernetes disagree on a case unless the rules refuse the environment exactly when some service fails for
 * real, and every service that fails for real is one a rule names (a rule on the whole cluster, such as
 * cluster-fits-all-pods, names every service that competes; the scheduler leaves only some of them Pending).
 */
const disagrees = (j: Judged) => {
  const failing = j.real.filter((r) => r.problems.length > 0).map((r) => r.service);
  const named = new Set(j.ruleErrors.map((f) => f.service));
  return j.ruleErrors.length > 0 !== failing.length > 0 || (!named.has('*') && failing.some((s) => !named.has(s)));
};

function table(judged: readonly Judged[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const rows = judged.map((j) => {
    const rule = j.ruleErrors.length === 0 ? 'runs' : `refuses: ${[...new Set(j.ruleErrors.map((f) => `${f.ruleId} (${f.service})`))].join(', ')}`;
    const failing = j.real.filter((r) => r.problems.length > 0);
    const real = failing.length === 0 ? 'runs: all admitted, placed, bound, rolled out' : failing.map((r) => `${r.service}: ${r.problems[0]}`).join('; ');
    const agree = disagrees(j) ? `**no**: ${openDisagreements[j.name] ?? 'new'}` : 'yes';
    return `| ${cell(j.name)} | ${j.breaks ?? '(none)'} | ${cell(rule)} | ${cell(real)} | ${cell(agree)} |`;
  });
  return ['| case | rule broken on purpose | synth rules | Kubernetes v1.37.2 | agree |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

controlPlaneAvailabilityTest();

describe.skipIf(controlPlaneMissing !== undefined).sequential('synth rules agree with the real control plane', () => {
  const controlPlane = useControlPlane();
  const judged: Judged[] = [];
  /**
   * Runs that threw (an API call failing on a loaded machine, not a verdict), with the first lines of the error. A
   * case is run once more after a throw; the last test names these runs, whose output CI shows first.
   */
  const thrown: string[] = [];

  it('installs the CRDs kept in crds/', async () => {
    expect(await installCrds(controlPlane().kubeConfig)).toEqual([]);
  });

  it.each(cases().map((c) => [c.name, c] as const))(
    '%s',
    async (name, c) => {
      const { docs, errors } = synthUnchecked(c.env);
      const ruleErrors = errors.filter((f) => (controlPlaneRules as readonly string[]).includes(f.ruleId));
      const judge = () => judgeOnRealCluster(controlPlane().kubeConfig, c.env, docs);
      const real = await judge().catch((err: unknown) => {
        thrown.push(
          `${name}: ${String(err instanceof Error ? err.message : err)
            .split('\n')
            .slice(0, 4)
            .join(' ')}`,
        );
        console.warn(`control-plane case threw, run again: ${thrown.at(-1)}`);
        return judge();
      });
      const j: Judged = { ...c, ruleErrors, real };
      judged.push(j);
      if (c.breaks)
        expect(
          ruleErrors.map((f) => f.ruleId),
          'the variant breaks the rule it is meant to',
        ).toContain(c.breaks);
      expect(disagrees(j), table([j])).toBe(name in openDisagreements);
    },
    600_000,
  );

  it('incident: a pod larger than what is free is Pending with the scheduler\'s "Insufficient memory", and the rule names memory', () => {
    const c = judged.find((j) => j.name.includes('more memory than'))!;
    const real = c.real.find((r) => r.service === cpuService)!;
    expect(real.problems.join('\n')).toMatch(/Insufficient memory/);
    expect(c.ruleErrors.find((f) => f.ruleId === 'pod-fits-node-pool' && f.service === cpuService)?.message).toMatch(/memory .* > .* free/);
    const cpu = judged.find((j) => j.name.includes('more CPU than'))!;
    expect(cpu.real.find((r) => r.service === cpuService)!.problems.join('\n')).toMatch(/Insufficient cpu/);
    expect(cpu.ruleErrors.find((f) => f.ruleId === 'pod-fits-node-pool' && f.service === cpuService)?.message).toMatch(/cpu .* > .* free/);
  });

  it('incident: RollingUpdate on the one GPU node leaves the surge pod Pending; the synthesized strategy rolls through', () => {
    const stuck = judged.find((j) => j.breaks === 'rollout-surge-fits')!;
    expect(stuck.real.find((r) => r.service === gpuService)!.problems.join('\n')).toMatch(/rolling out: pod Pending: .*Insufficient nvidia\.com\/gpu/);
    const committed = judged.find((j) => j.name === `committed: ${base.name}`)!;
    expect(committed.real.find((r) => r.service === gpuService)!.problems).toEqual([]);
  });

  it('incident: a claim on a class without its CSI driver stays Pending, waiting for the external provisioner; synth refuses it first', () => {
    const c = judged.find((j) => j.breaks === 'storage-class-provisioned')!;
    const problems = c.real.flatMap((r) => r.problems).join('\n');
    expect(problems).toMatch(/claim \S+ Pending \(ExternalProvisioning: .*external provisioner/);
    expect(c.ruleErrors.some((f) => f.ruleId === 'storage-class-provisioned' && /CSI driver/.test(f.message))).toBe(true);
  });

  it('every case agrees, and the table is written when asked', () => {
    expect(judged.length, `every case judged; runs that threw: ${thrown.join(' | ') || 'none'}`).toBe(cases().length);
    if (process.env.CONTROL_PLANE_DOC === '1') {
      const path = join(repoRoot, 'docs/control-plane.md');
      const doc = `${docHead}\n${table(judged)}\n\n${docTail}`;
      writeFileSync(path, doc);
    }
    expect(judged.filter(disagrees).map((j) => j.name)).toEqual(Object.keys(openDisagreements));
  });
});

const docHead = `# The synth rules against a real control plane

Generated by \`CONTROL_PLANE_DOC=1 npx vitest run test/control-plane/agreement.test.ts\` (test/control-plane/): each
case is synthesized, judged by the synth rules that model a control-plane decision (${controlPlaneRules.map((r) => `\`${r}\``).join(', ')}), and applied in Argo CD's wave order to a real Kubernetes v1.37.2 control plane
(tools/control-plane) whose nodes are the cluster profile's node pools; the tests play the kubelet (pods reported
Ready, deletions finished) and the external provisioner (claims bound only for installed CSI drivers). Every
Deployment is scaled to its autoscaler's maximum and then rolled once. "agree" means: the rules refuse the
environment exactly when Kubernetes leaves a pod Pending, refuses a pod or an object, or leaves a claim unbound.
Objects of APIs v1.37 no longer serves (${apisRemovedBeforeControlPlane.map((a) => `${a.apiVersion} ${a.kind}, removed in 1.${a.removedMinor}`).join('; ')})
are not applied: a profile older than the removal (the on-prem 1.23 one enforces PodSecurityPolicy) has that
admission judged by \`pod-security-policy-admits\` and the sync harness's model of it, not here.
`;

const docTail = `## The packing

\`cluster-fits-all-pods\` does not stop at the pools' sums: it places every pod at full scale one at a time as
kube-scheduler does (charts/placement/packing.ts: the Fit, taint, node-affinity and topology-spread filters, and the
default scores at their default weights), in Argo CD's sync order and the other orders autoscalers and ReplicaSet
controllers can produce, ties broken both ways. The case "fits by sum, not by node" above is refused by it and left
Pending by the real scheduler; on the fleet, 4-CPU pods two to a 15.89-CPU node had left 7.89 CPU each, so its 7B and
8B services ask 7 CPU.

## The day-2 sequences

\`CI=true npx vitest run test/control-plane/sequences.test.ts\` replays the day-2 sequences of test/sync/sequences.ts
(model bump and revert, rollback, image bump, context-size change, autoscaler change, service removed and added back,
environment removed, promotion) on a control plane of its own, every environment on its profile's nodes: each commit is
synthesized and server-side applied in wave order with Argo CD's field manager, and what it no longer has is pruned
(an environment removal keeps only \`Delete=false\` objects). Every synthesized commit must be admitted. On each
environment's own bound claim and Deployment, the updates the sync harness refuses (\`validateUpdate\`) must be refused
by the API server too, naming the same field and reason: the claim's storage below \`status.capacity\`, its
\`storageClassName\` and \`accessModes\`, and the Deployment's \`spec.selector\`; and, as controls, updates both allow
(the claim as committed, a pod-template annotation) must be admitted by both.
`;
