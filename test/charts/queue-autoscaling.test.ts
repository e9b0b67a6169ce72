import { describe, expect, it } from 'vitest';
import { roomyTestCluster } from '../support/clusters.js';
import { envVars } from '../../service/contract.js';
import { createMetrics } from '../../service/http/metrics.js';
import { g5_2xlarge, kedaCrds, prometheusOperatorCrds, r5_2xlarge } from '../../charts/clusters/eks.js';
import type { ClusterProfile } from '../../charts/clusters/types.js';
import { defaultTargetCapacityFraction } from '../../charts/constructs/autoscaling.js';
import { httpScaledObjectType, queueMetrics } from '../../charts/constructs/queue-autoscaling.js';
import { heldRequestsTrigger } from '../../charts/constructs/scale-to-zero.js';
import { environments } from '../../charts/environments/index.js';
import { idleDurationSeconds } from '../../charts/sizing/cold-start.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { qwen25_3bInstructQ4KM } from '../../charts/models/catalogue.js';
import { synthesizeAll } from '../../charts/synth.js';
import { committedManifests, validateSchema, type K8sObject } from '../support/manifests.js';
import { synthError } from '../support/synth.js';

const docs = committedManifests().map((d) => d.object);
const find = (kind: string, namespace: string | undefined, name: string): K8sObject | undefined =>
  docs.find((o) => o.kind === kind && o.metadata.namespace === namespace && o.metadata.name === name);
const envOf = (container: { env?: Array<{ name: string; value?: string }> }, name: string): number =>
  Number(container.env?.find((e) => e.name === name)?.value);

/** Every service of every environment that asks for queue autoscaling, with its synthesized objects. */
const queued = environments.flatMap((env) =>
  Object.entries(env.services)
    .filter(([, svc]) => svc.autoscaling?.signal === 'queue')
    .map(([name, svc]) => ({ env, name, svc, deployment: find('Deployment', env.namespace, name)!, scaledObject: find('ScaledObject', env.namespace, name) })),
);

