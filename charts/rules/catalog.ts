import { endpoints, envVars, inferencePaths } from '../../service/contract.js';
import { describePoolNodes, poolNodeCount } from '../clusters/pools.js';
import type { NodePool } from '../clusters/types.js';
import { clusterMinor, minimumKubernetesMinor, pdbUnhealthyPodEvictionPolicyMinor, podSecurityPolicyRemovedMinor } from '../clusters/versions.js';
import { builtInGroups, versionedFeatures, type Obj } from '../prerequisites.js';
import { mutableImageReason } from '../lib/image.js';
import { isUnverified } from '../models/validate.js';
import { cpuMillis, parseQuantity } from '../lib/quantity.js';
import { startupBudget } from '../sizing/probes.js';
import { drainMarginSeconds } from '../sizing/timeouts.js';
import { gpuLayerSplit } from '../sizing/gpu-split.js';
import { GiB, formatGiB } from '../sizing/units.js';
import { customMetricsApi, httpScaledObjectType, inFlightPodMetric, scaledObjectType } from '../constructs/queue-autoscaling.js';
import { capacityTypeLabelsOf } from '../clusters/capacity-type.js';
import { topologyKeys } from '../constructs/scheduling.js';
import { defaultIngressController, ingressControllers, ingressIdleTimeoutFromAnnotations } from '../constructs/exposure.js';
import { admissionRules } from './admission.js';
import { addRequests, noRequests, scale } from './context.js';
import { checkNamespaceQuotas, namespaceBudgetRules } from './namespace-budget.js';
import { ingressAnnotationRules } from './ingress-annotations.js';
import { scaleUpRules } from './scale-up.js';
import type { EnvironmentContext, PodRequests, Rule, ServiceContext } from './types.js';
import { modelCacheRules } from './model-cache.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- synthesized manifests are read as plain JSON */

/** Margin the startup protection must keep over the expected load time. */
export const startupRuleMargin = 1.5;

const gib = (bytes: number): string => formatGiB(bytes);
const cores = (millis: number): string => `${(millis / 1000).toFixed(2).replace(/\.?0+$/, '')} CPU`;

function envValue(container: any, name: string): string | undefined {
  return container?.env?.find((e: any) => e.name === name)?.value;
}

function tolerates(pod: any, pool: NodePool): boolean {
  const tolerations: any[] = pod.tolerations ?? [];
  return pool.taints
    .filter((t) => t.effect !== 'PreferNoSchedule')
    .every((t) =>
      tolerations.some(
        (tol) =>
          (tol.key === undefined && tol.operator === 'Exists') ||
          (tol.key === t.key && (tol.operator === 'Exists' || tol.value === t.value) && (tol.effect === undefined || tol.effect === t.effect)),
      ),
    );
}

/** One node-selector requirement against a pool's labels (the labels every node of the pool carries). */
function requirementHolds(r: any, labels: Readonly<Record<string, string>>): boolean {
  const v = labels[r.key];
  const values: string[] = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return v !== undefined && values.includes(v);
    case 'NotIn':
      return v === undefined || !values.includes(v);
    case 'Exists':
      return v !== undefined;
    case 'DoesNotExist':
      return v === undefined;
    case 'Gt':
      return v !== undefined && /^-?\d+$/.test(v) && Number(v) > Number(values[0]);
    case 'Lt':
      return v !== undefined && /^-?\d+$/.test(v) && Number(v) < Number(values[0]);
    default:
      return false;
  }
}

/**
 * The pod's node selector and required node affinity hold for the pool's labels: terms ORed, expressions ANDed
 * (k8s.io/component-helpers/scheduling/corev1/nodeaffinity). A label only some of the pool's nodes carry is not in
 * the profile, so a requirement on it is not counted as met.
 */
function selects(pod: any, pool: NodePool): boolean {
  if (!Object.entries(pod.nodeSelector ?? {}).every(([k, v]) => pool.labels[k] === v)) return false;
  const terms: any[] = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  return terms.length === 0 || terms.some((t) => (t.matchExpressions ?? []).every((r: any) => requirementHolds(r, pool.labels)));
}

const taintText = (t: NodePool['taints'][number]) => `${t.key}${t.value !== undefined ? `=${t.value}` : ''}:${t.effect}`;

/** The taints of a pool the pod does not tolerate, each with the toleration that would. */
function untoleratedTaints(pod: any, pool: NodePool): string[] {
  return pool.taints
    .filter((t) => t.effect !== 'PreferNoSchedule' && !tolerates({ tolerations: pod.tolerations }, { ...pool, taints: [t] }))
    .map((t) => `${taintText(t)} (tolerate with scheduling.tolerations: [{ key: '${t.key}', ${t.value !== undefined ? `value: '${t.value}', ` : ''}effect: '${t.effect}' }])`);
}

/** Why a pod with these requests cannot run on a node of the pool, or undefined when it can. */
function unfitReason(pod: any, req: PodRequests, pool: NodePool): string | undefined {
  if (!tolerates(pod, pool)) return `${pool.name}: taint ${untoleratedTaints(pod, pool).join(', ')} not tolerated`;
  if (!selects(pod, pool)) return `${pool.name}: labels ${JSON.stringify(pool.labels)} do not match the node selector or required node affinity`;
  const free = {
    cpu: pool.allocatable.cpuMillis - (pool.reservedPerNode?.cpuMillis ?? 0),
    mem: pool.allocatable.memoryBytes - (pool.reservedPerNode?.memoryBytes ?? 0),
  };
  const over: string[] = [];
  if (req.cpuMillis > free.cpu) over.push(`cpu ${cores(req.cpuMillis)} > ${cores(free.cpu)} free`);
  if (req.memoryBytes > free.mem) over.push(`memory ${gib(req.memoryBytes)} > ${gib(free.mem)} free of ${gib(pool.allocatable.memoryBytes)} allocatable`);
  if (req.ephemeralStorageBytes > pool.allocatable.ephemeralStorageBytes) over.push(`ephemeral ${gib(req.ephemeralStorageBytes)} > ${gib(pool.allocatable.ephemeralStorageBytes)}`);
  if (req.gpus > (pool.gpus?.count ?? 0)) over.push(`gpus ${req.gpus} > ${pool.gpus?.count ?? 0}`);
  return over.length > 0 ? `${pool.name} (${pool.instanceType}): ${over.join(', ')}` : undefined;
}

function fittingPools(svc: ServiceContext, env: EnvironmentContext): NodePool[] {
  return env.cluster.nodePools.filter((p) => unfitReason(svc.pod, svc.requests, p) === undefined);
}

/** Seconds before the kubelet may kill a pod that is still loading. */
function loadProtectionSeconds(server: any): { seconds: number; by: string } {
  const p = server.startupProbe ?? server.livenessProbe;
  if (!p) return { seconds: Number.POSITIVE_INFINITY, by: 'no startup or liveness probe' };
  const seconds = (p.initialDelaySeconds ?? 0) + (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3);
  return { seconds, by: server.startupProbe ? 'startup probe window' : 'liveness initialDelay + period x failureThreshold (no startup probe)' };
}

function cacheReadMiBps(svc: ServiceContext, env: EnvironmentContext): number {
  if (svc.pvc) {
    const cls = env.cluster.storageClasses.find((c) => c.name === svc.pvc.spec.storageClassName);
    if (cls) return cls.readMiBps;
  }
  return svc.plan.cache.readMiBps;
}

