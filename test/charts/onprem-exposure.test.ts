/**
 * On-prem exposure and PodSecurityPolicy: the annotations each load balancer implementation reads, the idle
 * timeout it puts on the path (none for MetalLB and kube-vip), the address-pool rule, the generated
 * PodSecurityPolicy checked against the pod both ways (and against TKG's own policies from the capture fixture),
 * and cluster:capture recognising MetalLB, kube-vip and AKO.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { IPodSpec } from 'kubernetes-models/v1';
import { CaptureError, kubectlAddonArgs } from '../../charts/clusters/capture.js';
import { onpremTanzuFacts } from '../../charts/clusters/captured/onprem-tanzu.js';
import type { ClusterFacts } from '../../charts/clusters/facts.js';
import { profileFromFacts } from '../../charts/clusters/from-facts.js';
import type { ClusterProfile, LoadBalancerProfile } from '../../charts/clusters/types.js';
import { loadBalancerAnnotations } from '../../charts/constructs/exposure.js';
import { podSecurityPolicyFor } from '../../charts/constructs/pod-security-policy.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { qwen25_3bInstructQ4KM } from '../../charts/models/catalogue.js';
import { podSecurityPolicyViolations, usablePolicies, type PodSecurityPolicyObject } from '../../charts/rules/pod-security-policy.js';
import type { Manifest } from '../../charts/rules/types.js';
import { synthesizeAll } from '../../charts/synth.js';
import { roomyTestCluster } from '../support/clusters.js';
import { capture } from '../../tools/cluster-capture/main.js';
import { synthErrorIds, synthErrors } from '../support/synth.js';
import { capturedFactsOf, factsOf, withStandInKubectl } from '../support/kubectl-capture.js';

const where = { file: 'test/charts/onprem-exposure.test.ts', object: 'test/chat' };
const chat: ServiceDeclaration = { model: qwen25_3bInstructQ4KM, cpu: 2, modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3' } };
const lb = (over: Partial<LoadBalancerProfile> & Pick<LoadBalancerProfile, 'kind'>): LoadBalancerProfile => ({
  idleTimeoutSeconds: 0,
  idleTimeoutFromAnnotations: false,
  ...over,
});

function env(services: Record<string, ServiceDeclaration>, over: Partial<ClusterProfile> = {}): Environment {
  return {
    name: 'test',
    definedIn: where.file,
    namespace: 'llm-test',
    clusterName: 'test',
    cluster: roomyTestCluster({ definedIn: where.file, ...over }),
    image: `ghcr.io/gguf-on-k8s/inference:1.2.3@sha256:${'a'.repeat(64)}`,
    services,
  };
}

/** The documents of one synthesized service file. */
function objectsOf(e: Environment, service = 'chat'): Manifest[] {
  const yaml = synthesizeAll([e]).files.get(`dist/${e.name}/${service}.yaml`)!;
  return yaml.split('\n---\n').map((d) => parse(d) as Manifest);
}
const podOf = (objects: Manifest[]): IPodSpec =>
  (objects.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: IPodSpec } } }).spec.template.spec;

describe('load balancer annotations', () => {
  it('MetalLB gets its pool under both prefixes (metallb.io read first, metallb.universe.tf by older releases), AKO its AviInfraSetting', () => {
    expect(loadBalancerAnnotations('metallb', true, 330, 'lan', where)).toEqual({
      'metallb.io/address-pool': 'lan',
      'metallb.universe.tf/address-pool': 'lan',
    });
    expect(loadBalancerAnnotations('metallb', true, 330, undefined, where)).toEqual({});
    expect(loadBalancerAnnotations('avi', true, 330, 'llm-vip', where)).toEqual({ 'aviinfrasetting.ako.vmware.com/name': 'llm-vip' });
  });

  it('a pool for an implementation that reads none is refused naming the file, service, field and fix', () => {
    let err: unknown;
    try {
      loadBalancerAnnotations('kube-vip', true, 330, 'lan', where);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChartConfigError);
    expect((err as Error).message).toContain(where.file);
    expect((err as Error).message).toContain('exposure.addressPool');
    expect((err as Error).message).toMatch(/cidr-<namespace>/);
    expect(() => loadBalancerAnnotations('aws-nlb', true, 330, 'lan', where)).toThrow(ChartConfigError);
  });

  it('MetalLB and kube-vip put no idle timeout on the path; AKO puts the profile one, which the timeout rule checks', () => {
    const long: ServiceDeclaration = { ...chat, requestTimeoutSeconds: 900, exposure: { kind: 'load-balancer', provider: 'avi' } };
    const avi = synthesizeAll([env({ chat: long }, { loadBalancer: lb({ kind: 'avi', idleTimeoutSeconds: 600 }) })]);
    const warnings = avi.report.warnings.filter((f) => f.ruleId === 'idle-timeout-covers-request');
    expect(warnings.map((f) => f.message)).toEqual([expect.stringContaining('avi load balancer 600s')]);
    for (const kind of ['metallb', 'kube-vip'] as const) {
      const out = synthesizeAll([env({ chat: { ...long, exposure: { kind: 'load-balancer', provider: kind } } }, { loadBalancer: lb({ kind }) })]);
      expect(
        out.report.warnings.filter((f) => f.ruleId === 'idle-timeout-covers-request'),
        kind,
      ).toEqual([]);
    }
  });
});

