import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { factsFromKubectl, type PoolBounds } from '../../charts/clusters/capture.js';
import type { ClusterFacts } from '../../charts/clusters/facts.js';
import { profileFromFacts, type ProfileDecisions } from '../../charts/clusters/from-facts.js';
import { poolNodeCount } from '../../charts/clusters/pools.js';
import type { ClusterProfile } from '../../charts/clusters/types.js';
import { ingressControllers } from '../../charts/constructs/exposure.js';
import { environments } from '../../charts/environments/index.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { qwen25_3bInstructQ4KM, qwen25_7bInstructQ4KM } from '../../charts/models/catalogue.js';
import { kyvernoPolicies, podSecurityViolations, polarisDenials } from '../../charts/rules/admission.js';
import { synthesizeAll } from '../../charts/synth.js';
import { capture } from '../../tools/cluster-capture/main.js';
import { synthErrorIds as ids, synthErrors as errors } from '../support/synth.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- kubectl fixtures and manifests are read as plain JSON */

const fixtures = 'test/fixtures/kubectl';
const readJson = (file: string): any => JSON.parse(readFileSync(file, 'utf8'));

/** Facts captured from a fixture folder, its resource list optionally edited first (as another cluster would report). */
function captured(name: string, opts: { poolBounds?: PoolBounds; edit?: (items: any[]) => any[] } = {}): ClusterFacts {
  const list = readJson(join(fixtures, name, 'resources.json'));
  return factsFromKubectl({
    version: readJson(join(fixtures, name, 'version.json')),
    versionFrom: `${name}/version.json`,
    list: opts.edit ? { ...list, items: opts.edit(list.items) } : list,
    listFrom: `${name}/resources.json`,
    capturedFrom: `files in ${name}`,
    capturedAt: 'now',
    ...(opts.poolBounds ? { poolBounds: opts.poolBounds } : {}),
  });
}

const decisions = (over: Partial<ProfileDecisions> = {}): ProfileDecisions => ({
  name: 'test',
  definedIn: 'test/charts/cluster-facts.test.ts',
  storage: { gp3: { readMiBps: 125 } },
  ...over,
});

function envOn(cluster: ClusterProfile, services: Record<string, ServiceDeclaration>): Environment {
  return {
    name: 'test',
    definedIn: 'test/charts/cluster-facts.test.ts',
    namespace: 'llm-test',
    clusterName: cluster.name,
    cluster,
    image: 'ghcr.io/gguf-on-k8s/inference:1.2.3',
    services,
  };
}

/** The parsed objects of one synthesized service file. */
function objectsOf(env: Environment, service: string): any[] {
  const out = synthesizeAll([env]);
  return out.files
    .get(`dist/${env.name}/${service}.yaml`)!
    .split('\n---\n')
    .map((d) => parse(d));
}

const gp3Cache = { kind: 'persistentVolumeClaim', storageClassName: 'gp3', accessMode: 'ReadWriteOnce' } as const;
const cpuChat: ServiceDeclaration = { model: qwen25_3bInstructQ4KM, cpu: 2, modelCache: gp3Cache };
const gpuChat: ServiceDeclaration = { model: qwen25_7bInstructQ4KM, cpu: 2, gpu: { count: 1, memoryGiB: 22 }, modelCache: gp3Cache };

