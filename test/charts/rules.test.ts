import { describe, expect, it } from 'vitest';
import {
  certManagerCrds,
  efs,
  g5_2xlarge,
  g6e_12xlargeNodeGroup,
  gp3,
  kedaCrds,
  kedaHttpAddOnCrds,
  m6i_4xlargeNodeGroup,
  prometheusOperatorCrds,
  r5_2xlarge,
  r5Large,
} from '../../charts/clusters/eks.js';
import type { NodePool } from '../../charts/clusters/types.js';
import type { ClusterProfile } from '../../charts/clusters/types.js';
import { clusterMinor, pdbUnhealthyPodEvictionPolicyMinor } from '../../charts/clusters/versions.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { qwen25_72bInstructQ4KM } from '../../charts/models/entries/qwen2.5-72b-instruct-q4_k_m.js';
import { isUnverified } from '../../charts/models/validate.js';
import { nomicEmbedTextV15Q4KM, qwen25_3bInstructQ4KM, qwen25_7bInstructQ4KM } from '../../charts/models/catalogue.js';
import { rules } from '../../charts/rules/index.js';
import { ref } from '../../charts/companions/references.js';
import { driverMajorLabel } from '../../charts/rules/cuda-driver.js';
import { RuleViolationError } from '../../charts/rules/engine.js';
import { GiB } from '../../charts/sizing/units.js';
import { synthesizeAll } from '../../charts/synth.js';
import { roomyTestCluster } from '../support/clusters.js';
import { synthError } from '../support/synth.js';

/** A cluster with room for anything the cases below do not restrict on purpose. */
function roomyCluster(over: Partial<ClusterProfile> = {}): ClusterProfile {
  return roomyTestCluster({ definedIn: 'test/charts/rules.test.ts', ...over });
}

const chat: ServiceDeclaration = {
  model: qwen25_3bInstructQ4KM,
  cpu: 2,
  modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3' },
};
const embed: ServiceDeclaration = {
  model: nomicEmbedTextV15Q4KM,
  cpu: 1,
  modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3' },
};
const gpuChat: ServiceDeclaration = {
  model: qwen25_7bInstructQ4KM,
  cpu: 2,
  gpu: { count: 1, memoryGiB: 24 },
  modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3' },
};

/** Scale to zero after 10 idle minutes (charts/constructs/scale-to-zero.ts), on a shared RWX cache. */
const sleepy: Partial<ServiceDeclaration> = {
  autoscaling: { minReplicas: 0, maxReplicas: 3, signal: 'queue' },
  scaleToZero: { idleAfter: '10m' },
  modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'efs-sc', accessMode: 'ReadWriteMany' },
};
const httpAddOnCluster = roomyCluster({
  customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds, ...kedaHttpAddOnCrds],
  kedaHttpAddOn: { namespace: 'keda' },
});

/** A pool whose every node is in one zone (the capture keeps the zone label only then). */
function inZone(pool: NodePool, zone: string): NodePool {
  return { ...pool, labels: { ...pool.labels, 'topology.kubernetes.io/zone': zone } };
}

function env(services: Record<string, ServiceDeclaration>, cluster: ClusterProfile = roomyCluster()): Environment {
  return {
    name: 'test',
    definedIn: 'test/charts/rules.test.ts',
    namespace: 'llm-test',
    clusterName: 'test',
    cluster,
    // Pinned, as the published images are once charts/images.json records them (rule image-pinned).
    image: `ghcr.io/gguf-on-k8s/inference:1.2.3@sha256:${'a'.repeat(64)}`,
    services,
  };
}

/** The environment with one manifests companion whose container `client` gets the chat service's base URL by reference. */
function withCompanion(e: Environment, path: string): Environment {
  return {
    ...e,
    companions: {
      client: { order: 'after-models', source: { kind: 'manifests', path, env: { client: { OPENAI_BASE_URL: ref.service('chat').openaiBaseUrl } } } },
    },
  };
}

/** The ids of the synth errors for an environment; [] when synth passes. */
function errorIds(e: Environment): string[] {
  try {
    synthesizeAll([e]);
    return [];
  } catch (err) {
    if (err instanceof RuleViolationError) return [...new Set(err.report.errors.map((f) => f.ruleId))].sort();
    throw err;
  }
}

/** A Traefik IngressClass whose controller namespace is recorded (its timeout is not). */
const traefikClass: Partial<ClusterProfile> = {
  ingressClassNames: ['nginx', 'traefik'],
  ingressControllers: { traefik: 'traefik.io/ingress-controller' },
  ingressControllerNamespaces: { traefik: 'traefik' },
};
/** A :latest image with our own image rule waived, so only the admission policies see it. */
const latestImageChat: ServiceDeclaration = {
  ...chat,
  image: 'ghcr.io/gguf-on-k8s/inference:latest',
  waivers: { 'image-immutable': 'checking what the admission policies do with it' },
};

