import { describe, expect, it } from 'vitest';
import { chatOnlyEnvVars, endpoints, envVars, inferencePaths } from '../../service/contract.js';
import { embeddingAttentionScratchBytes } from '../../charts/sizing/memory.js';
import { synthesizeAll } from '../../charts/synth.js';
import { isCompanionOutput } from '../../charts/companions/resolve.js';
import { environments } from '../../charts/environments/index.js';
import { clusterMinor, pdbUnhealthyPodEvictionPolicyMinor } from '../../charts/clusters/versions.js';
import { defaultIngressController, ingressIdleTimeoutFromAnnotations } from '../../charts/constructs/exposure.js';
import { modelCatalogue } from '../../charts/models/catalogue.js';
import { isUnverified } from '../../charts/models/validate.js';
import { commonIdleTimeoutSeconds, drainMarginSeconds } from '../../charts/sizing/timeouts.js';
import { GiB } from '../../charts/sizing/units.js';
import { committedManifests, type K8sObject } from '../support/manifests.js';

/** The cluster profile of the environment a committed object belongs to (by namespace). */
function clusterOf(o: { metadata: { namespace?: string } }) {
  return environments.find((e) => e.namespace === o.metadata.namespace)!.cluster;
}

/**
 * Invariants asserted on every Deployment committed in dist/, independently of the snapshots:
 * a snapshot update cannot silently accept any of these regressions.
 */
const docs = committedManifests();
// The model services' Deployments; a companion's (dist/<env>/companions/) runs its own image and is checked by its rules;
// the scale-to-zero failover responder has no model (test/charts/scale-to-zero-failover.test.ts).
const deployments = docs.filter(
  (d) => d.object.kind === 'Deployment' && !isCompanionOutput(d.file) && d.object.metadata.labels?.['app.kubernetes.io/component'] !== 'failover',
);
const plans = new Map(
  synthesizeAll().builds.flatMap((b) => b.services.map((s) => [`${b.environment.namespace}/${s.service.plan.name}`, s.service.plan] as const)),
);

function sibling(kind: string, d: K8sObject): K8sObject | undefined {
  return docs.find((o) => o.object.kind === kind && o.object.metadata.namespace === d.metadata.namespace && o.object.metadata.name === d.metadata.name)?.object;
}

function quantityBytes(q: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  if (!m) throw new Error(`unexpected quantity ${q}`);
  return Number(m[1]) * (m[2] === 'Gi' ? GiB : 1024 ** 2);
}

function env(container: { env: { name: string; value?: string }[] }, name: string): string | undefined {
  return container.env.find((e) => e.name === name)?.value;
}

