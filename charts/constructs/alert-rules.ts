/**
 * The alerting rules of one inference service, as data: the PrometheusRule renders them and
 * test/alerts/ runs them through promtool. Service metrics are the server's own
 * (service/http/metrics.ts; `process_resident_memory_bytes` is prom-client's default); pod state
 * comes from kube-state-metrics (its docs/pod-metrics.md: `kube_pod_status_ready` has a series only
 * for a pod with a Ready condition, `kube_pod_status_phase` one per phase for every pod).
 *
 * Every expression keeps `namespace` (and `pod` where one pod is at fault), so a page says where.
 */

import { defaultMemoryGuardHeadroomMiB, endpoints, metricNames } from '../../service/contract.js';

/** Queue depth, as a fraction of MAX_QUEUE, above which clients are about to get 429. */
export const queueSaturationFraction = 0.8;

/**
 * Headroom left below the container's memory limit (bytes) under which the memory alert fires: twice the
 * server's own guard headroom (MEMORY_GUARD_HEADROOM_MIB), so it pages before the guard drains the pod
 * and well before the kernel's OOM killer. Headroom, not a fraction: see `defaultMemoryGuardHeadroomMiB`.
 */
export const memoryNearLimitHeadroomBytes = 2 * defaultMemoryGuardHeadroomMiB * 2 ** 20;

export type AlertSeverity = 'warning' | 'critical';

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** Prometheus duration the condition must hold before the alert fires. */
  readonly for: string;
  readonly severity: AlertSeverity;
  readonly summary: string;
  readonly description: string;
}

export interface AlertRuleParams {
  /** Service (and Deployment) name; its pods are `<name>-<template hash>-<suffix>`. */
  readonly name: string;
  readonly namespace: string;
  /** Chat services: p90 time to first token above which the service is too slow. Undefined for an embedding service (no alert). */
  readonly slowTimeToFirstTokenSeconds: number | undefined;
  /**
   * Embedding services: p90 duration of /v1/embeddings requests above which they are about to hit the
   * request timeout (504). Undefined for a chat service (no alert).
   */
  readonly slowEmbeddingRequestSeconds?: number | undefined;
  /**
   * The Deployment's progressDeadlineSeconds (pod start + download + startup window): a pod not
   * Ready for longer is stuck, not loading.
   */
  readonly progressDeadlineSeconds: number;
}

/** Whole minutes, at least `floor`, as a Prometheus duration. */
function minutes(seconds: number, floor: number): string {
  return `${Math.max(floor, Math.ceil(seconds / 60))}m`;
}

export function inferenceAlertRules(p: AlertRuleParams): AlertRule[] {
  // `service` is the Service the ServiceMonitor scrapes through (prometheus-operator adds it).
  const scraped = `namespace="${p.namespace}", service="${p.name}"`;
  // kube-state-metrics series carry the pod's namespace and name; the Deployment names its pods.
  const pods = `namespace="${p.namespace}", pod=~"${p.name}-[a-z0-9]+-[a-z0-9]+"`;
  const rules: Array<AlertRule | undefined> = [
    {
      alert: 'LlmInferencePodRestarting',
      expr: `increase(kube_pod_container_status_restarts_total{${pods}, container="server"}[30m]) > 0`,
      for: '0m',
      severity: 'warning',
      summary: `${p.name}: an inference container restarted`,
      description:
        'A restart reloads the model and drops every in-flight answer. Check the last state (OOMKilled: memory request below the model need; probe failure: the probe timing in dist/).',
    },
    {
      alert: 'LlmInferencePodNotReady',
      // Running but not Ready, or still Pending (unschedulable, quota, a volume in another zone):
      // a Pending pod has no Ready condition, hence no kube_pod_status_ready series at all.
      // Evicted or completed pods linger with Ready false; they are not a stuck rollout.
      expr: [
        `(sum by (namespace, pod) (kube_pod_status_ready{${pods}, condition="true"}) == 0`,
        ` or sum by (namespace, pod) (kube_pod_status_phase{${pods}, phase="Pending"}) == 1)`,
        ` unless on (namespace, pod) (sum by (namespace, pod) (kube_pod_status_phase{${pods}, phase=~"Failed|Succeeded"}) == 1)`,
      ].join(''),
      for: minutes(p.progressDeadlineSeconds, 10),
      severity: 'critical',
      summary: `${p.name}: a pod has not become Ready within the Deployment's progress deadline`,
      description:
        'Past the progress deadline the pod is not loading slowly, it is stuck. Pending: kubectl describe pod (unschedulable, quota, a volume that cannot attach). Not Ready: the fetch-model init container log and free space on the model cache.',
    },
    {
      alert: 'LlmInferenceQueueSaturated',
      expr: `max by (namespace, pod) (avg_over_time(${metricNames.queueDepth}{${scraped}}[5m])) >= ${queueSaturationFraction} * max by (namespace, pod) (${metricNames.maxQueue}{${scraped}})`,
      for: '10m',
      severity: 'warning',
      summary: `${p.name}: request queue above ${Math.round(queueSaturationFraction * 100)}% for 10 minutes`,
      description: 'Clients are about to receive 429. Add replicas (or raise autoscaling.maxReplicas), or lower max_tokens.',
    },
    p.slowTimeToFirstTokenSeconds === undefined
      ? undefined
      : {
          alert: 'LlmInferenceSlowTimeToFirstToken',
          expr: `histogram_quantile(0.9, sum by (namespace, le) (rate(${metricNames.timeToFirstToken}_bucket{${scraped}}[10m]))) > ${p.slowTimeToFirstTokenSeconds}`,
          for: '15m',
          severity: 'warning',
          summary: `${p.name}: p90 time to first token above ${p.slowTimeToFirstTokenSeconds}s`,
          description: 'Requests wait in the queue or prefill slowly: check CPU throttling (no CPU limit should be set), the THREADS metric, and queue depth.',
        },
    p.slowEmbeddingRequestSeconds === undefined
      ? undefined
      : {
          alert: 'LlmEmbeddingRequestsSlow',
          // The server's own request histogram (service/http/metrics.ts), successful embeddings only: a 429 or 504 is fast or capped.
          expr: `histogram_quantile(0.9, sum by (namespace, le) (rate(${metricNames.requestDuration}_bucket{${scraped}, route="${endpoints.embeddings}", status="200"}[10m]))) > ${p.slowEmbeddingRequestSeconds}`,
          for: '15m',
          severity: 'warning',
          summary: `${p.name}: p90 embeddings request above ${p.slowEmbeddingRequestSeconds}s, half the request timeout`,
          description:
            'Embedding requests wait in the queue or carry many long inputs; past the request timeout they fail with 504. Add replicas, or have clients send fewer inputs per request.',
        },
    {
      alert: 'LlmMemoryNearLimit',
      // llm_memory_limit_bytes is the cgroup limit the server reads; a pod without a limit exports 0 or nothing.
      expr: `max by (namespace, pod) (${metricNames.memoryLimit}{${scraped}} > 0) - max by (namespace, pod) (${metricNames.residentMemory}{${scraped}}) < ${memoryNearLimitHeadroomBytes}`,
      for: '5m',
      severity: 'warning',
      summary: `${p.name}: resident memory within ${memoryNearLimitHeadroomBytes / 2 ** 20} MiB of the container limit`,
      description:
        'The server drains and exits before the kernel OOM-kills it, but either way the model reloads. Raise the memory request (charts/sizing/memory.ts derives it), lower contextSize or parallel.',
    },
  ];
  return rules.filter((r): r is AlertRule => r !== undefined);
}