/** A g5.2xlarge pool whose nodes GPU feature discovery labels with this NVIDIA driver major version. */
const gpuPoolWithDriver = (major: string): NodePool => ({ ...g5_2xlarge(2), labels: { ...g5_2xlarge(2).labels, [driverMajorLabel]: major } });

/** For each rule: a config that violates exactly it, and one that passes. */
const cases: Record<string, { violates: Environment; passes: Environment }> = {
  'cpu-autoscaling-explicit': {
    // Incident: an HPA on CPU went to maxReplicas on the first request, with an empty queue.
    violates: env({ chat: { ...chat, autoscaling: { minReplicas: 2, maxReplicas: 3 }, modelCache: { kind: 'emptyDir' } } }),
    passes: env(
      { chat: { ...chat, autoscaling: { minReplicas: 2, maxReplicas: 3, signal: 'queue' }, modelCache: { kind: 'emptyDir' } } },
      roomyCluster({ customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds] }),
    ),
  },
  'queue-autoscaling-needs-keda': {
    // Incident: a ScaledObject on a cluster without KEDA: one pod under any load, and the sync failed on the kind.
    violates: env({ chat: { ...chat, autoscaling: { minReplicas: 2, maxReplicas: 3, signal: 'queue' }, modelCache: { kind: 'emptyDir' } } }),
    passes: env(
      { chat: { ...chat, autoscaling: { minReplicas: 2, maxReplicas: 3, signal: 'queue' }, modelCache: { kind: 'emptyDir' } } },
      roomyCluster({ customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds] }),
    ),
  },
  'scale-to-zero-held': {
    // Incident: scaled to zero with nothing holding requests: connection refused for a whole model load.
    violates: env(
      { chat: { ...chat, autoscaling: { minReplicas: 0, maxReplicas: 3, signal: 'queue' }, modelCache: { kind: 'emptyDir' } } },
      roomyCluster({ customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds] }),
    ),
    passes: env(
      { chat: { ...chat, autoscaling: { minReplicas: 1, maxReplicas: 3, signal: 'queue' }, modelCache: { kind: 'emptyDir' } } },
      roomyCluster({ customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds] }),
    ),
  },
  'scale-to-zero-add-on-installed': {
    // Incident: scaled to zero with no interceptor: connection refused for a whole load, and nothing woke the service.
    violates: env({ chat: { ...chat, ...sleepy } }, roomyCluster({ customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds] })),
    passes: env({ chat: { ...chat, ...sleepy } }, httpAddOnCluster),
  },
  'scale-to-zero-routed': {
    // Incident: a cloud load balancer sent straight to the pods, past the interceptor, so nothing held or woke.
    violates: env({ chat: { ...chat, ...sleepy, exposure: { kind: 'load-balancer', provider: 'aws-nlb' } } }, httpAddOnCluster),
    passes: env({ chat: { ...chat, ...sleepy, exposure: { kind: 'ingress', host: 'chat.example.internal' } } }, httpAddOnCluster),
  },
  'scale-to-zero-hold-bounded': {
    // Incident: a 120 s proxy in front of a 6-minute hold cut every first caller after an idle spell.
    violates: env({ chat: { ...chat, ...sleepy } }, { ...httpAddOnCluster, fixedPathIdleTimeoutsSeconds: [120] }),
    passes: env({ chat: { ...chat, ...sleepy } }, { ...httpAddOnCluster, fixedPathIdleTimeoutsSeconds: [3600] }),
  },
  'scale-to-zero-failover': {
    // Incident: a LimitRange minimum above the failover responder's memory refused its pod, so every cold start
    // past the hold ended in the interceptor's 502 instead of the responder's 503 with Retry-After.
    violates: { ...env({ chat: { ...chat, ...sleepy } }, httpAddOnCluster), limitRange: { minPerContainer: { memoryMiB: 128 } } },
    passes: { ...env({ chat: { ...chat, ...sleepy } }, httpAddOnCluster), limitRange: { minPerContainer: { memoryMiB: 64 } } },
  },
  'kubernetes-version-supported': {
    // Incident: a 1.22 cluster, older than the oldest Kubernetes the manifests are written for.
    violates: env({ chat }, roomyCluster({ kubernetesVersion: 'v1.22.17' })),
    passes: env({ chat }, roomyCluster({ kubernetesVersion: 'v1.23.17' })),
  },
  'cluster-fits-all-pods': {
    // Incident: two GPU services on a cluster with one GPU node.
    violates: env({ a: gpuChat, b: gpuChat }, roomyCluster({ nodePools: [r5_2xlarge(2), g5_2xlarge(1)] })),
    passes: env({ a: gpuChat, b: gpuChat }, roomyCluster({ nodePools: [r5_2xlarge(2), g5_2xlarge(2)] })),
  },
  'exposure-supported': {
    // Incident: a load-balancer Service on a cluster without a load balancer.
    violates: env(
      { chat: { ...chat, exposure: { kind: 'load-balancer', provider: 'aws-nlb' } } },
      roomyCluster({ loadBalancer: { kind: 'none', idleTimeoutSeconds: 0, idleTimeoutFromAnnotations: false } }),
    ),
    passes: env({ chat: { ...chat, exposure: { kind: 'load-balancer', provider: 'aws-nlb' } } }),
  },
  'crd-installed': {
    // Incident: ServiceMonitor and PrometheusRule on a cluster without prometheus-operator.
    violates: env({ chat }, roomyCluster({ customResourceTypes: [] })),
    passes: env({ chat: { ...chat, monitoring: false } }, roomyCluster({ customResourceTypes: [] })),
  },
  'pod-security-admission-matches': {
    // Incident: a profile claiming PodSecurityPolicy admission on a cluster that no longer has it (1.25 removed it).
    violates: env({ chat }, roomyCluster({ kubernetesVersion: 'v1.26.3', podSecurityPolicyAdmission: true })),
    // TKG 1.24 with PodSecurityPolicy admission on by default: the generated policy admits the pods.
    passes: env({ chat }, roomyCluster({ kubernetesVersion: 'v1.24.9', podSecurityPolicyAdmission: true })),
  },
  'pod-security-policy-admits': {
    // Incident: a pod the policy cannot admit is refused at creation; the Pod Security waivers do not get it past PSP.
    violates: env(
      {
        chat: {
          ...chat,
          overrides: { securityContext: { allowPrivilegeEscalation: true } },
          waivers: {
            'pod-security-standard-met': 'checking what PodSecurityPolicy does with a pod that escalates',
            'security-context-restricted': 'checking what PodSecurityPolicy does with a pod that escalates',
          },
        },
      },
      roomyCluster({ kubernetesVersion: 'v1.24.9', podSecurityPolicyAdmission: true }),
    ),
    passes: env({ chat }, roomyCluster({ kubernetesVersion: 'v1.24.9', podSecurityPolicyAdmission: true })),
  },
  'load-balancer-address-pool-exists': {
    // Incident: a MetalLB Service naming a pool the cluster does not have stays <pending> and holds the sync.
    violates: env(
      { chat: { ...chat, exposure: { kind: 'load-balancer', provider: 'metallb', addressPool: 'dmz' } } },
      roomyCluster({ loadBalancer: { kind: 'metallb', idleTimeoutSeconds: 0, idleTimeoutFromAnnotations: false, addressPools: ['lan'] } }),
    ),
    passes: env(
      { chat: { ...chat, exposure: { kind: 'load-balancer', provider: 'metallb', addressPool: 'lan' } } },
      roomyCluster({ loadBalancer: { kind: 'metallb', idleTimeoutSeconds: 0, idleTimeoutFromAnnotations: false, addressPools: ['lan'] } }),
    ),
  },
  'pod-fits-node-pool': {
    // Incident: a 9 GiB request on r5.large nodes (14.6 GiB allocatable) that already run 6 GiB of other services.
    violates: env(
      { chat: { ...chat, cpu: 1, overrides: { memoryRequestMiB: 9216 } } },
      roomyCluster({ nodePools: [{ ...r5Large(3), reservedPerNode: { cpuMillis: 200, memoryBytes: 6 * GiB } }] }),
    ),
    passes: env({ chat: { ...chat, cpu: 1, overrides: { memoryRequestMiB: 9216 } } }, roomyCluster({ nodePools: [r5Large(3)] })),
  },
  'rollout-surge-fits': {
    // Incident: two single-GPU services updated with RollingUpdate on two 1-GPU nodes.
    violates: env(
      {
        a: { ...gpuChat, modelCache: { kind: 'emptyDir' }, overrides: { strategy: 'RollingUpdate' } },
        b: { ...gpuChat, modelCache: { kind: 'emptyDir' }, overrides: { strategy: 'RollingUpdate' } },
      },
      roomyCluster({ nodePools: [r5_2xlarge(2), g5_2xlarge(2)] }),
    ),
    passes: env(
      { a: { ...gpuChat, modelCache: { kind: 'emptyDir' } }, b: { ...gpuChat, modelCache: { kind: 'emptyDir' } } },
      roomyCluster({ nodePools: [r5_2xlarge(2), g5_2xlarge(2)] }),
    ),
  },
  'storage-class-provisioned': {
    // Incident: a PVC on gp2 in a cluster that only runs the EFS CSI driver.
    violates: env(
      { chat: { ...chat, modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp2' } } },
      roomyCluster({
        storageClasses: [{ name: 'gp2', provisioner: 'ebs.csi.aws.com', accessModes: ['ReadWriteOnce'], csiDriverInstalled: false, readMiBps: 125 }, efs],
      }),
    ),
    passes: env({ chat: { ...chat, modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'efs-sc', accessMode: 'ReadWriteMany' } } }),
  },
  'rwo-cache-shared': {
    violates: env({ chat: { ...chat, overrides: { strategy: 'RollingUpdate' } } }),
    passes: env({ chat }),
  },
  'cache-not-ephemeral': {
    violates: env({ chat: { ...chat, modelCache: { kind: 'emptyDir' }, overrides: { ephemeralStorageGiB: 1 } } }),
    passes: env({ chat: { ...chat, modelCache: { kind: 'emptyDir' } } }),
  },
  'startup-window-covers-load': {
    // Incident: no startup probe, liveness after 60 s (+ 3 x 10 s) for a model that takes ~90 s to load.
    violates: env(
      { chat: { ...chat, overrides: { startupProbe: false, livenessProbe: { initialDelaySeconds: 60, periodSeconds: 10, failureThreshold: 3 } } } },
      roomyCluster({ storageClasses: [{ ...gp3, readMiBps: 25 }] }),
    ),
    passes: env({ chat }, roomyCluster({ storageClasses: [{ ...gp3, readMiBps: 25 }] })),
  },
  'liveness-cheap': {
    violates: env({ chat: { ...chat, overrides: { livenessProbe: { path: '/v1/chat/completions' } } } }),
    passes: env({ chat }),
  },
  'readiness-differs-from-liveness': {
    violates: env({ chat: { ...chat, overrides: { readinessProbe: { path: '/health/live', periodSeconds: 10, failureThreshold: 6, timeoutSeconds: 5 } } } }),
    passes: env({ chat }),
  },
  'idle-timeout-covers-request': {
    // Incident: a 7-minute CPU answer behind a load balancer whose 60 s idle timeout nothing here sets.
    violates: env(
      { chat: { ...chat, requestTimeoutSeconds: 420, exposure: { kind: 'load-balancer', provider: 'aws-elb' }, overrides: { sseKeepAliveSeconds: 0 } } },
      roomyCluster({ loadBalancer: { kind: 'aws-elb', idleTimeoutSeconds: 60, idleTimeoutFromAnnotations: false } }),
    ),
    passes: env(
      { chat: { ...chat, requestTimeoutSeconds: 420, exposure: { kind: 'load-balancer', provider: 'aws-elb' } } },
      roomyCluster({ loadBalancer: { kind: 'aws-elb', idleTimeoutSeconds: 60, idleTimeoutFromAnnotations: true } }),
    ),
  },
  'grace-covers-request': {
    violates: env({ chat: { ...chat, overrides: { terminationGracePeriodSeconds: 30 } } }),
    passes: env({ chat }),
  },
  'memory-covers-model': {
    violates: env({ chat: { ...chat, overrides: { memoryRequestMiB: 1024 } } }),
    passes: env({ chat }),
  },
  'cpu-not-throttled': {
    violates: env({ chat: { ...chat, overrides: { cpuLimit: 1, threads: 4 } } }),
    passes: env({ chat: { ...chat, overrides: { cpuLimit: 2, threads: 2 } } }),
  },
  'pdb-allows-drain': {
    // Incident: a PDB with minAvailable 1 on a single replica.
    violates: env({ chat: { ...chat, overrides: { disruptionBudget: { minAvailable: 1 } } } }),
    passes: env({ chat }),
  },
  'revision-history-bounded': {
    violates: env({ chat: { ...chat, revisionHistoryLimit: 10 } }),
    passes: env({ chat: { ...chat, revisionHistoryLimit: 5 } }),
  },
  'image-pinned': {
    // Incident: a tag pushed again ran different code on nodes that had pulled it at different times.
    violates: { ...env({ chat: { ...chat, image: 'ghcr.io/gguf-on-k8s/inference:1.2.3' } }), production: true },
    passes: { ...env({ chat }), production: true },
  },
  'image-immutable': {
    // Incident: an image on :latest.
    violates: env({ chat: { ...chat, image: 'ghcr.io/gguf-on-k8s/inference:latest' } }),
    passes: env({ chat: { ...chat, image: `ghcr.io/gguf-on-k8s/inference@sha256:${'a'.repeat(64)}` } }),
  },
  'security-context-restricted': {
    violates: env({ chat: { ...chat, overrides: { securityContext: { readOnlyRootFilesystem: false } } } }),
    passes: env({ chat }),
  },
  'hpa-consistent': {
    violates: env({ chat: { ...chat, replicas: 2, autoscaling: { minReplicas: 2, maxReplicas: 3, signal: 'cpu' }, modelCache: { kind: 'emptyDir' } } }),
    passes: env({ chat: { ...chat, autoscaling: { minReplicas: 2, maxReplicas: 3, signal: 'cpu' }, modelCache: { kind: 'emptyDir' } } }),
  },
  'namespace-quota-fits': {
    violates: env(
      { chat: { ...chat, modelCache: { kind: 'emptyDir' } } },
      roomyCluster({ namespaceQuotas: { 'llm-test': { cpuMillis: 3000, memoryBytes: 64 * GiB, gpus: 0, ephemeralStorageBytes: 64 * GiB } } }),
    ),
    passes: env(
      { chat: { ...chat, modelCache: { kind: 'emptyDir' } } },
      roomyCluster({ namespaceQuotas: { 'llm-test': { cpuMillis: 4500, memoryBytes: 64 * GiB, gpus: 0, ephemeralStorageBytes: 64 * GiB } } }),
    ),
  },
  'cache-change-fits-quota': {
    // A model change creates the new 3Gi claim beside the old one: 6Gi for a moment.
    violates: { ...env({ chat }), quota: { cpu: 64, memoryGiB: 64, gpus: 0, ephemeralStorageGiB: 64, storageGiB: 5 } },
    passes: { ...env({ chat }), quota: { cpu: 64, memoryGiB: 64, gpus: 0, ephemeralStorageGiB: 64, storageGiB: 6 } },
  },
  'limit-range-admits': {
    violates: { ...env({ chat }), limitRange: { maxPerContainer: { memoryMiB: 2048 } } },
    passes: { ...env({ chat }), limitRange: { maxPerContainer: { memoryMiB: 8192 } } },
  },
  'ingress-annotations-served': {
    violates: env({
      chat: {
        ...chat,
        exposure: { kind: 'ingress', host: 'chat.example', tlsSecretName: 'chat-tls', annotations: { 'cert-manager.io/cluster-issuer': 'letsencrypt' } },
      },
    }),
    passes: env(
      {
        chat: {
          ...chat,
          exposure: { kind: 'ingress', host: 'chat.example', tlsSecretName: 'chat-tls', annotations: { 'cert-manager.io/cluster-issuer': 'letsencrypt' } },
        },
      },
      roomyCluster({ customResourceTypes: [...prometheusOperatorCrds, ...certManagerCrds] }),
    ),
  },
  'scale-up-waits-for-startup': {
    violates: env(
      { chat: { ...chat, modelCache: { kind: 'emptyDir' }, autoscaling: { minReplicas: 1, maxReplicas: 3, signal: 'queue', targetCapacityFraction: 0.9 } } },
      roomyCluster({ customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds] }),
    ),
    passes: env(
      { chat: { ...chat, modelCache: { kind: 'emptyDir' }, autoscaling: { minReplicas: 1, maxReplicas: 3, signal: 'queue' } } },
      roomyCluster({ customResourceTypes: [...prometheusOperatorCrds, ...kedaCrds] }),
    ),
  },
  'gpu-scheduling': {
    violates: env({ big: { ...gpuChat, contextSize: 32_768, parallel: 8, gpu: { count: 1, memoryGiB: 16 } } }),
    passes: env({ big: { ...gpuChat, contextSize: 8192, parallel: 4, gpu: { count: 1, memoryGiB: 16 } } }),
  },
  'context-within-trained': {
    violates: env({ chat: { ...chat, contextSize: 65_536 } }),
    passes: env({ chat: { ...chat, contextSize: 32_768 } }),
  },
  'progress-deadline-covers-startup': {
    violates: env({ chat: { ...chat, overrides: { progressDeadlineSeconds: 60 } } }),
    passes: env({ chat: { ...chat, overrides: { progressDeadlineSeconds: 900 } } }),
  },
  'sse-keepalive-below-idle': {
    violates: env({ chat: { ...chat, overrides: { sseKeepAliveSeconds: 90 } } }),
    passes: env({ chat: { ...chat, overrides: { sseKeepAliveSeconds: 30 } } }),
  },
  'ingress-controller-supported': {
    // Incident: an Ingress on a Traefik class, whose timeout no Ingress annotation sets and nothing declared.
    violates: env({ chat: { ...chat, exposure: { kind: 'ingress', host: 'chat.example.test', className: 'traefik' } } }, roomyCluster(traefikClass)),
    passes: env(
      { chat: { ...chat, exposure: { kind: 'ingress', host: 'chat.example.test', className: 'traefik' } } },
      roomyCluster({ ...traefikClass, ingressIdleTimeoutsSeconds: { traefik: 3600 } }),
    ),
  },
  'pod-security-standard-met': {
    // Incident: a loosened securityContext, with our own rule waived, that Pod Security Admission refuses.
    violates: env({
      chat: {
        ...chat,
        overrides: { securityContext: { allowPrivilegeEscalation: true } },
        waivers: { 'security-context-restricted': 'checking that admission still refuses the pod' },
      },
    }),
    passes: env({ chat }),
  },
  'polaris-admits': {
    // Incident: Polaris's webhook denying a Deployment (here tagNotSpecified on :latest, our own image rule waived).
    violates: env({ chat: latestImageChat }, roomyCluster({ admission: { polaris: {} } })),
    passes: env({ chat }, roomyCluster({ admission: { polaris: {} } })),
  },
  'kyverno-admits': {
    // Incident: an enforced Kyverno ClusterPolicy (disallow-latest-tag) refusing the pod.
    violates: env({ chat: latestImageChat }, roomyCluster({ admission: { kyverno: [{ name: 'disallow-latest-tag', failureAction: 'Enforce' }] } })),
    passes: env({ chat: latestImageChat }, roomyCluster({ admission: { kyverno: [{ name: 'disallow-latest-tag', failureAction: 'Audit' }] } })),
  },
  'model-integrity-verified': {
    // A warning rule: the violating config synthesizes, with the finding among the warnings.
    violates: env({
      chat: {
        ...chat,
        model: { ...qwen25_3bInstructQ4KM, sha256: undefined, integrity: { status: 'unverified', reason: 'sha256 not published by the mirror' } },
      },
    }),
    passes: env({ chat }),
  },
  'priority-class-exists': {
    // Incident: a PriorityClass the cluster does not have: admission refused every pod, the ReplicaSet stayed at 0.
    violates: env({ chat: { ...chat, scheduling: { priorityClassName: 'llm-critical' } } }, roomyCluster({ priorityClassNames: ['llm-serving'] })),
    passes: env({ chat: { ...chat, scheduling: { priorityClassName: 'llm-serving' } } }, roomyCluster({ priorityClassNames: ['llm-serving'] })),
  },
  'runtime-class-exists': {
    // Incident: a GPU service written for a GPU Operator cluster, on a cluster without the `nvidia` RuntimeClass.
    violates: env({ gpu: { ...gpuChat, scheduling: { runtimeClassName: 'nvidia' } } }, roomyCluster({ runtimeClassNames: [] })),
    passes: env({ gpu: { ...gpuChat, scheduling: { runtimeClassName: 'nvidia' } } }, roomyCluster({ runtimeClassNames: ['nvidia'] })),
  },
  'topology-spread-zones-exist': {
    // A warning rule: "zone-redundant" replicas whose only usable pool sits in one zone.
    violates: env(
      { chat: { ...chat, replicas: 2, modelCache: { kind: 'emptyDir' } } },
      roomyCluster({ nodePools: [inZone(r5_2xlarge(4), 'us-east-1a'), g5_2xlarge(1)] }),
    ),
    passes: env(
      { chat: { ...chat, replicas: 2, modelCache: { kind: 'emptyDir' } } },
      roomyCluster({ nodePools: [inZone(r5_2xlarge(4), 'us-east-1a'), { ...inZone(r5_2xlarge(4), 'us-east-1b'), name: 'cpu-b' }, g5_2xlarge(1)] }),
    ),
  },
  'capacity-type-available': {
    // A warning rule: a spot preference on a cluster whose pools say nothing about capacity type matches nothing.
    violates: env({ chat: { ...chat, replicas: 2, modelCache: { kind: 'emptyDir' }, scheduling: { capacityType: 'spot' } } }),
    passes: env(
      { chat: { ...chat, replicas: 2, modelCache: { kind: 'emptyDir' }, scheduling: { capacityType: 'spot' } } },
      roomyCluster({ nodePools: [m6i_4xlargeNodeGroup('cpu-spot', 'spot', { minCount: 0, maxCount: 4 }), g5_2xlarge(1)] }),
    ),
  },
  'cuda-driver-supports-image': {
    // The CUDA 13.1 image on nodes with driver 550: refused by the NVIDIA container runtime, every GPU pod crash-loops.
    violates: env({ gpu: gpuChat }, roomyCluster({ nodePools: [r5_2xlarge(2), gpuPoolWithDriver('550')] })),
    passes: env({ gpu: gpuChat }, roomyCluster({ nodePools: [r5_2xlarge(2), gpuPoolWithDriver('590')] })),
  },
  'gpu-layer-split-fits': {
    // Incident: the two GPUs' total had room, the GPU holding the output layer on top of its half did not.
    violates: env(
      { big: { ...gpuChat, model: qwen25_72bInstructQ4KM, gpu: { count: 2, memoryGiB: 23.2 } } },
      roomyCluster({ nodePools: [r5_2xlarge(2), g6e_12xlargeNodeGroup('gpu', 'us-east-1a', { minCount: 1, maxCount: 1 })] }),
    ),
    passes: env(
      { big: { ...gpuChat, model: qwen25_72bInstructQ4KM, gpu: { count: 2, memoryGiB: 24 } } },
      roomyCluster({ nodePools: [r5_2xlarge(2), g6e_12xlargeNodeGroup('gpu', 'us-east-1a', { minCount: 1, maxCount: 1 })] }),
    ),
  },
  'service-kind-matches-model': {
    // A chat model asked to serve embeddings (and, below, an embedding model asked to serve chat).
    violates: env({ chat: { ...chat, serviceKind: 'embedding' } }),
    passes: env({ embed: { ...embed, serviceKind: 'embedding' } }),
  },
  'storage-read-rate-declared': {
    // A captured class nobody measured: the startup window rests on the assumed default.
    violates: env({ chat }, roomyCluster({ storageClasses: [{ ...gp3, readMiBpsAssumed: true }] })),
    passes: env({ chat }, roomyCluster({ storageClasses: [gp3] })),
  },
  'companion-reaches-model': {
    // A client pointed at the chat service by reference, whose own egress policy admits DNS only: connection timeouts.
    violates: withCompanion(env({ chat }), 'test/fixtures/companions/egress-dns-only'),
    passes: withCompanion(env({ chat }), 'test/fixtures/companions/egress-to-model'),
  },
  'embedding-batch-holds-input': {
    // Inputs longer than the batch were embedded from their last chunk alone.
    violates: env({ embed: { ...embed, contextSize: 2048, batchSize: 512 } }),
    passes: env({ embed: { ...embed, contextSize: 512, batchSize: 512 } }),
  },
};

