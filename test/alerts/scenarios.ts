/**
 * promtool unit tests generated from the rules themselves: for every alert of a PrometheusRule in
 * dist/, the series that should make it fire, the series that must leave it silent (a healthy pod,
 * a pod of another service, the same pod name in another namespace), and a look before its `for`
 * has elapsed. Series carry the labels their real sources put on them: kube-state-metrics
 * (docs/pod-metrics.md: namespace, pod, condition/phase/container) and a prometheus-operator
 * ServiceMonitor scrape of the server (namespace, service, pod, container, endpoint, job, instance).
 */
import { memoryNearLimitHeadroomBytes, queueSaturationFraction } from '../../charts/constructs/alert-rules.js';

export interface RuleUnderTest {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

/** What a scenario knows about the service, read from dist/ and its plan. */
export interface ServiceFacts {
  readonly namespace: string;
  readonly service: string;
  /** The server container's memory limit, bytes. */
  readonly memoryLimitBytes: number;
  /** The p90 time to first token a chat service promises (undefined for an embedding service). */
  readonly slowTimeToFirstTokenSeconds: number | undefined;
  /** The p90 embeddings request duration an embedding service alerts above (undefined for a chat service). */
  readonly slowEmbeddingRequestSeconds: number | undefined;
}

interface Series {
  readonly series: string;
  readonly values: string;
}

interface AlertTest {
  readonly eval_time: string;
  readonly alertname: string;
  readonly exp_alerts: ReadonlyArray<{ exp_labels: Record<string, string>; exp_annotations: Record<string, string> }>;
}

/** One promtool `tests:` entry. */
export interface PromtoolTest {
  readonly interval: string;
  readonly input_series: Series[];
  readonly alert_rule_test: AlertTest[];
}

export function minutesOf(duration: string): number {
  const m = /^(\d+)([smh])$/.exec(duration);
  if (!m) throw new Error(`unsupported duration ${duration}`);
  const n = Number(m[1]);
  return m[2] === 'h' ? n * 60 : m[2] === 's' ? Math.ceil(n / 60) : n;
}

const selector = (name: string, labels: Record<string, string>): string =>
  `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ')}}`;

/** A pod name as a Deployment's ReplicaSet makes it: `<deployment>-<template hash>-<suffix>`. */
const podOf = (deployment: string, suffix: string): string => `${deployment}-5d9f7c6b8-${suffix}`;

/** Repeat a value for the whole horizon: promtool `v x n` is n + 1 samples. */
const flat = (v: number, minutes: number): string => `${v}x${minutes}`;

export function scenarioFor(rule: RuleUnderTest, facts: ServiceFacts): PromtoolTest[] {
  const { namespace, service } = facts;
  const forMinutes = minutesOf(rule.for);
  const horizon = forMinutes + 40;
  const fireAt = `${forMinutes + 3}m`;
  const neighbour = `${service}-other`;
  const otherNamespace = `${namespace}-other`;
  const firing = (pods: Record<string, string>[]): AlertTest => ({
    eval_time: fireAt,
    alertname: rule.alert,
    exp_alerts: pods.map((labels) => ({ exp_labels: { ...labels, ...rule.labels }, exp_annotations: rule.annotations })),
  });
  // Before `for` has elapsed nothing fires (for alerts that wait at all).
  const early: AlertTest[] = forMinutes >= 2 ? [{ eval_time: `${forMinutes - 1}m`, alertname: rule.alert, exp_alerts: [] }] : [];
  const scrape = (ns: string, svc: string, pod: string): Record<string, string> => ({
    namespace: ns,
    service: svc,
    pod,
    container: 'server',
    endpoint: 'http',
    job: svc,
    instance: `10.0.0.1:8080`,
  });
  const ksm = { job: 'kube-state-metrics', instance: '10.0.9.9:8080' };

  switch (rule.alert) {
    case 'LlmInferencePodRestarting': {
      const restarted = podOf(service, 'x2k4p');
      const steady = podOf(service, 'h3alt');
      const restarts = (ns: string, pod: string, values: string): Series => ({
        series: selector('kube_pod_container_status_restarts_total', { ...ksm, namespace: ns, pod, container: 'server', uid: `uid-${pod}` }),
        values,
      });
      const once = `${flat(0, 10)} ${flat(1, horizon - 11)}`;
      return [
        {
          interval: '1m',
          input_series: [
            restarts(namespace, restarted, once),
            restarts(namespace, steady, flat(0, horizon)),
            restarts(namespace, podOf(neighbour, 'n8b2q'), once),
            restarts(otherNamespace, restarted, once),
            // The init container restarting (a failed download retried) is not the server restarting.
            {
              series: selector('kube_pod_container_status_restarts_total', { ...ksm, namespace, pod: steady, container: 'fetch-model', uid: `uid-${steady}` }),
              values: once,
            },
          ],
          alert_rule_test: [
            { eval_time: '5m', alertname: rule.alert, exp_alerts: [] },
            {
              eval_time: '15m',
              alertname: rule.alert,
              exp_alerts: firing([{ ...ksm, namespace, pod: restarted, container: 'server', uid: `uid-${restarted}` }]).exp_alerts,
            },
          ],
        },
      ];
    }
    case 'LlmInferencePodNotReady': {
      const notReady = podOf(service, 'r7nd2');
      const pending = podOf(service, 'p3nd9');
      const ready = podOf(service, 'ok4ay');
      const evicted = podOf(service, 'ev1ct');
      const slowButInTime = podOf(service, 'sl0w1');
      const half = Math.max(1, Math.floor(forMinutes / 2));
      const pod = (ns: string, name: string, s: { ready?: [string, string]; phase: Record<string, string>; scheduled: string }): Series[] => [
        // No Ready condition (a Pending pod) means no kube_pod_status_ready series at all.
        ...(s.ready
          ? [
              { series: selector('kube_pod_status_ready', { ...ksm, namespace: ns, pod: name, condition: 'true', uid: `uid-${name}` }), values: s.ready[0] },
              { series: selector('kube_pod_status_ready', { ...ksm, namespace: ns, pod: name, condition: 'false', uid: `uid-${name}` }), values: s.ready[1] },
            ]
          : []),
        ...['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'].map((phase) => ({
          series: selector('kube_pod_status_phase', { ...ksm, namespace: ns, pod: name, phase, uid: `uid-${name}` }),
          values: s.phase[phase] ?? flat(0, horizon),
        })),
        { series: selector('kube_pod_status_scheduled', { ...ksm, namespace: ns, pod: name, condition: 'true', uid: `uid-${name}` }), values: s.scheduled },
      ];
      const unschedulable = { phase: { Pending: flat(1, horizon) }, scheduled: flat(0, horizon) };
      return [
        {
          interval: '1m',
          input_series: [
            ...pod(namespace, notReady, { ready: [flat(0, horizon), flat(1, horizon)], phase: { Running: flat(1, horizon) }, scheduled: flat(1, horizon) }),
            ...pod(namespace, pending, unschedulable),
            ...pod(namespace, ready, { ready: [flat(1, horizon), flat(0, horizon)], phase: { Running: flat(1, horizon) }, scheduled: flat(1, horizon) }),
            ...pod(namespace, evicted, { ready: [flat(0, horizon), flat(1, horizon)], phase: { Failed: flat(1, horizon) }, scheduled: flat(1, horizon) }),
            ...pod(namespace, slowButInTime, {
              ready: [`${flat(0, half)} ${flat(1, horizon - half - 1)}`, `${flat(1, half)} ${flat(0, horizon - half - 1)}`],
              phase: { Pending: `${flat(1, half)} ${flat(0, horizon - half - 1)}`, Running: `${flat(0, half)} ${flat(1, horizon - half - 1)}` },
              scheduled: flat(1, horizon),
            }),
            ...pod(namespace, podOf(neighbour, 'n8b2q'), unschedulable),
            ...pod(otherNamespace, pending, unschedulable),
          ],
          alert_rule_test: [
            ...early,
            firing([
              { namespace, pod: notReady },
              { namespace, pod: pending },
            ]),
          ],
        },
      ];
    }
    case 'LlmInferenceQueueSaturated': {
      const maxQueue = 8;
      const busy = podOf(service, 'b5sy1');
      const calm = podOf(service, 'c4lm2');
      const queue = (ns: string, svc: string, pod: string, depth: number): Series[] => [
        { series: selector('llm_queue_depth', scrape(ns, svc, pod)), values: flat(depth, horizon) },
        { series: selector('llm_max_queue', scrape(ns, svc, pod)), values: flat(maxQueue, horizon) },
      ];
      const saturated = Math.ceil(queueSaturationFraction * maxQueue);
      return [
        {
          interval: '1m',
          input_series: [
            ...queue(namespace, service, busy, saturated),
            ...queue(namespace, service, calm, Math.floor((queueSaturationFraction * maxQueue) / 2)),
            ...queue(namespace, neighbour, podOf(neighbour, 'n8b2q'), maxQueue),
            ...queue(otherNamespace, service, busy, maxQueue),
          ],
          alert_rule_test: [...early, firing([{ namespace, pod: busy }])],
        },
      ];
    }
    case 'LlmEmbeddingRequestsSlow': {
      const t = facts.slowEmbeddingRequestSeconds;
      if (t === undefined) throw new Error(`${service}: ${rule.alert} on a service without an embeddings threshold`);
      const pod = podOf(service, 'emb3d');
      // The server's llm_request_duration_seconds (route, method, status); observations land in (le_low, le_high].
      const buckets = (ns: string, svc: string, slow: boolean, status = '200'): Series[] => {
        const rate = 10;
        return [
          { le: String(t / 2), values: slow ? flat(0, horizon) : `0+${rate}x${horizon}` },
          { le: String(t * 2), values: `0+${rate}x${horizon}` },
          { le: '+Inf', values: `0+${rate}x${horizon}` },
        ].map((b) => ({
          series: selector('llm_request_duration_seconds_bucket', { ...scrape(ns, svc, pod), route: '/v1/embeddings', method: 'POST', status, le: b.le }),
          values: b.values,
        }));
      };
      return [
        // p90 = t/2 + 0.9 x 1.5t = 1.85t: above the threshold.
        { interval: '1m', input_series: buckets(namespace, service, true), alert_rule_test: [...early, firing([{ namespace }])] },
        // Fast for this service; slow neighbours, the same name in another namespace, and slow refusals (429) do not count.
        {
          interval: '1m',
          input_series: [
            ...buckets(namespace, service, false),
            ...buckets(namespace, service, true, '429'),
            ...buckets(namespace, neighbour, true),
            ...buckets(otherNamespace, service, true),
          ],
          alert_rule_test: [{ eval_time: fireAt, alertname: rule.alert, exp_alerts: [] }],
        },
      ];
    }
    case 'LlmInferenceSlowTimeToFirstToken': {
      const t = facts.slowTimeToFirstTokenSeconds;
      if (t === undefined) throw new Error(`${service}: ${rule.alert} on a service without a time-to-first-token threshold`);
      const pod = podOf(service, 'tt1ft');
      // Observations all land in (le_low, le_high]: histogram_quantile interpolates p90 there.
      const buckets = (ns: string, svc: string, slow: boolean): Series[] => {
        const rate = 10; // observations per minute
        return [
          { le: String(t / 2), values: slow ? flat(0, horizon) : `0+${rate}x${horizon}` },
          { le: String(t * 2), values: `0+${rate}x${horizon}` },
          { le: '+Inf', values: `0+${rate}x${horizon}` },
        ].map((b) => ({
          // The server's own `endpoint` label collides with the scrape's; Prometheus keeps it as exported_endpoint.
          series: selector('llm_time_to_first_token_seconds_bucket', { ...scrape(ns, svc, pod), exported_endpoint: 'chat', le: b.le }),
          values: b.values,
        }));
      };
      return [
        // p90 = t/2 + 0.9 x 1.5t = 1.85t: above the threshold.
        { interval: '1m', input_series: buckets(namespace, service, true), alert_rule_test: [...early, firing([{ namespace }])] },
        // p90 = 0.9 x t/2 = 0.45t for this service, while its neighbours are slow.
        {
          interval: '1m',
          input_series: [...buckets(namespace, service, false), ...buckets(namespace, neighbour, true), ...buckets(otherNamespace, service, true)],
          alert_rule_test: [{ eval_time: fireAt, alertname: rule.alert, exp_alerts: [] }],
        },
      ];
    }
    case 'LlmMemoryNearLimit': {
      const limit = facts.memoryLimitBytes;
      const near = podOf(service, 'm3m0r');
      const fine = podOf(service, 'f1ne0');
      const unlimited = podOf(service, 'n0l1m');
      const memory = (ns: string, svc: string, pod: string, rss: number, lim: number): Series[] => [
        { series: selector('process_resident_memory_bytes', scrape(ns, svc, pod)), values: flat(rss, horizon) },
        { series: selector('llm_memory_limit_bytes', scrape(ns, svc, pod)), values: flat(lim, horizon) },
      ];
      // Within the alert's headroom of the limit (half of it left); a healthy pod at rest: four times it left.
      const above = limit - Math.round(memoryNearLimitHeadroomBytes / 2);
      return [
        {
          interval: '1m',
          input_series: [
            ...memory(namespace, service, near, above, limit),
            ...memory(namespace, service, fine, limit - 4 * memoryNearLimitHeadroomBytes, limit),
            // No cgroup limit: the gauge reads 0, and no ratio is computed.
            ...memory(namespace, service, unlimited, limit * 4, 0),
            ...memory(namespace, neighbour, podOf(neighbour, 'n8b2q'), above, limit),
            ...memory(otherNamespace, service, near, above, limit),
          ],
          alert_rule_test: [...early, firing([{ namespace, pod: near }])],
        },
      ];
    }
    default:
      throw new Error(`no promtool scenario for alert ${rule.alert}: add one to test/alerts/scenarios.ts`);
  }
}
