/** Standard `app.kubernetes.io/*` labels. The selector uses only the two that never change. */
export const partOf = 'gguf-on-k8s';

export interface ServiceLabels {
  /** Stable: pod selector of the Deployment, PDB, Service and NetworkPolicy. */
  readonly selector: Record<string, string>;
  /** Everything: on every object's metadata and on the pod template. */
  readonly all: Record<string, string>;
}

export function serviceLabels(serviceName: string, environment: string, version: string): ServiceLabels {
  const selector = {
    'app.kubernetes.io/name': serviceName,
    'app.kubernetes.io/instance': `${serviceName}-${environment}`,
  };
  return {
    selector,
    all: {
      ...selector,
      'app.kubernetes.io/component': 'inference',
      'app.kubernetes.io/part-of': partOf,
      'app.kubernetes.io/managed-by': 'cdk8s',
      'app.kubernetes.io/version': version,
    },
  };
}