/** Idle timeouts on the client's path: load balancer, ingress, and what the profile says cannot change. */
function pathIdleTimeouts(svc: ServiceContext, env: EnvironmentContext): Array<{ what: string; seconds: number }> {
  const out = env.cluster.fixedPathIdleTimeoutsSeconds.map((s) => ({ what: 'fixed path timeout', seconds: s }));
  const svcAnn = svc.service?.metadata.annotations ?? {};
  // A cluster without a load balancer has no idle timeout to meet: exposure-supported reports the Service instead.
  if (svc.service?.spec.type === 'LoadBalancer' && env.cluster.loadBalancer.kind !== 'none') {
    const lb = env.cluster.loadBalancer;
    let seconds = lb.idleTimeoutSeconds;
    if (lb.idleTimeoutFromAnnotations) {
      const elb = svcAnn['service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout'];
      const nlb = Object.entries(svcAnn).find(([k]) => k.startsWith('service.beta.kubernetes.io/aws-load-balancer-listener-attributes'))?.[1];
      const fromNlb = nlb ? Number(/tcp\.idle_timeout\.seconds=(\d+)/.exec(String(nlb))?.[1]) : undefined;
      seconds = Number(elb ?? fromNlb ?? seconds);
    }
    out.push({ what: `${lb.kind} load balancer`, seconds });
  }
  if (svc.ingress) {
    const cls: string = svc.ingress.spec.ingressClassName;
    const controller = ingressControllerOf(env, cls);
    const fromAnnotations = ingressIdleTimeoutFromAnnotations(controller, svc.ingress.metadata.annotations ?? {});
    const seconds = fromAnnotations ?? env.cluster.ingressIdleTimeoutsSeconds?.[cls] ?? env.cluster.ingressIdleTimeoutSeconds;
    out.push({ what: `ingress ${cls} (${controller}) idle timeout`, seconds });
  }
  return out;
}

/** The `spec.controller` of an IngressClass on the cluster (ingress-nginx where the profile does not say). */
function ingressControllerOf(env: EnvironmentContext, cls: string): string {
  return env.cluster.ingressControllers?.[cls] ?? defaultIngressController;
}

/**
 * A pod field naming a cluster-scoped class (PriorityClass, RuntimeClass) that admission must find: a finding when
 * the name is neither in the profile's list nor one the API server creates itself. Not checked when the profile
 * lists none (unknown is not absent).
 */
function namedClassMissing(field: string, kind: string, name: string | undefined, known: readonly string[] | undefined, builtIn: readonly string[], env: EnvironmentContext): { message: string }[] {
  if (name === undefined || known === undefined || known.includes(name) || builtIn.includes(name)) return [];
  return [{ message: `${field} "${name}" is not a ${kind} of cluster ${env.cluster.name} (profile ${env.cluster.definedIn} lists: ${[...known, ...builtIn].join(', ') || 'none'})` }];
}

