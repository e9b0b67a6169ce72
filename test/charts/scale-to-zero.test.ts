import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { kedaCrds, prometheusOperatorCrds } from '../../charts/clusters/eks.js';
import { eksStagingFacts } from '../../charts/clusters/captured/eks-staging.js';
import { profileFromFacts } from '../../charts/clusters/from-facts.js';
import type { ClusterProfile } from '../../charts/clusters/types.js';
import {
  heldRequestsTrigger,
  interceptorServiceName,
  kedaHttpAddOnServices,
  ScaleToZeroRoute,
  skipScaledObjectCreationAnnotation,
} from '../../charts/constructs/scale-to-zero.js';
import { environments } from '../../charts/environments/index.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { idleDurationSeconds, planScaleToZero } from '../../charts/sizing/cold-start.js';
import { buildEnvironment } from '../../charts/environment-chart.js';
import { buildRuleContext } from '../../charts/rules/context.js';
import { scaleToZeroRules } from '../../charts/rules/scale-to-zero.js';
import type { Manifest, ServiceContext } from '../../charts/rules/types.js';
import { printSummary } from '../../charts/summary.js';
import { synthesizeAll } from '../../charts/synth.js';
import { roomyTestCluster } from '../support/clusters.js';
import { committedManifests, validateSchema, type K8sObject } from '../support/manifests.js';
import { synthErrorIds } from '../support/synth.js';
import { addOnCluster, scaleToZeroChat, scaleToZeroEnv } from '../support/scale-to-zero.js';

const docs = committedManifests().map((d) => d.object);
const find = (kind: string, namespace: string, name: string): K8sObject | undefined =>
  docs.find((o) => o.kind === kind && o.metadata.namespace === namespace && o.metadata.name === name);

/** Every service of every environment that scales to zero, with the objects synthesized for it. */
const sleeping = environments.flatMap((env) =>
  Object.entries(env.services)
    .filter(([, svc]) => svc.scaleToZero !== undefined)
    .map(([name, svc]) => ({ env, name, svc })),
);