describe('node-pool facts', () => {
  const staging = captured('eks-staging');

  it('capacity type and zones come from the node labels, per pool', () => {
    for (const pool of staging.nodePools) {
      expect(pool.capacityType).toBe('on-demand');
      expect(pool.zones.length).toBeGreaterThan(0);
    }
    const spot = captured('eks-staging', {
      edit: (items) =>
        items.map((i) =>
          i.kind === 'Node' && i.metadata.labels['eks.amazonaws.com/nodegroup'] === 'gpu-g5-2xlarge'
            ? { ...i, metadata: { ...i.metadata, labels: { ...i.metadata.labels, 'eks.amazonaws.com/capacityType': 'SPOT' } } }
            : i,
        ),
    });
    expect(spot.nodePools.find((p) => p.name === 'gpu-g5-2xlarge')!.capacityType).toBe('spot');
    // Karpenter's label where no managed node group says.
    const karpenter = captured('eks-staging', {
      edit: (items) =>
        items.map((i) =>
          i.kind === 'Node'
            ? {
                ...i,
                metadata: {
                  ...i.metadata,
                  labels: Object.fromEntries(
                    Object.entries({ ...i.metadata.labels, 'karpenter.sh/capacity-type': 'spot' }).filter(([k]) => k !== 'eks.amazonaws.com/capacityType'),
                  ),
                },
              }
            : i,
        ),
    });
    expect(karpenter.nodePools.every((p) => p.capacityType === 'spot')).toBe(true);
    const profile = profileFromFacts(spot, decisions());
    expect(profile.nodePools.find((p) => p.name === 'gpu-g5-2xlarge')).toMatchObject({ capacityType: 'spot', zones: ['eu-west-1a'] });
    expect(profile.nodePools.find((p) => p.name === 'cpu-r5-xlarge')!.zones).toEqual(['eu-west-1a', 'eu-west-1b']);
  });

  it('autoscaling bounds come only from --pool-bounds, and the rules size an autoscaled pool at its maxCount', () => {
    expect(staging.nodePools.every((p) => p.autoscaling === undefined)).toBe(true);
    const fixed = profileFromFacts(staging, decisions());
    const scaled = profileFromFacts(captured('eks-staging', { poolBounds: { 'gpu-g5-2xlarge': { minCount: 1, maxCount: 2 } } }), decisions());
    const gpuPool = scaled.nodePools.find((p) => p.name === 'gpu-g5-2xlarge')!;
    expect(gpuPool).toMatchObject({ count: 1, autoscaling: { minCount: 1, maxCount: 2 } });
    expect(poolNodeCount(gpuPool)).toBe(2);
    // One GPU node now, two at most: two GPU services fit only because the pool can grow.
    const found = errors([envOn(fixed, { a: gpuChat, b: gpuChat })]).filter((f) => f.ruleId === 'cluster-fits-all-pods');
    expect(found.length).toBeGreaterThan(0);
    expect(found[0]!.message).toMatch(/GPUs 2 > 1/);
    expect(ids([envOn(scaled, { a: gpuChat, b: gpuChat })])).not.toContain('cluster-fits-all-pods');
    const three = errors([envOn(scaled, { a: gpuChat, b: gpuChat, c: gpuChat })]).filter((f) => f.ruleId === 'cluster-fits-all-pods');
    expect(three[0]!.message).toMatch(/gpu-g5-2xlarge \(1-2 nodes \(autoscaled\)\).*GPUs 3 > 2/);
  });

  describe('--pool-bounds on the CLI', () => {
    const work = mkdtempSync(join(tmpdir(), 'cluster-facts-'));
    afterAll(() => rmSync(work, { recursive: true, force: true }));
    const from = ['--from', join(fixtures, 'eks-production')];

    it('records the bounds in the facts and the header', () => {
      const out = join(work, 'prod.ts');
      const { text } = capture([...from, '--out', out, '--pool-bounds', 'cpu-r5-2xlarge=3:6,gpu-g5-2xlarge=1:2']);
      expect(text).toMatch(/cpu-r5-2xlarge \(4 x r5\.2xlarge, on-demand, autoscaled 3-6\)/);
      expect(text).toContain('"maxCount": 6');
    });

    it.each([
      ['gpu=1:2', /--pool-bounds gpu: no node pool of that name was captured\. Fix: use one of cpu-r5-2xlarge, gpu-g5-2xlarge/],
      ['cpu-r5-2xlarge=1:3', /4 nodes are registered, more than the maximum/],
      ['cpu-r5-2xlarge=6', /expected NAME=MIN:MAX/],
      ['cpu-r5-2xlarge=5:3', /min 5 > max 3/],
      ['cpu-r5-2xlarge=3:6,cpu-r5-2xlarge=3:7', /given twice/],
    ])('refuses %s, writing nothing', (bounds, message) => {
      const out = join(work, 'bad.ts');
      expect(() => capture([...from, '--out', out, '--pool-bounds', bounds])).toThrow(message);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(work).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    });
  });

  it('a decision about a pool, class or policy the capture does not have fails naming the field and the fix', () => {
    const prod = captured('eks-production');
    expect(() => profileFromFacts(prod, decisions({ reservedPerNode: { cpu: { cpuMillis: 1, memoryBytes: 1 } } }))).toThrow(
      /reservedPerNode\.cpu: no such node pool was captured\. Fix: use one of cpu-r5-2xlarge, gpu-g5-2xlarge/,
    );
    expect(() => profileFromFacts(prod, decisions({ ingressIdleTimeoutsSeconds: { traefik: 60 } }))).toThrow(
      /ingressIdleTimeoutsSeconds\.traefik: no such IngressClass was captured/,
    );
    const staging = captured('eks-staging');
    expect(() => profileFromFacts(staging, decisions({ admission: { kyverno: [{ name: 'disallow-latest-tag', failureAction: 'Enforce' }] } }))).toThrow(
      /admission\.kyverno: .*no kyverno\.io CRDs/,
    );
  });

  it("every environment profile's pools agree with their own labels and bounds", () => {
    const labelled: Record<string, string> = { ON_DEMAND: 'on-demand', SPOT: 'spot', 'on-demand': 'on-demand', spot: 'spot' };
    for (const e of environments) {
      for (const pool of e.cluster.nodePools) {
        const where = `${e.name}/${pool.name}`;
        const label = pool.labels['eks.amazonaws.com/capacityType'] ?? pool.labels['karpenter.sh/capacity-type'];
        if (label !== undefined) expect(pool.capacityType, where).toBe(labelled[label]);
        if (pool.autoscaling) {
          expect(pool.autoscaling.minCount, where).toBeLessThanOrEqual(pool.autoscaling.maxCount);
          expect(pool.count, where).toBeLessThanOrEqual(pool.autoscaling.maxCount);
        }
      }
    }
  });
});

