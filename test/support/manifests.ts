import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { Application, AppProject } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { PodSecurityPolicy } from 'kubernetes-models/policy/v1beta1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, LimitRange, Namespace, PersistentVolumeClaim, ResourceQuota, Service, ServiceAccount } from 'kubernetes-models/v1';
import { listFiles } from '../../charts/synth.js';
import { HttpScaledObjectModel } from './keda-http-schema.js';
import { ScaledObjectModel } from './keda-schema.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** A Kubernetes object as parsed from YAML. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
}

export interface ManifestDoc {
  readonly file: string;
  readonly object: K8sObject;
}

export function parseYamlDocs(text: string, file: string): ManifestDoc[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}`);
    return { file, object: d.toJSON() as K8sObject };
  });
}

/** Every YAML document committed under dist/ and argocd/. */
export function committedManifests(): ManifestDoc[] {
  return [...listFiles(repoRoot, 'dist'), ...listFiles(repoRoot, 'argocd')].flatMap((file) => parseYamlDocs(readFileSync(join(repoRoot, file), 'utf8'), file));
}

/** Offline schema for each kind the charts emit: the models validate against the published OpenAPI/CRD schemas. */
const schemas: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ResourceQuota': ResourceQuota,
  'v1/LimitRange': LimitRange,
  'v1/ConfigMap': ConfigMap,
  'v1/ServiceAccount': ServiceAccount,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'policy/v1beta1/PodSecurityPolicy': PodSecurityPolicy,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'argoproj.io/v1alpha1/Application': Application,
  'argoproj.io/v1alpha1/AppProject': AppProject,
  'keda.sh/v1alpha1/ScaledObject': ScaledObjectModel,
  'http.keda.sh/v1alpha1/HTTPScaledObject': HttpScaledObjectModel,
};

/** Validate one object against its schema; throws with the kind, name and the schema's complaint. */
export function validateSchema(object: K8sObject): void {
  const key = `${object.apiVersion}/${object.kind}`;
  const Model = schemas[key];
  if (!Model) throw new Error(`no offline schema registered for ${key} (${object.metadata.name})`);
  new Model(object as never).validate();
}
