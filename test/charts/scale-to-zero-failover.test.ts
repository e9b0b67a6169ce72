/**
 * The scale-to-zero failover responder in the charts (charts/constructs/scale-to-zero-failover.ts): every
 * environment with a service that scales to zero runs one, every HTTPScaledObject names it with the hold as
 * `timeoutSeconds`, the NetworkPolicy admits the interceptor, and the FAILOVER_ROUTES the charts write is what the
 * responder (service/failover.ts) reads and answers with. Invariants over whatever environments exist.
 */
import { Chart, Testing } from 'cdk8s';
import { pino } from 'pino';
import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { failoverResources, failoverResponderName, ScaleToZeroFailover } from '../../charts/constructs/scale-to-zero-failover.js';
import { ScaleToZeroRoute } from '../../charts/constructs/scale-to-zero.js';
import { buildEnvironment } from '../../charts/environment-chart.js';
import { environments } from '../../charts/environments/index.js';
import type { Environment } from '../../charts/environments/types.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { buildRuleContext } from '../../charts/rules/context.js';
import { podSecurityPolicyViolations, usablePolicies } from '../../charts/rules/pod-security-policy.js';
import { scaleToZeroRules } from '../../charts/rules/scale-to-zero.js';
import type { Manifest } from '../../charts/rules/types.js';
import { planScaleToZero } from '../../charts/sizing/cold-start.js';
import { coldStartText } from '../../charts/summary.js';
import { synthesizeAll } from '../../charts/synth.js';
import { containerCommands, endpoints, failoverResponder } from '../../service/contract.js';
import { loadFailoverConfig, runFailover } from '../../service/failover.js';
import { addOnCluster, scaleToZeroChat, scaleToZeroEnv } from '../support/scale-to-zero.js';
import { committedManifests, validateSchema, type K8sObject } from '../support/manifests.js';

const docs = committedManifests();
const withSleepers = environments.filter((e) => Object.values(e.services).some((s) => s.scaleToZero !== undefined));
const envVar = (container: { env?: Array<{ name: string; value?: string }> }, name: string): string | undefined =>
  container.env?.find((e) => e.name === name)?.value;

