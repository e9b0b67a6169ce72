import { Construct } from 'constructs';
import { endpoints } from '../../service/contract.js';
import { ServiceMonitor } from '../../imports/prometheus-servicemonitor-monitoring.coreos.com.js';
import { PrometheusRule, PrometheusRuleSpecGroupsRulesExpr } from '../../imports/prometheus-rule-monitoring.coreos.com.js';
import { syncWave, waves } from '../lib/argocd.js';

export interface InferenceMonitoringProps {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Record<string, string>;
  /** Labels of the Service to scrape. */
  readonly serviceSelector: Record<string, string>;
  /** Alert when the p90 time to first token stays above this many seconds. */
  readonly slowTimeToFirstTokenSeconds: number;
  /** The startup window; a pod not ready for longer than this is stuck, not loading. */
  readonly startupWindowSeconds: number;
}

/**
 * ServiceMonitor for /metrics and the alerts that matter for a model server: restarts (a probe
 * killing a busy pod), pods not ready past their startup window, a queue near its limit (429s are
 * next), and a slow time to first token (overloaded or throttled CPU). Metric names are the
 * service's (service/http/metrics.ts); pod state comes from kube-state-metrics.
 */
export class InferenceMonitoring extends Construct {
  constructor(scope: Construct, id: string, props: InferenceMonitoringProps) {
    super(scope, id);
    const annotations = syncWave(waves.monitoring);
    new ServiceMonitor(this, 'service-monitor', {
      metadata: { name: props.name, labels: props.labels, annotations },
      spec: {
        selector: { matchLabels: props.serviceSelector },
        endpoints: [{ port: 'http', path: endpoints.metrics, interval: '30s', scrapeTimeout: '10s' }],
      },
    });

    const sel = `namespace="${props.namespace}", service="${props.name}"`;
    const podSel = `namespace="${props.namespace}", pod=~"${props.name}-[a-z0-9]+-[a-z0-9]+"`;
    const notReadyFor = `${Math.max(15, Math.ceil(props.startupWindowSeconds / 60) + 5)}m`;
    const rule = (alert: string, expr: string, forDuration: string, severity: 'warning' | 'critical', summary: string, description: string) => ({
      alert,
      expr: PrometheusRuleSpecGroupsRulesExpr.fromString(expr),
      for: forDuration,
      labels: { severity, service: props.name },
      annotations: { summary, description },
    });

    new PrometheusRule(this, 'rules', {
      metadata: { name: props.name, labels: props.labels, annotations },
      spec: {
        groups: [
          {
            name: `${props.name}.inference`,
            rules: [
              rule(
                'LlmInferencePodRestarting',
                `increase(kube_pod_container_status_restarts_total{${podSel}, container="server"}[30m]) > 0`,
                '0m',
                'warning',
                `${props.name}: an inference container restarted`,
                'A restart reloads the model and drops every in-flight answer. Check the last state (OOMKilled: memory request below the model need; probe failure: the probe timing in dist/).',
              ),
              rule(
                'LlmInferencePodNotReady',
                `sum by (pod) (kube_pod_status_ready{${podSel}, condition="true"}) == 0`,
                notReadyFor,
                'critical',
                `${props.name}: a pod has not been ready for longer than its startup window`,
                'Past the startup window the model is not loading slowly, it is stuck: check the fetch-model init container log and free space on the model cache.',
              ),
              rule(
                'LlmInferenceQueueSaturated',
                `max by (pod) (avg_over_time(llm_queue_depth{${sel}}[5m])) >= 0.8 * max by (pod) (llm_max_queue{${sel}})`,
                '10m',
                'warning',
                `${props.name}: request queue above 80% for 10 minutes`,
                'Clients are about to receive 429. Add replicas (or raise autoscaling.maxReplicas), or lower max_tokens.',
              ),
              rule(
                'LlmInferenceSlowTimeToFirstToken',
                `histogram_quantile(0.9, sum by (le) (rate(llm_time_to_first_token_seconds_bucket{${sel}}[10m]))) > ${props.slowTimeToFirstTokenSeconds}`,
                '15m',
                'warning',
                `${props.name}: p90 time to first token above ${props.slowTimeToFirstTokenSeconds}s`,
                'Requests wait in the queue or prefill slowly: check CPU throttling (no CPU limit should be set), the THREADS metric, and queue depth.',
              ),
            ],
          },
        ],
      },
    });
  }
}