describe('queue autoscaling in the committed output', () => {
  it('is exercised by at least one example service', () => {
    expect(queued.length).toBeGreaterThan(0);
  });

  for (const { env, name, svc, deployment, scaledObject } of queued) {
    describe(`${env.name}/${name}`, () => {
      it('has a ScaledObject instead of a CPU HPA, no Deployment replicas, and Argo CD ignores them', () => {
        expect(scaledObject).toBeDefined();
        expect(find('HorizontalPodAutoscaler', env.namespace, name)).toBeUndefined();
        expect(deployment.spec.replicas).toBeUndefined();
        expect(scaledObject!.spec).toMatchObject({
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
          minReplicaCount: svc.autoscaling!.minReplicas,
          maxReplicaCount: svc.autoscaling!.maxReplicas,
        });
        const app = docs.find((o) => o.kind === 'Application' && o.spec.destination.namespace === env.namespace)!;
        expect(app.spec.ignoreDifferences).toContainEqual(
          expect.objectContaining({ group: 'apps', kind: 'Deployment', name, jsonPointers: ['/spec/replicas'] }),
        );
        expect(app.spec.syncPolicy.syncOptions).toContain('RespectIgnoreDifferences=true');
        const project = docs.find((o) => o.kind === 'AppProject' && o.metadata.name === app.spec.project)!;
        expect(project.spec.namespaceResourceWhitelist).toContainEqual({ group: 'keda.sh', kind: 'ScaledObject' });
        expect(env.cluster.customResourceTypes).toContainEqual(expect.objectContaining({ group: 'keda.sh', kind: 'ScaledObject' }));
      });

      it("targets a share of the pod's capacity, PARALLEL + MAX_QUEUE as the Deployment sets them", () => {
        const server = deployment.spec.template.spec.containers.find((c: { name: string }) => c.name === 'server');
        const capacity = envOf(server, envVars.parallel) + envOf(server, envVars.maxQueue);
        expect(capacity).toBeGreaterThan(0);
        const [trigger, ...others] = scaledObject!.spec.triggers;
        // A service that scales to zero also wakes on the requests the KEDA HTTP add-on holds (test/charts/scale-to-zero.test.ts).
        expect(others).toEqual(svc.scaleToZero ? [heldRequestsTrigger(name, env.cluster.kedaHttpAddOn!)] : []);
        expect(trigger.type).toBe('prometheus');
        expect(Number(trigger.metadata.threshold)).toBeCloseTo(capacity * (svc.autoscaling!.targetCapacityFraction ?? defaultTargetCapacityFraction));
        expect(Number(trigger.metadata.activationThreshold)).toBeGreaterThanOrEqual(0);
        expect(trigger.metadata.serverAddress).toMatch(/^http:\/\/[a-z0-9.-]+:\d+$/);
        // The query reads this service, in this namespace, through the Service the ServiceMonitor scrapes.
        const monitor = find('ServiceMonitor', env.namespace, name);
        expect(monitor).toBeDefined();
        for (const metric of Object.values(queueMetrics))
          expect(trigger.metadata.query).toContain(`${metric}{namespace="${env.namespace}", service="${name}"}`);
      });

      it('keeps scale-down stabilisation and cooldown longer than a model load', () => {
        const server = deployment.spec.template.spec.containers.find((c: { name: string }) => c.name === 'server');
        const startupWindow = server.startupProbe.periodSeconds * server.startupProbe.failureThreshold;
        const load = Math.max(startupWindow, deployment.spec.progressDeadlineSeconds);
        expect(scaledObject!.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThan(load);
        // Only 1 -> 0 reads the cooldown: a service that scales to zero waits the idle time its team chose instead.
        if (svc.scaleToZero) expect(scaledObject!.spec.cooldownPeriod).toBe(idleDurationSeconds(svc.scaleToZero.idleAfter));
        else expect(scaledObject!.spec.cooldownPeriod).toBeGreaterThan(load);
      });
    });
  }

  it('reads gauges the server really exports, unlabelled (namespace and service come from the scrape)', () => {
    const { registry } = createMetrics({} as never);
    for (const metric of Object.values(queueMetrics)) {
      const gauge = registry.getSingleMetric(metric) as unknown as { labelNames?: string[] } | undefined;
      expect(gauge, metric).toBeDefined();
      expect(gauge!.labelNames ?? []).toEqual([]);
    }
  });
});

describe('ScaledObject offline schema', () => {
  // One that keeps pods: the breakages below move bounds relative to minReplicaCount.
  const valid = docs.find((o) => o.kind === 'ScaledObject' && o.spec.minReplicaCount >= 1)!;

  it('accepts every committed ScaledObject', () => {
    for (const o of docs.filter((d) => d.kind === 'ScaledObject')) expect(() => validateSchema(o)).not.toThrow();
  });

  const breakages: Array<[string, (o: K8sObject) => void, RegExp]> = [
    ['no scaleTargetRef', (o) => delete o.spec.scaleTargetRef, /scaleTargetRef/],
    ['a numeric trigger threshold (metadata values are strings)', (o) => (o.spec.triggers[0].metadata.threshold = 10), /must be string/],
    ['a misspelt field', (o) => (o.spec.cooldownPeriods = 60), /additional properties/],
    ['no triggers', (o) => (o.spec.triggers = []), /fewer than 1/],
    ['minReplicaCount above maxReplicaCount', (o) => (o.spec.minReplicaCount = o.spec.maxReplicaCount + 1), /must not exceed/],
    ['idleReplicaCount not below minReplicaCount', (o) => (o.spec.idleReplicaCount = o.spec.minReplicaCount), /idleReplicaCount/],
  ];
  for (const [what, breakIt, complaint] of breakages) {
    it(`rejects ${what}`, () => {
      const broken = structuredClone(valid);
      breakIt(broken);
      expect(() => validateSchema(broken)).toThrow(complaint);
    });
  }
});

describe('autoscaling rules', () => {
  const kedaCluster: ClusterProfile = roomyTestCluster({
    name: 'keda-cluster',
    definedIn: 'test/charts/queue-autoscaling.test.ts',
    nodePools: [r5_2xlarge(6), g5_2xlarge(2)],
    customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds],
  });
  const chat = (autoscaling: ServiceDeclaration['autoscaling']): ServiceDeclaration => ({
    model: qwen25_3bInstructQ4KM,
    cpu: 2,
    modelCache: { kind: 'emptyDir' },
    autoscaling,
  });
  const env = (svc: ServiceDeclaration, cluster = kedaCluster): Environment => ({
    name: 'scaling',
    definedIn: 'test/charts/queue-autoscaling.test.ts',
    namespace: 'llm-scaling',
    clusterName: 'scaling',
    cluster,
    image: 'ghcr.io/gguf-on-k8s/inference:1.2.3',
    services: { chat: svc },
  });
  const failure = synthError;

  it('a chosen CPU signal synthesizes with a warning that says why CPU is a poor signal', () => {
    const out = synthesizeAll([env(chat({ minReplicas: 1, maxReplicas: 3, signal: 'cpu' }))]);
    const warnings = out.report.warnings.filter((w) => w.ruleId === 'cpu-autoscaling-explicit');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/one request already keeps the threads near 100 %/);
  });

  it('a queue signal raises no autoscaling finding', () => {
    const out = synthesizeAll([env(chat({ minReplicas: 1, maxReplicas: 3, signal: 'queue' }))]);
    const ids = [...out.report.warnings, ...out.report.errors].map((f) => f.ruleId);
    expect(ids.filter((id) => /autoscaling|scale-to-zero/.test(id))).toEqual([]);
  });

  it('scale to zero stays refused where the KEDA HTTP add-on is installed, since nothing routes through its interceptor', () => {
    const holder = { ...kedaCluster, customResourceTypes: [...kedaCluster.customResourceTypes!, { ...httpScaledObjectType, installedBy: 'KEDA HTTP add-on' }] };
    const err = failure(env(chat({ minReplicas: 0, maxReplicas: 3, signal: 'queue' }), holder));
    expect(err.report.errors.map((f) => f.ruleId)).toEqual(['scale-to-zero-held']);
    expect(err.message).toMatch(/not routed through its interceptor/);
  });

  it('refuses minReplicas 0 for a CPU HPA at plan time, naming the field', () => {
    expect(() => synthesizeAll([env(chat({ minReplicas: 0, maxReplicas: 3, signal: 'cpu' }))])).toThrow(/autoscaling.*minReplicas 0/s);
  });
});