describe('the failover responder in the committed output', () => {
  it('is exercised by at least one environment, and absent where nothing scales to zero', () => {
    expect(withSleepers.length).toBeGreaterThan(0);
    for (const e of environments.filter((x) => !withSleepers.includes(x)))
      expect(
        docs.filter((d) => d.file === `dist/${e.name}/${failoverResponderName}.yaml`),
        e.name,
      ).toEqual([]);
  });

  for (const env of withSleepers) {
    describe(env.name, () => {
      const file = `dist/${env.name}/${failoverResponderName}.yaml`;
      const objects = docs.filter((d) => d.file === file).map((d) => d.object);
      const of = (kind: string): K8sObject => objects.find((o) => o.kind === kind)!;
      const build = buildEnvironment(env);
      const plans = build.services.map((s) => s.service.plan).filter((p) => p.scaleToZero !== undefined);
      const addOnNamespace = env.cluster.kedaHttpAddOn!.namespace;

      it(`${file}: a ServiceAccount, a Deployment, its Service and its NetworkPolicy, each valid against its schema`, () => {
        const psp = env.cluster.podSecurityPolicyAdmission === true ? ['PodSecurityPolicy', 'Role', 'RoleBinding'] : [];
        expect(objects.map((o) => o.kind).sort()).toEqual(['Deployment', 'NetworkPolicy', 'Service', 'ServiceAccount', ...psp].sort());
        for (const o of objects.filter((x) => !psp.includes(x.kind))) {
          expect(o.metadata).toMatchObject({ name: failoverResponderName, namespace: env.namespace });
          expect(() => validateSchema(o)).not.toThrow();
        }
      });

      it('runs the responder from the service image, one pod, probes on the health port, restricted like the model pods', () => {
        const deployment = of('Deployment');
        const pod = deployment.spec.template.spec;
        const [container, ...others] = pod.containers;
        expect(others).toEqual([]);
        expect(deployment.spec.replicas).toBe(1);
        expect(container.command).toEqual([...containerCommands.failover]);
        expect(container.image).toBe(env.image);
        expect(container.readinessProbe.httpGet).toMatchObject({ path: endpoints.ready, port: failoverResponder.healthPort });
        expect(container.livenessProbe.httpGet).toMatchObject({ path: endpoints.live, port: failoverResponder.healthPort });
        expect(container.resources).toEqual({
          requests: {
            cpu: `${failoverResources.cpuMillis}m`,
            memory: `${failoverResources.memoryRequestMiB}Mi`,
            'ephemeral-storage': `${failoverResources.ephemeralStorageMiB}Mi`,
          },
          limits: { memory: `${failoverResources.memoryLimitMiB}Mi`, 'ephemeral-storage': `${failoverResources.ephemeralStorageMiB}Mi` },
        });
        // The same container securityContext as every model server of the environment.
        for (const p of plans) {
          const model = docs.find((d) => d.file === `dist/${env.name}/${p.name}.yaml` && d.object.kind === 'Deployment')!.object;
          const server = model.spec.template.spec.containers.find((c: { name: string }) => c.name === 'server');
          expect(container.securityContext, p.name).toEqual(server.securityContext);
        }
        expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true, allowPrivilegeEscalation: false });
        expect(pod.automountServiceAccountToken).toBe(false);
      });

      it('the Service reaches the container port the responder listens on', () => {
        const service = of('Service');
        const deployment = of('Deployment');
        const labels = deployment.spec.template.metadata.labels;
        for (const [k, v] of Object.entries(service.spec.selector as Record<string, string>)) expect(labels[k]).toBe(v);
        expect(service.spec.ports).toEqual([{ name: 'http', port: failoverResponder.port, targetPort: failoverResponder.port, protocol: 'TCP' }]);
        const container = deployment.spec.template.spec.containers[0];
        expect(container.ports).toContainEqual(expect.objectContaining({ containerPort: failoverResponder.port }));
        expect(envVar(container, failoverResponder.envVars.port)).toBe(String(failoverResponder.port));
      });

      it("the NetworkPolicy admits only the add-on's namespace, on the failover port, and lets nothing out", () => {
        const policy = of('NetworkPolicy');
        expect(policy.spec.ingress).toEqual([
          {
            from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': addOnNamespace } } }],
            ports: [{ port: failoverResponder.port, protocol: 'TCP' }],
          },
        ]);
        expect(policy.spec.egress).toEqual([]);
        expect(policy.spec.podSelector.matchLabels).toEqual(of('Service').spec.selector);
      });

      for (const plan of plans) {
        it(`${plan.name}: the HTTPScaledObject fails over to the responder after the hold the summary states`, () => {
          const httpso = docs.find((d) => d.file === `dist/${env.name}/${plan.name}.yaml` && d.object.kind === 'HTTPScaledObject')!.object;
          const hold = plan.scaleToZero!.holdSeconds;
          expect(httpso.spec.coldStartTimeoutFailoverRef).toEqual({ service: failoverResponderName, port: failoverResponder.port, timeoutSeconds: hold });
          expect(httpso.spec.timeouts.conditionWait).toBe(`${hold}s`);
          expect(coldStartText(plan.scaleToZero!)).toContain(`at most ${hold}s`);
          expect(coldStartText(plan.scaleToZero!)).toContain(`then 503 with Retry-After ${plan.scaleToZero!.retryAfterSeconds}s`);
          const routes = loadFailoverConfig({
            [failoverResponder.envVars.routes]: envVar(of('Deployment').spec.template.spec.containers[0], failoverResponder.envVars.routes),
          }).routes;
          expect(routes.find((r) => r.service === plan.name)).toEqual({
            hosts: httpso.spec.hosts,
            service: plan.name,
            model: plan.props.model.id,
            retryAfterSeconds: plan.scaleToZero!.retryAfterSeconds,
            holdSeconds: hold,
          });
        });
      }

      it('the responder, started with the committed FAILOVER_ROUTES, answers each routed host with its own Retry-After', async () => {
        const container = of('Deployment').spec.template.spec.containers[0];
        const config = loadFailoverConfig({
          [failoverResponder.envVars.routes]: envVar(container, failoverResponder.envVars.routes),
          HOST: '127.0.0.1',
          PORT: '0',
          HEALTH_PORT: '0',
        });
        const running = await runFailover(config, pino({ level: 'silent' }));
        try {
          for (const route of config.routes)
            for (const host of route.hosts) {
              const answer = await new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
                const req = httpRequest(
                  { host: '127.0.0.1', port: running.port, method: 'POST', path: endpoints.chatCompletions, headers: { host: `${host}:8080` } },
                  (res) => {
                    let body = '';
                    res.on('data', (c: Buffer) => (body += c.toString()));
                    res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }));
                  },
                );
                req.on('error', reject);
                req.end('{"messages":[]}');
              });
              expect(answer.status, host).toBe(503);
              expect(answer.retryAfter, host).toBe(String(route.retryAfterSeconds));
              expect(answer.body, host).toContain(route.model);
            }
        } finally {
          await running.close();
        }
      });
    });
  }
});

