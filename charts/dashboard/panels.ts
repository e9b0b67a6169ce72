/**
 * The panels of the inference dashboard, as data: charts/dashboard/grafana.ts renders them to Grafana's
 * dashboard JSON, test/dashboard/ runs every query through a real Prometheus scraping the real service, and
 * docs/dashboard.md lists them. Metric names come from service/contract.ts (`metricNames`), the names the
 * service registers, so a metric renamed on one side cannot silently leave a panel empty.
 *
 * Queries use the dashboard's variables: `$namespace` (the environment's namespace, constant), `$service`
 * (one or more Service names: a regex alternation once Grafana interpolates it) and `$__rate_interval`.
 * Service metrics carry the `namespace`, `service` and `pod` labels the ServiceMonitor's scrape adds
 * (prometheus-operator); pod and autoscaler state comes from kube-state-metrics, whose series carry the
 * pod's (or HPA's) own namespace and name.
 */
import { endpoints, metricNames as m } from '../../service/contract.js';
import type { ServiceKind } from '../../service/contract.js';
import { inferenceAlertRules } from '../constructs/alert-rules.js';

/** Where a panel's series come from. */
export type PanelSource =
  /** The inference server's own /metrics (service/http/metrics.ts). */
  | 'service'
  /** kube-state-metrics (pods, containers, HorizontalPodAutoscalers), part of kube-prometheus-stack. */
  | 'kube-state-metrics';

export interface PanelQuery {
  readonly expr: string;
  /** Grafana legend format (`{{label}}` placeholders). */
  readonly legend: string;
}

export interface PanelSpec {
  /** Stable identifier: Grafana panel ids and the test's report are keyed by it. */
  readonly key: string;
  readonly title: string;
  /** What the panel shows and what a bad value means; the alert names below are appended when rendered. */
  readonly description: string;
  /** Grafana unit id (`reqps`, `s`, `bytes`, `percentunit`, `short`). */
  readonly unit: string;
  readonly queries: readonly PanelQuery[];
  readonly source: PanelSource;
  /** Alerts (charts/constructs/alert-rules.ts) that fire on what this panel shows. */
  readonly alerts: readonly string[];
  /** Stacked series (shares of one whole), else lines. @default false */
  readonly stacked?: boolean;
}

export interface PanelRow {
  readonly title: string;
  /** Which services the row is about: omitted from the dashboard of an environment that runs none of them. */
  readonly kinds: readonly ServiceKind[];
  readonly panels: readonly PanelSpec[];
}

/** The service-metric selector every service panel uses. */
const svc = 'namespace="$namespace", service=~"$service"';
/** kube-state-metrics pods of the Deployments: `<deployment>-<template hash>-<suffix>` (as the alert rules select them). */
const pods = 'namespace="$namespace", pod=~"($service)-[a-z0-9]+-[a-z0-9]+"';
const rate = (metric: string, selector: string, by: string): string => `sum by (${by}) (rate(${metric}{${selector}}[$__rate_interval]))`;
const quantile = (q: number, histogram: string, selector: string): string =>
  `histogram_quantile(${q}, sum by (service, le) (rate(${histogram}_bucket{${selector}}[$__rate_interval])))`;

/** Alert names as alert-rules.ts defines them (the rules of a chat and of an embedding service together). */
export const alertNames: ReadonlySet<string> = new Set(
  [
    ...inferenceAlertRules({ name: 'x', namespace: 'x', slowTimeToFirstTokenSeconds: 1, progressDeadlineSeconds: 600 }),
    ...inferenceAlertRules({ name: 'x', namespace: 'x', slowTimeToFirstTokenSeconds: undefined, slowEmbeddingRequestSeconds: 1, progressDeadlineSeconds: 600 }),
  ].map((r) => r.alert),
);