/** Ids of the synth warnings for an environment that synthesizes. */
function warningIds(e: Environment): string[] {
  return [...new Set(synthesizeAll([e]).report.warnings.map((f) => f.ruleId))].sort();
}
const isWarningRule = (id: string): boolean => rules.find((r) => r.id === id)?.severity === 'warning';

describe('synth rules', () => {
  it('every rule has a case, and every case names a rule', () => {
    expect(Object.keys(cases).sort()).toEqual(rules.map((r) => r.id).sort());
    expect(rules.length).toBeGreaterThanOrEqual(22);
  });

  for (const [id, c] of Object.entries(cases)) {
    it(`${id}: a violating config fails synth with exactly that rule id`, () => {
      if (isWarningRule(id)) expect({ errors: errorIds(c.violates), warnings: warningIds(c.violates) }).toEqual({ errors: [], warnings: [id] });
      else expect(errorIds(c.violates)).toEqual([id]);
    });
    it(`${id}: a compliant config passes`, () => {
      expect(errorIds(c.passes)).toEqual([]);
    });
  }

  it('messages name the file, the environment, the service, the measured values and the fix', () => {
    const err = synthError(cases['pod-fits-node-pool']!.violates);
    expect(err.message).toContain('[pod-fits-node-pool] test/charts/rules.test.ts: test/chat: ');
    expect(err.message).toMatch(/memory 9\.00 GiB > 8\.60 GiB free of 14\.60 GiB allocatable/);
    expect(err.message).toContain('Fix: ');
  });

  it('reports every violation at once, not the first only', () => {
    const e = env({ chat: { ...chat, image: 'x/y:latest', revisionHistoryLimit: 12, overrides: { terminationGracePeriodSeconds: 10 } } });
    expect(errorIds(e)).toEqual(['grace-covers-request', 'image-immutable', 'revision-history-bounded']);
  });

  it('a waiver with a written reason turns the error into a reported note', () => {
    const waived = env({ chat: { ...chat, revisionHistoryLimit: 10, waivers: { 'revision-history-bounded': 'audit requires 10 revisions until 2027-01' } } });
    const out = synthesizeAll([waived]);
    expect(out.report.waived).toEqual([expect.objectContaining({ ruleId: 'revision-history-bounded', waiver: 'audit requires 10 revisions until 2027-01' })]);
  });

  it('an unknown waiver id fails synth (a typo must not waive silently)', () => {
    const typo = env({ chat: { ...chat, waivers: { 'revison-history': 'typo' } } });
    expect(() => synthesizeAll([typo])).toThrow(/unknown rule id "revison-history"/);
  });

  it('a waiver without a real reason fails synth', () => {
    const lazy = env({ chat: { ...chat, revisionHistoryLimit: 10, waivers: { 'revision-history-bounded': 'ok' } } });
    expect(() => synthesizeAll([lazy])).toThrow(/needs a written reason/);
  });

  it('streaming keep-alive downgrades a short idle timeout to a warning', () => {
    const out = synthesizeAll(
      [cases['idle-timeout-covers-request']!.violates].map((e) => ({ ...e, services: { chat: { ...e.services.chat!, overrides: {} } } })),
    );
    expect(out.report.warnings.map((w) => w.ruleId)).toContain('idle-timeout-covers-request');
  });

  it('a PDB without AlwaysAllow is a warning, not an error', () => {
    const out = synthesizeAll([
      env({ chat: { ...chat, overrides: { disruptionBudget: { maxUnavailable: 1, unhealthyPodEvictionPolicy: 'IfHealthyBudget' } } } }),
    ]);
    expect(out.report.warnings.map((w) => w.ruleId)).toEqual(['pdb-allows-drain']);
  });

  it('topology-spread-zones-exist reads the zones a capture recorded for a pool before its zone label', () => {
    const spread = (pool: NodePool) =>
      warningIds(env({ chat: { ...chat, replicas: 2, modelCache: { kind: 'emptyDir' } } }, roomyCluster({ nodePools: [pool, g5_2xlarge(1)] })));
    // One pool whose nodes a capture saw in two zones (no single zone label on the pool): the spread is real.
    expect(spread({ ...r5_2xlarge(4), zones: ['us-east-1a', 'us-east-1b'] })).not.toContain('topology-spread-zones-exist');
    // The captured zones win over the pool's single zone label.
    expect(spread({ ...inZone(r5_2xlarge(4), 'us-east-1a'), zones: ['us-east-1a', 'us-east-1c'] })).not.toContain('topology-spread-zones-exist');
    expect(spread({ ...r5_2xlarge(4), zones: ['us-east-1a'] })).toContain('topology-spread-zones-exist');
  });

  it('the committed environments pass with no errors and no warnings but what their Kubernetes version, an unverified catalogue entry or a captured GPU driver forces', () => {
    const out = synthesizeAll();
    // A cluster below 1.27 cannot serve unhealthyPodEvictionPolicy; that warning is the only one an environment may carry.
    const build = (w: (typeof out.report.warnings)[number]) => out.builds.find((b) => b.environment.name === w.environment)!;
    const versionForced = (w: (typeof out.report.warnings)[number]) =>
      w.ruleId === 'pdb-allows-drain' && clusterMinor(build(w).environment.cluster) < pdbUnhealthyPodEvictionPolicyMinor;
    // A catalogue entry that says itself it is unverified (with its reason) is the only other warning a committed environment carries.
    const catalogueForced = (w: (typeof out.report.warnings)[number]) =>
      w.ruleId === 'model-integrity-verified' && isUnverified(build(w).environment.services[w.service]!.model);
    // A cluster profile whose captured GPU nodes run an NVIDIA driver older than the CUDA image needs: forced by
    // the capture (the nodes need a driver upgrade), so it is reported until the profile is captured again.
    const driverForced = (w: (typeof out.report.warnings)[number]) => w.ruleId === 'cuda-driver-supports-image';
    const forced = (w: (typeof out.report.warnings)[number]) => versionForced(w) || catalogueForced(w) || driverForced(w);
    expect(out.report.warnings.filter((w) => !forced(w))).toEqual([]);
    // The one waiver a committed service may carry: an integrity warning on a catalogue entry whose sizes and
    // hash were not read from the hub here (the init container still checks MODEL_SHA256), with its reason.
    // And one a companion may carry: a third-party image whose digest could not be read here (no registry access).
    for (const w of out.report.waived) {
      if (w.service.startsWith('companion:')) expect(w.ruleId, `${w.environment}/${w.service}`).toBe('image-pinned');
      else expect(w.ruleId, `${w.environment}/${w.service}`).toBe('model-integrity-verified');
      expect(w.waiver?.length ?? 0).toBeGreaterThan(40);
    }
  });
});
