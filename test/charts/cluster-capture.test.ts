import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { factsFromKubectl, parsePoolBounds, type PoolBounds } from '../../charts/clusters/capture.js';
import { onpremTanzuFacts } from '../../charts/clusters/captured/onprem-tanzu.js';
import type { ClusterFacts } from '../../charts/clusters/facts.js';
import { profileFromFacts, unknownClassReadMiBps } from '../../charts/clusters/from-facts.js';
import type { ClusterProfile } from '../../charts/clusters/types.js';
import { minimumKubernetesMinor } from '../../charts/clusters/versions.js';
import { environments } from '../../charts/environments/index.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { qwen25_3bInstructQ4KM, qwen25_7bInstructQ4KM } from '../../charts/models/catalogue.js';
import { versionedFeatures, type Obj } from '../../charts/prerequisites.js';
import { synthesizeAll } from '../../charts/synth.js';
import { capture } from '../../tools/cluster-capture/main.js';
import { synthErrorIds as ids, synthErrors as errors } from '../support/synth.js';

const fixtures = 'test/fixtures/kubectl';
const fixtureDirs = readdirSync(fixtures);

function captureFixture(name: string, poolBounds: PoolBounds = {}): ClusterFacts {
  const dir = join(fixtures, name);
  return factsFromKubectl({
    poolBounds,
    version: JSON.parse(readFileSync(join(dir, 'version.json'), 'utf8')),
    versionFrom: join(dir, 'version.json'),
    list: JSON.parse(readFileSync(join(dir, 'resources.json'), 'utf8')),
    listFrom: join(dir, 'resources.json'),
    ...(existsSync(join(dir, 'addons.json'))
      ? { addons: JSON.parse(readFileSync(join(dir, 'addons.json'), 'utf8')), addonsFrom: join(dir, 'addons.json') }
      : {}),
    capturedFrom: `files in ${dir}`,
    capturedAt: 'now',
  });
}

const withoutTime = (f: ClusterFacts) => ({ ...f, capturedAt: undefined });

function envOn(cluster: ClusterProfile, services: Record<string, ServiceDeclaration>, namespace = 'llm-test'): Environment {
  return {
    name: 'test',
    definedIn: 'test/charts/cluster-capture.test.ts',
    namespace,
    clusterName: cluster.name,
    cluster,
    image: 'ghcr.io/gguf-on-k8s/inference:1.2.3',
    services,
  };
}

const eksFacts = captureFixture('eks-efs-only');
const eks = profileFromFacts(eksFacts, { name: 'eks-efs-only', definedIn: 'test/charts/cluster-capture.test.ts', storage: { 'efs-sc': { readMiBps: 60 } } });
const onprem = profileFromFacts(onpremTanzuFacts, {
  name: 'onprem',
  definedIn: 'test/charts/cluster-capture.test.ts',
  storage: { 'vsphere-gold': { readMiBps: 200 } },
  loadBalancerIdleTimeoutSeconds: 600,
});

const cpuChat = (storageClassName: string, accessMode: 'ReadWriteOnce' | 'ReadWriteMany' = 'ReadWriteOnce'): ServiceDeclaration => ({
  model: qwen25_3bInstructQ4KM,
  cpu: 2,
  modelCache: { kind: 'persistentVolumeClaim', storageClassName, accessMode },
});
const gpuChat: ServiceDeclaration = {
  model: qwen25_7bInstructQ4KM,
  cpu: 2,
  gpu: { count: 1, memoryGiB: 22 },
  modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'efs-sc', accessMode: 'ReadWriteMany' },
};

