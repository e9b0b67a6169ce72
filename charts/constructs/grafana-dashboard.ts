import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { ServiceKind } from '../../service/contract.js';
import type { GrafanaProfile } from '../clusters/types.js';
import { inferenceDashboard } from '../dashboard/grafana.js';
import { syncWave, waves } from '../lib/argocd.js';

export interface InferenceDashboardProps {
  /** Environment name: the dashboard's title and uid, and the ConfigMap's file name. */
  readonly environment: string;
  /** The environment's namespace: the ConfigMap lives there and every query is scoped to it. */
  readonly namespace: string;
  /** Kinds of the services the environment runs (chat, embedding): rows about other kinds are left out. */
  readonly kinds: ReadonlySet<ServiceKind>;
  /** The cluster's Grafana: the sidecar's selector labels and folder annotation (charts/clusters/grafana.ts). */
  readonly grafana: GrafanaProfile;
  /** Labels of the environment's own objects (app.kubernetes.io/part-of, managed-by), added to the sidecar's. */
  readonly labels: Readonly<Record<string, string>>;
}

/** Name of the dashboard ConfigMap, one per environment namespace. */
export const dashboardConfigMapName = 'llm-inference-dashboard';

/**
 * The environment's Grafana dashboard (charts/dashboard/) as a ConfigMap the kube-prometheus-stack Grafana
 * sidecar loads: it carries the sidecar's selector labels, and the folder annotation when the cluster
 * names one. The sidecar writes each data key to a file of that name; Grafana reads the JSON from it.
 * The ConfigMap sits in the monitoring wave, before the workload, as the alerts do.
 */
export class InferenceDashboard extends Construct {
  constructor(scope: Construct, id: string, props: InferenceDashboardProps) {
    super(scope, id);
    const folder = props.grafana.folder;
    new kplus.k8s.KubeConfigMap(this, 'config-map', {
      metadata: {
        name: dashboardConfigMapName,
        labels: { ...props.labels, ...props.grafana.dashboardLabels },
        annotations: { ...syncWave(waves.monitoring), ...(folder !== undefined ? { [folder.annotation]: folder.name } : {}) },
      },
      data: { [dashboardFileName(props.environment)]: `${JSON.stringify(inferenceDashboard(props), null, 2)}\n` },
    });
  }
}

/** The data key (and the file the sidecar writes): unique across environments sharing one Grafana. */
export function dashboardFileName(environment: string): string {
  return `llm-inference-${environment}.json`;
}
