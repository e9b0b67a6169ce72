import { Construct } from 'constructs';
import { endpoints } from '../../service/contract.js';
import { ServiceMonitor } from '../../imports/prometheus-servicemonitor-monitoring.coreos.com.js';
import { PrometheusRule, PrometheusRuleSpecGroupsRulesExpr } from '../../imports/prometheus-rule-monitoring.coreos.com.js';
import type { PrometheusProfile } from '../clusters/types.js';
import { syncWave, waves } from '../lib/argocd.js';
import { inferenceAlertRules } from './alert-rules.js';

export interface InferenceMonitoringProps {
  /** Service name: the ServiceMonitor, the PrometheusRule and the `service` label of every alert. */
  readonly name: string;
  /** Namespace the service runs in; every alert expression is scoped to it. */
  readonly namespace: string;
  /** Labels on both objects' metadata (the service's app.kubernetes.io labels). */
  readonly labels: Record<string, string>;
  /** Labels of the Service to scrape. */
  readonly serviceSelector: Record<string, string>;
  /** Chat: alert when the p90 time to first token stays above this many seconds. @default none (an embedding service) */
  readonly slowTimeToFirstTokenSeconds: number | undefined;
  /** Embedding: alert when the p90 embeddings request stays above this many seconds. @default none (a chat service) */
  readonly slowEmbeddingRequestSeconds?: number | undefined;
  /** The Deployment's progress deadline: a pod not Ready for longer is stuck, not loading. */
  readonly progressDeadlineSeconds: number;
  /** The cluster's Prometheus: its selector labels are added so it loads both objects. */
  readonly prometheus: PrometheusProfile;
}

/**
 * ServiceMonitor for /metrics and the alerts that matter for a model server (charts/constructs/alert-rules.ts).
 * Both objects sit in a wave before the workload: while a rollout is stuck, its alerts already exist.
 */
export class InferenceMonitoring extends Construct {
  constructor(scope: Construct, id: string, props: InferenceMonitoringProps) {
    super(scope, id);
    const annotations = syncWave(waves.monitoring);
    new ServiceMonitor(this, 'service-monitor', {
      metadata: { name: props.name, labels: { ...props.labels, ...props.prometheus.serviceMonitorSelector }, annotations },
      spec: {
        selector: { matchLabels: props.serviceSelector },
        endpoints: [{ port: 'http', path: endpoints.metrics, interval: '30s', scrapeTimeout: '10s' }],
      },
    });

    const rules = inferenceAlertRules({
      name: props.name,
      namespace: props.namespace,
      slowTimeToFirstTokenSeconds: props.slowTimeToFirstTokenSeconds,
      slowEmbeddingRequestSeconds: props.slowEmbeddingRequestSeconds,
      progressDeadlineSeconds: props.progressDeadlineSeconds,
    });
    new PrometheusRule(this, 'rules', {
      metadata: { name: props.name, labels: { ...props.labels, ...props.prometheus.ruleSelector }, annotations },
      spec: {
        groups: [
          {
            name: `${props.name}.inference`,
            rules: rules.map((r) => ({
              alert: r.alert,
              expr: PrometheusRuleSpecGroupsRulesExpr.fromString(r.expr),
              for: r.for,
              labels: { severity: r.severity, service: props.name },
              annotations: { summary: r.summary, description: r.description },
            })),
          },
        ],
      },
    });
  }
}