describe('cluster capture', () => {
  it('every committed capture from fixture files is exactly what its fixture captures to; a live one names its context', () => {
    const committed = readdirSync('charts/clusters/captured');
    expect(committed.length).toBeGreaterThan(0);
    let replayed = 0;
    for (const file of committed) {
      const text = readFileSync(join('charts/clusters/captured', file), 'utf8');
      // A team's own cluster, captured with --context, has no fixture to replay: its header must say which context.
      if (/from kube context \S+ by:/.test(text)) {
        expect(text, `${file}: a live capture records its command`).toMatch(/npm run cluster:capture -- --context \S+/);
        continue;
      }
      const from = /from files in (\S+) by:/.exec(text)?.[1];
      expect(from, `${file} names the folder or the kube context it was captured from`).toBeDefined();
      const name = from!.split('/').at(-1)!;
      expect(fixtureDirs).toContain(name);
      // The pool bounds the capture was given are in the command the header records.
      const bounds = parsePoolBounds(/--pool-bounds (\S+)/.exec(text.split('\n').slice(0, 4).join(' '))?.[1] ?? '');
      const json = text.slice(text.indexOf('= {') + 2, text.lastIndexOf('};') + 1);
      expect(withoutTime(JSON.parse(json) as ClusterFacts)).toEqual({ ...withoutTime(captureFixture(name, bounds)), capturedFrom: `files in ${from}` });
      replayed++;
    }
    expect(replayed, 'the shipped captures come from the fixtures in test/fixtures/kubectl').toBeGreaterThan(0);
    expect(withoutTime(onpremTanzuFacts).kubernetesVersion).toBe('v1.23.8+vmware.3');
  });

  it('groups node pools by their pool label (instance type as the fallback), with allocatable, taints and capacity type from the nodes', () => {
    expect(eksFacts.nodePools.map((p) => [p.name, p.groupedBy, p.count, p.capacityType])).toEqual([
      ['cpu', 'eks.amazonaws.com/nodegroup', 2, 'on-demand'],
      ['gpu', 'eks.amazonaws.com/nodegroup', 1, 'spot'],
    ]);
    const gpu = eksFacts.nodePools.find((p) => p.name === 'gpu')!;
    expect(gpu.taints).toEqual([{ key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' }]);
    expect(gpu.allocatable.gpus).toBe(1);
    expect(gpu.gpu).toEqual({ product: 'NVIDIA-A10G', memoryMiB: 23028 });
    expect(gpu.labels['kubernetes.io/hostname']).toBeUndefined();
    expect(eksFacts.operators).toEqual(expect.arrayContaining(['prometheus-operator', 'GPU feature discovery']));
    // The allocatable figure is the node's status.allocatable (Ki), not the instance's size.
    const list = JSON.parse(readFileSync(join(fixtures, 'eks-efs-only/resources.json'), 'utf8'));
    const node = list.items.find((i: { kind: string }) => i.kind === 'Node');
    expect(eksFacts.nodePools[0]!.allocatable.memoryBytes).toBe(Number(node.status.allocatable.memory.replace('Ki', '')) * 1024);
    expect(onpremTanzuFacts.nodePools.map((p) => p.groupedBy)).toEqual(['node.kubernetes.io/instance-type', 'node.kubernetes.io/instance-type']);
    expect(onpremTanzuFacts.cloudProvider).toBe('vsphere');
    expect(onpremTanzuFacts.ingressClasses).toEqual([{ name: 'nginx', controller: 'k8s.io/ingress-nginx', controllerNamespace: 'ingress-system' }]);
  });

  describe('the CLI', () => {
    const work = mkdtempSync(join(tmpdir(), 'cluster-capture-'));
    afterAll(() => rmSync(work, { recursive: true, force: true }));
    const failsWith = (argv: string[], pattern: RegExp) => {
      const out = join(work, 'out.ts');
      expect(() => capture([...argv, '--out', out])).toThrow(pattern);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(work).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    };

    it('writes a typed file with a header saying when and from what', () => {
      const out = join(work, 'eks-efs-only.ts');
      const { text } = capture(['--from', join(fixtures, 'eks-efs-only'), '--out', out], new Date('2026-12-01T10:00:00Z'));
      expect(readFileSync(out, 'utf8')).toBe(text);
      expect(text).toMatch(/Captured 2026-12-01T10:00:00Z from files in test\/fixtures\/kubectl\/eks-efs-only/);
      expect(text).toMatch(/Kubernetes v1\.29\.10-eks-7f9249a/);
      expect(text).toContain('export const eksEfsOnlyFacts: ClusterFacts');
    });

    it('bad input fails naming the file or command and what to do, writing nothing', () => {
      failsWith([], /exactly one of --context and --from/);
      failsWith(['--from', join(work, 'missing')], /version\.json: not found/);
      const bad = join(work, 'bad');
      mkdirSync(bad);
      writeFileSync(join(bad, 'version.json'), '{"clientVersion": {');
      writeFileSync(join(bad, 'resources.json'), '{}');
      failsWith(['--from', bad], /version\.json: not JSON .*Fix:/);
      writeFileSync(join(bad, 'version.json'), readFileSync(join(fixtures, 'eks-efs-only/version.json')));
      failsWith(['--from', bad], /resources\.json: expected a kubectl List/);
      const list = JSON.parse(readFileSync(join(fixtures, 'eks-efs-only/resources.json'), 'utf8'));
      writeFileSync(join(bad, 'resources.json'), JSON.stringify({ ...list, items: list.items.filter((i: { kind: string }) => i.kind !== 'Node') }));
      failsWith(['--from', bad], /no Node items \(the nodes kind is missing\)/);
      failsWith(['--context', 'no-such-context-for-capture'], /kubectl --context no-such-context-for-capture version -o json: .*Fix:/);
    });
  });
});

describe('storage read rates', () => {
  it('a captured class without a declared read rate is marked assumed; a declared one is not', () => {
    const declared = eks.storageClasses.find((c) => c.name === 'efs-sc');
    expect(declared?.readMiBps).toBe(60);
    expect(declared?.readMiBpsAssumed).toBeUndefined();
    const undeclared = eks.storageClasses.filter((c) => c.name !== 'efs-sc');
    expect(undeclared.length).toBeGreaterThan(0);
    for (const c of undeclared) expect(c, c.name).toMatchObject({ readMiBps: unknownClassReadMiBps, readMiBpsAssumed: true });
  });
});

describe('rules from captured facts', () => {
  it('the EFS-only EKS cluster fails a gp2 cache with storage-class-provisioned, naming the missing EBS driver', () => {
    const found = errors([envOn(eks, { chat: cpuChat('gp2') })]).filter((f) => f.ruleId === 'storage-class-provisioned');
    expect(found).toHaveLength(1);
    expect(found[0]!.message).toMatch(/needs the CSI driver ebs\.csi\.aws\.com, which is not installed/);
    expect(ids([envOn(eks, { chat: cpuChat('efs-sc', 'ReadWriteMany') })])).not.toContain('storage-class-provisioned');
  });

  it('two GPU services on a cluster with one GPU fail cluster-fits-all-pods; one passes', () => {
    expect(ids([envOn(eks, { a: gpuChat })])).not.toContain('cluster-fits-all-pods');
    const found = errors([envOn(eks, { a: gpuChat, b: gpuChat })]).filter((f) => f.ruleId === 'cluster-fits-all-pods');
    expect(found.map((f) => f.service).sort()).toEqual(['a', 'b']);
    expect(found[0]!.message).toMatch(/GPUs 2 > 1/);
  });

  it('on 1.23 the PDB leaves out unhealthyPodEvictionPolicy, and an override that sets it fails', () => {
    const out = synthesizeAll([envOn(onprem, { chat: cpuChat('vsphere-gold') }, 'llm-onprem')]);
    const pdb = parse(
      out.files
        .get('dist/test/chat.yaml')!
        .split('\n---\n')
        .find((d) => d.includes('kind: PodDisruptionBudget'))!,
    );
    expect(pdb.spec.unhealthyPodEvictionPolicy).toBeUndefined();
    const overridden = {
      ...cpuChat('vsphere-gold'),
      overrides: { disruptionBudget: { maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' as const } },
    };
    expect(ids([envOn(onprem, { chat: overridden }, 'llm-onprem')])).toEqual(['kubernetes-version-supported']);
    const newer = { ...onprem, kubernetesVersion: 'v1.29.1', podSecurityPolicyAdmission: false };
    expect(ids([envOn(newer, { chat: overridden }, 'llm-onprem')])).toEqual([]);
  });

  it(`a cluster at the minimum 1.${minimumKubernetesMinor} gets no field newer than that; older fails`, () => {
    const atMinimum = { ...onprem, kubernetesVersion: `v1.${minimumKubernetesMinor}.0` };
    for (const e of environments) {
      const out = synthesizeAll([{ ...e, cluster: { ...e.cluster, kubernetesVersion: atMinimum.kubernetesVersion } }].map((x) => x));
      const objects = [...out.files].filter(([f]) => f.startsWith('dist/')).flatMap(([, y]) => y.split('\n---\n').map((d) => parse(d) as Obj));
      for (const o of objects)
        for (const f of versionedFeatures)
          if (f.uses(o)) expect(f.minor, `${e.name}: ${o.kind} ${o.metadata.name}: ${f.field}`).toBeLessThanOrEqual(minimumKubernetesMinor);
    }
    expect(ids([envOn({ ...onprem, kubernetesVersion: 'v1.22.17' }, { chat: cpuChat('vsphere-gold') }, 'llm-onprem')])).toEqual([
      'kubernetes-version-supported',
    ]);
  });

  it('a load-balancer service on a cluster without one fails exposure-supported (and nothing unrelated)', () => {
    const lb: ServiceDeclaration = { ...cpuChat('vsphere-gold'), exposure: { kind: 'load-balancer', provider: 'aws-nlb', internal: true } };
    const noLb = { ...onprem, loadBalancer: { kind: 'none' as const, idleTimeoutSeconds: 0, idleTimeoutFromAnnotations: false } };
    expect(ids([envOn(noLb, { chat: lb }, 'llm-onprem')])).toEqual(['exposure-supported']);
    expect(errors([envOn(noLb, { chat: lb }, 'llm-onprem')])[0]!.message).toMatch(/no load balancer/);
    // The captured Tanzu cluster has AKO: AWS annotations there would be ignored, so the provider must say avi.
    expect(onprem.loadBalancer).toEqual({ kind: 'avi', idleTimeoutSeconds: 600, idleTimeoutFromAnnotations: false, addressPools: ['llm-vip'] });
    expect(errors([envOn(onprem, { chat: lb }, 'llm-onprem')])[0]!.message).toMatch(/exposure.provider aws-nlb but cluster onprem has a avi load balancer/);
    expect(ids([envOn(onprem, { chat: { ...lb, exposure: { kind: 'load-balancer', provider: 'avi', addressPool: 'llm-vip' } } }, 'llm-onprem')])).toEqual([]);
    // EKS without the AWS Load Balancer Controller has the in-tree classic ELB: an NLB provider is refused.
    expect(eks.loadBalancer.kind).toBe('aws-elb');
    expect(ids([envOn(eks, { chat: { ...lb, modelCache: cpuChat('efs-sc', 'ReadWriteMany').modelCache } })])).toContain('exposure-supported');
  });

  it('an Ingress needs its IngressClass, and the NetworkPolicy admits the captured controller namespace', () => {
    const ing: ServiceDeclaration = { ...cpuChat('vsphere-gold'), exposure: { kind: 'ingress', host: 'chat.example', className: 'nginx' } };
    const out = synthesizeAll([envOn(onprem, { chat: ing }, 'llm-onprem')]);
    const netpol = parse(
      out.files
        .get('dist/test/chat.yaml')!
        .split('\n---\n')
        .find((d) => d.includes('kind: NetworkPolicy'))!,
    );
    expect(JSON.stringify(netpol.spec)).toContain('"kubernetes.io/metadata.name":"ingress-system"');
    expect(JSON.stringify(netpol.spec)).not.toContain('"ingress-nginx"');
    expect(ids([envOn({ ...onprem, ingressClassNames: [] }, { chat: ing }, 'llm-onprem')])).toEqual(['exposure-supported']);
  });

  it('CRD-typed objects only where the CRD is installed', () => {
    const noCrds = { ...onprem, customResourceTypes: [] };
    const found = errors([envOn(noCrds, { chat: cpuChat('vsphere-gold') }, 'llm-onprem')]).filter((f) => f.ruleId === 'crd-installed');
    expect(found.map((f) => f.message).join('\n')).toMatch(/ServiceMonitor .* has no CRD/);
    expect(ids([envOn(noCrds, { chat: { ...cpuChat('vsphere-gold'), monitoring: false } }, 'llm-onprem')])).toEqual([]);
  });

  it('PodSecurityPolicy admission: a generated policy admits the pods before 1.25, and it is a profile error after', () => {
    // The capture found TKG's PodSecurityPolicies on 1.23, so the profile takes the admission to be on.
    expect(onprem.podSecurityPolicyAdmission).toBe(true);
    expect(ids([envOn(onprem, { chat: cpuChat('vsphere-gold') }, 'llm-onprem')])).toEqual([]);
    const kinds = synthesizeAll([envOn(onprem, { chat: cpuChat('vsphere-gold') }, 'llm-onprem')])
      .files.get('dist/test/chat.yaml')!
      .split('\n---\n')
      .map((d) => (parse(d) as Obj).kind);
    expect(kinds).toEqual(expect.arrayContaining(['PodSecurityPolicy', 'Role', 'RoleBinding']));
    // Declared off, nothing of policy/v1beta1 is written.
    const off = synthesizeAll([envOn({ ...onprem, podSecurityPolicyAdmission: false }, { chat: cpuChat('vsphere-gold') }, 'llm-onprem')]);
    expect(off.files.get('dist/test/chat.yaml')).not.toContain('PodSecurityPolicy');
    const late = errors([
      envOn({ ...onprem, kubernetesVersion: 'v1.26.3', podSecurityPolicyAdmission: true }, { chat: cpuChat('vsphere-gold') }, 'llm-onprem'),
    ]);
    expect(late.map((f) => f.message).join()).toMatch(/has no PodSecurityPolicy/);
  });

  it('the quota finding names the service that no longer fits', () => {
    // llm-onprem's captured quota: 24 CPU. a takes 8, b 8, c 16: c is the one refused.
    const big = (cpu: number): ServiceDeclaration => ({ ...cpuChat('vsphere-gold'), cpu });
    const found = errors([envOn(onprem, { a: big(8), b: big(8), c: big(16) }, 'llm-onprem')]).filter((f) => f.ruleId === 'namespace-quota-fits');
    expect(found.map((f) => f.service)).toEqual(['c']);
    expect(found[0]!.message).toMatch(/once c is added: requests\.cpu 32 CPU > 24 CPU/);
  });
});
