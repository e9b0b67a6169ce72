import type { ClusterProfile, PrometheusProfile } from './types.js';

/**
 * A Prometheus installed by the kube-prometheus-stack Helm chart: with its default values it selects
 * ServiceMonitors and PrometheusRules labelled `release: <release name>`
 * (`prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues` / `ruleSelectorNilUsesHelmValues`).
 */
export function kubePrometheusStack(releaseName: string, namespace = 'monitoring'): PrometheusProfile {
  return { namespace, serviceMonitorSelector: { release: releaseName }, ruleSelector: { release: releaseName } };
}

/** The release name kube-prometheus-stack's own install instructions use. */
export const defaultPrometheus: PrometheusProfile = kubePrometheusStack('kube-prometheus-stack');

/** The cluster's Prometheus facts, or the default when its profile states none. */
export function prometheusOf(cluster: ClusterProfile): PrometheusProfile {
  return cluster.prometheus ?? defaultPrometheus;
}