describe('scale to zero in the committed output', () => {
  it('is exercised by at least one example service', () => {
    expect(sleeping.length).toBeGreaterThan(0);
  });

  for (const { env, name, svc } of sleeping) {
    describe(`${env.name}/${name}`, () => {
      const ns = env.namespace;
      const addOn = env.cluster.kedaHttpAddOn!;
      const httpso = find('HTTPScaledObject', ns, name)!;
      const scaledObject = find('ScaledObject', ns, name)!;
      const deployment = find('Deployment', ns, name)!;
      const model = find('Service', ns, name)!;
      const alias = find('Service', ns, interceptorServiceName(name))!;

      it("runs on a cluster whose profile has the add-on, and the HTTPScaledObject passes the CRD's own schema", () => {
        expect(addOn).toBeDefined();
        expect(env.cluster.customResourceTypes).toContainEqual(expect.objectContaining({ group: 'http.keda.sh', kind: 'HTTPScaledObject' }));
        expect(() => validateSchema(httpso)).not.toThrow();
      });

      it("routes the service's hosts to its own Service and turns off the add-on's ScaledObject", () => {
        expect(httpso.metadata.annotations![skipScaledObjectCreationAnnotation]).toBe('true');
        expect(httpso.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name, service: name, port: model.spec.ports[0].port });
        const ingress = find('Ingress', ns, name);
        for (const host of ingress?.spec.rules.map((r: { host: string }) => r.host) ?? []) expect(httpso.spec.hosts).toContain(host);
        expect(httpso.spec.hosts).toContain(`${interceptorServiceName(name)}.${ns}.svc`);
        expect(httpso.spec.replicas).toEqual({ min: 0, max: svc.autoscaling!.maxReplicas });
      });

      it('sends the Ingress and in-cluster callers to the interceptor, and admits the interceptor to the pods', () => {
        const proxy = kedaHttpAddOnServices.interceptorProxy;
        expect(alias.spec).toMatchObject({ type: 'ExternalName', externalName: `${proxy.name}.${addOn.namespace}.svc.cluster.local` });
        expect(alias.spec.ports).toEqual([{ name: 'http', port: proxy.port, protocol: 'TCP' }]);
        const ingress = find('Ingress', ns, name);
        if (ingress)
          for (const path of ingress.spec.rules.flatMap((r: { http: { paths: unknown[] } }) => r.http.paths) as Array<{ backend: { service: unknown } }>)
            expect(path.backend.service).toEqual({ name: alias.metadata.name, port: { number: proxy.port } });
        const policy = find('NetworkPolicy', ns, name)!;
        expect(policy.spec.ingress[0].from).toContainEqual({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': addOn.namespace } } });
      });

      it('holds a first request for the startup window plus the pod start, and no longer than the progress deadline', () => {
        const server = deployment.spec.template.spec.containers.find((c: { name: string }) => c.name === 'server');
        const window = server.startupProbe.periodSeconds * server.startupProbe.failureThreshold;
        // With a failover the interceptor holds for its timeoutSeconds, not conditionWait (pkg/routing/table.go); both state it.
        const hold = httpso.spec.coldStartTimeoutFailoverRef.timeoutSeconds as number;
        expect(idleDurationSeconds(httpso.spec.timeouts.conditionWait)).toBe(hold);
        expect(hold).toBeGreaterThan(window);
        expect(hold).toBeLessThanOrEqual(deployment.spec.progressDeadlineSeconds);
        const requestTimeout = Number(server.env.find((e: { name: string }) => e.name === 'REQUEST_TIMEOUT_MS').value) / 1000;
        expect(idleDurationSeconds(httpso.spec.timeouts.responseHeader)).toBeGreaterThanOrEqual(requestTimeout);
        // The ingress in front waits at least as long: the caller gets the interceptor's answer, not a cut connection.
        const ingress = find('Ingress', ns, name);
        if (ingress) expect(Number(ingress.metadata.annotations!['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThan(hold);
      });

      it('scales on the queue from zero, woken by the requests the interceptor holds, after the declared idle time', () => {
        expect(scaledObject.spec.minReplicaCount).toBe(0);
        expect(scaledObject.spec.cooldownPeriod).toBe(idleDurationSeconds(svc.scaleToZero!.idleAfter));
        expect(scaledObject.spec.triggers).toContainEqual(heldRequestsTrigger(name, addOn));
        expect(scaledObject.spec.triggers.map((t: { type: string }) => t.type)).toContain('prometheus');
        const project = docs.find((o) => o.kind === 'AppProject' && o.spec.destinations.some((d: { namespace: string }) => d.namespace === ns))!;
        expect(project.spec.namespaceResourceWhitelist).toContainEqual({ group: 'http.keda.sh', kind: 'HTTPScaledObject' });
      });
    });
  }

  const good = docs.find((o) => o.kind === 'HTTPScaledObject')!;
  const breakages: Array<[string, (o: K8sObject) => void, RegExp]> = [
    ['no Service to forward to', (o) => delete o.spec.scaleTargetRef.service, /service/],
    ["a port and a port name at once (the CRD's CEL rule)", (o) => (o.spec.scaleTargetRef.portName = 'http'), /either the 'portName' or the 'port'/],
    ['a string where the idle seconds go', (o) => (o.spec.scaledownPeriod = '10m'), /must be integer/],
  ];
  for (const [what, breakIt, complaint] of breakages)
    it(`the offline schema refuses ${what} (negative control)`, () => {
      const broken = structuredClone(good);
      breakIt(broken);
      expect(() => validateSchema(broken)).toThrow(complaint);
    });
});

const addOnClusterHere: ClusterProfile = addOnCluster('test/charts/scale-to-zero.test.ts');

function env(svc: Partial<ServiceDeclaration>, cluster: ClusterProfile = addOnClusterHere): Environment {
  return scaleToZeroEnv('test/charts/scale-to-zero.test.ts', cluster, { chat: { ...scaleToZeroChat, ...svc } });
}

describe('scale to zero: props and rules', () => {
  it('synthesizes on a cluster with the add-on, routed to the namespace the profile names, and the summary says the cold start', () => {
    const out = synthesizeAll([env({})]);
    const yaml = [...out.files.entries()].find(([f]) => f.endsWith('chat.yaml'))![1];
    expect(yaml).toContain('externalName: keda-add-ons-http-interceptor-proxy.keda-http.svc.cluster.local');
    expect(yaml).toContain('scalerAddress: keda-add-ons-http-external-scaler.keda-http:9090');
    const lines: string[] = [];
    printSummary(out, (l) => lines.push(l));
    const plan = out.builds[0]!.services[0]!.service.plan.scaleToZero!;
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^cold start chat: to zero pods after 600s idle; .* at most ${plan.holdSeconds}s .* then 503 with Retry-After ${plan.retryAfterSeconds}s`),
      ),
    );
  });

  it('is refused on a cluster without the add-on, with the fix', () => {
    expect(synthErrorIds([env({}, roomyTestCluster({ customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds] }))])).toEqual([
      'scale-to-zero-add-on-installed',
    ]);
  });

  it('is refused where a cloud load balancer would send past the interceptor', () => {
    expect(synthErrorIds([env({ exposure: { kind: 'load-balancer', provider: 'aws-nlb' } })])).toEqual(['scale-to-zero-routed']);
  });

  it('is refused where a fixed idle timeout on the path is shorter than the hold', () => {
    expect(synthErrorIds([env({}, { ...addOnClusterHere, fixedPathIdleTimeoutsSeconds: [120] })])).toEqual(['scale-to-zero-hold-bounded']);
  });

  const configErrors: Array<[string, Partial<ServiceDeclaration>, RegExp]> = [
    ['an idle time below the HPA scale-down window', { scaleToZero: { idleAfter: '2m' } }, /scaleToZero\.idleAfter.*"2m".*at least 300 s/s],
    ['an idle time that is not a duration', { scaleToZero: { idleAfter: '10 minutes' as '10m' } }, /scaleToZero\.idleAfter/],
    ['a queue autoscaler that keeps pods', { autoscaling: { minReplicas: 2, maxReplicas: 3, signal: 'queue' } }, /scaleToZero.*minReplicas 2.*minReplicas: 0/s],
    ['no autoscaler at all', { autoscaling: undefined }, /scaleToZero.*without autoscaling/s],
  ];
  for (const [what, svc, message] of configErrors)
    it(`refuses ${what} at plan time, naming the file and the field`, () => {
      const e = (() => {
        try {
          synthesizeAll([env(svc)]);
        } catch (err) {
          return err;
        }
        return undefined;
      })();
      expect(e).toBeInstanceOf(ChartConfigError);
      expect((e as Error).message).toContain('test/charts/scale-to-zero.test.ts');
      expect((e as Error).message).toMatch(message);
    });

  it('reads durations in seconds, minutes and hours and nothing else', () => {
    expect([idleDurationSeconds('90s'), idleDurationSeconds('10m'), idleDurationSeconds('1h')]).toEqual([90, 600, 3600]);
    expect([idleDurationSeconds('1.5m'), idleDurationSeconds('10'), idleDurationSeconds('m')]).toEqual([undefined, undefined, undefined]);
  });
});

describe('scale to zero on a captured profile', () => {
  const facts = { ...eksStagingFacts, customResourceTypes: [...eksStagingFacts.customResourceTypes, { group: 'http.keda.sh', kind: 'HTTPScaledObject' }] };

  it('takes the CRD from the capture and the namespace from the decisions, which a capture cannot see', () => {
    const profile = profileFromFacts(facts, { name: 'captured', definedIn: 'test/charts/scale-to-zero.test.ts', kedaHttpAddOn: { namespace: 'keda' } });
    expect(profile.kedaHttpAddOn).toEqual({ namespace: 'keda' });
    expect(profile.customResourceTypes).toContainEqual({ group: 'http.keda.sh', kind: 'HTTPScaledObject', installedBy: 'KEDA HTTP add-on' });
    expect(profileFromFacts(facts, { name: 'captured', definedIn: 'test/charts/scale-to-zero.test.ts' }).kedaHttpAddOn).toBeUndefined();
  });
});

describe('ScaleToZeroRoute (Testing.synth)', () => {
  const plan = planScaleToZero({
    idleAfterSeconds: 900,
    podStartSeconds: 300,
    startupWindowSeconds: 120,
    expectedLoadSeconds: 50,
    downloadSecondsPerWake: 0,
    serviceIdleTimeoutSeconds: 330,
  });
  function synth(ingressHost?: string): K8sObject[] {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'apps-ns', disableResourceNameHashes: true });
    new ScaleToZeroRoute(chart, 'route', {
      name: 'chat',
      namespace: 'apps-ns',
      labels: { 'app.kubernetes.io/name': 'chat' },
      servicePort: 80,
      plan,
      maxReplicas: 4,
      targetConcurrency: 5,
      addOn: { namespace: 'keda-http' },
      ...(ingressHost !== undefined ? { ingressHost } : {}),
    });
    return Testing.synth(chart) as K8sObject[];
  }

  it('derives the hold and the timeouts from the load: pod start + startup window, then the idle timeout', () => {
    expect(plan).toEqual({
      idleAfterSeconds: 900,
      holdSeconds: 420,
      expectedWakeSeconds: 50,
      retryAfterSeconds: 50,
      pathIdleTimeoutSeconds: 750,
      responseHeaderTimeoutSeconds: 330,
    });
    const withDownload = planScaleToZero({
      idleAfterSeconds: 900,
      podStartSeconds: 300,
      startupWindowSeconds: 120,
      expectedLoadSeconds: 50,
      downloadSecondsPerWake: 80,
      serviceIdleTimeoutSeconds: 330,
    });
    expect([withDownload.holdSeconds, withDownload.expectedWakeSeconds, withDownload.retryAfterSeconds]).toEqual([500, 130, 130]);
  });

  it('an in-cluster service: the alias and the route, hosts by Service name only', () => {
    const [alias, route, ...rest] = synth();
    expect(rest).toEqual([]);
    expect(alias).toMatchObject({ kind: 'Service', metadata: { name: 'chat-interceptor', namespace: 'apps-ns' } });
    expect(alias!.spec).toEqual({
      type: 'ExternalName',
      externalName: 'keda-add-ons-http-interceptor-proxy.keda-http.svc.cluster.local',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
    expect(route).toMatchObject({ apiVersion: 'http.keda.sh/v1alpha1', kind: 'HTTPScaledObject', metadata: { name: 'chat' } });
    expect(route!.spec).toEqual({
      hosts: ['chat-interceptor.apps-ns', 'chat-interceptor.apps-ns.svc', 'chat-interceptor.apps-ns.svc.cluster.local'],
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'chat', service: 'chat', port: 80 },
      replicas: { min: 0, max: 4 },
      scaledownPeriod: 900,
      scalingMetric: { concurrency: { targetValue: 5 } },
      timeouts: { conditionWait: '420s', responseHeader: '330s' },
    });
    expect(() => validateSchema(route!)).not.toThrow();
  });

  it('an ingress host is routed first, beside the in-cluster names', () => {
    const route = synth('chat.example.internal').find((o) => o.kind === 'HTTPScaledObject')!;
    expect(route.spec.hosts[0]).toBe('chat.example.internal');
    expect(route.spec.hosts).toHaveLength(4);
  });
});

describe('a cluster-ip service that scales to zero', () => {
  it('has no Ingress, and the route carries only the in-cluster names', () => {
    const out = synthesizeAll([env({ exposure: { kind: 'cluster-ip' } })]);
    const objects = out.builds[0]!.services[0]!.toJson() as K8sObject[];
    expect(objects.find((o) => o.kind === 'Ingress')).toBeUndefined();
    expect(objects.find((o) => o.kind === 'HTTPScaledObject')!.spec.hosts).toEqual([
      'chat-interceptor.llm-test',
      'chat-interceptor.llm-test.svc',
      'chat-interceptor.llm-test.svc.cluster.local',
    ]);
  });
});

describe('the scale-to-zero rules on manifests an override or a hand edit could produce', () => {
  const e = env({ exposure: { kind: 'ingress', host: 'chat.example.internal' } });
  const ctx = buildRuleContext(buildEnvironment(e), e.cluster);
  const svc = ctx.services[0]!;
  /** The messages of one rule on the service with one object of a kind replaced. */
  function messages(id: string, kind: string, edit: (o: K8sObject) => void): string[] {
    const objects = svc.objects.map((o) => {
      if (o.kind !== kind) return o;
      const copy = structuredClone(o) as K8sObject;
      edit(copy);
      return copy as Manifest;
    });
    const rule = scaleToZeroRules.find((r) => r.id === id)!;
    // The context's typed views follow the edited objects, as buildRuleContext would have read them.
    const ingress = objects.find((o) => o.kind === 'Ingress') as ServiceContext['ingress'];
    return rule.check({ ...svc, objects, ingress }, ctx).map((f) => f.message);
  }

  it('the generated service passes every scale-to-zero rule', () => {
    for (const rule of scaleToZeroRules) expect(rule.check(svc, ctx), rule.id).toEqual([]);
  });

  it('scale-to-zero-add-on-installed: no wake trigger on the ScaledObject, or no add-on in the profile', () => {
    const scaledObject = structuredClone(svc.scaledObject!);
    (scaledObject.spec as { triggers: unknown[] }).triggers = scaledObject.spec.triggers!.filter((t) => t.type !== 'external-push');
    const rule = scaleToZeroRules.find((r) => r.id === 'scale-to-zero-add-on-installed')!;
    expect(rule.check({ ...svc, scaledObject }, ctx).map((f) => f.message)).toEqual([expect.stringMatching(/would never wake/)]);
    expect(rule.check(svc, { ...ctx, cluster: { ...ctx.cluster, kedaHttpAddOn: undefined } }).map((f) => f.message)).toEqual([
      expect.stringMatching(/declares no kedaHttpAddOn/),
    ]);
  });

  it('scale-to-zero-routed: an Ingress to the model Service, an alias in another namespace, a policy that blocks the interceptor', () => {
    expect(messages('scale-to-zero-routed', 'Ingress', (o) => (o.spec.rules[0].http.paths[0].backend.service.name = 'chat'))).toEqual([
      expect.stringMatching(/sends to chat, not to the interceptor Service/),
    ]);
    expect(
      messages('scale-to-zero-routed', 'Service', (o) => {
        if (o.spec.type === 'ExternalName') o.spec.externalName = 'keda-add-ons-http-interceptor-proxy.elsewhere.svc.cluster.local';
      }),
    ).toEqual([expect.stringMatching(/but the add-on runs in namespace keda-http/)]);
    expect(messages('scale-to-zero-routed', 'NetworkPolicy', (o) => (o.spec.ingress[0].from = [{ podSelector: {} }]))).toEqual([
      expect.stringMatching(/does not admit the interceptor's namespace keda-http/),
    ]);
    expect(messages('scale-to-zero-routed', 'HTTPScaledObject', (o) => (o.spec.hosts = ['other.example']))).toEqual([
      expect.stringMatching(/does not route the ingress host chat.example.internal/),
    ]);
  });

  it('scale-to-zero-hold-bounded: no hold, a hold shorter than the load, a response-header timeout below the request timeout', () => {
    const withoutFailover = (edit: (o: K8sObject) => void) => (o: K8sObject) => {
      delete o.spec.coldStartTimeoutFailoverRef;
      edit(o);
    };
    expect(
      messages(
        'scale-to-zero-hold-bounded',
        'HTTPScaledObject',
        withoutFailover((o) => delete o.spec.timeouts.conditionWait),
      ),
    ).toEqual([expect.stringMatching(/sets no timeouts.conditionWait/)]);
    expect(
      messages(
        'scale-to-zero-hold-bounded',
        'HTTPScaledObject',
        withoutFailover((o) => (o.spec.timeouts.conditionWait = '30s')),
      ),
    ).toEqual([expect.stringMatching(/the hold 30s \(timeouts.conditionWait\) is shorter than the startup probe window/)]);
    // With a failover its timeoutSeconds is the hold: conditionWait no longer counts, and left unset the CRD's 30 s applies.
    expect(messages('scale-to-zero-hold-bounded', 'HTTPScaledObject', (o) => (o.spec.timeouts.conditionWait = '30s'))).toEqual([]);
    expect(messages('scale-to-zero-hold-bounded', 'HTTPScaledObject', (o) => delete o.spec.coldStartTimeoutFailoverRef.timeoutSeconds)).toEqual([
      expect.stringMatching(/the hold 30s \(coldStartTimeoutFailoverRef.timeoutSeconds \(unset: the CRD default\)\) is shorter than the startup probe window/),
    ]);
    expect(messages('scale-to-zero-hold-bounded', 'HTTPScaledObject', (o) => (o.spec.coldStartTimeoutFailoverRef.timeoutSeconds = 60))).toEqual([
      expect.stringMatching(/the hold 60s \(coldStartTimeoutFailoverRef.timeoutSeconds\) is shorter/),
    ]);
    expect(messages('scale-to-zero-hold-bounded', 'HTTPScaledObject', (o) => (o.spec.timeouts.responseHeader = '60s'))).toEqual([
      expect.stringMatching(/responseHeader timeout 60s < request timeout 300s/),
    ]);
  });
});
