import { defaultModelCacheDir, embeddingBatchSize, parseCorsOrigins, type ServiceKind } from '../../service/contract.js';
import { ChartConfigError, type ConfigProblem } from '../lib/config-error.js';
import { catalogueFileOf } from '../models/catalogue.js';
import { validateModelSpec } from '../models/validate.js';
import type { ExposureProps, InferenceServiceProps } from '../constructs/props.js';
import { schedulingProblems } from '../constructs/scheduling.js';
import { estimateMemory, type MemoryEstimate } from './memory.js';
import { planProbes, startupBudget, type ProbePlan, type StartupBudget } from './probes.js';
import { defaultPreStopSeconds, embeddingRequestTimeoutSeconds, planTimeouts, type TimeoutPlan } from './timeouts.js';
import { GiB, MiB } from './units.js';
import { rolloutCost, rolloutStrategy, type RolloutCost, type RolloutStrategy } from './rollout.js';
import { idleDurationSeconds, minIdleAfterSeconds, planScaleToZero, type ScaleToZeroPlan } from './cold-start.js';

/**
 * Every derived figure of one inference service, computed once from its props.
 * The construct renders it, the synth summary prints it, and tests assert on it.
 */
export interface InferenceServicePlan {
  readonly name: string;
  readonly props: InferenceServiceProps;
  /** What it serves: the prop, else derived from the model (an entry with `embedding` is an embedding model). */
  readonly kind: ServiceKind;
  readonly replicas: number;
  readonly contextSize: number;
  readonly parallel: number;
  readonly batchSize: number;
  readonly cpuCores: number;
  readonly gpuCount: number;
  readonly maxQueue: number;
  /** MAX_COMPLETION_LENGTH; undefined for an embedding service, which generates nothing. */
  readonly maxCompletionLength: number | undefined;
  readonly memory: MemoryEstimate;
  /** Container memory request and limit in bytes (the estimate unless overridden). */
  readonly memoryRequestBytes: number;
  readonly memoryLimitBytes: number;
  /** CPU limit in cores; undefined (the default) means none. */
  readonly cpuLimitCores: number | undefined;
  /** A fixed THREADS value; undefined means the CPU request via the downward API. */
  readonly fixedThreads: number | undefined;
  readonly startup: StartupBudget;
  /** `startup` is undefined only when an override removed the startup probe. */
  readonly probes: ProbePlan;
  /** Exec command of the liveness probe when an override replaced the HTTP check. */
  readonly livenessExec: readonly string[] | undefined;
  readonly disruptionBudget: {
    readonly minAvailable?: number;
    readonly maxUnavailable?: number;
    readonly unhealthyPodEvictionPolicy: 'AlwaysAllow' | 'IfHealthyBudget';
  };
  readonly security: {
    readonly runAsNonRoot: boolean;
    readonly readOnlyRootFilesystem: boolean;
    readonly allowPrivilegeEscalation: boolean;
    readonly dropAllCapabilities: boolean;
  };
  readonly timeouts: TimeoutPlan;
  readonly strategy: 'Recreate' | 'RollingUpdate';
  /** The Deployment's strategy with its surge and unavailability (charts/sizing/rollout.ts). */
  readonly rollout: RolloutStrategy;
  /** Why the strategy was chosen, for the summary and reviewers. */
  readonly strategyReason: string;
  /** What one rollout costs, worst case (downtime or capacity, for how long), from the startup window. */
  readonly rolloutCost: RolloutCost;
  /** Seconds the init container's download of the model takes at the declared download rate. */
  readonly downloadSeconds: number;
  readonly cache: {
    readonly kind: 'persistentVolumeClaim' | 'emptyDir';
    readonly accessMode: 'ReadWriteOnce' | 'ReadWriteMany' | undefined;
    readonly storageClassName: string | undefined;
    readonly sizeGiB: number;
    readonly readMiBps: number;
    readonly mountPath: string;
  };
  /** Ephemeral storage request = limit, whole GiB (cdk8s-plus emits whole Gi). */
  readonly ephemeralStorageGiB: number;
  /** Size limit of the writable /tmp emptyDir. */
  readonly tmpSizeMiB: number;
  readonly progressDeadlineSeconds: number;
  readonly revisionHistoryLimit: number;
  readonly exposure: ExposureProps;
  /** Chat only: the p90 time to first token that alerts; undefined for an embedding service (no tokens are generated). */
  readonly slowTimeToFirstTokenSeconds: number | undefined;
  /** Embedding only: the p90 request duration that alerts (half the request timeout: requests are about to be cut); undefined for chat. */
  readonly slowEmbeddingRequestSeconds: number | undefined;
  /** Scale to zero: the idle time, the first caller's wait and the timeouts around it; undefined when the service never goes to zero. */
  readonly scaleToZero: ScaleToZeroPlan | undefined;
}