describe('ScaleToZeroFailover and the route (Testing.synth)', () => {
  const plan = planScaleToZero({
    idleAfterSeconds: 600,
    podStartSeconds: 300,
    startupWindowSeconds: 90,
    expectedLoadSeconds: 40,
    downloadSecondsPerWake: 0,
    serviceIdleTimeoutSeconds: 330,
  });
  const security = { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, dropAllCapabilities: true };

  it('the route names the failover with timeoutSeconds = the hold, valid against the CRD', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'apps', disableResourceNameHashes: true });
    new ScaleToZeroRoute(chart, 'route', {
      name: 'chat',
      namespace: 'apps',
      labels: {},
      servicePort: 80,
      plan,
      maxReplicas: 2,
      targetConcurrency: 4,
      addOn: { namespace: 'keda' },
      failover: { service: failoverResponderName, port: failoverResponder.port },
    });
    const route = (Testing.synth(chart) as K8sObject[]).find((o) => o.kind === 'HTTPScaledObject')!;
    expect(route.spec.coldStartTimeoutFailoverRef).toEqual({ service: failoverResponderName, port: failoverResponder.port, timeoutSeconds: plan.holdSeconds });
    expect(() => validateSchema(route)).not.toThrow();
    // Negative control: the CRD's CEL rule refuses a port and a port name at once.
    const broken = structuredClone(route);
    broken.spec.coldStartTimeoutFailoverRef.portName = 'http';
    expect(() => validateSchema(broken)).toThrow(/either the 'portName' or the 'port'/);
  });

  it('writes FAILOVER_ROUTES the responder accepts, and refuses to build with no route', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'apps', disableResourceNameHashes: true });
    const routes = [
      { hosts: ['chat-interceptor.apps'], service: 'chat', model: 'm', retryAfterSeconds: plan.retryAfterSeconds, holdSeconds: plan.holdSeconds },
    ];
    new ScaleToZeroFailover(chart, 'failover', {
      namespace: 'apps',
      environment: 'e',
      image: 'example/inference:1',
      routes,
      addOn: { namespace: 'keda' },
      security,
      imagePullSecrets: ['regcred'],
    });
    const deployment = (Testing.synth(chart) as K8sObject[]).find((o) => o.kind === 'Deployment')!;
    const container = deployment.spec.template.spec.containers[0];
    expect(loadFailoverConfig({ [failoverResponder.envVars.routes]: envVar(container, failoverResponder.envVars.routes) }).routes).toEqual(routes);
    expect(deployment.spec.template.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(deployment.spec.template.metadata.labels).not.toHaveProperty(['cdk8s.io/metadata.addr']);
    const empty = new Chart(Testing.app(), 'empty', { namespace: 'apps' });
    expect(
      () =>
        new ScaleToZeroFailover(empty, 'failover', { namespace: 'apps', environment: 'e', image: 'x:1', routes: [], addOn: { namespace: 'keda' }, security }),
    ).toThrow(/at least one route/);
  });
});

function sleepyEnv(services: Environment['services'] = {}): Environment {
  const definedIn = 'test/charts/scale-to-zero-failover.test.ts';
  return scaleToZeroEnv(definedIn, addOnCluster(definedIn), {
    chat: { ...scaleToZeroChat, exposure: { kind: 'ingress', host: 'chat.example.internal' } },
    ...services,
  });
}

