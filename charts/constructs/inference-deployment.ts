import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { containerCommands, defaultPort, envVars, hubEnvVars, serverRuntimeEnv } from '../../service/contract.js';
import type { HttpProbeSpec } from '../sizing/probes.js';
import type { InferenceServicePlan } from '../sizing/plan.js';
import { MiB } from '../sizing/units.js';
import { syncWave, waves } from '../lib/argocd.js';
import type { ServiceLabels } from '../lib/labels.js';
import { patchDeployment } from './patches.js';
import { pullPolicyFor } from '../lib/image.js';
import { podScheduling } from './scheduling.js';

/** UID/GID of the image's non-root user (see Dockerfile). */
export const runAsUser = 10001;

function toProbe(spec: HttpProbeSpec, exec?: readonly string[]): kplus.Probe {
  const timing = {
    periodSeconds: Duration.seconds(spec.periodSeconds),
    failureThreshold: spec.failureThreshold,
    timeoutSeconds: Duration.seconds(spec.timeoutSeconds),
    successThreshold: spec.successThreshold,
    initialDelaySeconds: Duration.seconds(spec.initialDelaySeconds),
  };
  return exec ? kplus.Probe.fromCommand([...exec], timing) : kplus.Probe.fromHttpGet(spec.path, { port: defaultPort, ...timing });
}

/** Restricted Pod Security Standard settings for every container (overrides only for the rules to catch). */
export function containerSecurity(security: InferenceServicePlan['security']): kplus.ContainerSecurityContextProps {
  return {
    ensureNonRoot: security.runAsNonRoot,
    user: runAsUser,
    group: runAsUser,
    readOnlyRootFilesystem: security.readOnlyRootFilesystem,
    allowPrivilegeEscalation: security.allowPrivilegeEscalation,
    privileged: false,
    capabilities: security.dropAllCapabilities ? { drop: [kplus.Capability.ALL] } : {},
    seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
  };
}

export interface InferenceDeploymentProps {
  readonly plan: InferenceServicePlan;
  readonly labels: ServiceLabels;
  readonly serviceAccount: kplus.IServiceAccount;
  readonly modelCache: kplus.Volume;
}

/**
 * The Deployment: an init container that fetches the model into the cache, then the server
 * with probes, resources and shutdown timing taken from the plan.
 */
export class InferenceDeployment extends Construct {
  readonly deployment: kplus.Deployment;

  constructor(scope: Construct, id: string, props: InferenceDeploymentProps) {
    super(scope, id);
    const { plan, labels } = props;
    const model = plan.props.model;

    this.deployment = new kplus.Deployment(this, 'deployment', {
      metadata: { name: plan.name, labels: labels.all, annotations: syncWave(waves.workload) },
      // Stable selector on app.kubernetes.io labels: the construct path must never reach an immutable field.
      select: false,
      podMetadata: { labels: labels.all },
      replicas: plan.props.autoscaling ? undefined : plan.replicas,
      strategy:
        plan.rollout.type === 'Recreate'
          ? kplus.DeploymentStrategy.recreate()
          : kplus.DeploymentStrategy.rollingUpdate({
              maxSurge: kplus.PercentOrAbsolute.absolute(plan.rollout.maxSurge),
              maxUnavailable: kplus.PercentOrAbsolute.absolute(plan.rollout.maxUnavailable),
            }),
      progressDeadline: Duration.seconds(plan.progressDeadlineSeconds),
      minReady: Duration.seconds(0),
      serviceAccount: props.serviceAccount,
      automountServiceAccountToken: false,
      terminationGracePeriod: Duration.seconds(plan.timeouts.terminationGracePeriodSeconds),
      securityContext: {
        ensureNonRoot: true,
        user: runAsUser,
        group: runAsUser,
        fsGroup: runAsUser,
        fsGroupChangePolicy: kplus.FsGroupChangePolicy.ON_ROOT_MISMATCH,
      },
      isolate: false,
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: labels.selector }));

    const tmp = kplus.Volume.fromEmptyDir(this, 'tmp', 'tmp', { sizeLimit: Size.mebibytes(plan.tmpSizeMiB) });
    const modelEnv: Record<string, kplus.EnvValue> = {
      [envVars.model]: kplus.EnvValue.fromValue(model.source),
      [envVars.modelCacheDir]: kplus.EnvValue.fromValue(plan.cache.mountPath),
      [envVars.logLevel]: kplus.EnvValue.fromValue('info'),
    };
    if (model.sha256) modelEnv[envVars.modelSha256] = kplus.EnvValue.fromValue(model.sha256);
    const hub = plan.props.huggingFace;
    if (hub?.endpoint) modelEnv[hubEnvVars.endpoint] = kplus.EnvValue.fromValue(hub.endpoint);
    if (hub?.tokenSecret) {
      const secret = kplus.Secret.fromSecretName(this, 'hf-token', hub.tokenSecret.name);
      modelEnv[hubEnvVars.token] = kplus.EnvValue.fromSecretValue({ secret, key: hub.tokenSecret.key });
    }