describe('load-balancer-address-pool-exists', () => {
  const onKubeVip = (pools: string[]) =>
    synthErrors([
      env({ chat: { ...chat, exposure: { kind: 'load-balancer', provider: 'kube-vip' } } }, { loadBalancer: lb({ kind: 'kube-vip', addressPools: pools }) }),
    ]);

  it("kube-vip needs a pool for the Service's namespace or a global one", () => {
    expect(onKubeVip(['llm-test'])).toEqual([]);
    expect(onKubeVip(['global'])).toEqual([]);
    const found = onKubeVip(['other']);
    expect(found.map((f) => f.ruleId)).toEqual(['load-balancer-address-pool-exists']);
    expect(found[0]!.message).toMatch(/no pool for namespace llm-test/);
    expect(found[0]!.fix).toMatch(/cidr-llm-test/);
  });

  it('MetalLB without any pool, and an AviInfraSetting the cluster does not have, are refused; unknown pools are not checked', () => {
    const metallb = { chat: { ...chat, exposure: { kind: 'load-balancer' as const, provider: 'metallb' as const } } };
    expect(synthErrorIds([env(metallb, { loadBalancer: lb({ kind: 'metallb', addressPools: [] }) })])).toEqual(['load-balancer-address-pool-exists']);
    expect(synthErrorIds([env(metallb, { loadBalancer: lb({ kind: 'metallb' }) })])).toEqual([]);
    const avi = { chat: { ...chat, exposure: { kind: 'load-balancer' as const, provider: 'avi' as const, addressPool: 'dmz' } } };
    expect(synthErrors([env(avi, { loadBalancer: lb({ kind: 'avi', idleTimeoutSeconds: 600, addressPools: ['llm-vip'] }) })])[0]!.message).toMatch(
      /address pool "dmz", which cluster test-cluster does not have/,
    );
  });
});

describe('generated PodSecurityPolicy', () => {
  const psp = { kubernetesVersion: 'v1.24.9', podSecurityPolicyAdmission: true };
  const objects = objectsOf(env({ chat }, psp));
  const pod = podOf(objects);
  const generated = objects.find((o) => o.kind === 'PodSecurityPolicy') as unknown as PodSecurityPolicyObject & Manifest;

  it('is cluster-scoped, in the prerequisites wave, used by the pods through a Role and RoleBinding, and admits the pod', () => {
    expect(generated.metadata.name).toBe('llm-test-chat');
    expect(generated.metadata.namespace).toBeUndefined();
    expect(generated.metadata.annotations?.['argocd.argoproj.io/sync-wave']).toBe('-1');
    expect(usablePolicies(objects, pod.serviceAccountName!, 'llm-test').map((p) => p.metadata.name)).toEqual(['llm-test-chat']);
    expect(podSecurityPolicyViolations(pod, generated)).toEqual([]);
    expect(generated.spec.runAsUser).toEqual({ rule: 'MustRunAs', ranges: [{ min: 10001, max: 10001 }] });
    expect(generated.spec.volumes).toEqual(['emptyDir', 'persistentVolumeClaim']);
  });

  it('refuses what it does not allow, each named (the other direction)', () => {
    const server = pod.containers[0]!;
    const broken: IPodSpec = {
      ...pod,
      hostNetwork: true,
      volumes: [...(pod.volumes ?? []), { name: 'host', hostPath: { path: '/var' } }],
      containers: [
        {
          ...server,
          ports: [{ containerPort: 8080, hostPort: 8080 }],
          securityContext: {
            ...server.securityContext,
            runAsUser: 0,
            allowPrivilegeEscalation: true,
            readOnlyRootFilesystem: false,
            capabilities: { add: ['SYS_ADMIN'], drop: ['ALL'] },
            seccompProfile: { type: 'Unconfined' },
          },
        },
      ],
    };
    const refused = podSecurityPolicyViolations(broken, generated).join('\n');
    for (const what of [
      /hostNetwork is not allowed/,
      /volume host: hostPath volumes are not allowed/,
      /container server: runAsUser 0 is outside/,
      /allowPrivilegeEscalation is not allowed/,
      /readOnlyRootFilesystem must be true/,
      /capability SYS_ADMIN may not be added/,
      /host port 8080 is not allowed/,
      /seccomp profile unconfined is not allowed/,
    ])
      expect(refused).toMatch(what);
  });

  it("TKG's own policies from the capture fixture judge the pod as the cluster would", () => {
    const addons = JSON.parse(readFileSync(join('test/fixtures/kubectl/onprem-tanzu/addons.json'), 'utf8')) as { items: Array<{ kind: string }> };
    const tkg = addons.items.filter((i) => i.kind === 'PodSecurityPolicy') as unknown as PodSecurityPolicyObject[];
    expect(tkg.map((p) => p.metadata.name)).toEqual(['vmware-system-privileged', 'vmware-system-restricted']);
    for (const p of tkg) expect(podSecurityPolicyViolations(pod, p), p.metadata.name).toEqual([]);
    const restricted = tkg.find((p) => p.metadata.name === 'vmware-system-restricted')!;
    const withConfigMapOnly = { ...restricted, spec: { ...restricted.spec, volumes: ['configMap'] } };
    expect(podSecurityPolicyViolations(pod, withConfigMapOnly)).toEqual([
      'volume model-cache: persistentVolumeClaim volumes are not allowed',
      'volume tmp: emptyDir volumes are not allowed',
    ]);
  });

  it('a RoleBinding to another service account makes no policy usable, and no policy/v1beta1 object is written from 1.25', () => {
    const rebound = objects.map((o) =>
      o.kind === 'RoleBinding' ? ({ ...o, subjects: [{ kind: 'ServiceAccount', name: 'other', namespace: 'llm-test' }] } as unknown as Manifest) : o,
    );
    expect(usablePolicies(rebound, pod.serviceAccountName!, 'llm-test')).toEqual([]);
    expect(objectsOf(env({ chat }, { kubernetesVersion: 'v1.25.2' })).map((o) => o.kind)).not.toContain('PodSecurityPolicy');
    expect(podSecurityPolicyFor(pod).annotations['seccomp.security.alpha.kubernetes.io/defaultProfileName']).toBe('runtime/default');
  });
});