describe('rule scale-to-zero-failover on manifests a hand edit could produce', () => {
  const e = sleepyEnv();
  const ctx = buildRuleContext(buildEnvironment(e), e.cluster);
  const svc = ctx.services[0]!;
  const rule = scaleToZeroRules.find((r) => r.id === 'scale-to-zero-failover')!;
  const edited = (objects: readonly Manifest[], kind: string, edit: (o: K8sObject) => void): Manifest[] =>
    objects.map((o) => {
      if (o.kind !== kind) return o;
      const copy = structuredClone(o) as K8sObject;
      edit(copy);
      return copy as Manifest;
    });
  const onRoute = (edit: (o: K8sObject) => void): string[] =>
    rule.check({ ...svc, objects: edited(svc.objects, 'HTTPScaledObject', edit) }, ctx).map((f) => f.message);
  const onResponder = (kind: string, edit: (o: K8sObject) => void): string[] =>
    rule.check(svc, { ...ctx, failoverObjects: edited(ctx.failoverObjects, kind, edit) }).map((f) => f.message);

  it('passes the generated objects', () => {
    expect(rule.check(svc, ctx)).toEqual([]);
  });

  it('refuses a route without a failover, or one naming a Service or port that is not the responder', () => {
    expect(onRoute((o) => delete o.spec.coldStartTimeoutFailoverRef)).toEqual([expect.stringMatching(/no coldStartTimeoutFailoverRef: .*504/)]);
    expect(onRoute((o) => (o.spec.coldStartTimeoutFailoverRef.service = 'elsewhere'))).toEqual([
      expect.stringMatching(/names Service elsewhere, which the environment does not synthesize/),
    ]);
    expect(onRoute((o) => (o.spec.coldStartTimeoutFailoverRef.port = 9999))).toEqual([expect.stringMatching(/port 9999/)]);
    expect(rule.check(svc, { ...ctx, failoverObjects: [] }).map((f) => f.message)).toEqual([expect.stringMatching(/does not synthesize/)]);
  });

  it('refuses a responder that does not run the failover command, listens elsewhere, or does not know a routed host', () => {
    expect(onResponder('Deployment', (o) => (o.spec.template.spec.containers[0].command = ['node', 'build/service/main.js']))).toEqual([
      expect.stringMatching(/selects no Deployment running node build\/service\/failover.js/),
    ]);
    // A Service sending elsewhere also leaves that port outside the NetworkPolicy: both are said.
    expect(onResponder('Service', (o) => (o.spec.ports[0].targetPort = 9090))).toEqual([
      expect.stringMatching(/sends port 8080 to 9090, where the responder scale-to-zero-failover does not listen/),
      expect.stringMatching(/does not admit the interceptor's namespace keda-http on port 9090/),
    ]);
    expect(
      onResponder('Deployment', (o) => {
        const routes = o.spec.template.spec.containers[0].env.find((v: { name: string }) => v.name === failoverResponder.envVars.routes);
        routes.value = JSON.stringify(JSON.parse(routes.value).map((r: { hosts: string[] }) => ({ ...r, hosts: r.hosts.slice(1) })));
      }),
    ).toEqual([expect.stringMatching(/does not list chat.example.internal/)]);
  });

  it("refuses a NetworkPolicy that keeps the interceptor's namespace out", () => {
    expect(onResponder('NetworkPolicy', (o) => (o.spec.ingress[0].from = [{ podSelector: {} }]))).toEqual([
      expect.stringMatching(/does not admit the interceptor's namespace keda-http on port 8080/),
    ]);
    expect(onResponder('NetworkPolicy', (o) => (o.spec.ingress[0].ports = [{ port: 8081, protocol: 'TCP' }]))).toEqual([
      expect.stringMatching(/does not admit/),
    ]);
  });

  it('a LimitRange that refuses the responder fails synth with the rule; the quota sums count its two pods', () => {
    const tooSmall = { ...sleepyEnv(), limitRange: { minPerContainer: { memoryMiB: 128 } } };
    expect(() => synthesizeAll([tooSmall])).toThrow(/\[scale-to-zero-failover\].*min memory .* above the responder's request/s);
    // Pods: the model service at its maximum (3) plus its surge pod and the responder with its surge pod: 6 > 5.
    const quota = (pods: number): Environment => ({ ...sleepyEnv(), quota: { cpu: 64, memoryGiB: 256, ephemeralStorageGiB: 64, gpus: 0, pods } });
    expect(() => synthesizeAll([quota(5)])).toThrow(/\[namespace-quota-fits\].*pods 6 > 5.*failover responder x2 pods/s);
    expect(() => synthesizeAll([quota(6)])).not.toThrow();
  });

  it('on a cluster that enforces PodSecurityPolicy the responder gets a policy its pod passes, bound to its own account', () => {
    const e2: Environment = { ...sleepyEnv(), cluster: { ...sleepyEnv().cluster, kubernetesVersion: 'v1.24.9', podSecurityPolicyAdmission: true } };
    const objects = buildEnvironment(e2).failover!.toJson() as Manifest[];
    const pod = (objects.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: Parameters<typeof podSecurityPolicyViolations>[0] } } })
      .spec.template.spec;
    expect(pod.serviceAccountName).toBe(failoverResponderName);
    const usable = usablePolicies(objects, failoverResponderName, e2.namespace);
    expect(usable.map((p) => p.metadata.name)).toEqual([`${e2.namespace}-${failoverResponderName}`]);
    expect(podSecurityPolicyViolations(pod, usable[0]!)).toEqual([]);
    // Negative control: without admission there is no policy, and none is usable.
    expect(usablePolicies(buildEnvironment(sleepyEnv()).failover!.toJson() as Manifest[], failoverResponderName, e2.namespace)).toEqual([]);
  });

  it('a service named like the responder is refused, naming the file, the object and the field', () => {
    const e2 = sleepyEnv({ [failoverResponderName]: { ...sleepyEnv().services.chat! } });
    expect(() => buildEnvironment(e2)).toThrow(ChartConfigError);
    expect(() => buildEnvironment(e2)).toThrow(/test\/charts\/scale-to-zero-failover\.test\.ts.*test\/scale-to-zero-failover.*services.*rename the service/s);
  });
});