    // IfNotPresent only for a digest; a tag is resolved at every start (charts/lib/image.ts pullPolicyFor).
    const pullPolicy = pullPolicyFor(plan.props.image) === 'Always' ? kplus.ImagePullPolicy.ALWAYS : kplus.ImagePullPolicy.IF_NOT_PRESENT;
    this.deployment.addInitContainer({
      name: 'fetch-model',
      image: plan.props.image,
      imagePullPolicy: pullPolicy,
      command: [...containerCommands.fetchModel],
      envVariables: modelEnv,
      securityContext: containerSecurity(plan.security),
      resources: {
        cpu: { request: kplus.Cpu.millis(250) },
        memory: { request: Size.mebibytes(256), limit: Size.mebibytes(256) },
        ephemeralStorage: { request: Size.gibibytes(1), limit: Size.gibibytes(1) },
      },
      volumeMounts: [
        { path: plan.cache.mountPath, volume: props.modelCache },
        { path: '/tmp', volume: tmp },
      ],
    });

    const chatOnly = (vars: Record<string, string>): Record<string, kplus.EnvValue> =>
      plan.kind === 'chat' ? Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, kplus.EnvValue.fromValue(v)])) : {};
    const serverEnv: Record<string, kplus.EnvValue> = {
      ...modelEnv,
      [envVars.host]: kplus.EnvValue.fromValue('0.0.0.0'),
      [envVars.port]: kplus.EnvValue.fromValue(String(defaultPort)),
      // Threads follow the CPU request (rounded up by the kubelet): node-llama-cpp is not cgroup-aware.
      [envVars.threads]:
        plan.fixedThreads !== undefined
          ? kplus.EnvValue.fromValue(String(plan.fixedThreads))
          : kplus.EnvValue.fromResource(kplus.ResourceFieldPaths.CPU_REQUEST, { divisor: '1' }),
      [envVars.serviceKind]: kplus.EnvValue.fromValue(plan.kind),
      [envVars.contextSize]: kplus.EnvValue.fromValue(String(plan.contextSize)),
      // The batch the memory request was sized for (an embedding batch holds a whole input).
      [envVars.batchSize]: kplus.EnvValue.fromValue(String(plan.batchSize)),
      // PARALLEL, MAX_COMPLETION_LENGTH and SSE_KEEPALIVE_MS are chat only (contract.chatOnlyEnvVars): an embedding
      // service has one sequence, generates nothing and never streams.
      ...chatOnly({ [envVars.parallel]: String(plan.parallel) }),
      [envVars.maxQueue]: kplus.EnvValue.fromValue(String(plan.maxQueue)),
      ...chatOnly({ [envVars.maxCompletionLength]: String(plan.maxCompletionLength) }),
      [envVars.requestTimeoutMs]: kplus.EnvValue.fromValue(String(plan.timeouts.requestTimeoutSeconds * 1000)),
      [envVars.shutdownGraceMs]: kplus.EnvValue.fromValue(String(plan.timeouts.shutdownGraceSeconds * 1000)),
      ...chatOnly({ [envVars.sseKeepAliveMs]: String(plan.timeouts.sseKeepAliveSeconds * 1000) }),
      [envVars.gpuLayers]: kplus.EnvValue.fromValue(plan.gpuCount > 0 ? 'max' : '0'),
      ...Object.fromEntries(Object.entries(serverRuntimeEnv).map(([k, v]) => [k, kplus.EnvValue.fromValue(v)])),
    };
    // Checked by the plan (sizing/plan.ts, contract.parseCorsOrigins): the service parses the same value.
    if (plan.props.corsOrigins !== undefined) serverEnv[envVars.corsOrigins] = kplus.EnvValue.fromValue(plan.props.corsOrigins.join(','));
    if (plan.props.apiKeySecret) {
      const secret = kplus.Secret.fromSecretName(this, 'api-key', plan.props.apiKeySecret.name);
      serverEnv[envVars.apiKey] = kplus.EnvValue.fromSecretValue({ secret, key: plan.props.apiKeySecret.key });
    }

    this.deployment.addContainer({
      name: 'server',
      image: plan.props.image,
      imagePullPolicy: pullPolicy,
      command: [...containerCommands.serve],
      ports: [{ number: defaultPort, name: 'http', protocol: kplus.Protocol.TCP }],
      envVariables: serverEnv,
      securityContext: containerSecurity(plan.security),
      resources: {
        // No CPU limit: a CFS quota throttles every thread of a batch and decoding slows many times over.
        cpu: {
          request: kplus.Cpu.millis(Math.round(plan.cpuCores * 1000)),
          limit: plan.cpuLimitCores !== undefined ? kplus.Cpu.millis(Math.round(plan.cpuLimitCores * 1000)) : undefined,
        },
        memory: { request: Size.mebibytes(Math.ceil(plan.memoryRequestBytes / MiB)), limit: Size.mebibytes(Math.ceil(plan.memoryLimitBytes / MiB)) },
        ephemeralStorage: { request: Size.gibibytes(plan.ephemeralStorageGiB), limit: Size.gibibytes(plan.ephemeralStorageGiB) },
      },
      startup: plan.probes.startup ? toProbe(plan.probes.startup) : undefined,
      readiness: toProbe(plan.probes.readiness),
      liveness: toProbe(plan.probes.liveness, plan.livenessExec),
      lifecycle: { preStop: kplus.Handler.fromCommand(['sleep', String(plan.timeouts.preStopSeconds)]) },
      volumeMounts: [
        { path: plan.cache.mountPath, volume: props.modelCache },
        { path: '/tmp', volume: tmp },
      ],
    });

    patchDeployment(this.deployment, {
      revisionHistoryLimit: plan.revisionHistoryLimit,
      gpuCount: plan.gpuCount,
      scheduling: podScheduling(plan.props, labels.selector),
      imagePullSecrets: plan.props.imagePullSecrets ?? [],
    });
  }
}