export const rules: readonly Rule[] = [
  {
    id: 'pod-fits-node-pool',
    severity: 'error',
    checks: 'Pod requests (CPU, memory, ephemeral storage, GPUs; init containers counted as the scheduler does) fit the free allocatable of some node pool whose taints the pod tolerates and whose labels match its node selector and required node affinity.',
    why: 'A pod that fits no node stays Pending forever (e.g. a 9 GiB request on 14.6 GiB nodes already running other services, or a pod that tolerates none of the tainted pools that have room).',
    fix: 'Lower the requests (contextSize, parallel, cpu), add the toleration the message names (scheduling.tolerations) or relax scheduling.nodeSelector / nodeAffinity, or add a node pool that fits.',
    check: (svc, env) => {
      if (fittingPools(svc, env).length > 0) return [];
      const r = svc.requests;
      const reasons = env.cluster.nodePools.map((p) => unfitReason(svc.pod, r, p)).join('; ');
      return [{ message: `requests cpu ${cores(r.cpuMillis)}, memory ${gib(r.memoryBytes)}, ephemeral ${gib(r.ephemeralStorageBytes)}, gpus ${r.gpus} fit no node pool of cluster ${env.cluster.name}: ${reasons}` }];
    },
  },
  {
    id: 'rollout-surge-fits',
    severity: 'error',
    checks: 'A RollingUpdate surge pod fits beside every running pod of the environment on the pools it can use (GPUs above all), an autoscaled pool counted at its maxCount; otherwise the strategy must be Recreate.',
    why: 'Rolling updates of GPU services stuck Pending: the surge pod waits for a GPU the old pod holds, and the rollout never finishes.',
    fix: 'Roll without a surge (the default with GPUs: RollingUpdate maxSurge 0, maxUnavailable 1; Recreate with a ReadWriteOnce cache), or add capacity for one extra pod.',
    check: (svc, env) => {
      if (svc.surgePods === 0) return [];
      const pools = fittingPools(svc, env);
      if (pools.length === 0) return []; // pod-fits-node-pool reports it
      const inPools = (other: ServiceContext) => fittingPools(other, env).some((p) => pools.includes(p));
      const demand = env.services.filter(inPools).reduce((acc, s) => addRequests(acc, scale(s.requests, s.replicas)), noRequests);
      const withSurge = addRequests(demand, scale(svc.requests, svc.surgePods));
      // An autoscaled pool grows to its maxCount for the surge pod (poolNodeCount).
      const capacity = pools.reduce(
        (acc, p) => ({
          cpuMillis: acc.cpuMillis + poolNodeCount(p) * (p.allocatable.cpuMillis - (p.reservedPerNode?.cpuMillis ?? 0)),
          memoryBytes: acc.memoryBytes + poolNodeCount(p) * (p.allocatable.memoryBytes - (p.reservedPerNode?.memoryBytes ?? 0)),
          ephemeralStorageBytes: acc.ephemeralStorageBytes + poolNodeCount(p) * p.allocatable.ephemeralStorageBytes,
          gpus: acc.gpus + poolNodeCount(p) * (p.gpus?.count ?? 0),
        }),
        noRequests,
      );
      const short: string[] = [];
      if (withSurge.gpus > capacity.gpus) short.push(`GPUs ${withSurge.gpus} needed, ${capacity.gpus} in ${pools.map((p) => p.name).join(', ')}`);
      if (withSurge.cpuMillis > capacity.cpuMillis) short.push(`CPU ${cores(withSurge.cpuMillis)} needed, ${cores(capacity.cpuMillis)} available`);
      if (withSurge.memoryBytes > capacity.memoryBytes) short.push(`memory ${gib(withSurge.memoryBytes)} needed, ${gib(capacity.memoryBytes)} available`);
      return short.length > 0 ? [{ message: `RollingUpdate needs room for ${svc.surgePods} surge pod(s) beside the running ones: ${short.join('; ')}` }] : [];
    },
  },
  {
    id: 'storage-class-provisioned',
    severity: 'error',
    checks: "The cache PVC's storage class exists in the cluster profile, its CSI driver is installed, and it offers the requested access mode.",
    why: 'A PVC on a class with no provisioner (gp2 on a cluster with only the EFS CSI driver) stays Pending and so does the pod.',
    fix: 'Name a storage class the cluster provisions (see charts/clusters/), or install its CSI driver and capture the profile again (npm run cluster:capture).',
    check: (svc, env) => {
      if (!svc.pvc) return [];
      const name = svc.pvc.spec.storageClassName;
      const cls = env.cluster.storageClasses.find((c) => c.name === name);
      if (!cls) return [{ message: `storage class "${name}" does not exist in cluster ${env.cluster.name} (has: ${env.cluster.storageClasses.map((c) => c.name).join(', ') || 'none'})` }];
      if (!cls.csiDriverInstalled) return [{ message: `storage class "${name}" needs the CSI driver ${cls.provisioner}, which is not installed in cluster ${env.cluster.name}` }];
      const modes: string[] = svc.pvc.spec.accessModes ?? [];
      const missing = modes.filter((m) => !(cls.accessModes as readonly string[]).includes(m));
      return missing.length > 0 ? [{ message: `storage class "${name}" does not offer ${missing.join(', ')}` }] : [];
    },
  },
  {
    id: 'rwo-cache-shared',
    severity: 'error',
    checks: 'A ReadWriteOnce cache volume is used by one pod at a time: single replica, no HPA, and the Recreate strategy.',
    why: 'RollingUpdate (or a second replica) with a ReadWriteOnce volume deadlocks on Multi-Attach when the new pod lands on another node.',
    fix: "Use strategy Recreate and one replica, or a ReadWriteMany storage class, or an emptyDir cache.",
    check: (svc) => {
      if (!svc.pvc || !(svc.pvc.spec.accessModes ?? []).includes('ReadWriteOnce')) return [];
      const out: { message: string }[] = [];
      if (svc.deployment.spec.strategy?.type === 'RollingUpdate') out.push({ message: 'ReadWriteOnce cache volume with a RollingUpdate strategy' });
      if (svc.replicas > 1) out.push({ message: `ReadWriteOnce cache volume shared by up to ${svc.replicas} replicas` });
      return out;
    },
  },
  {
    id: 'cache-not-ephemeral',
    severity: 'error',
    checks: 'The model lives on a cache volume; an emptyDir cache has sizeLimit >= model size and the pod requests at least that much ephemeral storage.',
    why: 'A pod evicted for ephemeral storage while downloading a 3 GB model, over and over.',
    fix: 'Use a PVC cache, or give the emptyDir a sizeLimit and request matching ephemeral storage (the construct does both by default).',
    check: (svc) => {
      const volume = (svc.pod.volumes ?? []).find((v: any) => v.name === 'model-cache');
      const fileBytes = svc.plan.props.model.fileBytes;
      if (!volume) return [{ message: 'no model-cache volume: the model would be written to the container filesystem' }];
      if (!volume.emptyDir) return [];
      const limit = parseQuantity(volume.emptyDir.sizeLimit);
      if (limit === undefined) return [{ message: 'emptyDir cache without sizeLimit' }];
      const out: { message: string }[] = [];
      if (limit < fileBytes) out.push({ message: `emptyDir sizeLimit ${gib(limit)} < model ${gib(fileBytes)}` });
      const eph = parseQuantity(svc.server.resources?.requests?.['ephemeral-storage']) ?? 0;
      if (eph < limit) out.push({ message: `ephemeral-storage request ${gib(eph)} < emptyDir sizeLimit ${gib(limit)}` });
      return out;
    },
  },
  {
    id: 'startup-window-covers-load',
    severity: 'error',
    checks: `Time before the kubelet may kill a loading pod (startup probe window, or liveness delay when there is no startup probe) >= ${startupRuleMargin}x the expected load time from the model size and the storage class read rate in the cluster profile.`,
    why: 'Liveness probes killed pods during a 90 s model load, in a restart loop that never served.',
    fix: "Keep the derived startup probe (remove overrides.startupProbe), or declare the storage's real read rate.",
    check: (svc, env) => {
      const expected = startupBudget({ model: svc.plan.props.model, diskReadMiBps: cacheReadMiBps(svc, env), gpuOffload: svc.plan.gpuCount > 0 }).expectedLoadSeconds;
      const { seconds, by } = loadProtectionSeconds(svc.server);
      const needed = Math.ceil(expected * startupRuleMargin);
      return seconds < needed ? [{ message: `${by} is ${seconds}s but loading ${svc.plan.props.model.id} is expected to take ${expected}s (need >= ${needed}s)` }] : [];
    },
  },
  {
    id: 'liveness-cheap',
    severity: 'error',
    checks: `Liveness is an HTTP GET on ${endpoints.live} (never the inference path, never an exec that queries the model), with timeoutSeconds <= periodSeconds, periodSeconds >= 5 and at least 30 s of failures before a restart.`,
    why: 'A liveness check that runs inference (or waits on it) fails during long CPU generations, and the kubelet kills a busy, healthy pod.',
    fix: `Keep the default liveness probe on ${endpoints.live}.`,
    check: (svc) => {
      const p = svc.server.livenessProbe;
      if (!p) return [{ message: 'no liveness probe: a wedged process is never restarted', severity: 'warning' }];
      const out: { message: string }[] = [];
      if (p.exec) out.push({ message: `liveness runs a command (${(p.exec.command ?? []).join(' ')}); it cannot be proven not to touch the model` });
      const path = p.httpGet?.path;
      if (path && inferencePaths.includes(path)) out.push({ message: `liveness calls the inference path ${path}` });
      else if (path && path !== endpoints.live) out.push({ message: `liveness calls ${path} instead of ${endpoints.live}` });
      const period = p.periodSeconds ?? 10;
      const timeout = p.timeoutSeconds ?? 1;
      if (timeout > period) out.push({ message: `liveness timeoutSeconds ${timeout} > periodSeconds ${period}` });
      if (period < 5) out.push({ message: `liveness periodSeconds ${period} < 5` });
      if (period * (p.failureThreshold ?? 3) < 30) out.push({ message: `liveness restarts after ${period * (p.failureThreshold ?? 3)}s of failures (< 30 s)` });
      return out;
    },
  },
  {
    id: 'readiness-differs-from-liveness',
    severity: 'error',
    checks: 'Readiness and liveness are not the same endpoint with the same thresholds.',
    why: 'Identical probes restart a pod that is merely busy or draining, instead of only taking it out of the load balancer.',
    fix: `Readiness on ${endpoints.ready}, liveness on ${endpoints.live}.`,
    check: (svc) => {
      const r = svc.server.readinessProbe;
      const l = svc.server.livenessProbe;
      if (!r || !l) return r ? [] : [{ message: 'no readiness probe: traffic reaches pods that are loading or draining' }];
      const same = JSON.stringify(r) === JSON.stringify(l);
      return same ? [{ message: `readiness and liveness are identical (${r.httpGet?.path ?? 'exec'})` }] : [];
    },
  },
  {
    id: 'idle-timeout-covers-request',
    severity: 'error',
    checks: 'Every idle timeout on the client path (load balancer, ingress, fixed proxies) >= the request timeout, or SSE keep-alive is on (then a shorter idle timeout is a warning: non-streamed answers can still be cut).',
    why: 'A 7-minute CPU answer behind a 60 s idle-timeout load balancer was cut every time.',
    fix: 'Raise the idle timeout (the construct sets it on load balancers and ingress it creates), lower requestTimeoutSeconds, or keep SSE keep-alive on and use stream: true.',
    check: (svc, env) => {
      const requestTimeout = Number(envValue(svc.server, envVars.requestTimeoutMs) ?? 0) / 1000;
      const keepAlive = Number(envValue(svc.server, envVars.sseKeepAliveMs) ?? 0);
      const short = pathIdleTimeouts(svc, env).filter((t) => t.seconds < requestTimeout);
      if (short.length === 0) return [];
      const list = short.map((t) => `${t.what} ${t.seconds}s`).join(', ');
      return [
        keepAlive > 0
          ? { message: `${list} < request timeout ${requestTimeout}s; streamed answers survive on keep-alive comments, non-streamed ones are cut`, severity: 'warning' as const }
          : { message: `${list} < request timeout ${requestTimeout}s and SSE keep-alive is off` },
      ];
    },
  },
  {
    id: 'grace-covers-request',
    severity: 'error',
    checks: `terminationGracePeriodSeconds >= preStop + request timeout + ${drainMarginSeconds} s drain, and SHUTDOWN_GRACE_MS fits inside it.`,
    why: 'Rollouts that SIGKILL pods mid-answer: clients see truncated responses on every deploy.',
    fix: 'Remove overrides.terminationGracePeriodSeconds (it is derived), or lower requestTimeoutSeconds.',
    check: (svc) => {
      const grace = svc.pod.terminationGracePeriodSeconds ?? 30;
      const requestTimeout = Number(envValue(svc.server, envVars.requestTimeoutMs) ?? 0) / 1000;
      const shutdownGrace = Number(envValue(svc.server, envVars.shutdownGraceMs) ?? 0) / 1000;
      const preStop = Number(svc.server.lifecycle?.preStop?.exec?.command?.at(-1) ?? 0) || 0;
      const need = preStop + requestTimeout + drainMarginSeconds;
      const out: { message: string }[] = [];
      if (grace < need) out.push({ message: `terminationGracePeriodSeconds ${grace} < preStop ${preStop} + request timeout ${requestTimeout} + drain ${drainMarginSeconds} = ${need}` });
      if (preStop + shutdownGrace > grace) out.push({ message: `preStop ${preStop}s + SHUTDOWN_GRACE ${shutdownGrace}s exceed the grace period ${grace}s` });
      return out;
    },
  },
  {
    id: 'memory-covers-model',
    severity: 'error',
    checks: "Memory request >= the model's estimated need (weights + KV cache for context x parallel + logits + runtime) and memory limit == request.",
    why: 'OOM kills at the first long prompt, and evictions of pods that borrowed memory above their request.',
    fix: 'Remove overrides.memoryRequestMiB / memoryLimitMiB (derived from the model), or lower contextSize or parallel.',
    check: (svc) => {
      const req = parseQuantity(svc.server.resources?.requests?.memory) ?? 0;
      const lim = parseQuantity(svc.server.resources?.limits?.memory);
      const need = svc.plan.memory.requestBytes;
      const out: { message: string }[] = [];
      if (req < need) out.push({ message: `memory request ${gib(req)} < estimated need ${gib(need)} (weights ${gib(svc.plan.memory.weightsBytes)}, KV ${gib(svc.plan.memory.kvCacheBytes)}, logits ${gib(svc.plan.memory.logitsBytes)}, runtime ${gib(svc.plan.memory.runtimeBytes)})` });
      if (lim !== req) out.push({ message: `memory limit ${lim === undefined ? 'unset' : gib(lim)} != request ${gib(req)}` });
      return out;
    },
  },
  {
    id: 'cpu-not-throttled',
    severity: 'error',
    checks: 'No CPU limit below the CPU request rounded up to whole cores, and THREADS never above the CPU request.',
    why: 'Inference 7x slower in the cloud than on a laptop: more threads than the CPU quota allows, throttled every period.',
    fix: 'Remove overrides.cpuLimit and overrides.threads: threads follow the CPU request through the downward API.',
    check: (svc) => {
      const request = cpuMillis(svc.server.resources?.requests?.cpu);
      const limit = svc.server.resources?.limits?.cpu;
      const out: { message: string }[] = [];
      if (limit !== undefined && cpuMillis(limit) < Math.ceil(request / 1000) * 1000) out.push({ message: `CPU limit ${cores(cpuMillis(limit))} < request ${cores(request)} rounded up` });
      const threads = envValue(svc.server, envVars.threads);
      if (threads !== undefined && Number(threads) * 1000 > request) out.push({ message: `THREADS ${threads} > CPU request ${cores(request)}` });
      return out;
    },
  },
  {
    id: 'pdb-allows-drain',
    severity: 'error',
    checks: 'The PodDisruptionBudget lets at least one pod go (no minAvailable >= replicas, no maxUnavailable 0); without unhealthyPodEvictionPolicy AlwaysAllow it is a warning.',
    why: 'Node drains blocked for hours by a PDB with minAvailable 1 on a single replica, or by a pod stuck loading.',
    fix: 'Remove overrides.disruptionBudget: the default never blocks a drain.',
    check: (svc, env) => {
      if (!svc.pdb) return [{ message: 'no PodDisruptionBudget: a drain may take every replica at once', severity: 'warning' }];
      const spec = svc.pdb.spec;
      const minReplicas = svc.hpa ? svc.hpa.spec.minReplicas : svc.scaledObject ? svc.scaledObject.spec.minReplicaCount : (svc.deployment.spec.replicas ?? 1);
      const maxReplicas = svc.hpa ? svc.hpa.spec.maxReplicas : svc.scaledObject ? svc.scaledObject.spec.maxReplicaCount : minReplicas;
      const out: { message: string; severity?: 'warning'; fix?: string }[] = [];
      // Disruptions allowed with n healthy pods, as kubernetes pkg/controller/disruption/disruption.go computes
      // them: percentages scale against the expected pod count, rounded up, for minAvailable and maxUnavailable alike.
      const scaled = (v: unknown, n: number): number => (typeof v === 'string' && v.endsWith('%') ? Math.ceil((Number(v.slice(0, -1)) * n) / 100) : Number(v));
      const allowed = (n: number): number => (spec.minAvailable !== undefined ? n - scaled(spec.minAvailable, n) : spec.maxUnavailable !== undefined ? Math.min(n, scaled(spec.maxUnavailable, n)) : n);
      // The autoscaler moves the replica count between its bounds: the budget must let a pod go at both.
      const counts = [...new Set([minReplicas, maxReplicas])].filter((n) => n >= 1);
      for (const n of counts) {
        if (allowed(n) >= 1) continue;
        const at = counts.length > 1 ? ` at ${n === minReplicas ? 'minReplicas' : 'maxReplicas'} ${n}` : '';
        if (spec.minAvailable !== undefined) out.push({ message: `minAvailable ${spec.minAvailable} >= replicas ${n}${at}: no voluntary disruption is ever allowed` });
        else out.push({ message: `maxUnavailable ${spec.maxUnavailable}${at}: no voluntary disruption is ever allowed` });
      }
      const minor = clusterMinor(env.cluster);
      if (spec.unhealthyPodEvictionPolicy === undefined && minor < pdbUnhealthyPodEvictionPolicyMinor)
        out.push({ message: `cluster ${env.cluster.name} runs Kubernetes 1.${minor}, which does not serve unhealthyPodEvictionPolicy (1.${pdbUnhealthyPodEvictionPolicyMinor}+), so it is left out: a pod stuck loading blocks drains`, severity: 'warning', fix: `Upgrade the cluster to 1.${pdbUnhealthyPodEvictionPolicyMinor} or later, or delete a stuck pod by hand before draining its node.` });
      else if (spec.unhealthyPodEvictionPolicy !== 'AlwaysAllow') out.push({ message: `unhealthyPodEvictionPolicy ${spec.unhealthyPodEvictionPolicy ?? 'unset'}: a pod stuck loading blocks drains`, severity: 'warning' });
      return out;
    },
  },
  {
    id: 'revision-history-bounded',
    severity: 'error',
    checks: 'revisionHistoryLimit is set and <= 5.',
    why: '20+ old ReplicaSets per Deployment cluttering every rollout and `kubectl get rs`.',
    fix: 'Keep revisionHistoryLimit between 1 and 5 (default 3).',
    check: (svc) => {
      const n = svc.deployment.spec.revisionHistoryLimit;
      return n === undefined || n > 5 ? [{ message: `revisionHistoryLimit ${n ?? 'unset (Kubernetes keeps 10)'}` }] : [];
    },
  },
  {
    id: 'image-immutable',
    severity: 'error',
    checks: 'Every container image has an immutable reference: a version tag or (better) a digest; `latest` or no tag fails.',
    why: 'A `:latest` image: two pods of one ReplicaSet running different code, and no way to roll back.',
    fix: 'Pin a version tag (image:1.2.3) or a digest (image@sha256:...).',
    check: (svc) =>
      [...svc.pod.containers, ...(svc.pod.initContainers ?? [])].flatMap((c: any) => {
        const reason = mutableImageReason(c.image);
        return reason ? [{ message: `container ${c.name}: image "${c.image}" ${reason}` }] : [];
      }),
  },
  {
    id: 'security-context-restricted',
    severity: 'error',
    checks: 'Every container runs as non-root, with a read-only root filesystem, no privilege escalation and all capabilities dropped.',
    why: 'A compromised model server (it parses untrusted prompts and downloads files) must not own the node.',
    fix: 'Remove overrides.securityContext; the service writes only to /tmp and the model cache.',
    check: (svc) =>
      [...svc.pod.containers, ...(svc.pod.initContainers ?? [])].flatMap((c: any) => {
        const sc = c.securityContext ?? {};
        const bad: string[] = [];
        if (sc.runAsNonRoot !== true && svc.pod.securityContext?.runAsNonRoot !== true) bad.push('runAsNonRoot not true');
        if (sc.readOnlyRootFilesystem !== true) bad.push('root filesystem writable');
        if (sc.allowPrivilegeEscalation !== false) bad.push('privilege escalation allowed');
        if (!(sc.capabilities?.drop ?? []).includes('ALL')) bad.push('capabilities not dropped');
        return bad.length > 0 ? [{ message: `container ${c.name}: ${bad.join(', ')}` }] : [];
      }),
  },
  {
    id: 'hpa-consistent',
    severity: 'error',
    checks: 'With an HPA, the Deployment has no fixed replicas (neither in props nor in the manifest) and minReplicas <= maxReplicas.',
    why: 'Argo CD resets replicas to the Git value on every sync, fighting the autoscaler; an inverted range never scales.',
    fix: 'Remove replicas when autoscaling is set; keep minReplicas <= maxReplicas.',
    check: (svc) => {
      const a = svc.plan.props.autoscaling;
      if (!a && !svc.hpa && !svc.scaledObject) return [];
      const out: { message: string }[] = [];
      if (svc.plan.props.replicas !== undefined || svc.deployment.spec.replicas !== undefined) out.push({ message: `replicas ${svc.plan.props.replicas ?? svc.deployment.spec.replicas} is fixed while an HPA scales the Deployment` });
      if (a && a.minReplicas > a.maxReplicas) out.push({ message: `minReplicas ${a.minReplicas} > maxReplicas ${a.maxReplicas}` });
      return out;
    },
  },
  {
    id: 'namespace-quota-fits',
    severity: 'error',
    checks: "Every ResourceQuota on the namespace (the one the environment declares, and the one the cluster profile records) holds the sum of the environment's pods at full scale (autoscaler maxReplicas, plus rollout surge pods where the strategy surges) as admitted under its LimitRange, and its cache claims: requests.cpu, requests/limits.memory, requests/limits.ephemeral-storage, requests.nvidia.com/gpu, pods, requests.storage, persistentvolumeclaims.",
    why: 'Rollouts stuck with "exceeded quota" when the surge pod (or the autoscaler) needs room the quota does not have.',
    fix: 'Raise the quota (the environment\'s quota, or the cluster profile\'s namespaceQuotas and the cluster), or lower requests or replicas.',
    check: (svc, env) => checkNamespaceQuotas(svc, env),
  },
  {
    id: 'gpu-scheduling',
    severity: 'error',
    checks: 'GPU services request whole GPUs, tolerate the GPU nodes\' taints and select GPU nodes; weights + KV cache fit in the GPU memory.',
    why: 'GPU pods scheduled onto CPU nodes (or never scheduled), and models that OOM the GPU at load.',
    fix: 'Declare gpu with a whole count and the GPU memory; lower contextSize or parallel, or use a bigger GPU.',
    check: (svc, env) => {
      const gpus = parseQuantity(svc.server.resources?.limits?.['nvidia.com/gpu']);
      if (!gpus) return [];
      const out: { message: string }[] = [];
      if (!Number.isInteger(gpus)) out.push({ message: `nvidia.com/gpu ${gpus} is not a whole number` });
      const gpuPools = env.cluster.nodePools.filter((p) => (p.gpus?.count ?? 0) > 0);
      if (gpuPools.length === 0) out.push({ message: `cluster ${env.cluster.name} has no GPU node pool` });
      if (gpuPools.length > 0 && !gpuPools.some((p) => tolerates(svc.pod, p))) out.push({ message: 'no toleration for the GPU nodes\' taints' });
      if (Object.keys(svc.pod.nodeSelector ?? {}).length === 0 || !gpuPools.some((p) => selects(svc.pod, p))) out.push({ message: 'the node selector does not select GPU nodes' });
      const poolMemory = Math.max(0, ...gpuPools.map((p) => p.gpus?.memoryGiB ?? 0));
      const declared = svc.plan.props.gpu?.memoryGiB ?? poolMemory;
      const available = gpus * Math.min(declared, poolMemory || declared) * GiB;
      if (svc.plan.memory.gpuBytes > available) out.push({ message: `weights + KV cache ${gib(svc.plan.memory.gpuBytes)} > GPU memory ${gib(available)}` });
      return out;
    },
  },
  {
    id: 'context-within-trained',
    severity: 'error',
    checks: "CONTEXT_SIZE <= the model's trained context.",
    why: 'Beyond the trained context a model degrades into nonsense while spending memory on KV cache.',
    fix: 'Lower contextSize to the model\'s trained context or less.',
    check: (svc) => {
      const ctx = Number(envValue(svc.server, envVars.contextSize));
      const trained = svc.plan.props.model.trainedContext;
      return ctx > trained ? [{ message: `CONTEXT_SIZE ${ctx} > trained context ${trained} of ${svc.plan.props.model.id}` }] : [];
    },
  },
  {
    id: 'progress-deadline-covers-startup',
    severity: 'error',
    checks: 'progressDeadlineSeconds > the startup window (plus the model download), so a slow first load is not reported as a failed rollout.',
    why: "The 600 s default marks a large model's first rollout as failed while it is still loading; Argo CD then reports Degraded.",
    fix: 'Remove overrides.progressDeadlineSeconds (derived from the download and startup budget).',
    check: (svc) => {
      const deadline = svc.deployment.spec.progressDeadlineSeconds ?? 600;
      const { seconds } = loadProtectionSeconds(svc.server);
      // No startup or liveness probe: nothing can kill a slow load; liveness-cheap reports the missing probe.
      if (!Number.isFinite(seconds)) return [];
      return deadline <= seconds ? [{ message: `progressDeadlineSeconds ${deadline} <= startup window ${seconds}s` }] : [];
    },
  },
  {
    id: 'sse-keepalive-below-idle',
    severity: 'error',
    checks: 'The SSE keep-alive interval is below the smallest idle timeout on the path (load balancer, ingress, fixed proxies).',
    why: 'Streams cut while a request waits in the queue or prefills: nothing is written for longer than the idle timeout.',
    fix: 'Remove overrides.sseKeepAliveSeconds (derived as min(15 s, smallest idle timeout / 4)).',
    check: (svc, env) => {
      const keepAlive = Number(envValue(svc.server, envVars.sseKeepAliveMs) ?? 0) / 1000;
      if (keepAlive === 0) return [];
      const timeouts = pathIdleTimeouts(svc, env);
      const smallest = Math.min(...timeouts.map((t) => t.seconds), ...(svc.plan.props.pathIdleTimeoutsSeconds ?? [60]));
      return keepAlive >= smallest ? [{ message: `SSE keep-alive ${keepAlive}s >= smallest idle timeout ${smallest}s on the path` }] : [];
    },
  },
  {
    id: 'model-integrity-verified',
    severity: 'warning',
    checks: "The model's catalogue entry has a byte count and sha256 for every part, read from the file or the hub's file metadata.",
    why: 'Without a sha256 the init container cannot tell a truncated or swapped file from the real one, and sizes typed from secondary sources have been wrong by a digit.',
    fix: 'Run `npm run model:add` on the model (or pass --sha256 per part), or add the sizes and hashes from the Hugging Face file listing.',
    check: (svc) => {
      const model = svc.plan.props.model;
      if (!isUnverified(model)) return [];
      const reason = model.integrity?.status === 'unverified' ? model.integrity.reason : 'no sha256 for every part';
      return [{ message: `catalogue entry ${model.id} is unverified: ${reason}` }];
    },
  },
  {
    id: 'kubernetes-version-supported',
    severity: 'error',
    checks: `The cluster runs at least Kubernetes 1.${minimumKubernetesMinor} (the repository's minimum), and no object sets a field or API its version does not serve (charts/prerequisites.ts lists each field's first version).`,
    why: 'A 1.23 Tanzu cluster passed every rule while its API server silently dropped the PodDisruptionBudget unhealthyPodEvictionPolicy, so loading pods blocked drains again.',
    fix: 'Set the cluster profile\'s kubernetesVersion to what the cluster runs (capture it), remove the override that sets the field, or upgrade the cluster.',
    check: (svc, env) => {
      const minor = clusterMinor(env.cluster);
      const out: { message: string; fix?: string }[] = [];
      if (minor < minimumKubernetesMinor) out.push({ message: `cluster ${env.cluster.name} runs Kubernetes 1.${minor}, older than the minimum 1.${minimumKubernetesMinor}`, fix: `Upgrade the cluster to 1.${minimumKubernetesMinor} or later.` });
      for (const o of svc.objects) {
        for (const f of versionedFeatures) {
          if (f.minor > minor && f.uses(o as Obj)) out.push({ message: `${o.kind} ${o.metadata.name} sets ${f.field}, which Kubernetes 1.${minor} on cluster ${env.cluster.name} does not serve (needs 1.${f.minor}: ${f.why})` });
        }
      }
      return out;
    },
  },
  {
    id: 'cluster-fits-all-pods',
    severity: 'error',
    checks: 'All pods of all services at full scale (HPA maxReplicas) fit at once in the node pools they can use: GPUs, CPU and memory summed per pool over every service confined to those pools, and each service\'s pods packed per node; an autoscaled pool counts at its autoscaling.maxCount (the most nodes it can reach), a fixed one at its count.',
    why: 'Two GPU services on a cluster with one GPU passed, because only the surge pod was checked; the second service stayed Pending for good.',
    fix: 'Add nodes (or GPUs) to the pool, lower replicas or requests, or move a service to another pool.',
    check: (svc, env) => {
      const pools = fittingPools(svc, env);
      if (pools.length === 0) return []; // pod-fits-node-pool reports it
      // Every service that can only go to these pools competes for them.
      const confined = env.services.filter((s) => {
        const own = fittingPools(s, env);
        return own.length > 0 && own.every((p) => pools.includes(p));
      });
      const demand = confined.reduce((acc, s) => addRequests(acc, scale(s.requests, s.replicas)), noRequests);
      const free = (p: NodePool) => ({ cpu: p.allocatable.cpuMillis - (p.reservedPerNode?.cpuMillis ?? 0), mem: p.allocatable.memoryBytes - (p.reservedPerNode?.memoryBytes ?? 0) });
      const nodes = poolNodeCount;
      const capacity = pools.reduce((acc, p) => addRequests(acc, { cpuMillis: nodes(p) * free(p).cpu, memoryBytes: nodes(p) * free(p).mem, ephemeralStorageBytes: nodes(p) * p.allocatable.ephemeralStorageBytes, gpus: nodes(p) * (p.gpus?.count ?? 0) }), noRequests);
      const who = confined.map((s) => `${s.name} x${s.replicas}`).join(', ');
      const where = pools.map((p) => `${p.name} (${describePoolNodes(p)})`).join(', ');
      const short: string[] = [];
      if (demand.gpus > capacity.gpus) short.push(`GPUs ${demand.gpus} > ${capacity.gpus}`);
      if (demand.cpuMillis > capacity.cpuMillis) short.push(`CPU ${cores(demand.cpuMillis)} > ${cores(capacity.cpuMillis)}`);
      if (demand.memoryBytes > capacity.memoryBytes) short.push(`memory ${gib(demand.memoryBytes)} > ${gib(capacity.memoryBytes)}`);
      if (demand.ephemeralStorageBytes > capacity.ephemeralStorageBytes) short.push(`ephemeral ${gib(demand.ephemeralStorageBytes)} > ${gib(capacity.ephemeralStorageBytes)}`);
      // Pods are placed whole: how many of this service's pods one node holds, over the pools.
      const r = svc.requests;
      const perNode = (p: NodePool) => Math.min(r.cpuMillis > 0 ? Math.floor(free(p).cpu / r.cpuMillis) : Infinity, r.memoryBytes > 0 ? Math.floor(free(p).mem / r.memoryBytes) : Infinity, r.gpus > 0 ? Math.floor((p.gpus?.count ?? 0) / r.gpus) : Infinity);
      const slots = pools.reduce((acc, p) => acc + nodes(p) * perNode(p), 0);
      if (slots < svc.replicas) short.push(`${svc.name}'s ${svc.replicas} pods need ${svc.replicas} node slots, the pools hold ${slots}`);
      return short.length > 0 ? [{ message: `${who} do not fit at once in ${where} of cluster ${env.cluster.name}: ${short.join('; ')}` }] : [];
    },
  },
  {
    id: 'exposure-supported',
    severity: 'error',
    checks: "A load-balancer Service only on a cluster whose profile has that load balancer (provider matching), and an Ingress only with an IngressClass the cluster has.",
    why: 'A load-balancer service on an on-prem cluster without one stayed <pending> with AWS annotations nobody read, and synth blamed the SSE keep-alive instead.',
    fix: 'Use exposure ingress or cluster-ip on this cluster, name an IngressClass it has, or install a load balancer (e.g. MetalLB) and declare it in the profile.',
    check: (svc, env) => {
      const out: { message: string }[] = [];
      const exposure = svc.plan.props.exposure;
      const lb = env.cluster.loadBalancer;
      if (svc.service?.spec.type === 'LoadBalancer') {
        if (lb.kind === 'none') out.push({ message: `Service ${svc.service.metadata.name} is type LoadBalancer but cluster ${env.cluster.name} has no load balancer (profile ${env.cluster.definedIn}: loadBalancer.kind none)` });
        else if (exposure?.kind === 'load-balancer' && exposure.provider !== lb.kind) out.push({ message: `exposure.provider ${exposure.provider} but cluster ${env.cluster.name} has a ${lb.kind} load balancer: its annotations would be ignored` });
      }
      if (svc.ingress) {
        const cls = svc.ingress.spec.ingressClassName;
        const have = env.cluster.ingressClassNames ?? [];
        if (!have.includes(cls)) out.push({ message: `Ingress ${svc.ingress.metadata.name} uses IngressClass "${cls}", which cluster ${env.cluster.name} does not have (has: ${have.join(', ') || 'none'})` });
      }
      return out;
    },
  },
  {
    id: 'crd-installed',
    severity: 'error',
    checks: 'Every object of a non-built-in API group has its CustomResourceDefinition installed on the cluster (the profile\'s customResourceTypes).',
    why: "Argo CD's dry run fails the whole sync on one unknown kind (a ServiceMonitor on a cluster without prometheus-operator), so nothing deploys.",
    fix: 'Install the operator that owns the CRD (capture the profile again), or turn the feature off (monitoring: false).',
    check: (svc, env) => {
      const installed = env.cluster.customResourceTypes ?? [];
      return svc.objects.flatMap((o) => {
        const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0]! : '';
        if (builtInGroups.has(group) || installed.some((c) => c.group === group && c.kind === o.kind)) return [];
        // A ScaledObject without KEDA is reported by queue-autoscaling-needs-keda, with what it costs besides the sync.
        if (group === scaledObjectType.group && o.kind === scaledObjectType.kind) return [];
        return [{ message: `${o.kind} ${o.metadata.name} (${group}) has no CRD on cluster ${env.cluster.name}` }];
      });
    },
  },
  {
    id: 'pod-security-admission-matches',
    severity: 'error',
    checks: `Pods are admitted by what the cluster enforces: Pod Security Admission labels (served from 1.${minimumKubernetesMinor}), and no PodSecurityPolicy admission, which this repository ships no policy for (removed in 1.${podSecurityPolicyRemovedMinor}).`,
    why: 'On TKG 1.24 and older PodSecurityPolicy admission is on by default: every pod was refused for want of a policy, and the Deployment showed no pods at all.',
    fix: 'Disable PodSecurityPolicy admission on the cluster (or bind a restricted PodSecurityPolicy to the namespace\'s service accounts) and record it in the profile.',
    check: (_svc, env) => {
      if (!env.cluster.podSecurityPolicyAdmission) return [];
      const minor = clusterMinor(env.cluster);
      if (minor >= podSecurityPolicyRemovedMinor) return [{ message: `profile ${env.cluster.definedIn} says PodSecurityPolicy admission is on, but Kubernetes 1.${minor} has no PodSecurityPolicy`, fix: 'Set podSecurityPolicyAdmission false in the profile.' }];
      return [{ message: `cluster ${env.cluster.name} (Kubernetes 1.${minor}) enforces PodSecurityPolicy and no policy admits these pods` }];
    },
  },
  {
    id: 'cpu-autoscaling-explicit',
    severity: 'error',
    checks: "An HPA on CPU utilisation only when the service chose it (autoscaling.signal 'cpu'); even then a warning.",
    why: 'One generating request pins every inference thread, so CPU reads near 100 % at any load above zero: the HPA went to maxReplicas on the first request and never came back, while the queue it should have watched was empty (and on a GPU service CPU says nothing at all).',
    fix: "Set autoscaling.signal 'queue' (KEDA on busy and queued requests) on a cluster with KEDA; keep 'cpu' only where nothing better runs, knowing it scales on any load.",
    check: (svc) => {
      const cpuMetric = (svc.hpa?.spec.metrics ?? []).some((m: any) => m.type === 'Resource' && m.resource?.name === 'cpu');
      if (!cpuMetric) return [];
      const target = svc.hpa.spec.metrics.find((m: any) => m.resource?.name === 'cpu')?.resource?.target?.averageUtilization;
      if (svc.plan.props.autoscaling?.signal === 'cpu')
        return [{ message: `HPA ${svc.hpa.metadata.name} scales on CPU at ${target} %: with PARALLEL ${svc.plan.parallel} one request already keeps the threads near 100 %, so it scales up on any load and not on the queue (MAX_QUEUE ${svc.plan.maxQueue})`, severity: 'warning' }];
      return [{ message: `HPA ${svc.hpa.metadata.name} scales on CPU at ${target} % but autoscaling.signal is not set: CPU is a poor signal for inference and is never assumed` }];
    },
  },
  {
    id: 'queue-autoscaling-needs-keda',
    severity: 'error',
    checks: "Queue autoscaling (autoscaling.signal 'queue') only on a cluster whose profile lists KEDA's ScaledObject type (a keda.sh ScaledObject is synthesized) or, without KEDA, an adapter serving custom.metrics.k8s.io (an autoscaling/v2 HPA on the per-pod in-flight metric is synthesized; docs/autoscaling.md has the prometheus-adapter rule it reads).",
    why: 'Without KEDA nothing reads the ScaledObject: the Deployment, which has no replicas of its own, stays at one pod under any load, and Argo CD fails the whole sync on the unknown kind. An HPA on a Pods metric with no custom-metrics adapter reports FailedGetPodsMetric, which Argo CD does not count as Degraded, and never scales.',
    fix: "Install KEDA (its Helm chart), or prometheus-adapter with the rule in docs/autoscaling.md, and capture the profile again; or use signal 'cpu' on this cluster.",
    check: (svc, env) => {
      if (!svc.scaledObject && svc.plan.props.autoscaling?.signal !== 'queue') return [];
      const keda = (env.cluster.customResourceTypes ?? []).some((c) => c.group === scaledObjectType.group && c.kind === scaledObjectType.kind);
      const adapter = (env.cluster.metricsAdapters ?? []).some((a) => a.api === customMetricsApi);
      if (svc.scaledObject) return keda ? [] : [{ message: `autoscaling.signal 'queue' synthesized a KEDA ScaledObject, and cluster ${env.cluster.name} (profile ${env.cluster.definedIn}) has no ${scaledObjectType.kind}.${scaledObjectType.group} type${adapter ? '' : ' and no adapter serving custom.metrics.k8s.io'}` }];
      const podsMetric = (svc.hpa?.spec.metrics ?? []).some((m: any) => m.type === 'Pods' && m.pods?.metric?.name === inFlightPodMetric);
      if (podsMetric && !adapter) return [{ message: `the HPA reads the Pods metric ${inFlightPodMetric} from custom.metrics.k8s.io, which nothing serves on cluster ${env.cluster.name} (profile ${env.cluster.definedIn}: metricsAdapters): it never scales` }];
      return [];
    },
  },
  {
    id: 'scale-to-zero-held',
    severity: 'error',
    checks: 'minReplicas 0 only where something holds requests while the first pod loads its model (the KEDA HTTP add-on\'s interceptor, with the service routed through it).',
    why: 'At zero pods the Service has no endpoints: the first client after a quiet spell got connection refused for the whole model load (minutes on CPU), and a ScaledObject woke only after Prometheus had seen load that never arrived.',
    fix: 'Set minReplicas 1 or more.',
    check: (svc, env) => {
      const min = svc.scaledObject?.spec.minReplicaCount ?? svc.hpa?.spec.minReplicas ?? svc.plan.props.autoscaling?.minReplicas;
      if (min !== 0) return [];
      const holder = (env.cluster.customResourceTypes ?? []).some((c) => c.group === httpScaledObjectType.group && c.kind === httpScaledObjectType.kind);
      if (!holder) return [{ message: `minReplicas 0, and cluster ${env.cluster.name} has no request holder (no ${httpScaledObjectType.kind}.${httpScaledObjectType.group} type, the KEDA HTTP add-on): clients get connection refused for a whole model load (startup window ${svc.plan.startup.windowSeconds} s)` }];
      return [{ message: `minReplicas 0: cluster ${env.cluster.name} has the KEDA HTTP add-on, but this service is not routed through its interceptor (no ${httpScaledObjectType.kind} is synthesized), so nothing holds its requests at zero pods` }];
    },
  },
  {
    id: 'priority-class-exists',
    severity: 'error',
    checks: "The pods' priorityClassName is one the cluster profile lists (priorityClassNames), or one of the two the API server creates on every cluster (system-cluster-critical, system-node-critical); not checked when the profile lists none.",
    why: 'Admission refuses a pod whose PriorityClass does not exist ("no PriorityClass with name ... was found"): the ReplicaSet creates no pods and the Deployment shows only a FailedCreate event.',
    fix: 'Use a PriorityClass the cluster has (kubectl get priorityclasses) and record it in the profile, or create it first.',
    check: (svc, env) => namedClassMissing('priorityClassName', 'PriorityClass', svc.pod.priorityClassName, env.cluster.priorityClassNames, ['system-cluster-critical', 'system-node-critical'], env),
  },
  {
    id: 'runtime-class-exists',
    severity: 'error',
    checks: "The pods' runtimeClassName is one the cluster profile lists (runtimeClassNames); not checked when the profile lists none.",
    why: 'Admission refuses a pod whose RuntimeClass does not exist (`pod rejected: RuntimeClass "nvidia" not found`), so a GPU service written for a GPU Operator cluster creates no pods on a cluster without it.',
    fix: 'Drop scheduling.runtimeClassName where the NVIDIA runtime is the default, or install the runtime (GPU Operator) and record its RuntimeClass in the profile.',
    check: (svc, env) => namedClassMissing('runtimeClassName', 'RuntimeClass', svc.pod.runtimeClassName, env.cluster.runtimeClassNames, [], env),
  },
  {
    id: 'topology-spread-zones-exist',
    severity: 'warning',
    checks: `A topology spread across zones (${topologyKeys.zones}) only where the pools the pod can use span more than one zone: a warning when all of them are in the same single zone, by the zones a capture recorded for each pool (its nodes' ${topologyKeys.zones} labels) or else by the pool's own zone label.`,
    why: 'Replicas declared as zone-redundant all ran in one availability zone, because the only pool that fitted them was single-zone; the spread constraint was satisfied trivially and the zone outage took every pod.',
    fix: "Add a pool in another zone (or make the pool multi-zone), or set scheduling.topologySpread.zones 'off' to say the service is single-zone.",
    check: (svc, env) => {
      const spread: any[] = svc.pod.topologySpreadConstraints ?? [];
      if (!spread.some((c) => c.topologyKey === topologyKeys.zones)) return [];
      const pools = fittingPools(svc, env);
      if (pools.length === 0) return []; // pod-fits-node-pool reports it
      // The zones a capture saw the pool's nodes in; else the zone label the profile gives the whole pool.
      const zonesOf = (p: (typeof pools)[number]): readonly string[] | undefined => {
        if (p.zones !== undefined && p.zones.length > 0) return p.zones;
        const label = p.labels[topologyKeys.zones];
        return label === undefined ? undefined : [label];
      };
      const perPool = pools.map(zonesOf);
      if (perPool.some((z) => z === undefined)) return []; // a pool whose zones are unknown may span several
      const distinct = [...new Set(perPool.flatMap((z) => z ?? []))];
      if (distinct.length > 1) return [];
      return [{ message: `${svc.name} spreads up to ${svc.replicas} pods across zones, but every pool it can use (${pools.map((p) => p.name).join(', ')}) is in zone ${distinct[0]}: all of them share one zone's failures` }];
    },
  },
  {
    id: 'capacity-type-available',
    severity: 'warning',
    checks: "A capacity-type preference (scheduling.capacityType) has pools of that type on the cluster, labelled with a capacity-type label the preference can match, that the pod can use; and a spot preference leaves more than one pod, since a spot node can be reclaimed at two minutes' notice.",
    why: 'A service declared to run on spot ran entirely on on-demand nodes for months because the preferred label was another cloud\'s; another ran its only replica on spot and went dark at every reclaim, for a whole model load each time.',
    fix: 'Record the pools\' capacityType and capacity-type labels in the profile (capture it), drop the preference, or keep at least two pods (autoscaling.minReplicas 2) on spot.',
    check: (svc, env) => {
      const wanted = svc.plan.props.scheduling?.capacityType;
      if (wanted === undefined) return [];
      const out: { message: string }[] = [];
      const labels = capacityTypeLabelsOf(env.cluster.nodePools, wanted);
      const usable = fittingPools(svc, env).filter((p) => p.capacityType === wanted);
      if (labels.length === 0) out.push({ message: `prefers ${wanted} capacity, but no node pool of cluster ${env.cluster.name} has capacityType '${wanted}' with a capacity-type label (charts/clusters/capacity-type.ts): the preference matches nothing` });
      else if (usable.length === 0) out.push({ message: `prefers ${wanted} capacity, but none of the ${wanted} pools (${env.cluster.nodePools.filter((p) => p.capacityType === wanted).map((p) => p.name).join(', ')}) can take the pod: it always runs on the fallback` });
      const minPods = svc.scaledObject?.spec.minReplicaCount ?? svc.hpa?.spec.minReplicas ?? svc.deployment.spec.replicas ?? 1;
      if (wanted === 'spot' && minPods < 2) out.push({ message: `prefers spot with at most ${minPods} pod at the low end: one reclaimed node takes the whole service down for a model load (startup window ${svc.plan.startup.windowSeconds} s)` });
      return out;
    },
  },
  {
    id: 'gpu-layer-split-fits',
    severity: 'error',
    checks: "A model split over several GPUs fits on each of them: llama.cpp's default layer split (LLAMA_SPLIT_MODE_LAYER, even split points on identical GPUs, the output layer on the last) places whole layers with their KV cache per GPU (charts/sizing/gpu-split.ts), and the fullest GPU must hold its share.",
    why: "A 2-GPU pod passed a check on the two GPUs' total, then failed to allocate on the GPU that got the output layer on top of its half of the layers.",
    fix: 'Lower contextSize or parallel (the KV cache), use GPUs with more memory, or request one more GPU.',
    check: (svc, env) => {
      const gpus = svc.plan.gpuCount;
      if (gpus < 2) return [];
      const gpuPools = fittingPools(svc, env).filter((p) => (p.gpus?.count ?? 0) >= gpus);
      const poolMemory = Math.max(0, ...gpuPools.map((p) => p.gpus?.memoryGiB ?? 0));
      const declared = svc.plan.props.gpu?.memoryGiB ?? poolMemory;
      const perGpu = Math.min(declared, poolMemory || declared) * GiB;
      const shares = gpuLayerSplit(svc.plan.props.model, svc.plan.memory.kvCacheBytes, gpus);
      const fullest = shares.reduce((a, b) => (b.bytes > a.bytes ? b : a));
      if (fullest.bytes <= perGpu) return [];
      const layout = shares.map((g) => `GPU ${g.device}: ${g.layers ? `layers ${g.layers.first}-${g.layers.last}` : 'no layers'}${g.output ? ' + output' : ''} ${gib(g.bytes)}`).join(', ');
      return [{ message: `${svc.plan.props.model.id} split over ${gpus} GPUs by layer (${layout}): GPU ${fullest.device} needs ${gib(fullest.bytes)} > ${gib(perGpu)} per GPU` }];
    },
  },
  {
    id: 'service-kind-matches-model',
    severity: 'error',
    checks: "SERVICE_KIND is what the model can serve: `embedding` for a catalogue entry with an `embedding` block, `chat` for every other (the server's default when unset).",
    why: 'An embedding model served as chat answers every completion with noise from a model that was never trained to generate, and is sized for a KV cache it does not have; a chat model served as embeddings returns vectors from a decoder that was never trained to pool, and every chat client gets 404.',
    fix: 'Remove serviceKind (it is derived from the model), or serve a model of that kind: an embedding entry (`embedding` block, from `npm run model:add`) for embeddings, a generative one for chat.',
    check: (svc) => {
      const kind = envValue(svc.server, envVars.serviceKind) ?? 'chat';
      const model = svc.plan.props.model;
      const modelKind = model.embedding ? 'embedding' : 'chat';
      if (kind === modelKind) return [];
      const what = model.embedding ? `an embedding model (${model.architecture}, ${model.embedding.pooling} pooling)` : `a generative model (${model.architecture}), not an embedding model`;
      return [{ message: `serviceKind / ${envVars.serviceKind} is '${kind}', but ${model.id} is ${what}: it serves '${modelKind}'` }];
    },
  },
  {
    id: 'embedding-batch-holds-input',
    severity: 'error',
    checks: 'An embedding service evaluates a whole input in one batch: BATCH_SIZE >= CONTEXT_SIZE (an input may have CONTEXT_SIZE - 1 tokens).',
    why: "llama.cpp evaluates an encoder input in one ubatch and node-llama-cpp splits a longer one into BATCH_SIZE chunks, so an input longer than the batch is embedded from its last chunk alone: two documents that differ only before their last BATCH_SIZE tokens got the same vector, with no error.",
    fix: 'Remove batchSize (an embedding service derives it from contextSize), or lower contextSize to the batch.',
    check: (svc) => {
      if ((envValue(svc.server, envVars.serviceKind) ?? 'chat') !== 'embedding') return [];
      const context = Number(envValue(svc.server, envVars.contextSize));
      const batch = Number(envValue(svc.server, envVars.batchSize) ?? svc.plan.batchSize);
      return batch >= context ? [] : [{ message: `${envVars.batchSize} ${batch} < ${envVars.contextSize} ${context}: inputs of ${batch + 1} to ${context - 1} tokens are embedded from their last ${batch} tokens only` }];
    },
  },
  {
    id: 'ingress-controller-supported',
    severity: 'error',
    checks: "An Ingress's class has a controller whose idle timeout the Ingress sets (ingress-nginx, the AWS Load Balancer Controller's ALB) or whose timeout the profile declares (ingressIdleTimeoutsSeconds: Traefik, HAProxy and others read theirs from their own configuration), and the NetworkPolicy admits where that controller's traffic comes from (its namespace, recorded in the profile, or the load balancer's addresses).",
    why: "The ingress class could only be nginx and the NetworkPolicy admitted `ingress-nginx` whatever ran the class; on any other controller nginx annotations are silently ignored, so the path rules would check a timeout the controller never applies while its own cuts long answers.",
    fix: "Use a class whose controller this repository configures (nginx, alb), or set the controller's timeouts in its own configuration and declare them in the profile (ingressIdleTimeoutsSeconds), with its namespace (ingressControllerNamespaces) where the IngressClass does not record it.",
    check: (svc, env) => {
      if (!svc.ingress) return [];
      const cls: string = svc.ingress.spec.ingressClassName;
      if (!(env.cluster.ingressClassNames ?? []).includes(cls)) return []; // exposure-supported reports it
      const controller = ingressControllerOf(env, cls);
      const known = ingressControllers[controller];
      const out: { message: string }[] = [];
      const declared = env.cluster.ingressIdleTimeoutsSeconds?.[cls];
      if (!known?.timeoutFromAnnotations && declared === undefined) {
        out.push({ message: `IngressClass ${cls} is served by ${known?.name ?? controller}, whose idle timeout no Ingress annotation sets (it lives in the controller's own configuration), and profile ${env.cluster.definedIn} does not declare it (ingressIdleTimeoutsSeconds.${cls})` });
      }
      if ((known?.trafficFrom ?? 'controller-namespace') === 'controller-namespace' && controller !== defaultIngressController && env.cluster.ingressControllerNamespaces?.[cls] === undefined) {
        out.push({ message: `IngressClass ${cls} (${controller}): profile ${env.cluster.definedIn} does not say which namespace its controller runs in, so the NetworkPolicy admits ingress-nginx instead` });
      }
      return out;
    },
  },
  ...admissionRules,
  ...namespaceBudgetRules,
  ...ingressAnnotationRules,
  ...scaleUpRules,
  ...modelCacheRules,
];