export const panelRows: readonly PanelRow[] = [
  {
    title: 'Traffic',
    kinds: ['chat', 'embedding'],
    panels: [
      {
        key: 'requests-by-status',
        title: 'Requests by endpoint and status',
        description:
          'Requests answered per second, by route and HTTP status. 429 means the queue (MAX_QUEUE) is full, 503 a pod loading or draining, 504 the request timeout, 400 a prompt longer than the context.',
        unit: 'reqps',
        source: 'service',
        queries: [{ expr: rate(m.requests, `${svc}, route=~"/v1/.*"`, 'route, status'), legend: '{{route}} {{status}}' }],
        alerts: ['LlmInferenceQueueSaturated'],
        stacked: true,
      },
      {
        key: 'rejections',
        title: 'Requests refused before running',
        description:
          'Generation and embedding requests refused, by reason: queue_full (429: add replicas), prompt_too_long (400: a client sends more than CONTEXT_SIZE), not_ready and draining (503: pods loading or shutting down).',
        unit: 'reqps',
        source: 'service',
        queries: [{ expr: rate(m.rejected, svc, 'reason'), legend: '{{reason}}' }],
        alerts: ['LlmInferenceQueueSaturated'],
        stacked: true,
      },
    ],
  },
  {
    title: 'Generation',
    kinds: ['chat'],
    panels: [
      {
        key: 'time-to-first-token',
        title: 'Time to first token (p50, p95)',
        description:
          'From arrival to the first generated text, queueing and prompt prefill included. A rising p95 with a flat p50 is queueing; both rising is slow prefill (CPU throttling, long prompts).',
        unit: 's',
        source: 'service',
        queries: [
          { expr: quantile(0.5, m.timeToFirstToken, svc), legend: '{{service}} p50' },
          { expr: quantile(0.95, m.timeToFirstToken, svc), legend: '{{service}} p95' },
        ],
        alerts: ['LlmInferenceSlowTimeToFirstToken'],
      },
      {
        key: 'tokens-per-second',
        title: 'Decode speed per generation (p50, p95)',
        description:
          'Tokens per second of one generation after its first token. A drop at the same load means CPU contention (a CPU limit, noisy neighbours) or more parallel sequences sharing the cores.',
        unit: 'short',
        source: 'service',
        queries: [
          { expr: quantile(0.5, m.tokensPerSecond, svc), legend: '{{service}} p50' },
          { expr: quantile(0.95, m.tokensPerSecond, svc), legend: '{{service}} p95' },
        ],
        alerts: ['LlmInferenceSlowTimeToFirstToken'],
      },
      {
        key: 'prompt-tokens',
        title: 'Prompt tokens: cached vs evaluated',
        description:
          "Prompt tokens per second reused from a sequence's kept tokens (cached, PROMPT_CACHE) or evaluated. Mostly evaluated on multi-turn chat traffic means the prompt cache is off or requests land on other sequences.",
        unit: 'short',
        source: 'service',
        queries: [{ expr: rate(m.promptTokens, `${svc}, endpoint!="embedding"`, 'source'), legend: '{{source}}' }],
        alerts: [],
        stacked: true,
      },
      {
        key: 'generated-tokens',
        title: 'Generated tokens and finish reasons',
        description:
          'Completion tokens per second, and generations per second by finish reason. Many `length` finishes mean max_tokens cuts answers; `timeout` means REQUEST_TIMEOUT_MS ends them.',
        unit: 'short',
        source: 'service',
        queries: [
          { expr: rate(m.generatedTokens, svc, 'service'), legend: '{{service}} tokens/s' },
          { expr: rate(m.generations, svc, 'finish_reason'), legend: 'finished: {{finish_reason}}' },
        ],
        alerts: [],
      },
    ],
  },
  {
    title: 'Capacity',
    kinds: ['chat', 'embedding'],
    panels: [
      {
        key: 'queue-and-in-flight',
        title: 'Running and queued requests against PARALLEL and MAX_QUEUE',
        description:
          'Per pod: requests holding a sequence (at most PARALLEL) and requests waiting for one (at most MAX_QUEUE; beyond it 429). A queue that stays near MAX_QUEUE needs replicas.',
        unit: 'short',
        source: 'service',
        queries: [
          { expr: `max by (pod) (${m.busySequences}{${svc}})`, legend: '{{pod}} running' },
          { expr: `max by (pod) (${m.queueDepth}{${svc}})`, legend: '{{pod}} queued' },
          { expr: `max by (service) (${m.parallelSequences}{${svc}})`, legend: '{{service}} PARALLEL' },
          { expr: `max by (service) (${m.maxQueue}{${svc}})`, legend: '{{service}} MAX_QUEUE' },
        ],
        alerts: ['LlmInferenceQueueSaturated'],
      },
      {
        key: 'queue-wait',
        title: 'Queue wait (p50, p95)',
        description: 'Time a request waited for a free sequence. Above a second at p95: the pods are full; add replicas or lower max_tokens.',
        unit: 's',
        source: 'service',
        queries: [
          { expr: quantile(0.5, m.queueWait, svc), legend: '{{service}} p50' },
          { expr: quantile(0.95, m.queueWait, svc), legend: '{{service}} p95' },
        ],
        alerts: ['LlmInferenceQueueSaturated'],
      },
      {
        key: 'kv-cache-usage',
        title: 'KV cache use (gateway routing signal)',
        description:
          'KV cells held by running generations over all cells, per pod, 0..1: the KVCacheUtilization an inference gateway routes by (docs/dashboard.md). Near 1 on every pod: long prompts fill the context; add replicas.',
        unit: 'percentunit',
        source: 'service',
        queries: [{ expr: `max by (pod) (${m.kvCacheUsage}{${svc}})`, legend: '{{pod}}' }],
        alerts: [],
      },
      {
        key: 'autoscaler-replicas',
        title: 'Autoscaler replicas against its bounds',
        description:
          "Current and desired replicas of the service's HorizontalPodAutoscaler (KEDA's is keda-hpa-<service>) against minReplicas and maxReplicas. Desired pinned at max while the queue alert fires: raise autoscaling.maxReplicas.",
        unit: 'short',
        source: 'kube-state-metrics',
        queries: [
          {
            expr: `max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas{namespace="$namespace", horizontalpodautoscaler=~"(keda-hpa-)?($service)"})`,
            legend: '{{horizontalpodautoscaler}} current',
          },
          {
            expr: `max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_desired_replicas{namespace="$namespace", horizontalpodautoscaler=~"(keda-hpa-)?($service)"})`,
            legend: '{{horizontalpodautoscaler}} desired',
          },
          {
            expr: `max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_min_replicas{namespace="$namespace", horizontalpodautoscaler=~"(keda-hpa-)?($service)"})`,
            legend: '{{horizontalpodautoscaler}} min',
          },
          {
            expr: `max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas{namespace="$namespace", horizontalpodautoscaler=~"(keda-hpa-)?($service)"})`,
            legend: '{{horizontalpodautoscaler}} max',
          },
        ],
        alerts: ['LlmInferenceQueueSaturated'],
      },
    ],
  },
  {
    title: 'Memory',
    kinds: ['chat', 'embedding'],
    panels: [
      {
        key: 'memory-against-limit',
        title: 'Resident memory against the limit and the memory guard',
        description:
          'Per pod: resident memory, the container memory limit, and the RSS at which the memory guard drains the pod (limit - MEMORY_GUARD_HEADROOM_MIB). RSS reaching the guard line restarts the pod cleanly; the alert fires at twice the headroom.',
        unit: 'bytes',
        source: 'service',
        queries: [
          { expr: `max by (pod) (${m.residentMemory}{${svc}})`, legend: '{{pod}} RSS' },
          { expr: `max by (pod) (${m.memoryGuardTrip}{${svc}})`, legend: '{{pod}} guard drains at' },
          { expr: `max by (pod) (${m.memoryLimit}{${svc}})`, legend: '{{pod}} limit' },
        ],
        alerts: ['LlmMemoryNearLimit'],
      },
      {
        key: 'memory-share-of-limit',
        title: 'Resident memory as a share of the limit',
        description: 'RSS / memory limit per pod. A healthy pod rests a roughly constant amount below 1; a climb under steady load is a leak.',
        unit: 'percentunit',
        source: 'service',
        queries: [{ expr: `max by (pod) (${m.residentMemory}{${svc}} / ${m.memoryLimit}{${svc}})`, legend: '{{pod}}' }],
        alerts: ['LlmMemoryNearLimit'],
      },
    ],
  },
  {
    title: 'Pods',
    kinds: ['chat', 'embedding'],
    panels: [
      {
        key: 'restarts',
        title: 'Container restarts (1 h)',
        description:
          'Restarts of the server container per pod over the last hour. Every restart reloads the model and drops the answers in flight; see the termination reason panel.',
        unit: 'short',
        source: 'kube-state-metrics',
        queries: [{ expr: `sum by (pod) (increase(kube_pod_container_status_restarts_total{${pods}, container="server"}[1h]))`, legend: '{{pod}}' }],
        alerts: ['LlmInferencePodRestarting'],
      },
      {
        key: 'termination-reason',
        title: 'Last termination reason',
        description:
          'Why the server container last stopped, per pod. OOMKilled: the memory request is below what the model needs; Error: the log of the previous container (kubectl logs --previous).',
        unit: 'short',
        source: 'kube-state-metrics',
        queries: [
          { expr: `max by (pod, reason) (kube_pod_container_status_last_terminated_reason{${pods}, container="server"})`, legend: '{{pod}} {{reason}}' },
        ],
        alerts: ['LlmInferencePodRestarting'],
      },
      {
        key: 'readiness',
        title: 'Pods Ready and Pending',
        description:
          'Per pod: 1 when Ready; Pending pods (unschedulable, quota, a volume that cannot attach) have no Ready condition and show in the Pending series. Not Ready past the progress deadline pages.',
        unit: 'short',
        source: 'kube-state-metrics',
        queries: [
          { expr: `sum by (pod) (kube_pod_status_ready{${pods}, condition="true"})`, legend: '{{pod}} ready' },
          { expr: `sum by (pod) (kube_pod_status_phase{${pods}, phase="Pending"})`, legend: '{{pod}} pending' },
        ],
        alerts: ['LlmInferencePodNotReady'],
      },
      {
        key: 'load-phase',
        title: 'Model load of starting pods',
        description:
          'Per pod: model load progress (0..1) and whether the model is ready. A pod stuck below 1 is reading the model slowly (disk rate) or was refused memory; past the progress deadline the not-Ready alert fires.',
        unit: 'percentunit',
        source: 'service',
        queries: [
          { expr: `max by (pod) (${m.modelLoadProgress}{${svc}})`, legend: '{{pod}} progress' },
          { expr: `max by (pod) (${m.modelReady}{${svc}})`, legend: '{{pod}} ready' },
        ],
        alerts: ['LlmInferencePodNotReady'],
      },
      {
        key: 'health-probes',
        title: 'Health probe answers by status',
        description:
          "Answers to the kubelet's probes (startup, readiness, liveness) per second, by route and status. 503 on /health/ready: loading or draining; any non-200 on /health/live: the event loop is blocked and the pod will be restarted.",
        unit: 'reqps',
        source: 'service',
        queries: [{ expr: rate(m.requests, `${svc}, route=~"/health/.*"`, 'route, status'), legend: '{{route}} {{status}}' }],
        alerts: ['LlmInferencePodNotReady', 'LlmInferencePodRestarting'],
      },
    ],
  },
  {
    title: 'Embeddings',
    kinds: ['embedding'],
    panels: [
      {
        key: 'embedding-duration',
        title: 'Embedding request duration (p50, p95)',
        description: `Duration of successful ${endpoints.embeddings} requests. Past half the request timeout at p90 the alert fires; past the timeout clients get 504: send fewer inputs per request or add replicas.`,
        unit: 's',
        source: 'service',
        queries: [
          { expr: quantile(0.5, m.requestDuration, `${svc}, route="${endpoints.embeddings}", status="200"`), legend: '{{service}} p50' },
          { expr: quantile(0.95, m.requestDuration, `${svc}, route="${endpoints.embeddings}", status="200"`), legend: '{{service}} p95' },
        ],
        alerts: ['LlmEmbeddingRequestsSlow'],
      },
      {
        key: 'embedding-tokens',
        title: 'Embedded input tokens',
        description: 'Input tokens embedded per second. Flat while requests queue: the pods are saturated.',
        unit: 'short',
        source: 'service',
        queries: [{ expr: rate(m.promptTokens, `${svc}, endpoint="embedding"`, 'service'), legend: '{{service}}' }],
        alerts: ['LlmEmbeddingRequestsSlow'],
      },
    ],
  },
];

/** The rows an environment running services of these kinds shows. */
export function rowsFor(kinds: ReadonlySet<ServiceKind>): PanelRow[] {
  return panelRows.filter((row) => row.kinds.some((k) => kinds.has(k)));
}