describe('ingress classes beyond nginx', () => {
  /** The production capture plus a Traefik class installed without Helm's namespace annotation (k3s's bundled one). */
  const withTraefik = captured('eks-production', {
    edit: (items) => {
      const nginx = items.find((i) => i.kind === 'IngressClass' && i.metadata.name === 'nginx');
      const traefik = {
        ...nginx,
        metadata: {
          name: 'traefik',
          creationTimestamp: nginx.metadata.creationTimestamp,
          resourceVersion: '4411',
          uid: '0d2c3b4a-5f6e-4d7c-8b9a-102938475601',
          generation: 1,
        },
        spec: { controller: 'traefik.io/ingress-controller' },
      };
      return [...items, traefik];
    },
  });
  const ingress = (className: string, over: Partial<Extract<ServiceDeclaration['exposure'], { kind: 'ingress' }>> = {}): ServiceDeclaration => ({
    ...cpuChat,
    exposure: { kind: 'ingress', host: 'chat.example.test', className, ...over },
  });

  it('captures each class with its controller and the controller namespace its Helm release records', () => {
    expect(withTraefik.ingressClasses).toEqual([
      { name: 'alb', controller: 'ingress.k8s.aws/alb', controllerNamespace: 'kube-system' },
      { name: 'nginx', controller: 'k8s.io/ingress-nginx', controllerNamespace: 'ingress-nginx' },
      { name: 'traefik', controller: 'traefik.io/ingress-controller' },
    ]);
    const profile = profileFromFacts(withTraefik, decisions());
    expect(profile.ingressControllers).toEqual({ alb: 'ingress.k8s.aws/alb', nginx: 'k8s.io/ingress-nginx', traefik: 'traefik.io/ingress-controller' });
  });

  it('an ALB Ingress gets the ALB idle-timeout attribute (not nginx annotations), and its NetworkPolicy admits the load balancer', () => {
    const profile = profileFromFacts(withTraefik, decisions());
    const env = envOn(profile, { chat: ingress('alb') });
    expect(ids([env])).toEqual([]);
    const objs = objectsOf(env, 'chat');
    const ing = objs.find((o) => o.kind === 'Ingress');
    expect(ing.spec.ingressClassName).toBe('alb');
    const idle = Number(/idle_timeout\.timeout_seconds=(\d+)/.exec(ing.metadata.annotations['alb.ingress.kubernetes.io/load-balancer-attributes'])![1]);
    const server = objs.find((o) => o.kind === 'Deployment').spec.template.spec.containers.find((c: any) => c.name === 'server');
    const requestTimeout = Number(server.env.find((e: any) => e.name === 'REQUEST_TIMEOUT_MS').value) / 1000;
    expect(idle).toBeGreaterThan(requestTimeout);
    expect(ing.metadata.annotations['alb.ingress.kubernetes.io/scheme']).toBe('internal');
    expect(Object.keys(ing.metadata.annotations).some((k) => k.startsWith('nginx.ingress.kubernetes.io/'))).toBe(false);
    const netpol = objs.find((o) => o.kind === 'NetworkPolicy');
    expect(JSON.stringify(netpol.spec.ingress)).toContain('"cidr":"0.0.0.0/0"');
    // nginx on the same cluster: its annotations, and the controller namespace rather than any address.
    const viaNginx = objectsOf(envOn(profile, { chat: ingress('nginx') }), 'chat');
    expect(viaNginx.find((o) => o.kind === 'Ingress').metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']).toBeDefined();
    expect(JSON.stringify(viaNginx.find((o) => o.kind === 'NetworkPolicy').spec.ingress)).not.toContain('0.0.0.0/0');
  });

  it('a Traefik class fails ingress-controller-supported until the profile declares its timeout and namespace; then both are used', () => {
    const bare = profileFromFacts(withTraefik, decisions());
    const found = errors([envOn(bare, { chat: ingress('traefik') })]).filter((f) => f.ruleId === 'ingress-controller-supported');
    expect(found.map((f) => f.message).join('\n')).toMatch(/served by Traefik, whose idle timeout no Ingress annotation sets/);
    expect(found.map((f) => f.message).join('\n')).toMatch(/does not say which namespace its controller runs in/);
    // Declared below the request timeout: the path rules now see Traefik's real 60 s, not the construct's wish.
    const short = profileFromFacts(
      withTraefik,
      decisions({ ingressIdleTimeoutsSeconds: { traefik: 60 }, ingressControllerNamespaces: { traefik: 'traefik' } }),
    );
    const shortEnv = envOn(short, { chat: ingress('traefik') });
    expect(ids([shortEnv])).not.toContain('ingress-controller-supported');
    const { report } = synthesizeAll([shortEnv]);
    expect(report.warnings.map((f) => `${f.ruleId}: ${f.message}`).join('\n')).toMatch(
      /idle-timeout-covers-request: ingress traefik \(traefik\.io\/ingress-controller\) idle timeout 60s < request timeout/,
    );
    const objs = objectsOf(shortEnv, 'chat');
    expect(Object.keys(objs.find((o) => o.kind === 'Ingress').metadata.annotations ?? {})).toEqual([]);
    expect(JSON.stringify(objs.find((o) => o.kind === 'NetworkPolicy').spec.ingress)).toContain('"kubernetes.io/metadata.name":"traefik"');
    const long = profileFromFacts(
      withTraefik,
      decisions({ ingressIdleTimeoutsSeconds: { traefik: 3600 }, ingressControllerNamespaces: { traefik: 'traefik' } }),
    );
    expect(ids([envOn(long, { chat: ingress('traefik') })])).toEqual([]);
  });

  it('every controller this repository knows either sets its timeout from the Ingress or says it cannot', () => {
    for (const [controller, c] of Object.entries(ingressControllers)) expect(typeof c.timeoutFromAnnotations, controller).toBe('boolean');
    expect(ingressControllers['k8s.io/ingress-nginx']!.timeoutFromAnnotations).toBe(true);
    expect(ingressControllers['traefik.io/ingress-controller']!.timeoutFromAnnotations).toBe(false);
  });
});

describe('admission policies the profile names', () => {
  const prod = captured('eks-production');
  const withPolaris = profileFromFacts(prod, decisions({ admission: { polaris: {} } }));
  const deploymentOf = (env: Environment, service: string) => objectsOf(env, service).find((o) => o.kind === 'Deployment');

  it("Polaris's sensitiveContainerEnvVar denies a literal value under a token-like name, not a Secret reference, and honours its exemption annotation", () => {
    const dep = deploymentOf(envOn(withPolaris, { chat: cpuChat }), 'chat');
    const pod = dep.spec.template.spec;
    expect(polarisDenials({ deployment: dep, pod })).toEqual([]);
    const server = pod.containers.find((c: any) => c.name === 'server');
    const withOld = {
      ...pod,
      containers: pod.containers.map((c: any) => (c === server ? { ...c, env: [...c.env, { name: 'MAX_TOKENS_LIMIT', value: '2048' }] } : c)),
    };
    expect(polarisDenials({ deployment: dep, pod: withOld })).toEqual([
      'sensitiveContainerEnvVar: container server: env MAX_TOKENS_LIMIT has a literal value and a name Polaris takes for a credential',
    ]);
    const fromSecret = {
      ...pod,
      containers: pod.containers.map((c: any) =>
        c === server ? { ...c, env: [...c.env, { name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hf', key: 'token' } } }] } : c,
      ),
    };
    expect(polarisDenials({ deployment: dep, pod: fromSecret })).toEqual([]);
    const exempt = {
      ...dep,
      metadata: { ...dep.metadata, annotations: { ...dep.metadata.annotations, 'polaris.fairwinds.com/sensitiveContainerEnvVar-exempt': 'true' } },
    };
    expect(polarisDenials({ deployment: exempt, pod: withOld })).toEqual([]);
    expect(polarisDenials({ deployment: dep, pod: withOld }, { sensitiveContainerEnvVar: 'warning' })).toEqual([]);
  });

  it('no shipped service trips a danger-level Polaris check, so any cluster may turn its webhook on', () => {
    for (const build of synthesizeAll().builds) {
      for (const chart of build.services) {
        const dep = (chart.toJson() as any[]).find((o) => o.kind === 'Deployment');
        expect(polarisDenials({ deployment: dep, pod: dep.spec.template.spec }), `${build.environment.name}/${chart.node.id}`).toEqual([]);
      }
    }
  });

  it('polaris-admits fails a synth the webhook would deny (a :latest image, tagNotSpecified)', () => {
    const latest = { ...cpuChat, image: 'ghcr.io/gguf-on-k8s/inference:latest' };
    const found = errors([envOn(withPolaris, { chat: latest })]).filter((f) => f.ruleId === 'polaris-admits');
    expect(found.map((f) => f.message).join('\n')).toMatch(
      /denies Deployment chat: tagNotSpecified: container .* image ghcr\.io\/gguf-on-k8s\/inference:latest/,
    );
    expect(ids([envOn(profileFromFacts(prod, decisions()), { chat: latest })])).not.toContain('polaris-admits');
  });

  it('enforced Kyverno policies admit the shipped pods, refuse a :latest image, and an unmodelled policy is an error', () => {
    const kyverno = (names: string[], failureAction: 'Enforce' | 'Audit' = 'Enforce') =>
      profileFromFacts(prod, decisions({ admission: { kyverno: names.map((name) => ({ name, failureAction })) } }));
    const all = kyverno(Object.keys(kyvernoPolicies));
    expect(ids([envOn(all, { chat: cpuChat, gpu: { ...gpuChat, image: 'ghcr.io/gguf-on-k8s/inference:1.2.3-cuda' } })])).toEqual([]);
    const latest = { ...cpuChat, image: 'ghcr.io/gguf-on-k8s/inference:latest' };
    const found = errors([envOn(all, { chat: latest })]).filter((f) => f.ruleId === 'kyverno-admits');
    expect(found.map((f) => f.message).join('\n')).toMatch(/disallow-latest-tag denies the pod: container .* is :latest/);
    expect(ids([envOn(kyverno(['disallow-latest-tag'], 'Audit'), { chat: latest })])).not.toContain('kyverno-admits');
    const unknown = errors([envOn(kyverno(['require-ro-rootfs']), { chat: cpuChat })]).filter((f) => f.ruleId === 'kyverno-admits');
    expect(unknown[0]!.message).toMatch(/require-ro-rootfs, which this repository does not model/);
  });

  it('the Kyverno models refuse what their policies refuse', () => {
    const pod = deploymentOf(envOn(withPolaris, { chat: cpuChat }), 'chat').spec.template.spec;
    for (const [name, policy] of Object.entries(kyvernoPolicies)) expect(policy(pod), name).toEqual([]);
    const init = pod.initContainers[0];
    const noLimit = { ...pod, initContainers: [{ ...init, resources: { requests: init.resources.requests } }] };
    expect(kyvernoPolicies['require-requests-limits']!(noLimit)).toEqual([`container ${init.name}: no limits.memory`]);
    const withoutProbes = (c: any) => Object.fromEntries(Object.entries(c).filter(([k]) => !['livenessProbe', 'readinessProbe', 'startupProbe'].includes(k)));
    const noProbes = { ...pod, containers: pod.containers.map(withoutProbes) };
    expect(kyvernoPolicies['require-pod-probes']!(noProbes).length).toBe(pod.containers.length);
    const untagged = { ...pod, containers: pod.containers.map((c: any) => ({ ...c, image: 'ghcr.io/gguf-on-k8s/inference' })) };
    expect(kyvernoPolicies['disallow-latest-tag']!(untagged).join()).toMatch(/has no tag/);
  });

  it("the namespace's restricted Pod Security level refuses a loosened securityContext even where our own rule is waived", () => {
    const env = envOn(profileFromFacts(prod, decisions()), { chat: cpuChat });
    expect(ids([env])).toEqual([]);
    const loosened: ServiceDeclaration = {
      ...cpuChat,
      overrides: { securityContext: { allowPrivilegeEscalation: true } },
      waivers: { 'security-context-restricted': 'testing what admission does without our own rule' },
    };
    const found = errors([envOn(env.cluster, { chat: loosened })]);
    expect(found.map((f) => f.ruleId)).toContain('pod-security-standard-met');
    expect(found.find((f) => f.ruleId === 'pod-security-standard-met')!.message).toMatch(/allowPrivilegeEscalation is not false/);
    const pod = deploymentOf(env, 'chat').spec.template.spec;
    expect(podSecurityViolations(pod, 'restricted')).toEqual([]);
    expect(podSecurityViolations({ ...pod, hostNetwork: true }, 'baseline')).toEqual(['hostNetwork: true']);
    const rootInit = {
      ...pod,
      initContainers: pod.initContainers.map((c: any) => ({ ...c, securityContext: { ...c.securityContext, runAsUser: 0, runAsNonRoot: false } })),
    };
    expect(podSecurityViolations(rootInit, 'restricted').join()).toMatch(/runAsNonRoot is not true.*runAsUser 0/);
    expect(podSecurityViolations(rootInit, 'baseline')).toEqual([]);
  });
});
