import type { ClusterProfile, GrafanaProfile } from './types.js';

/**
 * The Grafana that kube-prometheus-stack installs: its values set the dashboard sidecar to load every
 * ConfigMap labelled `grafana_dashboard: "1"` from all namespaces (prometheus-community/helm-charts,
 * charts/kube-prometheus-stack/values.yaml: `grafana.sidecar.dashboards.label`, `labelValue`,
 * `searchNamespace: ALL`), with no folder annotation configured.
 */
export const defaultGrafana: GrafanaProfile = { dashboardLabels: { grafana_dashboard: '1' } };

/** The cluster's Grafana facts, or the default when its profile states none. */
export function grafanaOf(cluster: ClusterProfile): GrafanaProfile {
  return cluster.grafana ?? defaultGrafana;
}