describe('cluster:capture of on-prem load balancers', () => {
  const version = { serverVersion: { gitVersion: 'v1.28.5' } };
  const node = {
    kind: 'Node',
    metadata: { name: 'n1', labels: { 'node.kubernetes.io/instance-type': 'metal' } },
    spec: {},
    status: { allocatable: { cpu: '16', memory: '64Gi', 'ephemeral-storage': '100Gi' } },
  };
  const storageClass = { kind: 'StorageClass', metadata: { name: 'local' }, provisioner: 'rancher.io/local-path' };
  const crd = (group: string, kind: string) => ({ kind: 'CustomResourceDefinition', spec: { group, names: { kind } } });
  const list = (...items: unknown[]) => ({ kind: 'List', items: [node, storageClass, ...items] });
  const facts = (main: unknown, addons?: unknown): ClusterFacts => factsOf(version, main, addons);
  const kubeVipDs = (env: Array<{ name: string; value: string }>) => ({
    kind: 'DaemonSet',
    metadata: { name: 'kube-vip-ds', namespace: 'kube-system' },
    spec: { template: { spec: { containers: [{ name: 'kube-vip', image: 'ghcr.io/kube-vip/kube-vip:v0.8.0', env }] } } },
  });

  it('MetalLB from its CRDs, with its IPAddressPools from the add-ons list; pools unknown without it', () => {
    const main = list(crd('metallb.io', 'IPAddressPool'), crd('metallb.io', 'L2Advertisement'));
    expect(kubectlAddonArgs(facts(main))).toEqual(['get', 'daemonsets,ipaddresspools.metallb.io', '-A', '-o', 'json']);
    expect(facts(main).loadBalancers).toEqual([{ kind: 'metallb', seenFrom: 'CRD group metallb.io' }]);
    const pools = { kind: 'List', items: [{ kind: 'IPAddressPool', metadata: { name: 'lan', namespace: 'metallb-system' } }] };
    const withPools = facts(main, pools);
    expect(withPools.loadBalancers).toEqual([{ kind: 'metallb', seenFrom: 'CRD group metallb.io', addressPools: ['lan'] }]);
    expect(profileFromFacts(withPools, { name: 'metal', definedIn: 'x.ts' }).loadBalancer).toEqual({
      kind: 'metallb',
      idleTimeoutSeconds: 0,
      idleTimeoutFromAnnotations: false,
      addressPools: ['lan'],
    });
  });

  it('kube-vip only from a DaemonSet serving Services, with the pool scopes of its kubevip ConfigMap', () => {
    const configMap = {
      kind: 'ConfigMap',
      metadata: { name: 'kubevip', namespace: 'kube-system' },
      data: { 'cidr-global': '10.0.0.0/28', 'range-llm-test': '10.0.1.10-10.0.1.20', 'allow-share-global': 'true' },
    };
    const serving = facts(list(), { kind: 'List', items: [kubeVipDs([{ name: 'svc_enable', value: 'true' }]), configMap] });
    expect(serving.loadBalancers).toEqual([{ kind: 'kube-vip', seenFrom: 'DaemonSet kube-system/kube-vip-ds', addressPools: ['global', 'llm-test'] }]);
    // Control-plane address only (svc_enable unset): not a Service load balancer.
    expect(facts(list(), { kind: 'List', items: [kubeVipDs([{ name: 'cp_enable', value: 'true' }])] }).loadBalancers).toBeUndefined();
  });

  it('two load balancers, or AKO without its idle timeout, make the profile say which and what', () => {
    const both = facts(list(crd('metallb.io', 'IPAddressPool'), crd('ako.vmware.com', 'AviInfraSetting')));
    expect(() => profileFromFacts(both, { name: 'two', definedIn: 'x.ts' })).toThrow(/x.ts: cluster two: loadBalancer: the capture found metallb .* and avi/);
    expect(() => profileFromFacts(onpremTanzuFacts, { name: 'tkg', definedIn: 'x.ts' })).toThrow(/loadBalancerIdleTimeoutSeconds: the capture found AKO/);
    expect(() => profileFromFacts(onpremTanzuFacts, { name: 'tkg', definedIn: 'x.ts', loadBalancerIdleTimeoutSeconds: 0 })).toThrow(
      /loadBalancerIdleTimeoutSeconds: 0 is not a positive number of seconds/,
    );
    const metal = facts(list(crd('metallb.io', 'IPAddressPool')));
    expect(() => profileFromFacts(metal, { name: 'metal', definedIn: 'x.ts', loadBalancerIdleTimeoutSeconds: 600 })).toThrow(
      /loadBalancerIdleTimeoutSeconds: not read: the captured load balancer is metallb/,
    );
  });

  it('PodSecurityPolicies are listed only below 1.25, and turn the admission on by default there', () => {
    expect(kubectlAddonArgs(onpremTanzuFacts)).toEqual(['get', 'daemonsets,podsecuritypolicies,aviinfrasettings.ako.vmware.com', '-A', '-o', 'json']);
    expect(onpremTanzuFacts.podSecurityPolicies).toEqual(['vmware-system-privileged', 'vmware-system-restricted']);
    const tkg = profileFromFacts(onpremTanzuFacts, { name: 'tkg', definedIn: 'x.ts', loadBalancerIdleTimeoutSeconds: 600 });
    expect(tkg.podSecurityPolicyAdmission).toBe(true);
    expect(
      profileFromFacts(onpremTanzuFacts, { name: 'tkg', definedIn: 'x.ts', loadBalancerIdleTimeoutSeconds: 600, podSecurityPolicyAdmission: false })
        .podSecurityPolicyAdmission,
    ).toBe(false);
  });

  it('an add-ons list of another shape fails naming the file and the fix', () => {
    expect(() => facts(list(), { kind: 'List', items: [{ kind: 'Secret', metadata: { name: 's' } }] })).toThrow(CaptureError);
    expect(() => facts(list(), { kind: 'List', items: [{ kind: 'Secret', metadata: { name: 's' } }] })).toThrow(/addons.json: unexpected item kind "Secret"/);
    expect(() => facts(list(), { items: [] })).toThrow(/addons.json: expected a kubectl List/);
  });

  it('a live capture (--context, through kubectl on PATH) asks for exactly the add-ons the cluster serves and records them', () => {
    const work = mkdtempSync(join(tmpdir(), 'capture-addons-'));
    try {
      let text = '';
      const calls = withStandInKubectl(resolve('test/fixtures/kubectl/onprem-tanzu'), { nodes: 'resources.json', '*': 'addons.json' }, () => {
        text = capture(['--context', 'tanzu', '--out', join(work, 'tanzu.ts')], new Date('2026-12-07T12:00:00Z')).text;
      });
      expect(calls.at(-1)).toBe(`--context tanzu ${kubectlAddonArgs(onpremTanzuFacts).join(' ')}`);
      expect(text).toContain('add-ons: kubectl get daemonsets,podsecuritypolicies,aviinfrasettings.ako.vmware.com -A -o json');
      const json = capturedFactsOf(text);
      expect(json.loadBalancers).toEqual(onpremTanzuFacts.loadBalancers);
      expect(json.podSecurityPolicies).toEqual(onpremTanzuFacts.podSecurityPolicies);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