describe.each(deployments.map((d) => [`${d.file} ${d.object.metadata.name}`, d.object] as const))('Deployment %s', (_label, dep) => {
  const pod = dep.spec.template.spec;
  const server = pod.containers.find((c: { name: string }) => c.name === 'server');
  const plan = plans.get(`${dep.metadata.namespace}/${dep.metadata.name}`);
  const pvcVolume = pod.volumes.find((v: { name: string }) => v.name === 'model-cache')?.persistentVolumeClaim;
  const pvc = pvcVolume
    ? docs.find(
        (o) =>
          o.object.kind === 'PersistentVolumeClaim' && o.object.metadata.namespace === dep.metadata.namespace && o.object.metadata.name === pvcVolume.claimName,
      )?.object
    : undefined;
  const gpus = Number(server.resources.limits['nvidia.com/gpu'] ?? 0);

  it('has a plan and a server container', () => {
    expect(plan).toBeDefined();
    expect(server).toBeDefined();
  });

  it('keeps 1..5 old ReplicaSets', () => {
    expect(dep.spec.revisionHistoryLimit).toBeGreaterThanOrEqual(1);
    expect(dep.spec.revisionHistoryLimit).toBeLessThanOrEqual(5);
  });

  it('uses Recreate only with a ReadWriteOnce cache, RollingUpdate 0/1 with GPUs, else RollingUpdate 1/0', () => {
    const rwo = pvc?.spec.accessModes.includes('ReadWriteOnce') ?? false;
    if (rwo) {
      expect(dep.spec.strategy).toEqual({ type: 'Recreate' });
    } else if (gpus > 0) {
      expect(dep.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
    } else {
      expect(dep.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    }
  });

  it('probes the three health endpoints, never the inference path', () => {
    expect(server.startupProbe.httpGet.path).toBe(endpoints.startup);
    expect(server.readinessProbe.httpGet.path).toBe(endpoints.ready);
    expect(server.livenessProbe.httpGet.path).toBe(endpoints.live);
    for (const probe of [server.startupProbe, server.readinessProbe, server.livenessProbe]) {
      expect(inferencePaths).not.toContain(probe.httpGet.path);
      expect(probe.exec).toBeUndefined();
    }
  });

  it('gives the startup probe a window covering the expected model load with margin', () => {
    const window = server.startupProbe.periodSeconds * server.startupProbe.failureThreshold;
    expect(window).toBeGreaterThanOrEqual(plan!.startup.expectedLoadSeconds * 2);
    expect(window).toBeGreaterThanOrEqual(60);
    expect(dep.spec.progressDeadlineSeconds).toBeGreaterThan(window);
  });

  it('sets memory limit == request >= the model estimate, and no CPU limit', () => {
    const { requests, limits } = server.resources;
    expect(limits.memory).toBe(requests.memory);
    expect(quantityBytes(requests.memory)).toBeGreaterThanOrEqual(plan!.memory.requestBytes);
    if (gpus === 0) expect(quantityBytes(requests.memory)).toBeGreaterThan(plan!.props.model.fileBytes);
    expect(requests.cpu).toMatch(/^\d+000m$/);
    expect(limits.cpu).toBeUndefined();
    expect(requests['ephemeral-storage']).toBeDefined();
    expect(limits['ephemeral-storage']).toBe(requests['ephemeral-storage']);
  });

  it('passes the CPU request to THREADS through the downward API', () => {
    const threads = server.env.find((e: { name: string }) => e.name === envVars.threads);
    expect(threads.valueFrom.resourceFieldRef).toEqual({ resource: 'requests.cpu', divisor: '1' });
  });

  it('requests GPUs with a toleration and a node selector only on GPU services', () => {
    if (plan!.gpuCount > 0) {
      expect(gpus).toBe(plan!.gpuCount);
      expect(pod.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
      expect(Object.keys(pod.nodeSelector ?? {})).not.toHaveLength(0);
      expect(env(server, envVars.gpuLayers)).toBe('max');
    } else {
      expect(gpus).toBe(0);
      // A CPU pod may tolerate other pools (spot, dedicated), never a GPU pool's taints.
      const gpuTaints = clusterOf(dep)
        .nodePools.filter((p) => (p.gpus?.count ?? 0) > 0)
        .flatMap((p) => p.taints);
      for (const t of pod.tolerations ?? []) {
        expect(t.key, `${JSON.stringify(t)} tolerates every taint`).toBeDefined();
        expect(gpuTaints.map((g) => g.key)).not.toContain(t.key);
      }
      expect(env(server, envVars.gpuLayers)).toBe('0');
    }
  });

  it('caches the model on a PVC with an explicit class and >= 1.2x the file, or a bounded emptyDir', () => {
    const model = modelCatalogue[plan!.props.model.id as keyof typeof modelCatalogue]!;
    if (pvc) {
      expect(pvc.spec.storageClassName).toBeTruthy();
      expect(quantityBytes(pvc.spec.resources.requests.storage)).toBeGreaterThanOrEqual(model.fileBytes * 1.2);
    } else {
      const dir = pod.volumes.find((v: { name: string }) => v.name === 'model-cache').emptyDir;
      expect(quantityBytes(dir.sizeLimit)).toBeGreaterThanOrEqual(model.fileBytes * 1.2);
      expect(quantityBytes(server.resources.requests['ephemeral-storage'])).toBeGreaterThanOrEqual(quantityBytes(dir.sizeLimit));
    }
    const init = pod.initContainers.find((c: { name: string }) => c.name === 'fetch-model');
    expect(init.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toContain('/models');
    expect(env(init, envVars.model)).toBe(env(server, envVars.model));
    // The entry's sha256 when it has one; an unverified entry has none to check (synth warns, model-integrity-verified).
    if (model.sha256) expect(env(init, envVars.modelSha256)).toBe(model.sha256);
    else expect({ unverified: isUnverified(model), sha256: env(init, envVars.modelSha256) }).toEqual({ unverified: true, sha256: undefined });
  });

  it('gives SIGTERM the request timeout plus drain before SIGKILL', () => {
    const requestTimeoutSeconds = Number(env(server, envVars.requestTimeoutMs)) / 1000;
    const preStop = Number(server.lifecycle.preStop.exec.command[1]);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStop + requestTimeoutSeconds + drainMarginSeconds);
    expect(Number(env(server, envVars.shutdownGraceMs))).toBeLessThanOrEqual(requestTimeoutSeconds * 1000);
  });

  it('runs restricted: non-root, read-only root, no escalation, no capabilities, RuntimeDefault seccomp, writable /tmp', () => {
    for (const c of [...pod.containers, ...pod.initContainers]) {
      expect(c.securityContext).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(c.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toContain('/tmp');
      expect(c.image).not.toMatch(/:latest$|^[^:]+$/);
    }
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('selects pods on stable app.kubernetes.io labels only', () => {
    expect(Object.keys(dep.spec.selector.matchLabels).sort()).toEqual(['app.kubernetes.io/instance', 'app.kubernetes.io/name']);
    expect(Object.keys(dep.spec.template.metadata.labels).every((k) => k.startsWith('app.kubernetes.io/'))).toBe(true);
    expect(sibling('Service', dep)?.spec.selector).toEqual(dep.spec.selector.matchLabels);
  });

  it('has a PodDisruptionBudget that never blocks a drain', () => {
    const pdb = sibling('PodDisruptionBudget', dep);
    const hpa = sibling('HorizontalPodAutoscaler', dep);
    const replicas = hpa ? hpa.spec.minReplicas : dep.spec.replicas;
    // Served from 1.27: older clusters get the budget without it (the pdb-allows-drain warning says so).
    const cluster = environments.find((e) => e.namespace === dep.metadata.namespace)!.cluster;
    expect(pdb?.spec.unhealthyPodEvictionPolicy).toBe(clusterMinor(cluster) >= pdbUnhealthyPodEvictionPolicyMinor ? 'AlwaysAllow' : undefined);
    if (pdb?.spec.maxUnavailable !== undefined) expect(pdb.spec.maxUnavailable).toBeGreaterThanOrEqual(1);
    else expect(pdb?.spec.minAvailable).toBeLessThan(replicas);
    // Unless a service states its own budget, one pod may go and never more, whatever the scale.
    if (plan!.props.overrides?.disruptionBudget === undefined) expect(pdb?.spec).toMatchObject({ maxUnavailable: 1 });
    if (hpa) expect(pdb?.spec.minAvailable).toBeUndefined();
  });

  it('omits spec.replicas when an HPA or a KEDA ScaledObject scales it, and Argo CD ignores the field', () => {
    const hpa = sibling('HorizontalPodAutoscaler', dep);
    const scaledObject = sibling('ScaledObject', dep);
    if (!hpa && !scaledObject) {
      expect(dep.spec.replicas).toBeGreaterThanOrEqual(1);
      return;
    }
    expect(dep.spec.replicas).toBeUndefined();
    if (hpa) expect(hpa.spec.minReplicas).toBeLessThanOrEqual(hpa.spec.maxReplicas);
    if (scaledObject) {
      expect(scaledObject.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: dep.metadata.name });
      expect(scaledObject.spec.minReplicaCount).toBeLessThanOrEqual(scaledObject.spec.maxReplicaCount);
    }
    const app = docs.find((d) => d.object.kind === 'Application' && d.object.spec.destination.namespace === dep.metadata.namespace)?.object;
    expect(app?.spec.ignoreDifferences).toContainEqual(
      expect.objectContaining({ kind: 'Deployment', name: dep.metadata.name, jsonPointers: ['/spec/replicas'] }),
    );
  });

  // What the service serves, as the manifest tells the server (unset: chat, the server's default).
  const kind = env(server, envVars.serviceKind) ?? 'chat';

  it('serves what its model can: SERVICE_KIND embedding exactly for an embedding model', () => {
    expect(kind).toBe(plan!.props.model.embedding ? 'embedding' : 'chat');
  });

  it.runIf(kind === 'chat')('chat: keeps the SSE keep-alive below the smallest idle timeout on the path', () => {
    const keepAliveSeconds = Number(env(server, envVars.sseKeepAliveMs)) / 1000;
    expect(keepAliveSeconds).toBeLessThan(Math.min(60, ...(plan!.props.pathIdleTimeoutsSeconds ?? [])));
    const ingress = sibling('Ingress', dep);
    if (ingress) {
      // The idle timeout the Ingress sets for its class's controller, or the one the profile declares for a
      // controller configured elsewhere (Traefik, HAProxy).
      const cluster = environments.find((e) => e.namespace === dep.metadata.namespace)!.cluster;
      const cls = ingress.spec.ingressClassName;
      const controller = cluster.ingressControllers?.[cls] ?? defaultIngressController;
      const idle = ingressIdleTimeoutFromAnnotations(controller, ingress.metadata.annotations ?? {}) ?? cluster.ingressIdleTimeoutsSeconds?.[cls];
      expect(idle, `${cls} (${controller})`).toBeGreaterThan(Number(env(server, envVars.requestTimeoutMs)) / 1000);
    }
  });

  it.runIf(kind === 'embedding')('embedding: one batch holds a whole input, no chat-only settings, no generation KV', () => {
    const context = Number(env(server, envVars.contextSize));
    // An input may have CONTEXT_SIZE - 1 tokens and the encoder evaluates it in one batch.
    expect(Number(env(server, envVars.batchSize))).toBeGreaterThanOrEqual(context);
    for (const name of chatOnlyEnvVars) expect(env(server, name), name).toBeUndefined();
    const model = plan!.props.model;
    if (model.embedding?.kvCache === false) expect(plan!.memory.kvCacheBytes).toBe(0);
    // The memory request holds what an embedding batch of that size allocates.
    const m = plan!.memory;
    expect(quantityBytes(server.resources.requests.memory)).toBeGreaterThanOrEqual(
      m.weightsBytes + m.kvCacheBytes + m.logitsBytes + embeddingAttentionScratchBytes(model, Number(env(server, envVars.batchSize))) + m.runtimeBytes,
    );
  });

  it.runIf(kind === 'embedding')('embedding: a whole request fits every idle timeout on the path (nothing keeps an embedding answer alive)', () => {
    const requestSeconds = Number(env(server, envVars.requestTimeoutMs)) / 1000;
    expect(requestSeconds).toBeLessThanOrEqual(Math.min(...(plan!.props.pathIdleTimeoutsSeconds ?? [commonIdleTimeoutSeconds])));
    const ingress = sibling('Ingress', dep);
    if (ingress) expect(Number(ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThan(requestSeconds);
  });

  it('is watched by a ServiceMonitor and alerting rules for what it serves', () => {
    expect(sibling('ServiceMonitor', dep)?.spec.endpoints[0].path).toBe(endpoints.metrics);
    const alerts: string[] = sibling('PrometheusRule', dep)?.spec.groups.flatMap((g: { rules: { alert: string }[] }) => g.rules.map((r) => r.alert));
    expect(alerts).toEqual(expect.arrayContaining(['LlmInferencePodRestarting', 'LlmInferencePodNotReady', 'LlmInferenceQueueSaturated']));
    // A chat service is slow by its first token; an embedding service generates none and is slow by its whole request.
    if (kind === 'chat') expect(alerts).toContain('LlmInferenceSlowTimeToFirstToken');
    else expect(alerts.filter((a) => a === 'LlmInferenceSlowTimeToFirstToken' || a === 'LlmEmbeddingRequestsSlow')).toEqual(['LlmEmbeddingRequestsSlow']);
  });
});

describe('environments', () => {
  it('each run at least one service, and GPU services only on clusters with GPU nodes', () => {
    // Any mix is valid (a CPU-only environment, no GPU environment at all): only what each cluster can run is checked.
    for (const build of synthesizeAll().builds) {
      expect(build.services.length, build.environment.name).toBeGreaterThan(0);
      const gpuNodes = build.environment.cluster.nodePools.reduce((n, p) => n + p.count * (p.gpus?.count ?? 0), 0);
      for (const s of build.services) if (s.service.plan.gpuCount > 0) expect(gpuNodes, `${build.environment.name}/${s.service.plan.name}`).toBeGreaterThan(0);
    }
  });
  it('are synced by Argo CD with prune, self-heal, no empty sync, retry and CreateNamespace', () => {
    // The environments' own Applications; companions' Applications (labelled `companion`) are asserted in test/charts/companions.test.ts.
    const apps = docs
      .filter(
        (d) => d.object.kind === 'Application' && d.object.metadata.labels?.companion === undefined && d.object.spec.source.path?.startsWith('dist/') === true,
      )
      .map((d) => d.object);
    expect(apps.map((a) => a.spec.source.path).sort()).toEqual(
      synthesizeAll()
        .builds.map((b) => `dist/${b.environment.name}`)
        .sort(),
    );
    for (const app of apps) {
      expect(app.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true, allowEmpty: false });
      expect(app.spec.syncPolicy.syncOptions).toContain('CreateNamespace=true');
      expect(app.spec.syncPolicy.retry.limit).toBeGreaterThan(0);
    }
  });
});
