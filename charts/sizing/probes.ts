import { endpoints } from '../../service/contract.js';
import type { ModelSpec } from '../models/types.js';
import { MiB } from './units.js';

/**
 * The probe rules. Each probe answers one question, on its own endpoint:
 *
 * - startup   (/health/startup): has the model finished loading? Its window,
 *             periodSeconds x failureThreshold, is the startup budget below. Until it passes,
 *             the kubelet runs neither liveness nor readiness, so a slow load is never "unhealthy".
 * - readiness (/health/ready): may this pod take traffic now? Fails while loading or draining.
 * - liveness  (/health/live): is the process wedged? Answered from the event loop alone and never
 *             touches the model, so a long generation can never fail it. It fails only after a
 *             minute of consecutive failures.
 *
 * Startup budget (seconds):
 *
 *   expectedLoad = processStart + fileBytes / diskReadBytesPerSecond (+ fileBytes / gpuUploadBytesPerSecond on GPU)
 *   budget       = max(startupFloorSeconds, ceil(expectedLoad x startupMargin))
 *
 * with processStart = 10 s (Node.js, llama.cpp backend and context creation), a margin of 2x
 * (page cache cold, noisy neighbours on the volume) and a floor of 60 s.
 */
export const processStartSeconds = 10;
export const startupMargin = 2;
export const startupFloorSeconds = 60;
/** Host-to-GPU copy rate assumed for offloaded weights (PCIe gen4 x16 manages far more; this is cautious). */
export const gpuUploadMiBps = 1024;

export const startupPeriodSeconds = 5;
export const readinessPeriodSeconds = 5;
export const readinessFailureThreshold = 2;
export const livenessPeriodSeconds = 10;
/** The live endpoint answers in milliseconds; 5 s tolerates a prompt-evaluation burst on a busy event loop. */
export const livenessTimeoutSeconds = 5;
/** Six failures 10 s apart: one minute of a truly wedged process before a restart. */
export const livenessFailureThreshold = 6;
export const probeTimeoutSeconds = 3;

export interface StartupInputs {
  readonly model: ModelSpec;
  /** Sustained sequential read rate of the model cache volume, MiB/s. */
  readonly diskReadMiBps: number;
  readonly gpuOffload: boolean;
}

export interface StartupBudget {
  /** Seconds the model is expected to take to load. */
  readonly expectedLoadSeconds: number;
  /** Seconds the startup probe allows (>= expectedLoad x margin, >= floor). */
  readonly budgetSeconds: number;
  readonly periodSeconds: number;
  readonly failureThreshold: number;
  /** periodSeconds x failureThreshold: the window the kubelet actually gives. */
  readonly windowSeconds: number;
}

export function startupBudget(inputs: StartupInputs): StartupBudget {
  const readSeconds = inputs.model.fileBytes / (inputs.diskReadMiBps * MiB);
  const uploadSeconds = inputs.gpuOffload ? inputs.model.fileBytes / (gpuUploadMiBps * MiB) : 0;
  const expectedLoadSeconds = Math.ceil(processStartSeconds + readSeconds + uploadSeconds);
  const budgetSeconds = Math.max(startupFloorSeconds, Math.ceil(expectedLoadSeconds * startupMargin));
  const failureThreshold = Math.ceil(budgetSeconds / startupPeriodSeconds);
  return {
    expectedLoadSeconds,
    budgetSeconds,
    periodSeconds: startupPeriodSeconds,
    failureThreshold,
    windowSeconds: failureThreshold * startupPeriodSeconds,
  };
}

/** Probe settings as plain data; the construct turns them into cdk8s-plus probes. */
export interface HttpProbeSpec {
  readonly path: string;
  readonly periodSeconds: number;
  readonly failureThreshold: number;
  readonly timeoutSeconds: number;
  readonly successThreshold: number;
  readonly initialDelaySeconds: number;
}

export interface ProbePlan {
  /** Undefined only when an override removed it (and the synth rules then check liveness alone). */
  readonly startup: HttpProbeSpec | undefined;
  readonly readiness: HttpProbeSpec;
  readonly liveness: HttpProbeSpec;
}

export function planProbes(budget: StartupBudget): ProbePlan {
  return {
    startup: {
      path: endpoints.startup,
      periodSeconds: budget.periodSeconds,
      failureThreshold: budget.failureThreshold,
      timeoutSeconds: probeTimeoutSeconds,
      successThreshold: 1,
      initialDelaySeconds: 0,
    },
    readiness: {
      path: endpoints.ready,
      periodSeconds: readinessPeriodSeconds,
      failureThreshold: readinessFailureThreshold,
      timeoutSeconds: probeTimeoutSeconds,
      successThreshold: 1,
      initialDelaySeconds: 0,
    },
    liveness: {
      path: endpoints.live,
      periodSeconds: livenessPeriodSeconds,
      failureThreshold: livenessFailureThreshold,
      timeoutSeconds: livenessTimeoutSeconds,
      successThreshold: 1,
      initialDelaySeconds: 0,
    },
  };
}

/** The probe fields that decide how long it lets a container fail. */
export interface ProbeTiming {
  readonly initialDelaySeconds?: number;
  readonly periodSeconds?: number;
  readonly failureThreshold?: number;
}

/**
 * Seconds a probe in a manifest gives a container before the kubelet acts on it: initialDelaySeconds +
 * periodSeconds x failureThreshold, with the API defaults for unset fields (0, 10, 3: kubernetes/kubernetes
 * pkg/apis/core/v1/defaults.go SetDefaults_Probe). For a startup probe, the longest a model load may take.
 */
export function probeWindowSeconds(p: ProbeTiming): number {
  return (p.initialDelaySeconds ?? 0) + (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3);
}
