/**
 * The Grafana dashboards committed in dist/: each environment's `grafana-dashboard.yaml` ConfigMap, its
 * JSON parsed as Grafana would read the file the sidecar writes.
 */
import type { Dashboard, Panel, RowPanel } from '@grafana/schema';
import { dashboardConfigMapName } from '../../charts/constructs/grafana-dashboard.js';
import { committedManifests, type K8sObject } from '../support/manifests.js';

export interface CommittedDashboard {
  /** dist/<environment>/grafana-dashboard.yaml */
  readonly file: string;
  readonly configMap: K8sObject & { data: Record<string, string> };
  /** The data key (the file name the sidecar writes). */
  readonly key: string;
  readonly text: string;
  readonly dashboard: Dashboard;
  /** Every non-row panel with its Prometheus targets. */
  readonly panels: ReadonlyArray<Panel & { title: string; targets: Array<{ refId: string; expr: string; legendFormat: string }> }>;
}

export function committedDashboards(): CommittedDashboard[] {
  return committedManifests()
    .filter((d) => d.object.kind === 'ConfigMap' && d.object.metadata.name === dashboardConfigMapName)
    .map((d) => {
      const configMap = d.object as CommittedDashboard['configMap'];
      const [key, text] = Object.entries(configMap.data)[0] ?? [];
      if (key === undefined || text === undefined) throw new Error(`${d.file}: the dashboard ConfigMap has no data`);
      const dashboard = JSON.parse(text) as Dashboard;
      const panels = (dashboard.panels ?? []).filter((p: Panel | RowPanel): p is Panel => p.type !== 'row') as unknown as CommittedDashboard['panels'];
      return { file: d.file, configMap, key, text, dashboard, panels };
    });
}