const defaultCpuReadMiBps = { persistentVolumeClaim: 125, emptyDir: 200 } as const;
/** Scheduling, image pull and container start before the model load begins. */
export const podStartAllowanceSeconds = 300;
function withoutExec<T extends { exec?: unknown }>(probe: T | undefined): Omit<T, 'exec'> {
  if (!probe) return {} as Omit<T, 'exec'>;
  const { exec: _exec, ...rest } = probe;
  return rest;
}

function isPositiveInt(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}

export function planInferenceService(name: string, props: InferenceServiceProps): InferenceServicePlan {
  const problems: ConfigProblem[] = [];
  const object = `${props.environment}/${name}`;
  const problem = (field: string, text: string, fix: string): void => {
    problems.push({ file: props.definedIn, object, field, problem: text, fix });
  };

  const model = props.model;
  // An impossible catalogue figure would size every manifest below wrong: refuse it first, naming the entry's file.
  const modelProblems = validateModelSpec(model, catalogueFileOf(model) ?? props.definedIn);
  if (modelProblems.length > 0) throw new ChartConfigError(modelProblems);
  const replicas = props.replicas ?? 1;
  const kind: ServiceKind = props.serviceKind ?? (model.embedding ? 'embedding' : 'chat');
  const embedding = kind === 'embedding';
  const contextSize = props.contextSize ?? Math.min(4096, model.trainedContext);
  // An embedding context has one sequence (node-llama-cpp's LlamaEmbeddingContext) whose batch holds a whole input.
  const parallel = embedding ? 1 : (props.parallel ?? 2);
  const batchSize = props.batchSize ?? (embedding ? embeddingBatchSize(contextSize) : 512);
  const cpuCores = props.cpu ?? 2;
  const gpuCount = props.gpu?.count ?? 0;
  const maxQueue = props.maxQueue ?? 4 * parallel;
  const maxCompletionLength = embedding ? undefined : (props.maxCompletionLength ?? 2048);
  const requestTimeoutSeconds =
    props.requestTimeoutSeconds ?? (embedding ? embeddingRequestTimeoutSeconds(props.pathIdleTimeoutsSeconds ?? []) : gpuCount > 0 ? 120 : 300);
  const preStopSeconds = props.preStopSeconds ?? defaultPreStopSeconds;
  const revisionHistoryLimit = props.revisionHistoryLimit ?? 3;
  const exposure = props.exposure ?? { kind: 'cluster-ip' };
  const cacheProps = props.modelCache;
  const accessMode = cacheProps.kind === 'persistentVolumeClaim' ? (cacheProps.accessMode ?? 'ReadWriteOnce') : undefined;
  const minCacheGiB = Math.ceil((model.fileBytes * 1.2) / GiB);
  const cacheSizeGiB = cacheProps.sizeGiB ?? minCacheGiB;
  const readMiBps = cacheProps.readMiBps ?? defaultCpuReadMiBps[cacheProps.kind];

  if (!/^[a-z]([-a-z0-9]{0,40}[a-z0-9])?$/.test(name)) {
    problem('name', `"${name}" is not a valid DNS label of at most 42 characters`, 'use lower-case letters, digits and dashes, starting with a letter');
  }
  if (!isPositiveInt(replicas)) problem('replicas', `${replicas} is not a positive integer`, 'set replicas to 1 or more');
  if (!isPositiveInt(contextSize))
    problem('contextSize', `${contextSize} is not a positive integer`, 'set contextSize to a positive number of tokens, e.g. 4096');
  if (!isPositiveInt(parallel)) problem('parallel', `${parallel} is not a positive integer`, 'set parallel to 1 or more');
  if (!isPositiveInt(batchSize)) problem('batchSize', `${batchSize} is not a positive integer`, 'set batchSize to a positive integer, e.g. 512');
  if (!(cpuCores > 0) || !Number.isInteger(cpuCores * 1000)) {
    problem('cpu', `${cpuCores} is not a positive number of cores`, 'set cpu to the cores to request, e.g. 2 (it is also the inference thread count)');
  }
  if (!Number.isInteger(maxQueue) || maxQueue < 0) problem('maxQueue', `${maxQueue} is not a non-negative integer`, 'set maxQueue to 0 or more');
  if (embedding) {
    // Chat-only settings on an embedding service would be silently ignored by the server: refuse them instead.
    const chatOnly: Array<[string, unknown, string]> = [
      ['parallel', props.parallel, 'an embedding context has one sequence and embeds one input at a time'],
      ['maxCompletionLength', props.maxCompletionLength, 'an embedding service generates no tokens'],
      ['slowTimeToFirstTokenSeconds', props.slowTimeToFirstTokenSeconds, 'an embedding service has no first token; its alert watches the request duration'],
      ['overrides.sseKeepAliveSeconds', props.overrides?.sseKeepAliveSeconds, 'an embedding answer is one JSON body, never a stream'],
    ];
    for (const [field, value, why] of chatOnly) {
      if (value !== undefined) problem(field, `is set on an embedding service (${model.id}), where it does not apply: ${why}`, `remove ${field}`);
    }
  } else if (maxCompletionLength !== undefined && !isPositiveInt(maxCompletionLength)) {
    problem('maxCompletionLength', `${maxCompletionLength} is not a positive integer`, 'set maxCompletionLength, e.g. 2048');
  } else if (maxCompletionLength !== undefined && maxCompletionLength >= contextSize && model.embedding === undefined) {
    // (An embedding model asked to serve chat generates nothing worth room: rule service-kind-matches-model says so.)
    problem(
      'maxCompletionLength',
      `${maxCompletionLength} leaves no room for a prompt in a ${contextSize}-token context`,
      `set maxCompletionLength below contextSize (${contextSize})`,
    );
  }
  if (!isPositiveInt(requestTimeoutSeconds))
    problem('requestTimeoutSeconds', `${requestTimeoutSeconds} is not a positive integer`, 'set requestTimeoutSeconds, e.g. 300');
  if (!Number.isInteger(preStopSeconds) || preStopSeconds < 0)
    problem('preStopSeconds', `${preStopSeconds} is negative or fractional`, 'set preStopSeconds to 0 or more whole seconds');
  if (!isPositiveInt(cacheSizeGiB)) {
    problem('modelCache.sizeGiB', `${cacheSizeGiB} is not a positive whole number of GiB`, `omit sizeGiB to derive it (${minCacheGiB} GiB for ${model.id})`);
  } else if (cacheSizeGiB < minCacheGiB) {
    problem(
      'modelCache.sizeGiB',
      `${cacheSizeGiB} GiB is below 1.2 x the ${(model.fileBytes / GiB).toFixed(2)} GiB model file`,
      `set sizeGiB to at least ${minCacheGiB} or omit it`,
    );
  }
  if (!(readMiBps > 0)) problem('modelCache.readMiBps', `${readMiBps} is not a positive rate`, 'declare the volume read rate in MiB/s, e.g. 125 for gp3');
  if (cacheProps.kind === 'persistentVolumeClaim' && cacheProps.storageClassName.trim() === '') {
    problem('modelCache.storageClassName', 'is empty', "name the cluster's storage class explicitly (e.g. 'gp3'); the default class may have no CSI driver");
  }
  if (props.gpu) {
    if (!isPositiveInt(props.gpu.count))
      problem('gpu.count', `${props.gpu.count} is not a whole number of GPUs`, 'request 1 or more whole GPUs, or remove the gpu block for a CPU service');
    if (!(props.gpu.memoryGiB > 0))
      problem('gpu.memoryGiB', `${props.gpu.memoryGiB} is not a positive size`, 'declare the memory of one GPU, e.g. 24 for an A10G');
  }
  const hub = props.huggingFace;
  if (hub?.endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(hub.endpoint)) {
    problem(
      'huggingFace.endpoint',
      `"${hub.endpoint}" is not an http(s) URL`,
      "set the mirror's base URL, e.g. https://hf-mirror.internal, or remove it for the public hub",
    );
  }
  if (hub?.tokenSecret && (hub.tokenSecret.name.trim() === '' || hub.tokenSecret.key.trim() === '')) {
    problem('huggingFace.tokenSecret', 'has an empty name or key', 'name the Secret and the key that hold the Hugging Face token');
  }
  if ((hub?.endpoint !== undefined || hub?.tokenSecret !== undefined) && !/^hf:/i.test(model.source)) {
    problem(
      'huggingFace',
      `is set but ${model.id} is not an hf: source (${model.source})`,
      'remove huggingFace, or use an hf: source: the token and endpoint apply to hf: references only',
    );
  }
  if (props.corsOrigins !== undefined) {
    const cors = parseCorsOrigins(props.corsOrigins.join(','));
    if (!cors.ok || cors.value === undefined) {
      problem(
        'corsOrigins',
        cors.ok ? 'is empty' : cors.expected,
        "list origins such as ['https://chat.example.com'], or ['*'] for any, or remove corsOrigins to send no CORS headers",
      );
    }
  }
  for (const t of props.pathIdleTimeoutsSeconds ?? []) {
    if (!isPositiveInt(t)) problem('pathIdleTimeoutsSeconds', `${t} is not a positive number of seconds`, 'list idle timeouts in whole seconds, e.g. [60]');
  }

  if (!isPositiveInt(revisionHistoryLimit))
    problem('revisionHistoryLimit', `${revisionHistoryLimit} is not a positive integer`, 'keep 1 to 5 old ReplicaSets (default 3)');
  const scaling = props.autoscaling;
  // 0 is a whole number of pods a queue autoscaler can reach; whether the cluster can serve it is a rule (scale-to-zero-held).
  const minFloor = scaling?.signal === 'queue' ? 0 : 1;
  if (scaling && (!Number.isInteger(scaling.minReplicas) || scaling.minReplicas < minFloor || !isPositiveInt(scaling.maxReplicas))) {
    problem(
      'autoscaling',
      `minReplicas ${scaling.minReplicas} / maxReplicas ${scaling.maxReplicas} are not whole numbers of pods`,
      `set minReplicas ${minFloor} or more (0 only with signal 'queue') and maxReplicas 1 or more`,
    );
  }
  if (scaling?.signal !== undefined && !['queue', 'cpu'].includes(scaling.signal)) {
    problem(
      'autoscaling.signal',
      `"${String(scaling.signal)}" is not a signal`,
      "set 'queue' (KEDA, on busy and queued requests) or 'cpu' (an HPA on CPU utilisation)",
    );
  }
  const fraction = scaling?.targetCapacityFraction;
  if (fraction !== undefined && !(fraction > 0 && fraction <= 1)) {
    problem('autoscaling.targetCapacityFraction', `${fraction} is not a share of a pod's capacity`, 'set a number above 0 and at most 1, e.g. 0.5');
  }
  const idleAfterSeconds = props.scaleToZero ? idleDurationSeconds(props.scaleToZero.idleAfter) : undefined;
  if (props.scaleToZero) {
    if (idleAfterSeconds === undefined || idleAfterSeconds < minIdleAfterSeconds)
      problem(
        'scaleToZero.idleAfter',
        `"${props.scaleToZero.idleAfter}" is not a whole number of seconds, minutes or hours of at least ${minIdleAfterSeconds} s`,
        `write e.g. '10m': shorter than ${minIdleAfterSeconds} s, every pause between two questions costs the next one a model load`,
      );
    if (scaling?.minReplicas !== 0 || scaling.signal !== 'queue')
      problem(
        'scaleToZero',
        scaling ? `is set but autoscaling is minReplicas ${scaling.minReplicas}, signal ${String(scaling.signal)}` : 'is set without autoscaling',
        "set autoscaling { minReplicas: 0, maxReplicas: N, signal: 'queue' }: the queue autoscaler removes the last pod when idle and the interceptor's held request wakes it",
      );
  }
  problems.push(...schedulingProblems(props, object));
  if (problems.length > 0) throw new ChartConfigError(problems);

  const memory = estimateMemory({ model, contextSize, parallel, batchSize, gpuOffload: gpuCount > 0 });

  const startup = startupBudget({ model, diskReadMiBps: readMiBps, gpuOffload: gpuCount > 0 });
  const timeouts = planTimeouts(requestTimeoutSeconds, preStopSeconds, props.pathIdleTimeoutsSeconds ?? [60]);
  const downloadSeconds = Math.ceil(model.fileBytes / ((props.downloadMiBps ?? 25) * MiB));

  const o = props.overrides ?? {};
  const chosen = rolloutStrategy({ gpuCount, readWriteOnceCache: accessMode === 'ReadWriteOnce', ...(o.strategy ? { override: o.strategy } : {}) });
  const strategy = chosen.strategy.type;
  const strategyReason = chosen.reason;
  const derivedProbes = planProbes(startup);
  const probes: ProbePlan = {
    startup: o.startupProbe === false ? undefined : { ...derivedProbes.startup!, ...o.startupProbe },
    readiness: { ...derivedProbes.readiness, ...o.readinessProbe },
    liveness: { ...derivedProbes.liveness, ...withoutExec(o.livenessProbe) },
  };
  const pdbReplicas = props.autoscaling ? props.autoscaling.minReplicas : replicas;
  const disruptionBudget = o.disruptionBudget
    ? {
        minAvailable: o.disruptionBudget.minAvailable,
        maxUnavailable: o.disruptionBudget.maxUnavailable,
        unhealthyPodEvictionPolicy: o.disruptionBudget.unhealthyPodEvictionPolicy ?? 'AlwaysAllow',
      }
    : pdbReplicas <= 1
      ? { maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' as const }
      : { minAvailable: Math.max(1, pdbReplicas - 1), unhealthyPodEvictionPolicy: 'AlwaysAllow' as const };
  const memoryRequestBytes = o.memoryRequestMiB !== undefined ? o.memoryRequestMiB * MiB : memory.requestBytes;
  const timeoutPlan: TimeoutPlan = {
    ...timeouts,
    terminationGracePeriodSeconds: o.terminationGracePeriodSeconds ?? timeouts.terminationGracePeriodSeconds,
    // No stream, no keep-alive comments: an embedding service leaves SSE_KEEPALIVE_MS out.
    sseKeepAliveSeconds: embedding ? 0 : (o.sseKeepAliveSeconds ?? timeouts.sseKeepAliveSeconds),
  };

  const tmpSizeMiB = 512;
  const ephemeralStorageGiB = o.ephemeralStorageGiB ?? (cacheProps.kind === 'emptyDir' ? cacheSizeGiB + 1 : 1);

  return {
    name,
    props,
    kind,
    replicas,
    contextSize,
    parallel,
    batchSize,
    cpuCores,
    gpuCount,
    maxQueue,
    maxCompletionLength,
    memory,
    memoryRequestBytes,
    memoryLimitBytes: o.memoryLimitMiB !== undefined ? o.memoryLimitMiB * MiB : memoryRequestBytes,
    cpuLimitCores: o.cpuLimit,
    fixedThreads: o.threads,
    startup,
    probes,
    livenessExec: o.livenessProbe?.exec,
    disruptionBudget,
    security: {
      runAsNonRoot: o.securityContext?.runAsNonRoot ?? true,
      readOnlyRootFilesystem: o.securityContext?.readOnlyRootFilesystem ?? true,
      allowPrivilegeEscalation: o.securityContext?.allowPrivilegeEscalation ?? false,
      dropAllCapabilities: o.securityContext?.dropAllCapabilities ?? true,
    },
    timeouts: timeoutPlan,
    strategy,
    rollout: chosen.strategy,
    strategyReason,
    rolloutCost: rolloutCost({
      strategy: chosen.strategy,
      pods: props.autoscaling ? props.autoscaling.minReplicas : replicas,
      terminationGracePeriodSeconds: timeoutPlan.terminationGracePeriodSeconds,
      podStartSeconds: podStartAllowanceSeconds,
      startupWindowSeconds: startup.windowSeconds,
      downloadSeconds,
    }),
    downloadSeconds,
    cache: {
      kind: cacheProps.kind,
      accessMode,
      storageClassName: cacheProps.kind === 'persistentVolumeClaim' ? cacheProps.storageClassName : undefined,
      sizeGiB: cacheSizeGiB,
      readMiBps,
      mountPath: defaultModelCacheDir,
    },
    ephemeralStorageGiB,
    tmpSizeMiB,
    progressDeadlineSeconds: o.progressDeadlineSeconds ?? podStartAllowanceSeconds + downloadSeconds + startup.windowSeconds,
    revisionHistoryLimit,
    exposure,
    slowTimeToFirstTokenSeconds: embedding ? undefined : (props.slowTimeToFirstTokenSeconds ?? (gpuCount > 0 ? 2 : 10)),
    slowEmbeddingRequestSeconds: embedding ? requestTimeoutSeconds / 2 : undefined,
    scaleToZero:
      idleAfterSeconds === undefined
        ? undefined
        : planScaleToZero({
            idleAfterSeconds,
            podStartSeconds: podStartAllowanceSeconds,
            startupWindowSeconds: startup.windowSeconds,
            expectedLoadSeconds: startup.expectedLoadSeconds,
            // A persistent cache keeps the file while no pod runs; an emptyDir goes with the last pod.
            downloadSecondsPerWake: cacheProps.kind === 'emptyDir' ? downloadSeconds : 0,
            serviceIdleTimeoutSeconds: timeoutPlan.idleTimeoutSeconds,
          }),
  };
}
